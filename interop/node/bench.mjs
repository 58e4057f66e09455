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
// The server echoes each frame to its sender and prints {"ev":"ready"}; to
// the line "stats" on stdin it prints its CPU time and resident memory
// ({"ev":"stats","cpu_us","rss_kib"}), and it exits when stdin closes
// ("max_conns" raises node-ipc's maxConnections). The client prints
// {"ev":"measuring"} when its measured requests begin, then one result line
// (with its own CPU time since, "cpu_us"), and exits. With more than one
// request in flight over a stream it times the pass, not each request, and
// reports no latencies (p50_us and p99_us are 0).
//
// "mode" (both peers) makes a round trip something else than a plain emit
// echoed by a plain emit, with the Node.js companion of the nodeipc
// repository (companion/) attached to the node-ipc client or server:
//   "req": the client's companion requests event "bench" with data
//   {seq, payload} (39 'a', the frame of nodeipc's typical client), and the
//   server's companion handles it, answering with the data it got;
//   "ack": the client's companion emits the benchmark frames with
//   acknowledged delivery, and the server's companion emits each back to
//   its sender, acknowledged too.
// A companion error (a peer that does not answer its hello, a request
// refused or timed out) ends the process with status 1.
//
// Role "rates" is a client process of "conns" connections, paced together
// to "rate" requests a second by one 1 ms timer: each connection sends
// rate/conns a second, taking turns; "warmup_ms" paced, then "during_ms"
// measured, then it waits for every reply and prints the window's figures.
import { createRequire } from 'node:module';

const opts = JSON.parse(process.argv[2] || '{}');
const require = createRequire(import.meta.url);
const EVENT = 'benchmark.frame';

async function load(lib) {
  if (lib === 9) return new (require('node-ipc9').IPC)();
  const { IPCModule } = await import(lib === 10 ? 'node-ipc10' : 'node-ipc14');
  return new IPCModule();
}

const mode = opts.mode || '';
const REQ_EVENT = 'bench';
const reqPayload = 'a'.repeat(39);
const die = (msg) => {
  process.stderr.write(`bench.mjs ${opts.role} (${mode || 'plain'}): ${msg}\n`);
  process.exit(1);
};
const companion = mode ? await import(new URL('../../companion/index.js', import.meta.url).href) : null;
const ipc = await load(Number(opts.lib || 14));
Object.assign(ipc.config, { silent: true, maxRetries: 0 }, opts.config || {});
if (opts.max_conns) ipc.config.maxConnections = opts.max_conns;
const cpuUS = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const print = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const pad = 'a'.repeat(56);
const payload = (seq) => seq.toString(16).padStart(8, '0') + pad;
const seqOf = (data) => (typeof data === 'string' ? parseInt(data.slice(0, 8), 16) : NaN);
const udp = opts.transport === 'udp4' || opts.transport === 'udp6';
if (opts.transport === 'tls') {
  // One-way TLS: node-ipc's tls settings, key and certificate files on the
  // server, the trusted CA file on the client.
  ipc.config.tls = opts.role === 'server'
    ? { private: opts.tls.key, public: opts.tls.cert }
    : { trustedConnections: [opts.tls.ca], rejectUnauthorized: true };
}

if (opts.role === 'server') {
  const ready = () => print({ ev: 'ready' });
  if (opts.transport === 'unix') ipc.serve(opts.path, ready);
  else if (udp) ipc.serveNet(opts.host, opts.port, opts.transport, ready);
  else ipc.serveNet(opts.host, opts.port, ready);
  const onError = (err) => die(`${err.code || ''} ${err.message}`);
  if (mode === 'req') {
    companion.attachServer(ipc.server, { onError }).handle(REQ_EVENT, (data) => data);
  } else if (mode === 'ack') {
    const comp = companion.attachServer(ipc.server, { acks: true, onError });
    comp.on(EVENT, (data, socket) => { comp.emit(socket, EVENT, data); });
  } else {
    ipc.server.on(EVENT, (data, socket) => ipc.server.emit(socket, EVENT, data));
  }
  ipc.server.start();
  let input = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    input += chunk;
    for (let i; (i = input.indexOf('\n')) >= 0; input = input.slice(i + 1)) {
      if (input.slice(0, i) === 'stats') {
        print({ ev: 'stats', cpu_us: cpuUS(), rss_kib: Math.round(process.memoryUsage.rss() / 1024) });
      }
    }
  });
  process.stdin.on('end', () => process.exit(0));
} else if (opts.role === 'rates') {
  rates();
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
  // As in node-ipc's method, a throughput pass (more than one request in
  // flight over a stream) times the pass, not each request: the clock is
  // read when the warm-up ends and at the last reply. Latency passes and
  // UDP passes (which find lost requests by their send times) time each.
  const timed = inflight <= 1 || udp;
  const sent = new Float64Array(timed ? total : 0);
  const ended = new Uint8Array(total); // answered or given up
  const lat = new Float64Array(timed ? opts.count || 100000 : 0);
  let nlat = 0;
  let answered = 0; // measured requests answered
  let cpu0 = 0;
  let next = 0;
  let resolved = 0; // requests ended, warm-up included
  let lost = 0; // measured requests given up
  let oldest = 0; // no request below it is still waiting
  let t0 = 0;
  let last = 0;
  let lastReply = 0; // or the start of the pass
  let emit;
  const measuring = () => {
    cpu0 = cpuUS();
    print({ ev: 'measuring' });
  };
  const send = () => {
    if (timed) sent[next] = now();
    emit(next);
    next++;
  };
  const end = (seq, at) => {
    ended[seq] = 1;
    resolved++;
    if (resolved === warmup) {
      t0 = last = at;
      measuring();
    }
  };
  const finish = () => {
    const cpu = cpuUS() - cpu0;
    const elapsed = Math.round(last - t0);
    const got = lat.subarray(0, nlat).sort();
    const q = (p) => (got.length ? got[Math.min(got.length - 1, Math.floor(p * got.length))] / 1000 : 0);
    const count = answered;
    process.stdout.write(JSON.stringify({
      ev: 'result', count, elapsed_ns: elapsed, rtt_per_sec: elapsed > 0 ? count / (elapsed / 1e9) : 0,
      p50_us: q(0.5), p99_us: q(0.99), lost, cpu_us: cpu,
    }) + '\n');
    process.exit(0);
  };
  const reply = (seq) => {
    if (!(seq >= 0 && seq < total) || ended[seq]) return; // late or garbled
    if (seq >= warmup) answered++;
    if (!timed) {
      // Only the end of the warm-up and the last reply read the clock
      // (end uses the time only at the end of the warm-up).
      let at = 0;
      if (resolved + 1 === warmup || resolved + 1 === total) at = lastReply = last = now();
      end(seq, at);
    } else {
      const at = now();
      lastReply = at;
      if (seq >= warmup) {
        lat[nlat++] = at - sent[seq];
        last = at;
      }
      end(seq, at);
    }
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
    if (warmup === 0) {
      t0 = lastReply;
      measuring();
    }
    for (let i = 0; i < inflight && next < total; i++) send();
    if (udp) setInterval(expire, Math.max(1, timeoutMS / 10));
  };
  if (udp) {
    // node-ipc has no UDP client: a UDP server of our own emits to the
    // server's address and receives the replies.
    const to = { address: opts.host, port: opts.port };
    emit = (seq) => ipc.server.emit(to, EVENT, payload(seq));
    ipc.serveNet(opts.host, opts.cport, opts.transport, begin);
    ipc.server.on(EVENT, (data) => reply(seqOf(data)));
    ipc.server.start();
  } else {
    let connects = 0;
    const connected = () => {
      if (++connects > 1) die('connected a second time');
      begin();
    };
    const start = () => {
      // The companion is attached as soon as the client exists, before it
      // connects, as a program would.
      const c = ipc.of.bench;
      const onError = (err) => die(`${err.code || ''} ${err.message}`);
      if (mode === 'req') {
        const comp = companion.attachClient(c, { onError });
        const check = (seq) => (d) => {
          if (!d || d.seq !== seq) die(`the reply to request ${seq} is ${JSON.stringify(d)}`);
          reply(seq);
        };
        const failed = (err) => die(`request: ${err.code || ''} ${err.message}`);
        emit = (seq) => comp.request(REQ_EVENT, { seq, payload: reqPayload }).then(check(seq), failed);
      } else if (mode === 'ack') {
        const comp = companion.attachClient(c, { acks: true, onError });
        emit = (seq) => comp.emit(EVENT, payload(seq));
        comp.on(EVENT, (data) => reply(seqOf(data)));
      } else {
        emit = (seq) => c.emit(EVENT, payload(seq));
        c.on(EVENT, (data) => reply(seqOf(data)));
      }
      c.on('connect', connected);
    };
    if (opts.transport === 'unix') ipc.connectTo('bench', opts.path, start);
    else ipc.connectToNet('bench', opts.host, opts.port, start);
  }
}

// rates is the paced client: see the top of this file. Connection i's k-th
// request is due (k + i/conns) / (rate/conns) seconds into the pass.
function rates() {
  const conns = opts.conns || 10;
  const rate = opts.rate || 1000;
  const warmupMS = opts.warmup_ms || 0;
  const endMS = warmupMS + (opts.during_ms || 5000);
  const perConn = rate / conns;
  const due = (i, ms) => {
    const x = (ms / 1000) * perConn - i / conns;
    return x < 0 ? 0 : Math.floor(x) + 1;
  };
  let sentAt = new Float64Array(Math.ceil((rate * endMS) / 1000) + conns + 64); // ms since the pass began, -1 when answered
  const lat = [];
  let seq = 0;
  let answered = 0;
  let seq0 = Infinity; // the window's first request, once it begins
  let seq1 = -1;
  let w0 = 0;
  let w1 = 0;
  let cpu0 = 0;
  let started = false;
  let start = 0;
  const fail = (msg) => {
    process.stderr.write(msg + '\n');
    process.exit(1);
  };
  const finish = () => {
    const cpu = cpuUS() - cpu0;
    const got = Float64Array.from(lat).sort();
    const q = (p) => (got.length ? got[Math.min(got.length - 1, Math.floor(p * got.length))] * 1000 : 0);
    const elapsed = (w1 - w0) * 1e6;
    print({
      ev: 'result', count: got.length, sent: seq1 - seq0, elapsed_ns: Math.round(elapsed),
      rtt_per_sec: elapsed > 0 ? (seq1 - seq0) / (elapsed / 1e9) : 0, p50_us: q(0.5), p99_us: q(0.99), cpu_us: cpu,
    });
    process.exit(0);
  };
  const reply = (data) => {
    const s = seqOf(data);
    if (!(s >= 0 && s < seq) || sentAt[s] < 0) fail(`a reply to request ${data}, which is not waiting`);
    if (s >= seq0 && (seq1 < 0 || s < seq1)) lat.push(performance.now() - start - sentAt[s]);
    sentAt[s] = -1;
    answered++;
    if (seq1 >= 0 && answered === seq) finish();
  };
  const clients = [];
  const sent = new Array(conns).fill(0);
  const tick = () => {
    const t = performance.now() - start;
    for (let i = 0; i < conns; i++) {
      for (const n = due(i, t); sent[i] < n; sent[i]++) {
        if (seq >= sentAt.length) {
          // A late timer has more due than planned for.
          const more = new Float64Array(2 * sentAt.length);
          more.set(sentAt);
          sentAt = more;
        }
        sentAt[seq] = performance.now() - start;
        clients[i].emit(EVENT, payload(seq));
        seq++;
      }
    }
    if (!started && t >= warmupMS) {
      started = true;
      w0 = t;
      seq0 = seq;
      cpu0 = cpuUS();
      print({ ev: 'measuring' });
    } else if (started && t >= endMS) {
      w1 = t;
      seq1 = seq;
      clearInterval(timer);
      setTimeout(() => fail(`${seq - answered} of ${seq} requests unanswered 10 s after the last`), 10000).unref();
      if (answered === seq) finish();
    }
  };
  let timer;
  let connected = 0;
  for (let i = 0; i < conns; i++) {
    const id = `bench${i}`;
    const onConnect = () => {
      const c = ipc.of[id];
      clients[i] = c;
      c.on(EVENT, reply);
      if (++connected === conns) {
        start = performance.now();
        timer = setInterval(tick, 1);
      }
    };
    const begin = () => ipc.of[id].on('connect', onConnect);
    if (opts.transport === 'unix') ipc.connectTo(id, opts.path, begin);
    else ipc.connectToNet(id, opts.host, opts.port, begin);
  }
}
