#!/usr/bin/env bash
# Do rates instead of counts help the NSL-KDD models catch attack types never seen in training?
# Writes transformed copies of KDDTrain+ (same 41-column layout, so netpulse reads them unchanged;
# every transformed value a plain non-negative decimal) and runs `netpulse train --select`
# (leave-attack-types-out, docs/detect.md) on each, with the default groups and the same --seed,
# so every variant is split identically. Variants:
#   original     KDDTrain+ as it is (baseline)
#   per-second   src_bytes, dst_bytes divided by max(duration, 1): bytes per second of the
#                connection (duration is whole seconds and 0 for 92% of the rows, which keep
#                their counts)
#   ratios       src_bytes replaced by src_bytes / (src_bytes + dst_bytes + 1): the originator's
#                share of the bytes (dst_bytes kept as the raw count, so the pair still carries
#                the magnitudes); not a monotone transform of one column, so trees can see it
#   content-ps   hot, num_failed_logins, num_compromised, num_root, num_file_creations,
#                num_shells, num_access_files divided by max(duration, 1)
#   share-added  the original columns, plus the originator's share of the bytes (as in ratios)
#                written into num_outbound_cmds, which is 0 in every KDDTrain+ row: adds the
#                rate without taking a count away
#   bps-added    the original columns, plus (src_bytes + dst_bytes) / max(duration, 1) written
#                into num_outbound_cmds
# For each variant and seed: `train --detector attack --candidate 'algo=forest'` (budget 2%, the
# default) and `train --detector dos --candidate 'algo=forest trees=10 depth=6' --fpr-budget 0.01`
# (the shipped dos candidate), each timed. Then prints one row per variant x detector x seed from
# the model file's training.selection: unseen recall (mean over groups), pooled unseen rows
# recall, seen recall, false-positive rate, threshold, train seconds (wall) and per-group unseen
# recall, then the groups; then per variant and detector the mean and sd over the seeds and the
# mean, min and max of the difference from original with the same seed (same folds and forest
# seeds, so the pair differs only in the features).
#
#   bench/rate_features.sh                                   # all variants, seed 1
#   SEEDS="1 2" VARIANTS="original ratios" bench/rate_features.sh
#   REUSE=1 bench/rate_features.sh        # keep model files already written, only print the table
#   NICE=0 THREADS=1 OUT=/tmp/x DATA=path/KDDTrain+.txt bench/rate_features.sh
# Model files: $OUT/DETECTOR-VARIANT.json (seed 1) or DETECTOR-VARIANT-seedN.json; each run's
# output (stdout and stderr) in the same name with .log, its time (wall, user, sys s) in .time.
set -euo pipefail
cd "$(dirname "$0")/.."
NETPULSE=${NETPULSE:-build/netpulse}
DATA=${DATA:-../shared/data/nsl-kdd/KDDTrain+.txt}
OUT=${OUT:-/tmp/rates}
VARIANTS=${VARIANTS:-"original per-second ratios content-ps share-added bps-added"}
DETECTORS=${DETECTORS:-"attack dos"}
SEEDS=${SEEDS:-1}
THREADS=${THREADS:-2}
NICE=${NICE:-19}
REUSE=${REUSE:-0}
PY=${PY:-/usr/bin/python3}
[ -x "$NETPULSE" ] || { echo "rate_features: $NETPULSE not built (run scripts/build)" >&2; exit 1; }
[ -s "$DATA" ] || { echo "rate_features: no $DATA" >&2; exit 1; }
mkdir -p "$OUT"

# The transformed files: one pass over the data, writing every variant not yet written.
"$PY" - "$DATA" "$OUT" $VARIANTS <<'EOF'
import os, sys
src, out, variants = sys.argv[1], sys.argv[2], sys.argv[3:]
DUR, SRC, DST, OUTB = 0, 4, 5, 19
CONTENT = [9, 10, 12, 15, 16, 17, 18]  # hot, num_failed_logins, num_compromised, num_root,
                                        # num_file_creations, num_shells, num_access_files

def num(x):
    # A plain non-negative decimal, no exponent, at most 19 digits (the row parser's limit),
    # more precision than the float netpulse stores it in.
    assert x >= 0, x
    s = "%.10f" % x if x < 1 else "%.6f" % x
    s = s.rstrip("0").rstrip(".")
    return s or "0"

def share(f):
    s, d = float(f[SRC]), float(f[DST])
    return num(s / (s + d + 1))

def per_second(f, cols):
    dur = max(float(f[DUR]), 1.0)
    for c in cols:
        f[c] = num(float(f[c]) / dur)

def original(f): pass
def per_second_bytes(f): per_second(f, [SRC, DST])
def ratios(f): f[SRC] = share(f)
def content_ps(f): per_second(f, CONTENT)
def share_added(f):
    assert f[OUTB] == "0", "num_outbound_cmds is not 0 in every row"
    f[OUTB] = share(f)
def bps_added(f):
    assert f[OUTB] == "0", "num_outbound_cmds is not 0 in every row"
    f[OUTB] = num((float(f[SRC]) + float(f[DST])) / max(float(f[DUR]), 1.0))

TRANSFORMS = {"original": original, "per-second": per_second_bytes, "ratios": ratios,
              "content-ps": content_ps, "share-added": share_added, "bps-added": bps_added}
todo = {}
for v in variants:
    if v not in TRANSFORMS:
        sys.exit("rate_features: unknown variant %s (known: %s)" % (v, " ".join(TRANSFORMS)))
    path = os.path.join(out, "KDDTrain+-%s.txt" % v)
    if not (os.path.exists(path) and os.path.getsize(path) > 0):
        todo[v] = open(path + ".tmp", "w")
if todo:
    with open(src) as fin:
        for line in fin:
            line = line.rstrip("\r\n")
            if not line:
                continue
            fields = line.split(",")
            assert len(fields) == 43, "expected 41 features, label, difficulty: " + line
            for v, fo in todo.items():
                f = list(fields)
                TRANSFORMS[v](f)
                fo.write(",".join(f) + "\n")
    for v, fo in todo.items():
        fo.close()
        path = os.path.join(out, "KDDTrain+-%s.txt" % v)
        os.replace(path + ".tmp", path)
        print("rate_features: wrote %s" % path, file=sys.stderr)
EOF

echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); nice $NICE, --threads $THREADS"
for seed in $SEEDS; do
  for v in $VARIANTS; do
    for det in $DETECTORS; do
      case $det in
        attack) args=(--candidate 'algo=forest') ;;
        dos) args=(--candidate 'algo=forest trees=10 depth=6' --fpr-budget 0.01) ;;
        *) echo "rate_features: no candidate set for detector $det" >&2; exit 1 ;;
      esac
      base="$OUT/$det-$v"
      [ "$seed" = 1 ] || base="$base-seed$seed"
      if [ "$REUSE" = 1 ] && [ -s "$base.json" ]; then continue; fi
      echo "$(date +%T) train $det on $v, seed $seed" >&2
      /usr/bin/time -f '%e %U %S' -o "$base.time" \
        nice -n "$NICE" "$NETPULSE" train --data "$OUT/KDDTrain+-$v.txt" --detector "$det" \
        --select --threads "$THREADS" --seed "$seed" "${args[@]}" --out "$base.json" \
        >"$base.log" 2>&1 || { echo "rate_features: train failed, see $base.log" >&2; exit 1; }
      echo "$(date +%T)   $(cut -d' ' -f1 "$base.time") s wall" >&2
    done
  done
done

"$PY" - "$OUT" "$SEEDS" "$VARIANTS" "$DETECTORS" <<'EOF'
import json, os, sys
out, seeds, variants, detectors = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()
print("%-8s %-12s %4s %7s %7s %7s %7s %9s %7s  %s" % ("detector", "variant", "seed", "unseen",
      "(rows)", "seen", "FPR", "threshold", "train s", "unseen recall per group"))
groups = {}
for det in detectors:
    for v in variants:
        for seed in seeds:
            base = os.path.join(out, "%s-%s" % (det, v) + ("" if seed == "1" else "-seed" + seed))
            if not os.path.exists(base + ".json"):
                print("%-8s %-12s %4s (no model file)" % (det, v, seed))
                continue
            sel = json.load(open(base + ".json"))["training"]["selection"]
            c = next(c for c in sel["candidates"] if c["name"] == sel["chosen"])
            groups.setdefault(det, sel["groups"])
            assert sel["groups"] == groups[det], "groups differ between variants"
            wall = open(base + ".time").read().split()[0] if os.path.exists(base + ".time") else "?"
            print("%-8s %-12s %4s %7.4f %7.4f %7.4f %7.4f %9.4g %7s  %s" % (
                det, v, seed, c["unseen_recall"], c["unseen_recall_rows"], c["seen_recall"],
                c["false_positive_rate"], c["threshold"], wall,
                " ".join("%.3f" % r for r in c["group_recall"])))
for det, g in groups.items():
    print("%s groups: %s" % (det, " / ".join(",".join(x) for x in g)))

import statistics as st
print()
print("%-8s %-12s %5s %15s %28s %15s" % ("detector", "variant", "seeds", "unseen mean(sd)",
      "minus original: mean [min, max]", "(rows) mean"))
for det in detectors:
    orig = {}
    for v in variants:
        got = {}
        for seed in seeds:
            base = os.path.join(out, "%s-%s" % (det, v) + ("" if seed == "1" else "-seed" + seed))
            if os.path.exists(base + ".json"):
                sel = json.load(open(base + ".json"))["training"]["selection"]
                c = next(c for c in sel["candidates"] if c["name"] == sel["chosen"])
                got[seed] = (c["unseen_recall"], c["unseen_recall_rows"])
        if not got:
            continue
        if v == "original":
            orig = got
        u = [x[0] for x in got.values()]
        sd = st.stdev(u) if len(u) > 1 else float("nan")
        d = [got[s][0] - orig[s][0] for s in got if s in orig]
        diff = ("%+.4f [%+.4f, %+.4f]" % (st.mean(d), min(d), max(d))) if d and v != "original" else ""
        print("%-8s %-12s %5d %8.4f(%.4f) %28s %15.4f" % (det, v, len(u), st.mean(u), sd, diff,
              st.mean(x[1] for x in got.values())))
EOF
