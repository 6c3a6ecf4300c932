#!/usr/bin/env bash
# Load on a running `netpulse run`: 50 WebSocket clients and 200 HTTP requests/s (wrk, 10
# connections each pacing one request per 50 ms over the read routes) for a bounded time, all on
# 127.0.0.1. Then Ctrl-C (SIGINT) and checks: every window emitted is in the store six times
# (one row per query), no row duplicated, every WebSocket client saw consecutive windows with
# no repeat. Reports p50/p90/p99 API latency.
# Usage: bench/load_bench.sh [SECONDS] [CLIENTS]   (defaults 60, 50)
# Environment: NETPULSE (binary, default build/netpulse), RATE (generator records/s, 5000).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-60}
CLIENTS=${2:-50}
RATE=${RATE:-5000}
BIN=${NETPULSE:-build/netpulse}
[ -x "$BIN" ] || { echo "load_bench: $BIN not built (scripts/build)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "load_bench: wrk missing (scripts/setup)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "load_bench: sqlite3 missing (scripts/setup)" >&2; exit 1; }
[ -d node_modules/ws ] || { echo "load_bench: node_modules missing (scripts/setup)" >&2; exit 1; }

OUT=bench/out/load
mkdir -p "$OUT"
rm -f "$OUT"/load.db*
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$BIN" run --web "127.0.0.1:$PORT" --store "sqlite:$OUT/load.db" --rate "$RATE" \
  --models "$OUT/no-models" >"$OUT/server.out" 2>"$OUT/server.err" &
SERVER=$!
stop_server() { kill -INT "$SERVER" 2>/dev/null || true; }
trap stop_server EXIT

for _ in $(seq 100); do
  curl -sf "http://127.0.0.1:$PORT/api/status" >/dev/null && break
  sleep 0.1
done
sleep 3  # a few windows first, so every client gets history and live results

node bench/load_ws_clients.mjs "ws://127.0.0.1:$PORT/ws" "$CLIENTS" "$((SECONDS_TO_RUN + 2))" \
  >"$OUT/ws.json" &
WS=$!
sleep 1
wrk -t2 -c10 -d"${SECONDS_TO_RUN}s" --timeout 5s -s bench/load_requests.lua \
  "http://127.0.0.1:$PORT" >"$OUT/wrk.txt"
wait "$WS"
curl -s "http://127.0.0.1:$PORT/metrics" >"$OUT/metrics.txt"

kill -INT "$SERVER"
wait "$SERVER" || { echo "load_bench: netpulse run exited with an error" >&2; cat "$OUT/server.err" >&2; exit 1; }
trap - EXIT

# The summary line: "... N windows, M results stored; ..."
WINDOWS=$(sed -n 's/.* \([0-9]*\) windows, \([0-9]*\) results stored.*/\1/p' "$OUT/server.err")
WRITTEN=$(sed -n 's/.* \([0-9]*\) windows, \([0-9]*\) results stored.*/\2/p' "$OUT/server.err")
ROWS=$(sqlite3 "$OUT/load.db" 'select count(*) from results')
DISTINCT=$(sqlite3 "$OUT/load.db" "select count(*) from (select distinct query, window_end, params from results)")
STORED_WINDOWS=$(sqlite3 "$OUT/load.db" 'select count(distinct window_end) from results')
EXPECTED=$((WINDOWS * 6))
REQS=$(sed -n 's/^Requests\/sec: *//p' "$OUT/wrk.txt")

{
  echo "load_bench: ${SECONDS_TO_RUN}s, generator ${RATE} records/s, ${CLIENTS} WebSocket clients, wrk -t2 -c10 (one request per 50 ms per connection)"
  echo "http: ${REQS} requests/s; latency $(grep -E '^p(50|90|99)_ms|^max_ms' "$OUT/wrk.txt" | tr '\n' ' ')"
  echo "http: $(grep -E '^requests|^errors' "$OUT/wrk.txt" | tr '\n' ' ')"
  echo "websocket: $(cat "$OUT/ws.json")"
  echo "store: ${WINDOWS} windows emitted, ${EXPECTED} results expected, ${WRITTEN} written, ${ROWS} rows, ${DISTINCT} distinct, ${STORED_WINDOWS} windows stored"
} | tee "$OUT/summary.txt"

fail=0
[ "$ROWS" -eq "$EXPECTED" ] || { echo "load_bench: FAIL: $ROWS rows stored, $EXPECTED expected" >&2; fail=1; }
[ "$WRITTEN" -eq "$EXPECTED" ] || { echo "load_bench: FAIL: $WRITTEN results written, $EXPECTED emitted" >&2; fail=1; }
[ "$DISTINCT" -eq "$ROWS" ] || { echo "load_bench: FAIL: duplicated rows" >&2; fail=1; }
[ "$STORED_WINDOWS" -eq "$WINDOWS" ] || { echo "load_bench: FAIL: windows lost" >&2; fail=1; }
python3 - "$OUT/ws.json" "$CLIENTS" <<'PY' || fail=1
import json, sys
s = json.load(open(sys.argv[1]))
ok = s["connected"] == int(sys.argv[2]) and s["window_gaps"] == 0 and s["window_repeats"] == 0 \
     and s["closed_early"] == 0 and s["min_windows_per_client"] > 0
if not ok:
    print("load_bench: FAIL: websocket clients missed, repeated or lost windows", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
[ $fail -eq 0 ] && echo "load_bench: OK: no result lost or duplicated"
exit $fail
