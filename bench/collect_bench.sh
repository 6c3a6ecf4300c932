#!/usr/bin/env bash
# Flow collector benchmark (issue 10, "Speed").
#
# 1. Decoding from datagrams in memory, one core: the Google Benchmark micro-benchmarks in
#    BUILD_DIR/bench/netpulse_bench (NetFlow v5, v9, IPFIX flow records/s; sFlow packet
#    samples/s; the encoder's flows/s), best of MICRO_RUNS repetitions. Target: >= 10 M/s.
# 2. Zero-loss rate over loopback: BUILD_DIR/bench/flow_replay builds FLOWS flows (seeded),
#    encodes them once per version into NetFlow v5, v9 and IPFIX datagrams (1400 bytes at most:
#    about 28, 28 and 25 flows each) and replays them to 127.0.0.1 for TRIAL_SECONDS at a paced
#    datagram rate, the set over and over with the sequence numbers carried on. The receivers,
#    on the same datagrams in the same run, each with the same SO_RCVBUF (UDP_BUFFER), writing
#    to TRIAL_DIR (default: a directory in /dev/shm, so a shared disk's writeback stays out):
#      netpulse  `netpulse collect --input netflow://127.0.0.1:PORT --output FILE` (line format
#                to a file); its summary must count every flow sent and 0 kernel drops.
#      nfcapd    `nfcapd -b 127.0.0.1 -p PORT -w DIR -t 3600 -B UDP_BUFFER` (nfdump's binary
#                files); flows and packets counted with `nfdump -R DIR -I` once it stopped.
#      nfacctd   pmacct's print plugin to a CSV file, `aggregate: src_host, dst_host, src_port,
#                dst_port, proto, flows`. pmacct aggregates (and the set repeats, so equal keys
#                merge): what is counted is the sum of the FLOWS column (one per NetFlow record
#                received) and of PACKETS, both exact under aggregation.
#    A trial passes when the flows (and, where the receiver reports them, packets) received
#    equal those sent and the socket's drop counter in /proc/net/udp stayed 0. The rate doubles
#    from START_RATE until a trial loses flows (or halves until one passes), then STEPS
#    bisection steps; a rate passes when one of TRIES trials at it loses nothing (the machine is
#    shared). Reported: the rate the sender achieved in the best passing trial, and the
#    receiver's CPU time per flow there (on loopback the kernel's path up to the socket queue
#    runs in the sender's system call, so it is not in that figure). Nothing is pinned: sender
#    and receiver share the machine's cores.
#
#   bench/collect_bench.sh                               # build/, under 10 minutes
#   BUILD_DIR=build-bench VERSIONS="5 10" RECEIVERS="netpulse nfcapd" bench/collect_bench.sh
#   MICRO_RUNS=1 TRIAL_SECONDS=1 STEPS=1 TRIES=1 bench/collect_bench.sh   # a quick look
#   MICRO_RUNS=0 RECEIVERS=netpulse VERSIONS=9 bench/collect_bench.sh      # part 2 only, one pair
#
# nfcapd and nfacctd cannot get more than net.core.rmem_max (netpulse, as root, can, with
# SO_RCVBUFFORCE); when it is below UDP_BUFFER the script raises it for the run and puts it back
# on exit (RAISE_RMEM=0: it leaves it, and every receiver gets rmem_max instead). The buffer each
# receiver was granted (ss's rb, twice the request as Linux counts it) is in the table.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
NETPULSE=${NETPULSE:-$BUILD_DIR/netpulse}
REPLAY=${REPLAY:-$BUILD_DIR/bench/flow_replay}
MICRO=${MICRO:-$BUILD_DIR/bench/netpulse_bench}
VERSIONS=${VERSIONS:-5 9 10}
RECEIVERS=${RECEIVERS:-netpulse nfcapd nfacctd}
FLOWS=${FLOWS:-100000}
TRIAL_SECONDS=${TRIAL_SECONDS:-2}
START_RATE=${START_RATE:-25000}
MAX_RATE=${MAX_RATE:-1600000}
MIN_RATE=${MIN_RATE:-500}
STEPS=${STEPS:-3}
TRIES=${TRIES:-2}
UDP_BUFFER=${UDP_BUFFER:-33554432}
MICRO_RUNS=${MICRO_RUNS:-3}
RAISE_RMEM=${RAISE_RMEM:-1}
OUT=${OUT:-bench/out/collect}
# Where the receivers write (up to 1.5 GB per trial, removed before the next).
if [ -z "${TRIAL_DIR:-}" ]; then
  if [ -d /dev/shm ] && [ -w /dev/shm ]; then TRIAL_DIR=/dev/shm/netpulse-collect-bench.$$; else TRIAL_DIR=$OUT/trial; fi
fi

if [ ! -x "$NETPULSE" ] || [ ! -x "$REPLAY" ] || [ ! -x "$MICRO" ]; then
  echo "collect_bench: building into $BUILD_DIR (scripts/build)" >&2
  BUILD_DIR=$BUILD_DIR scripts/build
fi
for tool in python3 ss awk; do
  command -v "$tool" >/dev/null || { echo "collect_bench: $tool missing" >&2; exit 1; }
done
for r in $RECEIVERS; do
  case $r in
    netpulse) ;;
    nfcapd) { command -v nfcapd && command -v nfdump; } >/dev/null ||
      { echo "collect_bench: nfcapd/nfdump missing (apt-get install nfdump)" >&2; exit 1; } ;;
    nfacctd) command -v nfacctd >/dev/null ||
      { echo "collect_bench: nfacctd missing (apt-get install pmacct)" >&2; exit 1; } ;;
    *) echo "collect_bench: unknown receiver $r (netpulse, nfcapd, nfacctd)" >&2; exit 1 ;;
  esac
done
[ "$FLOWS" -le 140000 ] || case " $RECEIVERS " in *" nfacctd "*)
  echo "collect_bench: FLOWS above 140000 overflows nfacctd's default cache" >&2; exit 1 ;; esac
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# Every process this script starts is recorded here and stopped by PID on exit.
PIDS=()
RMEM_SAVED=""
cleanup() {
  local pid child
  for pid in "${PIDS[@]}"; do
    for child in $(pgrep -P "$pid" 2>/dev/null || true); do kill -INT "$child" 2>/dev/null || true; done
    kill -INT "$pid" 2>/dev/null || true  # nfacctd ignores SIGTERM
    kill -TERM "$pid" 2>/dev/null || true
  done
  if [ -n "$RMEM_SAVED" ]; then echo "$RMEM_SAVED" > /proc/sys/net/core/rmem_max || true; fi
  rm -rf "$TRIAL_DIR"
}
trap cleanup EXIT

rmem_max=$(cat /proc/sys/net/core/rmem_max)
if [ "$rmem_max" -lt "$UDP_BUFFER" ]; then
  if [ "$RAISE_RMEM" = 1 ] && [ -w /proc/sys/net/core/rmem_max ]; then
    RMEM_SAVED=$rmem_max
    echo "$UDP_BUFFER" > /proc/sys/net/core/rmem_max
    rmem_note="net.core.rmem_max raised from $rmem_max to $UDP_BUFFER for the run"
  else
    UDP_BUFFER=$rmem_max
    rmem_note="net.core.rmem_max is $rmem_max, so every receiver gets that"
  fi
else
  rmem_note="net.core.rmem_max $rmem_max"
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date:    $(date -u '+%Y-%m-%d %H:%M:%S UTC'), $(uname -sr)"
echo "command: $0 (BUILD_DIR=$BUILD_DIR FLOWS=$FLOWS TRIAL_SECONDS=$TRIAL_SECONDS START_RATE=$START_RATE STEPS=$STEPS TRIES=$TRIES MICRO_RUNS=$MICRO_RUNS)"
echo "tools:   $NETPULSE, $(nfdump -V 2>/dev/null | head -1 || true), $(nfacctd -V 2>/dev/null | head -1 | sed 's/ \[.*//' || true)"
echo "buffers: UDP_BUFFER $UDP_BUFFER bytes for every receiver; $rmem_note; output to $TRIAL_DIR"

# --- 1. decoding from memory -------------------------------------------------------------
echo
echo "1. decoding from memory, one core (best of $MICRO_RUNS)"
MICRO_TABLE="(skipped: MICRO_RUNS=0)"
if [ "$MICRO_RUNS" -gt 0 ]; then
  "$MICRO" --benchmark_filter='Netflow|Sflow' --benchmark_repetitions="$MICRO_RUNS" \
    --benchmark_out="$OUT/micro.json" --benchmark_out_format=json >/dev/null 2>"$OUT/micro.err" ||
    { cat "$OUT/micro.err" >&2; exit 1; }
  MICRO_TABLE=$(python3 - "$OUT/micro.json" <<'EOF'
import json, sys
best = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("run_type", "iteration") == "iteration" and "items_per_second" in b:
        name = b.get("run_name", b["name"])
        best[name] = max(best.get(name, 0), b["items_per_second"])
def unit(name):
    if "SflowPacketHeader" in name: return "packet headers/s"
    if "Sflow" in name: return "packet samples/s"
    if "ExportSink" in name: return "records/s (text to datagrams)"
    if "Encode" in name: return "flows/s encoded"
    return "flow records/s decoded"
print(f"{'benchmark':<48} {'M/s':>7}  unit")
for name, v in best.items():
    print(f"{name:<48} {v / 1e6:7.2f}  {unit(name)}")
EOF
  )
  echo "$MICRO_TABLE"
fi

# --- 2. zero-loss rate over loopback ------------------------------------------------------
# A UDP port nothing on 127.0.0.1 holds now (no fork: see udp_state).
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    udp_state "$p" || { echo "$p"; return; }
  done
}
# The state of 127.0.0.1:PORT in /proc/net/udp: sets UDP_RXQ (bytes queued) and UDP_DROPS.
# These helpers run in the polling loops, so they read /proc without forking: on a loaded
# machine every fork costs tens of milliseconds.
udp_state() {
  local want _sl address _rem _st queues rest
  printf -v want '0100007F:%04X' "$1"
  UDP_RXQ=""; UDP_DROPS=""
  while read -r _sl address _rem _st queues rest; do
    if [ "$address" = "$want" ]; then
      UDP_RXQ=$((16#${queues#*:})); UDP_DROPS=${rest##* }
      return 0
    fi
  done < /proc/net/udp
  return 1
}
# TREE: a process and its children (nfacctd's plugin), taken once the receiver is ready.
tree_of() {
  # shellcheck disable=SC2207
  TREE=("$1" $(pgrep -P "$1" 2>/dev/null || true))
}
# Sets CPU_TICKS (user + system, all of TREE) and RUNNING (threads of TREE in state R).
tree_state() {
  local p f line rest fields
  CPU_TICKS=0; RUNNING=0
  for p in "${TREE[@]}"; do
    { read -r line < "/proc/$p/stat"; } 2>/dev/null || continue
    read -r -a fields <<< "${line##*) }"
    CPU_TICKS=$((CPU_TICKS + fields[11] + fields[12]))
    for f in /proc/"$p"/task/*/stat; do
      { read -r line < "$f"; } 2>/dev/null || continue
      rest=${line##*) }
      [ "${rest%% *}" = R ] && RUNNING=$((RUNNING + 1))
    done
  done
  return 0
}
CLK_TCK=$(getconf CLK_TCK)
# Seconds from $EPOCHREALTIME $1 to $2, one decimal.
span() {
  local us=$(( ${2/./} - ${1/./} ))
  printf '%d.%d' $((us / 1000000)) $((us / 100000 % 10))
}

# Starts receiver $1 on UDP port $2, writing under directory $3; sets RPID once it is ready (its
# own "listening" line: nfacctd binds its socket seconds before its core reads from it).
start_receiver() {
  local r=$1 port=$2 dir=$3 log ready
  case $r in
    netpulse)
      "$NETPULSE" collect --input "netflow://127.0.0.1:$port" --output "$dir/flows.txt" \
        --udp-buffer "$UDP_BUFFER" 2> "$dir/stderr" &
      log=$dir/stderr; ready='collecting' ;;
    nfcapd)
      nfcapd -b 127.0.0.1 -p "$port" -w "$dir" -t 3600 -B "$UDP_BUFFER" > "$dir/stderr" 2>&1 &
      log=$dir/stderr; ready='Startup' ;;
    nfacctd)
      # Tuned as pmacct's CONFIG-KEYS advise for heavy load: the socket of UDP_BUFFER, a 64 MiB
      # core-to-plugin queue in 64 KiB chunks (with the defaults it lost flows at 3k
      # datagrams/s). The default cache (16411 buckets, about 150k entries) holds FLOWS
      # distinct 5-tuples; with larger caches pmacct 1.7.7 wrote nothing on exit here.
      cat > "$dir/nfacctd.conf" <<EOF
daemonize: false
nfacctd_ip: 127.0.0.1
nfacctd_port: $port
nfacctd_pipe_size: $UDP_BUFFER
logfile: $dir/nfacctd.log
plugin_pipe_size: 67108864
plugin_buffer_size: 65536
plugins: print[p]
aggregate[p]: src_host, dst_host, src_port, dst_port, proto, flows
print_output[p]: csv
print_output_file[p]: $dir/flows.csv
print_refresh_time[p]: 3600
EOF
      nfacctd -f "$dir/nfacctd.conf" > "$dir/stderr" 2>&1 &
      log=$dir/nfacctd.log; ready='waiting for NetFlow' ;;
  esac
  RPID=$!
  PIDS+=("$RPID")
  for _ in $(seq 400); do
    udp_state "$port" && grep -q "$ready" "$log" 2>/dev/null && { tree_of "$RPID"; return 0; }
    kill -0 "$RPID" 2>/dev/null || break
    sleep 0.05
  done
  return 1
}

# Whether process $1 exists and has not exited (a child that exited stays a zombie until waited).
running() {
  local line
  { read -r line < "/proc/$1/stat"; } 2>/dev/null || return 1
  line=${line##*) }
  [ "${line%% *}" != Z ]
}

# Stops receiver $1 (PID $2) so that it writes everything out: netpulse and nfcapd on SIGTERM;
# nfacctd on SIGINT (it ignores SIGTERM; its core passes SIGINT on to the print plugin, which
# then writes its cache), waiting for the plugin too.
stop_receiver() {
  local r=$1 pid=$2 kids k alive
  kids=$(pgrep -P "$pid" 2>/dev/null || true)
  if [ "$r" = nfacctd ]; then kill -INT "$pid" 2>/dev/null || true; else kill -TERM "$pid" 2>/dev/null || true; fi
  for _ in $(seq 1200); do  # a minute at most, then SIGKILL (the trial then counts as a loss)
    alive=0
    for k in "$pid" $kids; do running "$k" && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.05
  done
  if [ "$alive" = 1 ]; then
    echo "collect_bench: $r (PID $pid) did not stop within a minute; killed" >&2
    for k in "$pid" $kids; do kill -KILL "$k" 2>/dev/null || true; done
  fi
  wait "$pid" 2>/dev/null || true
}

# Flows and packets the stopped receiver $1 recorded under $2: sets GOT_FLOWS, GOT_PACKETS
# (empty when the receiver does not report packets) and GOT_KDROPS (netpulse's own count).
count_received() {
  local r=$1 dir=$2 s info
  GOT_FLOWS=0; GOT_PACKETS=""; GOT_KDROPS=0
  case $r in
    netpulse)
      s=$(grep -m1 'netpulse: collected' "$dir/stderr" || true)
      GOT_FLOWS=$(echo "$s" | sed -nE 's/.*collected ([0-9]+) flows.*/\1/p')
      GOT_KDROPS=$(echo "$s" | sed -nE 's/.* ([0-9]+) dropped by the kernel.*/\1/p') ;;
    nfcapd)
      info=$(nfdump -R "$dir" -I 2>/dev/null || true)
      GOT_FLOWS=$(echo "$info" | awk '/^Flows:/ {print $2; exit}')
      GOT_PACKETS=$(echo "$info" | awk '/^Packets:/ {print $2; exit}') ;;
    nfacctd)
      if [ -s "$dir/flows.csv" ]; then
        read -r GOT_FLOWS GOT_PACKETS < <(awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
          { f += $c["FLOWS"]; p += $c["PACKETS"] } END { printf "%d %d\n", f, p }' "$dir/flows.csv")
      fi ;;
  esac
  GOT_FLOWS=${GOT_FLOWS:-0}; GOT_KDROPS=${GOT_KDROPS:-0}
}

# One trial: receiver $1, datagram file $2, rate $3. Sets T_PASS (1/0), T_RATE and T_FLOWRATE
# (achieved), T_SENT, T_GOT (flows), T_CPU (receiver CPU seconds), T_BUF (granted rcvbuf).
trial() {
  local r=$1 set=$2 rate=$3 port dir line ticks0 sent_packets t0 t1 t2 t3 t4 t5 idle=0
  dir=$TRIAL_DIR
  T_PASS=0; T_RATE=0; T_FLOWRATE=0; T_SENT=0; T_GOT=0; T_CPU=0; T_BUF=""
  t0=$EPOCHREALTIME
  local attempt
  for attempt in 1 2 3; do  # another program may take the port first
    port=$(free_port)
    rm -rf "$dir"; mkdir -p "$dir"
    start_receiver "$r" "$port" "$dir" && break
    stop_receiver "$r" "$RPID"; unset 'PIDS[-1]'
    [ "$attempt" -lt 3 ] || { echo "collect_bench: $r did not start; see $dir" >&2; exit 1; }
  done
  T_BUF=$(ss -Huamn "sport = :$port" | grep -o 'rb[0-9]*' | head -1 | tr -d rb)
  tree_state; ticks0=$CPU_TICKS
  t1=$EPOCHREALTIME
  line=$("$REPLAY" --read "$set" --port "$port" --rate "$rate" --seconds "$TRIAL_SECONDS")
  t2=$EPOCHREALTIME
  # "flow_replay: sent D datagrams, F flows, P packets, B bytes in S s: R datagrams/s, FR flows/s"
  local re=' ([0-9]+) flows, ([0-9]+) packets, .*: ([0-9]+) datagrams/s, ([0-9]+) flows/s'
  [[ $line =~ $re ]] || { echo "collect_bench: flow_replay said: $line" >&2; exit 1; }
  T_SENT=${BASH_REMATCH[1]}; sent_packets=${BASH_REMATCH[2]}
  T_RATE=${BASH_REMATCH[3]}; T_FLOWRATE=${BASH_REMATCH[4]}
  # Drained: the socket queue empty and every thread of the receiver asleep, three looks in a
  # row (nfacctd's plugin may still be reading the core's queue after the socket is empty).
  for _ in $(seq 1200); do
    udp_state "$port"; tree_state
    if [ "${UDP_RXQ:-0}" = 0 ] && [ "$RUNNING" = 0 ]; then
      idle=$((idle + 1)); [ "$idle" -ge 3 ] && break
    else
      idle=0
    fi
    sleep 0.025
  done
  T_DROPS=$UDP_DROPS
  T_CPU=$(awk -v t="$((CPU_TICKS - ticks0))" -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
  t3=$EPOCHREALTIME
  stop_receiver "$r" "$RPID"
  unset 'PIDS[-1]'
  t4=$EPOCHREALTIME
  count_received "$r" "$dir"
  t5=$EPOCHREALTIME
  T_GOT=$GOT_FLOWS
  if [ "$T_GOT" = "$T_SENT" ] && [ "${T_DROPS:-1}" = 0 ] && [ "$GOT_KDROPS" = 0 ] &&
     { [ -z "$GOT_PACKETS" ] || [ "$GOT_PACKETS" = "$sent_packets" ]; }; then
    T_PASS=1
  fi
  printf '%-8s %-2s asked %7s/s, sent %7s datagrams/s: %9s flows sent, %9s received, socket drops %s, receiver CPU %s s; start %s s, send %s s, drain %s s, stop %s s, count %s s%s\n' \
    "$r" "$VERSION" "$rate" "$T_RATE" "$T_SENT" "$T_GOT" "${T_DROPS:-?}" "$T_CPU" \
    "$(span "$t0" "$t1")" "$(span "$t1" "$t2")" "$(span "$t2" "$t3")" "$(span "$t3" "$t4")" \
    "$(span "$t4" "$t5")" "$([ "$T_PASS" = 1 ] || echo '  LOSS')" >> "$OUT/trials.log"
}

# A rate passes when one of TRIES trials at it loses nothing; keeps that trial's figures in
# P_*; otherwise F_LOSS is the share of flows the last trial lost.
passes() {
  for _ in $(seq "$TRIES"); do
    trial "$1" "$2" "$3"
    if [ "$T_PASS" = 1 ]; then
      P_RATE=$T_RATE; P_FLOWRATE=$T_FLOWRATE; P_CPU=$T_CPU; P_SENT=$T_SENT; P_BUF=$T_BUF
      return 0
    fi
    F_LOSS=$(awk -v s="$T_SENT" -v g="$T_GOT" 'BEGIN { printf "%.2f", (s > 0 ? 100 * (s - g) / s : 100) }')
  done
  return 1
}
keep() { B_RATE=$P_RATE; B_FLOWRATE=$P_FLOWRATE; B_CPU=$P_CPU; B_SENT=$P_SENT; B_BUF=$P_BUF; }
lose() { hi=$1; B_LOSS=$F_LOSS; }

echo
echo "2. highest zero-loss replay rate over loopback ($FLOWS flows encoded per version, $TRIAL_SECONDS s per trial; every trial in $OUT/trials.log)"
: > "$OUT/trials.log"
declare -A RESULT
FORMAT='%-9s %-6s %12s %12s %12s %12s %8s %10s\n'
for VERSION in $VERSIONS; do
  set_file="$OUT/v$VERSION.bin"
  "$REPLAY" --version "$VERSION" --flows "$FLOWS" --seed 1 --write "$set_file" 2> "$OUT/encode.txt"
  cat "$OUT/encode.txt" >> "$OUT/trials.log"
  echo "  $(sed 's/^flow_replay: built //' "$OUT/encode.txt")"
  for r in $RECEIVERS; do
    started=$(date +%s)
    lo=0; hi=0; rate=$START_RATE; sender_bound=0
    B_RATE=0; B_FLOWRATE=0; B_CPU=0; B_SENT=0; B_BUF=""; B_LOSS=""; F_LOSS=""
    if passes "$r" "$set_file" "$rate"; then
      keep; lo=$rate
      # Up until a loss, MAX_RATE, or the sender falling 10 % short of the rate asked.
      while [ $((rate * 2)) -le "$MAX_RATE" ] && [ "$B_RATE" -ge $((rate * 9 / 10)) ]; do
        rate=$((rate * 2))
        if passes "$r" "$set_file" "$rate"; then keep; lo=$rate; else lose "$rate"; break; fi
      done
      [ "$hi" -gt 0 ] || [ "$B_RATE" -ge $((rate * 9 / 10)) ] || sender_bound=1
    else
      lose "$rate"
      while [ $((rate / 2)) -ge "$MIN_RATE" ]; do
        rate=$((rate / 2))
        if passes "$r" "$set_file" "$rate"; then keep; lo=$rate; break; else lose "$rate"; fi
      done
    fi
    if [ "$lo" -gt 0 ] && [ "$hi" -gt 0 ]; then
      for _ in $(seq "$STEPS"); do
        mid=$(((lo + hi) / 2))
        if passes "$r" "$set_file" "$mid"; then keep; lo=$mid; else lose "$mid"; fi
      done
    fi
    ns_per_flow=$(awk -v c="$B_CPU" -v f="$B_SENT" 'BEGIN { if (f > 0) printf "%.0f", 1e9 * c / f; else print "-" }')
    lost_at=none
    if [ "$hi" -gt 0 ]; then lost_at=$hi; elif [ "$sender_bound" = 1 ]; then lost_at=sender; fi
    # shellcheck disable=SC2059
    RESULT[$r,$VERSION]=$(printf "$FORMAT" "$r" \
      "$(case $VERSION in 5) echo v5 ;; 9) echo v9 ;; 10) echo IPFIX ;; esac)" \
      "$B_RATE" "$B_FLOWRATE" "$ns_per_flow" "$lost_at" "${B_LOSS:--}" "${B_BUF:-?}")
    echo "  ${RESULT[$r,$VERSION]}   ($(($(date +%s) - started)) s)"
  done
done

echo
echo "results ($(nproc) cores shared by sender and receiver; load average $(cut -d' ' -f1-3 /proc/loadavg))"
echo "$MICRO_TABLE"
echo
# shellcheck disable=SC2059
printf "$FORMAT" receiver export "datagrams/s" "flows/s" "CPU ns/flow" "lost at" "lost %" "rcvbuf"
for VERSION in $VERSIONS; do
  for r in $RECEIVERS; do echo "${RESULT[$r,$VERSION]}"; done
done
echo "datagrams/s, flows/s: what the sender achieved at the highest rate received with no flow lost"
echo "CPU ns/flow: the receiver's user + system CPU per flow in that trial (all its processes)"
echo "lost at, lost %: the lowest datagram rate asked that lost flows and the share lost there"
echo "  (none: no loss up to MAX_RATE; sender: no loss up to the rate the sender could reach)"
echo "rcvbuf: the receive buffer granted, as ss reports it (Linux doubles the request)"
