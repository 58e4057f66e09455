// node-ipc benchmark peers, with node-ipc's own method: a 64-byte payload
// (an 8-hex-digit sequence number and 56 'a'), event "benchmark.frame", so
// 101-byte frames; a fixed number of requests in flight.
//
//   node bench.mjs '{"lib":14,"role":"server","transport":"tcp","host":"127.0.0.1","port":8123}'
//   node bench.mjs '{"lib":14,"role":"client","transport":"unix","path":"/tmp/x.sock",
//                    "inflight":64,"count":200000,"warmup":20000}'
//
// transport: unix, tcp, tls (with "tls":{"key","cert","ca"} PEM file paths:
// the server uses key and cert, the client verifies the server against ca)
// or udp4/udp6 (the client is a UDP server of its own on "cport" that emits
// to the server's address; a request without a reply within "timeout_ms" is
// counted lost).
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
const udp = opts.transport === 'udp4' || opts.transport === 'udp6';
if (opts.transport === 'tls') {
  // One-way TLS: node-ipc's tls settings, key and certificate files on the
  // server, the trusted CA file on the client.
  ipc.config.tls = opts.role === 'server'
    ? { private: opts.tls.key, public: opts.tls.cert }
    : { trustedConnections: [opts.tls.ca], rejectUnauthorized: true };
}

if (opts.role === 'server') {
  const ready = () => process.stdout.write(JSON.stringify({ ev: 'ready' }) + '\n');
  if (opts.transport === 'unix') ipc.serve(opts.path, ready);
  else if (udp) ipc.serveNet(opts.host, opts.port, opts.transport, ready);
  else ipc.serveNet(opts.host, opts.port, ready);
  ipc.server.on(EVENT, (data, socket) => ipc.server.emit(socket, EVENT, data));
  ipc.server.start();
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
} else {
  const inflight = opts.inflight || 64;
  const warmup = opts.warmup || 0;
  const total = warmup + (opts.count || 100000);
  const timeoutMS = opts.timeout_ms || 1000;
  const timeout = BigInt(timeoutMS) * 1000000n;
  const sent = new Array(total);
  const ended = new Uint8Array(total); // answered or given up
  const lat = [];
  const pad = 'a'.repeat(56);
  let next = 0;
  let resolved = 0; // requests ended, warm-up included
  let lost = 0; // measured requests given up
  let oldest = 0; // no request below it is still waiting
  let t0 = 0n;
  let last = 0n;
  let lastReply = 0n; // or the start of the pass
  let emit;
  const payload = (seq) => seq.toString(16).padStart(8, '0') + pad;
  const send = () => {
    sent[next] = process.hrtime.bigint();
    emit(payload(next));
    next++;
  };
  const end = (seq, now) => {
    ended[seq] = 1;
    resolved++;
    if (resolved === warmup) t0 = last = now;
  };
  const finish = () => {
    const elapsed = Number(last - t0);
    lat.sort((a, b) => a - b);
    const q = (p) => (lat.length ? lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] / 1000 : 0);
    const count = lat.length;
    process.stdout.write(JSON.stringify({
      ev: 'result', count, elapsed_ns: elapsed, rtt_per_sec: elapsed > 0 ? count / (elapsed / 1e9) : 0,
      p50_us: q(0.5), p99_us: q(0.99), lost,
    }) + '\n');
    process.exit(0);
  };
  const reply = (data) => {
    const seq = typeof data === 'string' ? parseInt(data.slice(0, 8), 16) : NaN;
    if (!(seq >= 0 && seq < total) || ended[seq]) return; // late or garbled
    const now = process.hrtime.bigint();
    lastReply = now;
    if (seq >= warmup) {
      lat.push(Number(now - sent[seq]));
      last = now;
    }
    end(seq, now);
    if (resolved === total) finish();
    else if (next < total) send();
  };
  // expire gives up the requests waiting longer than the timeout (UDP).
  // Ten timeouts without a single reply: the server is gone.
  const expire = () => {
    const now = process.hrtime.bigint();
    if (now - lastReply > 10n * timeout) {
      process.stderr.write(`no reply from ${opts.host}:${opts.port} for ${10 * timeoutMS} ms\n`);
      process.exit(1);
    }
    let freed = 0;
    for (; oldest < next; oldest++) {
      if (ended[oldest]) continue;
      if (now - sent[oldest] < timeout) break;
      if (oldest >= warmup) lost++;
      end(oldest, now);
      freed++;
    }
    if (resolved === total) finish();
    for (; freed > 0 && next < total; freed--) send();
  };
  const begin = () => {
    lastReply = process.hrtime.bigint();
    if (warmup === 0) t0 = lastReply;
    for (let i = 0; i < inflight && next < total; i++) send();
    if (udp) setInterval(expire, Math.max(1, timeoutMS / 10));
  };
  if (udp) {
    // node-ipc has no UDP client: a UDP server of our own emits to the
    // server's address and receives the replies.
    const to = { address: opts.host, port: opts.port };
    emit = (p) => ipc.server.emit(to, EVENT, p);
    ipc.serveNet(opts.host, opts.cport, opts.transport, begin);
    ipc.server.on(EVENT, reply);
    ipc.server.start();
  } else {
    const connected = () => {
      const c = ipc.of.bench;
      emit = (p) => c.emit(EVENT, p);
      c.on(EVENT, reply);
      begin();
    };
    const start = () => ipc.of.bench.on('connect', connected);
    if (opts.transport === 'unix') ipc.connectTo('bench', opts.path, start);
    else ipc.connectToNet('bench', opts.host, opts.port, start);
  }
}
