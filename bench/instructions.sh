#!/usr/bin/env bash
# Instructions per record, counted by valgrind's callgrind: a figure this VM's noise does not
# move. Its speed swings by 25% from minute to minute, so two builds' wall times need dozens of
# alternated runs to tell 3% apart (bench/thread_ratio.sh); an instruction count is the same in
# every run. It does not see cache misses, stalls or the second core: a change that adds
# instructions to save misses must still be timed.
#
# For each netpulse binary given, `process` over the first COUNT records of the issue-12 file
# (PRESET=issue12 bench/engine_bench.sh makes it) at 1 and 2 threads under callgrind: the
# instructions per record, and the functions that take 2% or more of them.
#
#   bench/instructions.sh                              # build/netpulse, 1,000,000 records
#   COUNT=200000 bench/instructions.sh /tmp/before build/netpulse
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=${COUNT:-1000000}
DATA=${DATA:-bench/data/flows-issue12-5m.txt}
ARGS=(--T 60 --lateness 1 --H 1 --k 10 --X 3 --slide 1 --output /dev/null --progress 0)
command -v valgrind >/dev/null || { echo "instructions: valgrind is not installed (scripts/setup installs it)" >&2; exit 1; }
[ $# -gt 0 ] || set -- build/netpulse
for b in "$@"; do [ -x "$b" ] || { echo "instructions: $b is not an executable" >&2; exit 1; }; done
[ -s "$DATA" ] || { echo "instructions: $DATA missing (PRESET=issue12 bench/engine_bench.sh makes it)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
head -n "$COUNT" "$DATA" > "$work/input.txt"
records=$(wc -l < "$work/input.txt")
echo "data: first $records records of $DATA; process ${ARGS[*]}; $(date -u '+%Y-%m-%d %H:%M UTC')"
for b in "$@"; do
  for t in 1 2; do
    out="$work/callgrind.out"
    valgrind --tool=callgrind --callgrind-out-file="$out" "$b" process --input "$work/input.txt" \
      --threads "$t" "${ARGS[@]}" > /dev/null 2> "$work/log" \
      || { cat "$work/log" >&2; echo "instructions: $b failed under valgrind" >&2; exit 1; }
    callgrind_annotate "$out" 2>/dev/null | /usr/bin/python3 -c '
import re, sys
binary, threads, records = sys.argv[1], sys.argv[2], int(sys.argv[3])
total, rows = None, []
for line in sys.stdin:
    m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)", line)
    if not m:
        continue
    n, pct, what = int(m.group(1).replace(",", "")), float(m.group(2)), m.group(3)
    if "PROGRAM TOTALS" in what:
        total = n
    elif pct >= 2.0:
        # "file:function(args) [object]" -> the function name without its arguments
        name = what.split(":", 1)[-1] if what.startswith("???:") else what
        name = name.split(" [")[0].replace("(anonymous namespace)", "{anonymous}")
        rows.append((n, re.sub(r"\(.*", "", name)))
print(f"{binary}, {threads} thread(s): {total / records:.1f} instructions a record ({total:,} in all)")
for n, name in rows:
    print(f"  {n / records:7.1f}  {name}")
' "$b" "$t" "$records"
  done
done
