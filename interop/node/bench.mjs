// node-ipc benchmark peers, with node-ipc's own method: a 64-byte payload
// (an 8-hex-digit sequence number and 56 'a'), event "benchmark.frame", so
// 101-byte frames; a fixed number of requests in flight.
//
//   node bench.mjs '{"lib":14,"role":"server","transport":"tcp","host":"127.0.0.1","port":8123}'
//   node bench.mjs '{"lib":14,"role":"client","transport":"unix","path":"/tmp/x.sock",
//                    "inflight":64,"count":200000,"warmup":20000}'
//
// The server echoes each frame to its sender and prints {"ev":"ready"}; it
// exits when stdin closes. The client prints one result line and exits.
import { createRequire } from 'node:module';

const opts = JSON.parse(process.argv[2] || '{}');
const require = createRequire(import.meta.url);
const EVENT = 'benchmark.frame';

async function load(lib) {
  if (lib === 9) return new (require('node-ipc9').IPC)();
  const { IPCModule } = await import(lib === 10 ? 'node-ipc10' : 'node-ipc14');
  return new IPCModule();
}

const ipc = await load(Number(opts.lib || 14));
Object.assign(ipc.config, { silent: true, maxRetries: 0 }, opts.config || {});

if (opts.role === 'server') {
  const ready = () => process.stdout.write(JSON.stringify({ ev: 'ready' }) + '\n');
  if (opts.transport === 'unix') ipc.serve(opts.path, ready);
  else ipc.serveNet(opts.host, opts.port, ready);
  ipc.server.on(EVENT, (data, socket) => ipc.server.emit(socket, EVENT, data));
  ipc.server.start();
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
} else {
  const inflight = opts.inflight || 64;
  const warmup = opts.warmup || 0;
  const total = warmup + (opts.count || 100000);
  const sent = new Array(total);
  const lat = [];
  const pad = 'a'.repeat(56);
  let next = 0;
  let received = 0;
  let t0 = 0n;
  const payload = (seq) => seq.toString(16).padStart(8, '0') + pad;
  const connected = () => {
    const c = ipc.of.bench;
    const send = () => {
      sent[next] = process.hrtime.bigint();
      c.emit(EVENT, payload(next));
      next++;
    };
    c.on(EVENT, (data) => {
      const seq = parseInt(data.slice(0, 8), 16);
      const now = process.hrtime.bigint();
      if (seq >= warmup) lat.push(Number(now - sent[seq]));
      received++;
      if (received === warmup) t0 = process.hrtime.bigint();
      if (received === total) {
        const elapsed = Number(process.hrtime.bigint() - t0);
        lat.sort((a, b) => a - b);
        const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] / 1000;
        const count = total - warmup;
        process.stdout.write(JSON.stringify({
          ev: 'result', count, elapsed_ns: elapsed, rtt_per_sec: count / (elapsed / 1e9),
          p50_us: q(0.5), p99_us: q(0.99), lost: 0,
        }) + '\n');
        process.exit(0);
      }
      if (next < total) send();
    });
    if (warmup === 0) t0 = process.hrtime.bigint();
    for (let i = 0; i < inflight && next < total; i++) send();
  };
  const start = () => ipc.of.bench.on('connect', connected);
  if (opts.transport === 'unix') ipc.connectTo('bench', opts.path, start);
  else ipc.connectToNet('bench', opts.host, opts.port, start);
}
