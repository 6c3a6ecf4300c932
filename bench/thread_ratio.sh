#!/usr/bin/env bash
# One thread against two, and build against build, on the issue-12 file: for each round and
# each netpulse binary given, one `process --threads 1` run and one `--threads 2` run, so that
# the host's drift reaches every binary and thread count alike. Prints, per binary, the median,
# lower quartile and minimum wall time (ms, start to exit) of each thread count and their
# ratios, and the median of the rounds' own ratios (each round's two runs are a second apart, so
# the host's drift from minute to minute cancels in them). On this VM, whose speed moves by 25%
# from minute to minute, medians of alternated runs tell builds apart where best-of-N sets one
# after another do not.
#
#   bench/thread_ratio.sh                      # build/netpulse, 10 rounds
#   ROUNDS=16 bench/thread_ratio.sh /tmp/before build/netpulse
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-10}
DATA=${DATA:-bench/data/flows-issue12-5m.txt}
ARGS=(--T 60 --lateness 1 --H 1 --k 10 --X 3 --slide 1 --output /dev/null --progress 0)
[ $# -gt 0 ] || set -- build/netpulse
for b in "$@"; do [ -x "$b" ] || { echo "thread_ratio: $b is not an executable" >&2; exit 1; }; done
[ -s "$DATA" ] || { echo "thread_ratio: $DATA missing (PRESET=issue12 bench/engine_bench.sh makes it)" >&2; exit 1; }
cat "$DATA" > /dev/null
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1 /proc/loadavg) at the start; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "data: $DATA; process ${ARGS[*]}; $ROUNDS rounds"
for _ in $(seq "$ROUNDS"); do
  for b in "$@"; do
    for t in 1 2; do
      s=$(date +%s%N)
      "$b" process --input "$DATA" --threads "$t" "${ARGS[@]}" 2>/dev/null
      e=$(date +%s%N)
      echo "$b $t $(((e - s) / 1000000))"
    done
  done
done | /usr/bin/python3 -c '
import sys, statistics as st
d = {}
for line in sys.stdin:
    b, t, ms = line.split()
    d.setdefault(b, {}).setdefault(t, []).append(int(ms))
for b, v in d.items():
    # Each round ran 1 then 2 threads back to back: the ratio within a round sees the same host.
    pairs = sorted(a / c for a, c in zip(v["1"], v["2"]))
    one, two = sorted(v["1"]), sorted(v["2"])
    m1, m2 = st.median(one), st.median(two)
    q1, q2 = one[len(one) // 4], two[len(two) // 4]
    print(f"{b}: 1 thread median {m1} ms (q1 {q1}, min {one[0]}); 2 threads median {m2} ms "
          f"(q1 {q2}, min {two[0]}); ratio median {m1 / m2:.3f}, q1 {q1 / q2:.3f}, min {one[0] / two[0]:.3f}; "
          f"paired ratio median {st.median(pairs):.3f} (quartiles {pairs[len(pairs) // 4]:.3f}-{pairs[(3 * len(pairs)) // 4]:.3f})")
'
