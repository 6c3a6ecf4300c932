#!/usr/bin/env bash
# Packet capture benchmark (the capture issue, "Speed").
#
# Everything runs on one synthetic capture, written once per run by BUILD_DIR/bench/capture_replay
# --write-mix (PACKETS packets in FLOWS flows, seeded: TCP with handshakes, TLS ClientHellos with
# SNI, HTTP, SSH, QUIC Initials that decrypt, DNS, NTP, other UDP, ICMP, ~3 % of flows over IPv6;
# heavy-tailed flow sizes) to MIX, a file in /dev/shm by default (removed on exit).
#
# 1. In memory, one thread: capture_replay --read maps the file, then times
#    capture::PacketProcessor over every packet (passes repeated, each shifted in time past the
#    idle timeout so it brings new flows; one untimed pass first), best of RUNS runs of at least
#    RUN_SECONDS: packets and flows mode, with nDPI and without (--no-ndpi's port labels), and the
#    bare packet decoder as a floor. Packets/s are per second of the thread's CPU time (the
#    machine is shared; wall-clock figures are beside them). The reader prefetches PREFETCH
#    packets ahead: a capture ring's packets were just written by the kernel and libpcap copies
#    a file's, so either way they are in the cache, which a 1.5 GB file in memory is not; the
#    decoder's row with PREFETCH=0 shows what a cache miss per packet costs. Target: >= 3 M
#    packets/s with nDPI.
# 2. End to end, on the same file in the same run, each tool's wall and CPU time (user + system,
#    all threads) for the whole file:
#      netpulse    `netpulse collect --input pcap:MIX --output /dev/null` (packets mode, line
#                  text), also --records flows, and --no-ndpi
#      ndpiReader  `ndpiReader -i MIX` (nDPI 4.2's own reader: flows and protocols, totals only,
#                  no output per packet); its own "nDPI throughput" figure (packet processing
#                  time only, without its start-up and report) is shown too
#      tshark      `tshark -n -r MIX -T fields -e frame.time_epoch -e ip.src ... > /dev/null`
#                  (every packet dissected, one text line each: the nearest thing to packets mode)
# 3. Live, drop-free rate: a veth pair with both ends in a network namespace of its own (so no
#    frame can leave the machine; IPv6 off there, so the kernel sends nothing of its own on it).
#    `netpulse collect --input pcap-live:RX --records MODE --output /dev/null` captures on one
#    end inside the namespace; capture_replay --send puts MIX's packets on the other end through
#    AF_PACKET at a paced rate for TRIAL_SECONDS (past the file's end with changed addresses, so
#    flows stay new). Once netpulse is idle it is stopped (SIGINT) and its summary read: a trial
#    passes when it captured exactly the packets sent and counted 0 kernel and 0 interface drops.
#    The rate doubles from START_RATE until a trial fails or the sender falls 10 % short (then
#    STEPS bisection steps); a rate passes when one of TRIES trials at it does. On veth the
#    kernel's receive path (into netpulse's ring) runs in the sender's system call, so the sender
#    is often the limit: its flat-out rate with nobody capturing is measured first. Nothing is
#    pinned: sender and netpulse share the machine's cores with whatever else runs.
#
#   bench/capture_bench.sh                                   # build/, about 3 minutes
#   BUILD_DIR=build-capbench NETPULSE=build/netpulse bench/capture_bench.sh
#   RUNS=1 RUN_SECONDS=1 LIVE=0 TOOLS= bench/capture_bench.sh   # part 1 only, a quick look
#   PACKETS=4000000 FLOWS=40000 bench/capture_bench.sh         # longer flows (100 packets each)
#   MODES=flows STEPS=1 TRIES=1 bench/capture_bench.sh          # live: flows mode only
#
# Needs root for part 3 (ip netns, AF_PACKET); without it part 3 is skipped with a note. Tables
# and logs go to OUT (bench/out/capture, git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
NETPULSE=${NETPULSE:-$BUILD_DIR/netpulse}
REPLAY=${REPLAY:-$BUILD_DIR/bench/capture_replay}
PACKETS=${PACKETS:-2000000}
FLOWS=${FLOWS:-$((PACKETS / 25))}
SEED=${SEED:-1}
RUNS=${RUNS:-3}
RUN_SECONDS=${RUN_SECONDS:-2}
PREFETCH=${PREFETCH:-8}
TOOLS=${TOOLS-ndpiReader tshark}
LIVE=${LIVE:-1}
MODES=${MODES:-packets flows}
TRIAL_SECONDS=${TRIAL_SECONDS:-2}
START_RATE=${START_RATE:-50000}
MAX_RATE=${MAX_RATE:-3200000}
STEPS=${STEPS:-3}
TRIES=${TRIES:-2}
RING=${RING:-64MiB}
OUT=${OUT:-bench/out/capture}
MIX=${MIX:-}
KEEP_MIX=${KEEP_MIX:-0}

if [ ! -x "$NETPULSE" ] || [ ! -x "$REPLAY" ]; then
  echo "capture_bench: building netpulse and capture_replay into $BUILD_DIR" >&2
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$BUILD_DIR" --target netpulse capture_replay -j"$(nproc)"
fi
case $("$NETPULSE" collect --help 2>&1) in *pcap-live:*) ;; *) false ;; esac ||
  { echo "capture_bench: $NETPULSE has no packet capture (collect --input pcap-live:)" >&2; exit 1; }
for tool in $TOOLS; do
  command -v "$tool" >/dev/null ||
    { echo "capture_bench: $tool missing (apt-get install libndpi-bin tshark), or TOOLS=" >&2; exit 1; }
done
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
if [ -z "$MIX" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then MIX=/dev/shm/netpulse-capture-mix.$$.pcap; else MIX=$OUT/mix.pcap; fi
  MADE_MIX=1
else
  MADE_MIX=0
fi
NS=netpulse-capbench-$$
TX=npbench-tx
RX=npbench-rx

# Every process this script starts is recorded here and stopped by PID on exit; the namespace
# (and with it the veth pair) goes too.
PIDS=()
NS_MADE=0
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "$NS_MADE" = 1 ]; then ip netns delete "$NS" 2>/dev/null || true; fi
  if [ "$MADE_MIX" = 1 ] && [ "$KEEP_MIX" != 1 ]; then rm -f "$MIX"; fi
}
trap cleanup EXIT

# $1: seconds as bash's `time` gives them; prints packets/s for $2 packets.
per_second() { awk -v s="$1" -v n="$2" 'BEGIN { if (s > 0) printf "%.0f", n / s; else print "-" }'; }
# Runs the rest of the line with stdout to file $1 and stderr to file $2; sets T_WALL, T_CPU (user
# + system of the command and its children) and T_RC.
timed() {
  local out=$1 err=$2 t u s
  shift 2
  local TIMEFORMAT='%R %U %S'
  t=$( { time "$@" > "$out" 2> "$err"; } 2>&1 ) && T_RC=0 || T_RC=$?
  read -r T_WALL u s <<< "$(echo "$t" | tail -1)"
  T_CPU=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.2f", u + s }')
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -sr)"
echo "command: $0 (BUILD_DIR=$BUILD_DIR PACKETS=$PACKETS FLOWS=$FLOWS SEED=$SEED RUNS=$RUNS RUN_SECONDS=$RUN_SECONDS PREFETCH=$PREFETCH LIVE=$LIVE MODES='$MODES' TRIAL_SECONDS=$TRIAL_SECONDS STEPS=$STEPS TRIES=$TRIES RING=$RING)"
echo "tools:   $NETPULSE; ndpiReader $( (ndpiReader -h 2>&1 || true) | sed -nE 's/.*nDPI ([0-9.]+).*/\1/p' | head -1); $( (tshark -v 2>/dev/null || true) | head -1)"

echo
"$REPLAY" --write-mix "$MIX" --packets "$PACKETS" --flows "$FLOWS" --seed "$SEED" 2> "$OUT/mix.txt"
sed 's/^capture_replay: //' "$OUT/mix.txt"

# --- 1. in memory ------------------------------------------------------------------------------
echo
echo "1. capture::PacketProcessor over the file in memory, one thread (best of $RUNS runs of >= $RUN_SECONDS s; prefetch $PREFETCH packets ahead)"
"$REPLAY" --read "$MIX" --seconds "$RUN_SECONDS" --runs "$RUNS" --prefetch "$PREFETCH" > "$OUT/memory.txt"
"$REPLAY" --read "$MIX" --seconds "$RUN_SECONDS" --runs "$RUNS" --prefetch 0 --ndpi on \
  --records packets > "$OUT/memory-cold.txt"
MEMORY_TABLE=$(sed -n '2,$p' "$OUT/memory.txt"; sed -n '4,$p' "$OUT/memory-cold.txt")
echo "$MEMORY_TABLE"
NDPI_PACKETS_RATE=$(awk '$1 == "packets" && $2 == "on" { print $9 }' "$OUT/memory.txt")

# --- 2. end to end, the same file ----------------------------------------------------------------
echo
echo "2. the whole file, end to end, on the same file in the same run"
FORMAT='%-58s %8s %8s %14s %14s  %s\n'
# shellcheck disable=SC2059
E2E_TABLE=$(printf "$FORMAT" "command" "wall s" "CPU s" "packets/s wall" "packets/s CPU" "notes")
e2e_row() {  # name, notes
  # shellcheck disable=SC2059
  E2E_TABLE+=$'\n'$(printf "$FORMAT" "$1" "$T_WALL" "$T_CPU" "$(per_second "$T_WALL" "$PACKETS")" \
    "$(per_second "$T_CPU" "$PACKETS")" "$2")
}
for variant in "packets" "flows" "packets --no-ndpi"; do
  read -r records extra <<< "$variant"
  log=$OUT/netpulse-$records${extra:+-no-ndpi}.txt
  # shellcheck disable=SC2086
  timed /dev/null "$log" "$NETPULSE" collect --input "pcap:$MIX" --records "$records" $extra --output /dev/null
  [ "$T_RC" = 0 ] || { cat "$log" >&2; exit 1; }
  recs=$(sed -nE 's/.*netpulse: captured .*; ([0-9]+) records.*/\1/p' "$log")
  e2e_row "netpulse collect pcap: --records $records${extra:+ $extra}" "$recs records, text to /dev/null"
done
for tool in $TOOLS; do
  case $tool in
    ndpiReader)
      # Not -q: that silences its figures too. Without -v it prints ~120 lines of totals.
      timed "$OUT/ndpiReader.txt" "$OUT/ndpiReader.err" ndpiReader -i "$MIX"
      [ "$T_RC" = 0 ] || { cat "$OUT/ndpiReader.txt" "$OUT/ndpiReader.err" >&2; exit 1; }
      own=$(sed -nE 's/.*nDPI throughput: *([0-9.]+ [KM]? ?pps).*/\1/p' "$OUT/ndpiReader.txt" | head -1)
      flows=$(awk '/Unique flows/ { print $3; exit }' "$OUT/ndpiReader.txt")
      e2e_row "ndpiReader -i FILE" "its own figure (processing only): ${own:-?}; ${flows:-?} flows" ;;
    tshark)
      timed /dev/null "$OUT/tshark.err" tshark -n -r "$MIX" -T fields -e frame.time_epoch -e ip.src \
        -e ip.dst -e ipv6.src -e ipv6.dst -e ip.proto -e tcp.srcport -e tcp.dstport -e udp.srcport \
        -e udp.dstport -e ip.len
      [ "$T_RC" = 0 ] || { cat "$OUT/tshark.err" >&2; exit 1; }
      e2e_row "tshark -n -r FILE -T fields -e ... > /dev/null" "one line per packet" ;;
  esac
done
echo "$E2E_TABLE"

# --- 3. live, drop-free rate --------------------------------------------------------------------
LIVE_TABLE="(skipped: LIVE=0)"
if [ "$LIVE" = 1 ] && [ "$(id -u)" != 0 ]; then LIVE_TABLE="(skipped: not root)"; LIVE=0; fi
if [ "$LIVE" = 1 ] && ! ip netns list >/dev/null 2>&1; then LIVE_TABLE="(skipped: no ip netns)"; LIVE=0; fi
if [ "$LIVE" = 1 ]; then
  ip netns add "$NS"
  NS_MADE=1
  ip netns exec "$NS" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$NS" link add "$TX" type veth peer name "$RX"
  ip -n "$NS" addr add 198.51.100.1/30 dev "$TX"
  ip -n "$NS" addr add 198.51.100.2/30 dev "$RX"
  ip -n "$NS" link set "$TX" up
  ip -n "$NS" link set "$RX" up
  TRIAL_DIR=$OUT/trial
  CLK_TCK=$(getconf CLK_TCK)

  # CPU_TICKS: user + system of process $1 (all threads); RUNNING: its threads in state R.
  proc_state() {
    local line f rest fields
    CPU_TICKS=0; RUNNING=0
    { read -r line < "/proc/$1/stat"; } 2>/dev/null || return 0
    read -r -a fields <<< "${line##*) }"
    CPU_TICKS=$((fields[11] + fields[12]))
    for f in /proc/"$1"/task/*/stat; do
      { read -r line < "$f"; } 2>/dev/null || continue
      rest=${line##*) }
      [ "${rest%% *}" = R ] && RUNNING=$((RUNNING + 1))
    done
    return 0
  }

  # The sender alone, flat out, nobody capturing: the most this box puts through the veth.
  ip netns exec "$NS" "$REPLAY" --read "$MIX" --send "$TX" --count 1000000 --rate 0 > "$OUT/sender.txt"
  SENDER_MAX=$(sed -nE 's/.*: ([0-9]+) packets\/s.*/\1/p' "$OUT/sender.txt")
  echo
  echo "3. live capture on a veth pair in network namespace $NS ($TRIAL_SECONDS s trials; every trial in $OUT/trials.log)"
  echo "   the sender alone, flat out, nobody capturing: $SENDER_MAX packets/s"
  : > "$OUT/trials.log"

  # One trial: mode $1 at rate $2. Sets T_PASS, T_SENT, T_GOT, T_RATE (achieved), T_KDROPS,
  # T_IFDROPS, T_CPU (netpulse's CPU seconds while the packets came).
  trial() {
    local mode=$1 rate=$2 pid line s ticks0 idle=0
    T_PASS=0; T_SENT=0; T_GOT=0; T_RATE=0; T_KDROPS=""; T_IFDROPS=""; T_CPU=0
    rm -rf "$TRIAL_DIR"; mkdir -p "$TRIAL_DIR"
    ip netns exec "$NS" "$NETPULSE" collect --input "pcap-live:$RX" --records "$mode" \
      --capture-buffer "$RING" --output /dev/null 2> "$TRIAL_DIR/stderr" &
    pid=$!
    PIDS+=("$pid")
    for _ in $(seq 400); do
      grep -q 'netpulse: capturing' "$TRIAL_DIR/stderr" 2>/dev/null && break
      kill -0 "$pid" 2>/dev/null || { cat "$TRIAL_DIR/stderr" >&2; exit 1; }
      sleep 0.025
    done
    proc_state "$pid"; ticks0=$CPU_TICKS
    line=$(ip netns exec "$NS" "$REPLAY" --read "$MIX" --send "$TX" --rate "$rate" --seconds "$TRIAL_SECONDS")
    # "capture_replay: sent N packets, B bytes of frames in S s: R packets/s, ..."
    T_SENT=$(echo "$line" | sed -nE 's/.*sent ([0-9]+) packets.*/\1/p')
    T_RATE=$(echo "$line" | sed -nE 's/.*: ([0-9]+) packets\/s.*/\1/p')
    # Drained: every netpulse thread asleep, three looks in a row (at most a minute), and at
    # least 0.3 s after the last packet: the kernel hands a block of the ring (TPACKET_V3) to
    # libpcap when it is full or 100 ms old, and netpulse's stop does not wait for the last one.
    sleep 0.3
    for _ in $(seq 2400); do
      proc_state "$pid"
      if [ "$RUNNING" = 0 ]; then idle=$((idle + 1)); [ "$idle" -ge 3 ] && break; else idle=0; fi
      sleep 0.025
    done
    T_CPU=$(awk -v t="$((CPU_TICKS - ticks0))" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset 'PIDS[-1]'
    s=$(grep -m1 'netpulse: captured' "$TRIAL_DIR/stderr" || true)
    T_GOT=$(echo "$s" | sed -nE 's/.*captured ([0-9]+) packets.*/\1/p')
    T_KDROPS=$(echo "$s" | sed -nE 's/.* ([0-9]+) dropped by the kernel.*/\1/p')
    T_IFDROPS=$(echo "$s" | sed -nE 's/.* ([0-9]+) by the interface.*/\1/p')
    if [ -n "$T_SENT" ] && [ "${T_GOT:-x}" = "$T_SENT" ] && [ "${T_KDROPS:-x}" = 0 ] && [ "${T_IFDROPS:-x}" = 0 ]; then
      T_PASS=1
    fi
    printf '%-7s asked %8s/s, sent %8s/s: %9s packets sent, %9s captured, kernel drops %s, interface drops %s, netpulse CPU %s s%s\n' \
      "$mode" "$rate" "$T_RATE" "$T_SENT" "${T_GOT:-?}" "${T_KDROPS:-?}" "${T_IFDROPS:-?}" "$T_CPU" \
      "$([ "$T_PASS" = 1 ] || echo '  LOSS')" >> "$OUT/trials.log"
  }
  passes() {
    for _ in $(seq "$TRIES"); do
      trial "$1" "$2"
      if [ "$T_PASS" = 1 ]; then P_RATE=$T_RATE; P_CPU=$T_CPU; P_SENT=$T_SENT; return 0; fi
      F_LOSS=$(awk -v s="$T_SENT" -v g="${T_GOT:-0}" 'BEGIN { printf "%.2f", (s > 0 ? 100 * (s - g) / s : 100) }')
    done
    return 1
  }
  keep() { B_RATE=$P_RATE; B_CPU=$P_CPU; B_SENT=$P_SENT; }

  LFORMAT='%-8s %14s %12s %12s %14s %10s\n'
  # shellcheck disable=SC2059
  LIVE_TABLE=$(printf "$LFORMAT" records "packets/s" "CPU ns/pkt" "CPU % core" "lost at" "lost %")
  for mode in $MODES; do
    started=$(date +%s)
    lo=0; hi=0; rate=$START_RATE; sender_bound=0
    B_RATE=0; B_CPU=0; B_SENT=0; B_LOSS=""; F_LOSS=""
    if passes "$mode" "$rate"; then
      keep; lo=$rate
      while [ $((rate * 2)) -le "$MAX_RATE" ] && [ "$B_RATE" -ge $((rate * 9 / 10)) ]; do
        rate=$((rate * 2))
        if passes "$mode" "$rate"; then keep; lo=$rate; else hi=$rate; B_LOSS=$F_LOSS; break; fi
      done
      [ "$hi" -gt 0 ] || [ "$B_RATE" -ge $((rate * 9 / 10)) ] || sender_bound=1
    else
      hi=$rate; B_LOSS=$F_LOSS
      while [ $((rate / 2)) -ge 1000 ]; do
        rate=$((rate / 2))
        if passes "$mode" "$rate"; then keep; lo=$rate; break; else hi=$rate; B_LOSS=$F_LOSS; fi
      done
    fi
    if [ "$lo" -gt 0 ] && [ "$hi" -gt 0 ]; then
      for _ in $(seq "$STEPS"); do
        mid=$(((lo + hi) / 2))
        if passes "$mode" "$mid"; then keep; lo=$mid; else hi=$mid; B_LOSS=$F_LOSS; fi
      done
    fi
    ns=$(awk -v c="$B_CPU" -v n="$B_SENT" 'BEGIN { if (n > 0) printf "%.0f", 1e9 * c / n; else print "-" }')
    share=$(awk -v c="$B_CPU" -v n="$B_SENT" -v r="$B_RATE" 'BEGIN { if (n > 0 && r > 0) printf "%.0f", 100 * c / (n / r); else print "-" }')
    lost_at=none
    if [ "$hi" -gt 0 ]; then lost_at=$hi; elif [ "$sender_bound" = 1 ]; then lost_at=sender; fi
    # shellcheck disable=SC2059
    row=$(printf "$LFORMAT" "$mode" "$B_RATE" "$ns" "$share" "$lost_at" "${B_LOSS:--}")
    LIVE_TABLE+=$'\n'$row
    echo "   $row   ($(($(date +%s) - started)) s)"
  done
fi

{
  echo
  echo "results ($(nproc) cores, shared; load average $(cut -d' ' -f1-3 /proc/loadavg))"
  echo
  echo "1. in memory, one thread, packets/s per CPU second (target with nDPI: 3 M):"
  echo "$MEMORY_TABLE"
  echo "   ahead: packets prefetched ahead; the rows with 0 show what a cache miss per packet costs"
  echo
  echo "2. end to end, the same file ($PACKETS packets):"
  echo "$E2E_TABLE"
  echo
  echo "3. live, veth pair in a network namespace, highest rate with every packet captured and 0 drops:"
  echo "$LIVE_TABLE"
  if [ "$LIVE" = 1 ]; then
    echo "   packets/s: what the sender achieved in the best trial with nothing lost ($TRIAL_SECONDS s each); the sender"
    echo "   alone reaches $SENDER_MAX packets/s. CPU ns/pkt: netpulse's user + system CPU per packet in that trial"
    echo "   (its start-up included); CPU % core: that CPU over the sending time."
    echo "   lost at: the lowest rate asked that lost packets (none: none up to MAX_RATE; sender: none up to what the"
    echo "   sender reached); lost %: the share lost there."
  fi
} | tee "$OUT/results.txt"
if [ -n "$NDPI_PACKETS_RATE" ] && awk -v r="$NDPI_PACKETS_RATE" 'BEGIN { exit !(r < 3.0) }'; then
  echo "note: packets mode with nDPI ran at $NDPI_PACKETS_RATE M packets/s, under the 3 M target"
fi
