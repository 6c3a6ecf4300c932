#!/usr/bin/env bash
# What writing traffic history costs `netpulse process` (issue 17: at most 5% of throughput).
# Runs `process --store sqlite:...` on the same file with --history-keys 0 (no history), with
# the default 10,000 keys as shipped (sampled: --history-sample, SAMPLE to change it), with a
# smaller sample (SAMPLE2, default 5,000), and summed exactly (--history-sample 0), in turn
# (A, B, C, D, A, ...: the machine's speed drifts), on 1 and 2 threads, best of RUNS each, and
# prints records/s, the process's CPU time, peak RSS and the costs in percent.
# Data: issue 12's shape (5 M records, 100,000 records/s of event time, Zipf over 1 M sources,
# 3% IPv6; bench/data/flows-issue12-5m.txt, made by engine_bench.sh's PRESET=issue12) and, as a
# smaller network, 5 M records over 10,000 sources (bench/data/flows-10k-5m.txt), and issue
# 12's shape spread over four minutes of event time (bench/data/flows-4min-5m.txt).
#
#   bench/history_bench.sh                  # the three files, RUNS=5
#   DATA=path/to/flows.txt RUNS=5 bench/history_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
RUNS=${RUNS:-5}
THREADS=${THREADS:-"1 2"}
KEYS=${KEYS:-10000}
[ -x "$NETPULSE" ] || { echo "history_bench: $NETPULSE not built" >&2; exit 1; }
work=$(mktemp -d /tmp/history_bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

make_data() {  # FILE IPS RATE [extra generate options...]
  local file=$1 ips=$2 rate=$3; shift 3
  [ -s "$file" ] && return
  mkdir -p "$(dirname "$file")"
  echo "history_bench: generating $file" >&2
  "$NETPULSE" generate --count 5000000 --rate "$rate" --ips "$ips" --zipf 1.0 --protocols 19 \
    "$@" --seed 1 --start-time "2020-05-09 00:00:00" --output "file:$file"
}

if [ -n "${DATA:-}" ]; then
  files=("$DATA")
else
  make_data bench/data/flows-issue12-5m.txt 1000000 100000 --ipv6-percent 3 --time-digits mixed
  make_data bench/data/flows-10k-5m.txt 10000 100000
  # Both files above span 50 s of event time, one minute of history; this one spans four (20,000
  # records/s), so the recorder's tables are reused as they are in a long run.
  make_data bench/data/flows-4min-5m.txt 1000000 20000 --ipv6-percent 3
  files=(bench/data/flows-issue12-5m.txt bench/data/flows-10k-5m.txt bench/data/flows-4min-5m.txt)
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u '+%Y-%m-%d %H:%M UTC')"

run_once() {  # FILE THREADS ARGS... -> "seconds rss cpu-seconds"
  rm -f "$work"/h.db*
  local file=$1 threads=$2 out line cpu; shift 2
  out=$({ /usr/bin/time -f "cpu %U %S" "$NETPULSE" process --input "$file" --T 60 --slide 1 \
    --threads "$threads" --output /dev/null --store "sqlite:$work/h.db" --progress 0 "$@" >/dev/null; } 2>&1)
  line=$(echo "$out" | grep 'records read')
  cpu=$(echo "$out" | awk '/^cpu /{print $2 + $3}')
  echo "$(echo "$line" | sed -E 's/.*windows; ([0-9.]+) s.*/\1/') $(echo "$line" | sed -E 's/.*peak memory ([0-9.]+ [KMG]iB).*$/\1/' | tr -d ' ') $cpu"
}

# The variants, run in turn within each round: no history, history as shipped (sampled, or
# SAMPLE), the cheaper sample SAMPLE2, and history summed exactly. CPU is the process's user +
# system time: on this shared machine wall time swings by 25% from run to run, CPU time less.
variants=("--history-keys 0" "--history-keys $KEYS ${SAMPLE:+--history-sample $SAMPLE}"
          "--history-keys $KEYS --history-sample ${SAMPLE2:-5000}" "--history-keys $KEYS --history-sample 0")
names=("no history" "history (--history-sample ${SAMPLE:-default})"
       "history (--history-sample ${SAMPLE2:-5000})" "history summed exactly")
for file in "${files[@]}"; do
  count=$(wc -l < "$file")
  echo "data: $file ($count records)"
  for threads in $THREADS; do
    best=(); rss=(); cpu=()
    for _ in $(seq "$RUNS"); do
      for i in "${!variants[@]}"; do
        # shellcheck disable=SC2086
        read -r s r c <<<"$(run_once "$file" "$threads" ${variants[$i]})"
        if [ -z "${best[$i]:-}" ] || (( $(echo "$s < ${best[$i]}" | bc -l) )); then best[$i]=$s; rss[$i]=$r; fi
        if [ -z "${cpu[$i]:-}" ] || (( $(echo "$c < ${cpu[$i]}" | bc -l) )); then cpu[$i]=$c; fi
      done
    done
    echo "  threads $threads:"
    for i in "${!variants[@]}"; do
      printf '    %-34s %6.2f M records/s  cost %5.1f%%  CPU %5.2f s (+%5.1f%%)  peak %s\n' "${names[$i]}" \
        "$(echo "$count / ${best[$i]} / 1000000" | bc -l)" \
        "$(echo "(${best[$i]} - ${best[0]}) * 100 / ${best[0]}" | bc -l)" "${cpu[$i]}" \
        "$(echo "(${cpu[$i]} - ${cpu[0]}) * 100 / ${cpu[0]}" | bc -l)" "${rss[$i]}"
    done
  done
done
