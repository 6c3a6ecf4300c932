// WebSocket load for bench/load_bench.sh: N clients on /ws of a running netpulse for S seconds.
// Each client checks that it saw every window once: the ip-topk results it received must have
// consecutive window ends (slide 1 s) and no repeats. Prints one JSON summary line.
// Usage: node bench/load_ws_clients.mjs ws://127.0.0.1:8080/ws 50 60
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(join(dirname(fileURLToPath(import.meta.url)), '..', 'package.json'));
const WebSocket = require('ws');

const [url, clientsArg, secondsArg, slideArg] = process.argv.slice(2);
const clients = Number(clientsArg || 50);
const seconds = Number(secondsArg || 30);
const slideMs = Number(slideArg || 1000);

const stats = [];
let open = 0;
const sockets = [];
for (let i = 0; i < clients; i++) {
  const s = { results: 0, status: 0, windows: new Map(), errors: 0, closedEarly: false };
  stats.push(s);
  const ws = new WebSocket(url);
  sockets.push(ws);
  ws.on('open', () => { open++; });
  ws.on('message', (data) => {
    let m;
    try { m = JSON.parse(data); } catch (e) { s.errors++; return; }
    if (m.type === 'result') {
      s.results++;
      if (m.result.query === 'ip-topk') {
        const end = Date.parse(m.result.window_end);
        s.windows.set(end, (s.windows.get(end) || 0) + 1);
      }
    } else if (m.type === 'status') {
      s.status++;
    }
  });
  ws.on('error', () => { s.errors++; });
  ws.on('close', () => { if (!stopping) s.closedEarly = true; });
}

let stopping = false;
setTimeout(() => {
  stopping = true;
  for (const ws of sockets) ws.terminate();
  let gaps = 0, repeats = 0, results = 0, status = 0, errors = 0, closedEarly = 0;
  let minWindows = Infinity, maxWindows = 0;
  for (const s of stats) {
    results += s.results;
    status += s.status;
    errors += s.errors;
    if (s.closedEarly) closedEarly++;
    const ends = [...s.windows.keys()].sort((a, b) => a - b);
    for (const n of s.windows.values()) if (n > 1) repeats += n - 1;
    for (let i = 1; i < ends.length; i++) if (ends[i] - ends[i - 1] !== slideMs) gaps++;
    minWindows = Math.min(minWindows, ends.length);
    maxWindows = Math.max(maxWindows, ends.length);
  }
  console.log(JSON.stringify({ clients, connected: open, seconds, results_received: results,
                               status_received: status, min_windows_per_client: minWindows,
                               max_windows_per_client: maxWindows, window_gaps: gaps,
                               window_repeats: repeats, errors, closed_early: closedEarly }));
  process.exit(0);
}, seconds * 1000);
