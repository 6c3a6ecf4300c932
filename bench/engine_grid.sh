#!/usr/bin/env bash
# The engine over a grid of data shapes (issue 12), against DuckDB as the reference tool.
#
# For each number of distinct source addresses (KEYS, Zipf 1.0 over that many) and event rate
# (RATES, records per second of event time), one file of COUNT line-format records with 3% IPv6
# addresses, 0 to 9 fraction digits per record and 19 protocols (made once, cached in
# bench/data/grid/). For each file and window length T (TS), all six queries with slide 1,
# H 1, k 10, X 3, lateness 1:
#   - `netpulse process` on 1 and 2 threads: records/s from its summary line, peak RSS from
#     /usr/bin/time;
#   - DuckDB on 2 threads (bench/duckdb_six_queries.mjs, same file, same run), with a timeout.
# Prints a Markdown table (also written to bench/out/engine_grid.md), with the machine, date
# and command on top.
#
#   bench/engine_grid.sh                                   # the whole grid (36 rows; long)
#   KEYS="1000 100000" RATES=100000 TS="10 60" bench/engine_grid.sh
#   COUNT=1000000 RUNS=3 DUCKDB_TIMEOUT=120 bench/engine_grid.sh
#
# Environment: NETPULSE (default build/netpulse), NODE (node), COUNT (5000000), RUNS (best of,
# 1), KEYS, RATES, TS (the grid's axes), DUCKDB_TIMEOUT (seconds per run, 300), DUCKDB_THREADS
# (2), DUCKDB=0 (netpulse only), CHECK=1 (also compare netpulse's results with DuckDB's; slower,
# the outputs go to files), DATA_DIR (bench/data/grid), OUT (bench/out/engine_grid.md).
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
NODE=${NODE:-node}
COUNT=${COUNT:-5000000}
RUNS=${RUNS:-1}
KEYS=${KEYS:-"1000 100000 1000000 10000000"}
RATES=${RATES:-"10000 100000 1000000"}
TS=${TS:-"10 60 600"}
DUCKDB=${DUCKDB:-1}
DUCKDB_TIMEOUT=${DUCKDB_TIMEOUT:-300}
DUCKDB_THREADS=${DUCKDB_THREADS:-2}
CHECK=${CHECK:-0}
DATA_DIR=${DATA_DIR:-bench/data/grid}
OUT=${OUT:-bench/out/engine_grid.md}
QUERY=(--H 1 --k 10 --X 3 --lateness 1)

[ -x "$NETPULSE" ] || { echo "engine_grid: $NETPULSE not built (run scripts/build)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "engine_grid: /usr/bin/time missing (apt-get install time)" >&2; exit 1; }
if [ "$DUCKDB" = 1 ] && [ ! -d node_modules/@duckdb/node-api ]; then
  echo "engine_grid: @duckdb/node-api not installed (run scripts/setup, or DUCKDB=0)" >&2
  exit 1
fi
mkdir -p "$DATA_DIR" "$(dirname "$OUT")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# "1000" -> "1k", "10000000" -> "10M".
short() {
  local n=$1
  if ((n >= 1000000 && n % 1000000 == 0)); then echo "$((n / 1000000))M"
  elif ((n >= 1000 && n % 1000 == 0)); then echo "$((n / 1000))k"
  else echo "$n"; fi
}

# The cached data file of a (keys, rate) pair; generated on first use.
data_file() {
  local keys=$1 rate=$2
  local file="$DATA_DIR/flows-$(short "$keys")ips-$(short "$rate")rps-$(short "$COUNT")-v6p3-mixed.txt"
  if [ ! -s "$file" ]; then
    echo "engine_grid: generating $file" >&2
    "$NETPULSE" generate --count "$COUNT" --rate "$rate" --start-time "2020-05-09 00:00:00" \
      --ips "$keys" --zipf 1.0 --protocols 19 --ipv6-percent 3 --time-digits mixed --seed 1 \
      --quiet --output "file:$file.tmp"
    mv "$file.tmp" "$file"
  fi
  echo "$file"
}

# Runs a command under /usr/bin/time; sets secs (from the tool's own summary line, matched by
# the sed expression $2), kib (peak RSS) and status. $1: a name for the temporary files.
measure() {
  local name=$1 expr=$2
  shift 2
  status=0
  /usr/bin/time -f %M -o "$work/$name.rss" "$@" >/dev/null 2>"$work/$name.err" || status=$?
  kib=$(tail -1 "$work/$name.rss" | grep -E '^[0-9]+$' || echo 0)
  secs=$(grep -E "$expr" "$work/$name.err" | tail -1 | sed -E "s/$expr/\\1/" || true)
}

# Best of RUNS: sets best_secs and best_kib ("" when every run failed); last_status.
best_of() {
  local name=$1 expr=$2
  shift 2
  best_secs=""; best_kib=""; last_status=0
  for _ in $(seq "$RUNS"); do
    measure "$name" "$expr" "$@"
    last_status=$status
    if [ "$status" -ne 0 ] || [ -z "$secs" ]; then continue; fi
    if [ -z "$best_secs" ] || (( $(echo "$secs < $best_secs" | bc -l) )); then
      best_secs=$secs; best_kib=$kib
    fi
  done
}

mrate() { printf '%.2f' "$(echo "$COUNT / $1 / 1000000" | bc -l)"; }
mib() { printf '%.0f' "$(echo "$1 / 1024" | bc -l)"; }

NP_EXPR='.*windows; ([0-9.]+) s,.*'
DD_EXPR='^duckdb_six_queries: .* windows; ([0-9.]+) s,.*'

{
  echo "## netpulse process over the issue-12 grid"
  echo
  echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- command: \`COUNT=$COUNT RUNS=$RUNS KEYS=\"$KEYS\" RATES=\"$RATES\" TS=\"$TS\" DUCKDB_TIMEOUT=$DUCKDB_TIMEOUT bench/engine_grid.sh\`"
  echo "- data: $COUNT records per file, Zipf 1.0 over the keys (source addresses), 3% IPv6, 0-9 fraction digits, 19 protocols (\`netpulse generate --count $COUNT --rate RATE --ips KEYS --zipf 1.0 --protocols 19 --ipv6-percent 3 --time-digits mixed --seed 1 --start-time '2020-05-09 00:00:00'\`)"
  echo "- queries: all six, \`--T T --slide 1 ${QUERY[*]}\`, output to /dev/null; best of $RUNS; M rec/s = records / wall time of the tool's own summary; MiB = peak RSS"
  echo "- DuckDB: $( [ "$DUCKDB" = 1 ] && "$NODE" -e "import('@duckdb/node-api').then(async m => { const i = await m.DuckDBInstance.create(':memory:'); const c = await i.connect(); const r = await c.runAndReadAll('select version()'); console.log(r.getRows()[0][0]); })" 2>/dev/null || echo off), $DUCKDB_THREADS threads, \`bench/duckdb_six_queries.mjs\` (per-second aggregates, window sums by entry/exit events), timeout $DUCKDB_TIMEOUT s"
  echo
  echo "| keys | rate (rec/s) | T (s) | 1 thread M rec/s | MiB | 2 threads M rec/s | MiB | speed-up | DuckDB M rec/s | MiB | netpulse 2 thr / DuckDB |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} | tee "$OUT"

for keys in $KEYS; do
  for rate in $RATES; do
    file=$(data_file "$keys" "$rate")
    for T in $TS; do
      np_out=/dev/null; dd_out=/dev/null
      if [ "$CHECK" = 1 ]; then np_out=$work/netpulse.jsonl; dd_out=$work/duckdb.jsonl; fi
      declare -A r=()
      for threads in 1 2; do
        best_of "np$threads" "$NP_EXPR" "$NETPULSE" process --input "$file" --T "$T" \
          "${QUERY[@]}" --threads "$threads" --output "$np_out" --progress 0
        if [ -z "$best_secs" ]; then
          echo "engine_grid: netpulse failed (exit $last_status):" >&2
          cat "$work/np$threads.err" >&2
          r[np${threads}_rate]="failed"; r[np${threads}_mib]="-"
        else
          r[np${threads}_rate]=$(mrate "$best_secs"); r[np${threads}_mib]=$(mib "$best_kib")
          r[np${threads}_secs]=$best_secs
        fi
      done
      speedup="-"
      if [ -n "${r[np1_secs]:-}" ] && [ -n "${r[np2_secs]:-}" ]; then
        speedup=$(printf '%.2fx' "$(echo "${r[np1_secs]} / ${r[np2_secs]}" | bc -l)")
      fi
      dd_rate="-"; dd_mib="-"; ratio="-"
      if [ "$DUCKDB" = 1 ]; then
        best_of dd "$DD_EXPR" timeout "$DUCKDB_TIMEOUT" "$NODE" bench/duckdb_six_queries.mjs \
          --input "$file" --T "$T" "${QUERY[@]}" --threads "$DUCKDB_THREADS" --output "$dd_out"
        if [ -n "$best_secs" ]; then
          dd_rate=$(mrate "$best_secs"); dd_mib=$(mib "$best_kib")
          if [ -n "${r[np2_secs]:-}" ]; then
            ratio=$(printf '%.1fx' "$(echo "$best_secs / ${r[np2_secs]}" | bc -l)")
          fi
        elif [ "$last_status" -eq 124 ]; then
          dd_rate="> $DUCKDB_TIMEOUT s"
          [ -n "${r[np2_secs]:-}" ] &&
            ratio="> $(printf '%.0fx' "$(echo "$DUCKDB_TIMEOUT / ${r[np2_secs]}" | bc -l)")"
        else
          echo "engine_grid: DuckDB failed (exit $last_status):" >&2
          tail -5 "$work/dd.err" >&2
          dd_rate="failed"
        fi
        if [ "$CHECK" = 1 ] && [ -n "$best_secs" ]; then
          python3 -c "
import sys; sys.path.insert(0, 'tests/e2e')
from duckdb_reference_test import compare
p = compare(open(sys.argv[1]).read().splitlines(), open(sys.argv[2]).read().splitlines())
print('engine_grid: check ' + ('ok' if not p else 'FAILED: ' + '; '.join(p)), file=sys.stderr)
sys.exit(1 if p else 0)" "$np_out" "$dd_out" || dd_rate="$dd_rate (differs)"
        fi
      fi
      printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$(short "$keys")" "$(short "$rate")" "$T" "${r[np1_rate]}" "${r[np1_mib]}" \
        "${r[np2_rate]}" "${r[np2_mib]}" "$speedup" "$dd_rate" "$dd_mib" "$ratio" | tee -a "$OUT"
      unset r
    done
  done
done
echo >&2
echo "engine_grid: table written to $OUT" >&2
