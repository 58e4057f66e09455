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
  // Times are nanoseconds as plain numbers in typed arrays, not BigInts
  // from process.hrtime.bigint(): a BigInt per request would be a heap
  // object for the garbage collector of the measured process.
  const now = () => performance.now() * 1e6;
  const timeout = timeoutMS * 1e6;
  const sent = new Float64Array(total);
  const ended = new Uint8Array(total); // answered or given up
  const lat = new Float64Array(opts.count || 100000);
  let nlat = 0;
  const pad = 'a'.repeat(56);
  let next = 0;
  let resolved = 0; // requests ended, warm-up included
  let lost = 0; // measured requests given up
  let oldest = 0; // no request below it is still waiting
  let t0 = 0;
  let last = 0;
  let lastReply = 0; // or the start of the pass
  let emit;
  const payload = (seq) => seq.toString(16).padStart(8, '0') + pad;
  const send = () => {
    sent[next] = now();
    emit(payload(next));
    next++;
  };
  const end = (seq, at) => {
    ended[seq] = 1;
    resolved++;
    if (resolved === warmup) t0 = last = at;
  };
  const finish = () => {
    const elapsed = Math.round(last - t0);
    const got = lat.subarray(0, nlat).sort();
    const q = (p) => (got.length ? got[Math.min(got.length - 1, Math.floor(p * got.length))] / 1000 : 0);
    const count = got.length;
    process.stdout.write(JSON.stringify({
      ev: 'result', count, elapsed_ns: elapsed, rtt_per_sec: elapsed > 0 ? count / (elapsed / 1e9) : 0,
      p50_us: q(0.5), p99_us: q(0.99), lost,
    }) + '\n');
    process.exit(0);
  };
  const reply = (data) => {
    const seq = typeof data === 'string' ? parseInt(data.slice(0, 8), 16) : NaN;
    if (!(seq >= 0 && seq < total) || ended[seq]) return; // late or garbled
    const at = now();
    lastReply = at;
    if (seq >= warmup) {
      lat[nlat++] = at - sent[seq];
      last = at;
    }
    end(seq, at);
    if (resolved === total) finish();
    else if (next < total) send();
  };
  // expire gives up the requests waiting longer than the timeout (UDP).
  // Ten timeouts without a single reply: the server is gone.
  const expire = () => {
    const at = now();
    if (at - lastReply > 10 * timeout) {
      process.stderr.write(`no reply from ${opts.host}:${opts.port} for ${10 * timeoutMS} ms\n`);
      process.exit(1);
    }
    let freed = 0;
    for (; oldest < next; oldest++) {
      if (ended[oldest]) continue;
      if (at - sent[oldest] < timeout) break;
      if (oldest >= warmup) lost++;
      end(oldest, at);
      freed++;
    }
    if (resolved === total) finish();
    for (; freed > 0 && next < total; freed--) send();
  };
  const begin = () => {
    lastReply = now();
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
