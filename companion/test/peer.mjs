// A real node-ipc server or client with the companion attached, remote-
// controlled with JSON lines; the tests run two of these against each other.
//
//   node peer.mjs '<options JSON>'
//
// options: lib (9 | 10 | 14), role ("server" | "client"), transport ("unix" |
// "tcp" | "udp4": a UDP server, which requests another by {address, port}), path, host, port, id, companion (false: plain node-ipc, no
// companion), acks, timeout, helloTimeout, maxOutboxBytes, maxInFlight,
// durable (a file: the receiver appends "session seq" for each message of
// event "m" and answers delivered(session) from it; with recordOnly it only
// appends), dropAt (destroy the connection when message dropAt of "m" is
// delivered, once), retry (client retry
// ms), events (node-ipc events to report, default []), quiet (no progress
// lines).
//
// stdout, one JSON object per line: {"ev":"ready"}; client {"ev":"connect"},
// {"ev":"disconnect"}; server {"ev":"connect","sock":N}; {"ev":"error",
// "code","message","unsent"} for the companion's reports; {"ev":"result",
// "n", "ok", "data" | "code","message","name"} for each request;
// {"ev":"holding","key"} when the "hold" handler waits; {"ev":"event",
// "type","data","info","sock"} for node-ipc events and acknowledged
// messages; {"ev":"progress","delivered"} every 100 messages of "m";
// {"ev":"sent","last"}, {"ev":"flushed"} / {"ev":"flushError",...},
// {"ev":"stats","stats"}, {"ev":"emitError",...}.
//
// {"ev":"message","data","info"} for each message of "m" with
// reportMessages.
//
// stdin commands (see the switch below): request, abort, release, send
// (count acknowledged emits of event, default "m"; a server sends to sock),
// flush, raw (a node-ipc emit of any event and data, past the companion),
// drop (destroy the connection), stats, ping ({"ev":"pong","n"}), exit.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import readline from 'node:readline';
import { pathToFileURL } from 'node:url';
import { attachClient, attachServer } from '../index.js';

const opts = JSON.parse(process.argv[2] || '{}');
const nodeDir = process.env.NODEIPC_INTEROP_NODE || new URL('../../interop/node/', import.meta.url).pathname;
const require = createRequire(nodeDir + 'package.json');

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

process.on('uncaughtException', (err) => {
  out({ ev: 'crash', message: String(err && err.stack || err), code: err && err.code });
  process.exit(3);
});

async function load(lib) {
  switch (lib) {
    case 9:
      return new (require('node-ipc9').IPC)();
    case 10: // the ESM entry, as an application importing @achrinza/node-ipc gets it
      return new (await import(pathToFileURL(nodeDir + 'node_modules/node-ipc10/node-ipc.js').href)).IPCModule();
    case 14:
      return new (await import(pathToFileURL(nodeDir + 'node_modules/node-ipc14/node-ipc.js').href)).IPCModule();
  }
  throw new Error('unknown lib ' + lib);
}

const ipc = await load(Number(opts.lib));
Object.assign(ipc.config, { silent: true, retry: opts.retry ?? 50, maxRetries: opts.maxRetries ?? Infinity }, opts.config || {});
const isServer = opts.role === 'server';
const transport = opts.transport || 'unix';
const id = opts.id || 'peer';

// Sockets are numbered in order of arrival (server).
const sockets = new Map();
const numbers = new Map();
function numberOf(socket) {
  if (!socket) return undefined;
  if (!numbers.has(socket)) {
    numbers.set(socket, numbers.size + 1);
    sockets.set(numbers.size, socket);
  }
  return numbers.get(socket);
}

// The durable receiver's record: "session seq" lines.
const record = new Map(); // session -> last seq
let recordFd = null;
if (opts.durable) {
  if (fs.existsSync(opts.durable)) {
    for (const line of fs.readFileSync(opts.durable, 'utf8').split('\n')) {
      if (!line) continue;
      const [session, seq] = line.split(' ');
      record.set(session, Math.max(record.get(session) || 0, Number(seq)));
    }
  }
  recordFd = fs.openSync(opts.durable, 'a');
}

const options = {
  acks: Boolean(opts.acks),
  onError: (err) => out({ ev: 'error', code: err.code, message: err.message, unsent: err.unsent && err.unsent.map((u) => u.seq) }),
};
for (const k of ['timeout', 'helloTimeout', 'maxOutboxBytes', 'maxInFlight', 'ackEvery']) {
  if (opts[k] !== undefined) options[k] = opts[k];
}
// undefined: no record of that session (its first message starts its stream).
if (opts.durable && !opts.recordOnly) options.delivered = (session) => record.get(session);

let endpoint;
if (isServer && transport === 'udp4') {
  // A UDP endpoint is always a node-ipc server. It is ready once bound: node-ipc 9
  // and 10 publish start before that, connect once listening.
  ipc.serveNet(opts.host || '127.0.0.1', opts.port, 'udp4');
  endpoint = ipc.server;
  let ready = false;
  endpoint.on('connect', () => { if (!ready) { ready = true; out({ ev: 'ready' }); } });
} else if (isServer) {
  if (transport === 'unix') ipc.serve(opts.path, () => out({ ev: 'ready' }));
  else ipc.serveNet(opts.host || '127.0.0.1', opts.port, () => out({ ev: 'ready' }));
  endpoint = ipc.server;
  endpoint.on('connect', (socket) => out({ ev: 'connect', sock: numberOf(socket) }));
} else {
  if (transport === 'unix') ipc.connectTo(id, opts.path);
  else ipc.connectToNet(id, opts.host || '127.0.0.1', opts.port);
  endpoint = ipc.of[id];
  endpoint.on('connect', () => out({ ev: 'connect' }));
  endpoint.on('disconnect', () => out({ ev: 'disconnect' }));
}
for (const name of opts.events || []) {
  endpoint.on(name, (data, a, b) => {
    const socket = isServer ? a : undefined;
    const info = isServer ? b : a;
    out({ ev: 'event', type: name, data, info, sock: numberOf(socket) });
  });
}

const companion = opts.companion === false ? null
  : isServer ? attachServer(endpoint, options) : attachClient(endpoint, options);

if (isServer) endpoint.start();
else out({ ev: 'ready' });

// Request handlers.
const held = new Map();
if (companion) {
  companion.handle('echo', (data) => data);
  companion.handle('undef', () => undefined);
  companion.handle('fail', (data) => {
    const err = new Error(data.message);
    if (data.code !== undefined) err.code = data.code;
    throw err;
  });
  companion.handle('throwstring', () => {
    throw 'a thrown string'; // eslint-disable-line no-throw-literal
  });
  companion.handle('whoami', (data, socket) => ({ lib: Number(opts.lib), role: opts.role,
    sockId: socket ? socket.id ?? null : null, port: socket && socket.port }));
  companion.handle('hold', (data) => new Promise((resolve) => {
    held.set(data.key, () => resolve(data));
    out({ ev: 'holding', key: data.key });
  }));
  companion.handle('bigint', () => ({ n: 1n }));

  // Acknowledged messages of "m": counted, and recorded by a durable receiver.
  // With dropAt, the connection is destroyed as message dropAt is delivered.
  let delivered = 0;
  let dropped = false;
  const onM = (data, ...rest) => {
    const info = rest[rest.length - 1];
    if (info.seq === opts.dropAt && !dropped) {
      dropped = true;
      (isServer ? rest[0] : endpoint.socket).destroy();
    }
    if (recordFd !== null) {
      fs.writeSync(recordFd, `${info.session} ${info.seq}\n`);
      record.set(info.session, info.seq);
    }
    delivered++;
    if (!opts.quiet && delivered % 100 === 0) out({ ev: 'progress', delivered });
    if (opts.reportMessages) out({ ev: 'message', data, info });
  };
  if (!opts.publish) companion.on('m', onM);
  else endpoint.on('m', onM);
}

const controllers = new Map();
let counter = 0;

function target(cmd) {
  if (cmd.to) return cmd.to; // a UDP peer: {address, port}
  return sockets.get(cmd.sock || 1);
}

async function request(cmd) {
  const options = {};
  if (cmd.timeout !== undefined) options.timeout = cmd.timeout;
  if (cmd.abortable) {
    const c = new AbortController();
    controllers.set(cmd.n, c);
    options.signal = c.signal;
  }
  try {
    const data = isServer
      ? await companion.request(target(cmd), cmd.event, cmd.data, options)
      : await companion.request(cmd.event, cmd.data, options);
    out({ ev: 'result', n: cmd.n, ok: true, data });
  } catch (err) {
    out({ ev: 'result', n: cmd.n, ok: false, code: err.code, message: err.message, name: err.name });
  }
}

async function send(cmd) {
  let last = 0;
  for (let i = 0; i < cmd.count; i++) {
    const data = { k: ++counter, pad: cmd.pad ? 'x'.repeat(cmd.pad) : undefined };
    for (;;) {
      try {
        last = isServer ? companion.emit(target(cmd), cmd.event || 'm', data) : companion.emit(cmd.event || 'm', data);
        break;
      } catch (err) {
        if (err.code !== 'ERR_IPC_OUTBOX_FULL' || cmd.noWait) {
          out({ ev: 'emitError', code: err.code, message: err.message });
          return;
        }
        await (isServer ? companion.flush(target(cmd)) : companion.flush());
      }
    }
    if (cmd.yieldEvery && i % cmd.yieldEvery === 0) await new Promise((r) => setImmediate(r));
  }
  out({ ev: 'sent', last });
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  switch (cmd.cmd) {
    case 'request':
      request(cmd);
      break;
    case 'abort':
      controllers.get(cmd.n)?.abort(new Error('aborted by the test'));
      break;
    case 'release': // prints released once the handler's reply has been written
      held.get(cmd.key)?.();
      held.delete(cmd.key);
      setImmediate(() => out({ ev: 'released', key: cmd.key }));
      break;
    case 'send':
      send(cmd);
      break;
    case 'flush':
      (isServer ? companion.flush(cmd.sock ? target(cmd) : undefined) : companion.flush()).then(
        () => out({ ev: 'flushed' }),
        (err) => out({ ev: 'flushError', code: err.code, message: err.message, unsent: err.unsent && err.unsent.map((u) => u.seq) }));
      break;
    case 'raw':
      if (isServer) endpoint.emit(target(cmd), cmd.type, cmd.data);
      else endpoint.emit(cmd.type, cmd.data);
      break;
    case 'drop':
      (isServer ? target(cmd) : endpoint.socket).destroy();
      break;
    case 'stats':
      out({ ev: 'stats', stats: companion.stats, session: companion.session,
        unacknowledged: isServer ? undefined : companion.unacknowledged, inFlight: companion.inFlight });
      break;
    case 'ping': // answered once every earlier command has run
      out({ ev: 'pong', n: cmd.n });
      break;
    case 'exit':
      process.exit(0);
      break;
    default:
      out({ ev: 'badCommand', cmd });
  }
});
rl.on('close', () => process.exit(0)); // whoever drives the peer has gone
