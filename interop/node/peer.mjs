// A real node-ipc server or client, remote-controlled with JSON lines.
//
//   node peer.mjs '<options JSON>'
//
// options: lib (9 | 10 | 14), role ("server" | "client"), transport ("unix" |
// "tcp" | "tls" | "udp4" | "udp6"), path, host, port, id, config (merged into
// ipc.config; silent unless config.silent is false), events (application
// event names to report; default ["message"]).
//
// stdout, one JSON object per line: {"ev":"ready"} once started or created;
// server {"ev":"connect","sock":N}, {"ev":"socket.disconnected","sock":N,"id":..};
// client {"ev":"connect"}, {"ev":"disconnect"}, {"ev":"destroy"}; both
// {"ev":"error",...}, {"ev":"event","type":..,"data":..,"sock":N} (or
// "undef":true for undefined data; "peer" for UDP), raw mode
// {"ev":"data","hex":..}; {"ev":"crash",...} if node-ipc throws.
//
// stdin commands: emit, broadcast, raw, rawstr, burst, ping, stop,
// disconnect, exit (see the switch below); and for the profile tests:
// encode (print the exact frame emit would write, as hex), tryemit (emit,
// printing {"ev":"emitted"} or the error emit throws), write (hex bytes
// straight to the socket, past the parser: a hostile peer).
//
// With the option exact, event lines also carry "json": JSON.stringify of
// the data received. A crash line carries the error's code.
import { createRequire } from 'node:module';
import readline from 'node:readline';

const opts = JSON.parse(process.argv[2] || '{}');
const require = createRequire(import.meta.url);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

process.on('uncaughtException', (err) => {
  out({ ev: 'crash', message: String(err && err.stack || err), code: err && err.code });
  process.exit(3);
});

async function load(lib) {
  switch (lib) {
    case 9: {
      const m = require('node-ipc9');
      return new m.IPC();
    }
    case 10: {
      const { IPCModule } = await import('node-ipc10');
      return new IPCModule();
    }
    case 14: {
      const { IPCModule } = await import('node-ipc14');
      return new IPCModule();
    }
  }
  throw new Error('unknown lib ' + lib);
}

const ipc = await load(Number(opts.lib));
const config = Object.assign({ silent: true }, opts.config || {});
Object.assign(ipc.config, config);
const events = opts.events || ['message'];
const transport = opts.transport || 'unix';
const isServer = opts.role === 'server';
const id = opts.id || 'peer';

// Server sockets are numbered in order of arrival.
const sockets = new Map(); // number -> socket
const numbers = new Map(); // socket -> number
function numberOf(socket) {
  if (!socket) return undefined;
  if (!numbers.has(socket)) {
    const n = numbers.size + 1;
    numbers.set(socket, n);
    sockets.set(n, socket);
  }
  return numbers.get(socket);
}

function errorLine(err) {
  return { ev: 'error', message: String(err && err.message || err), code: err && err.code };
}

function report(type, data, socket) {
  const line = { ev: 'event', type };
  if (data === undefined) line.undef = true; else line.data = data;
  if (opts.exact && data !== undefined) line.json = JSON.stringify(data);
  if (isServer && socket) {
    if (transport.startsWith('udp')) line.peer = { address: socket.address, port: socket.port };
    else line.sock = numberOf(socket);
  }
  out(line);
}

let target; // ipc.server or ipc.of[id]

if (isServer) {
  const started = () => out({ ev: 'ready' });
  if (transport === 'unix') {
    ipc.serve(opts.path, started);
  } else if (transport === 'udp4' || transport === 'udp6') {
    ipc.serveNet(opts.host, opts.port, transport, started);
  } else {
    ipc.serveNet(opts.host, opts.port, started);
  }
  target = ipc.server;
  target.on('connect', (socket) => {
    if (!transport.startsWith('udp')) out({ ev: 'connect', sock: numberOf(socket) });
  });
  target.on('socket.disconnected', (socket, destroyedId) => {
    out({ ev: 'socket.disconnected', sock: numberOf(socket), id: destroyedId === undefined ? null : destroyedId });
  });
  target.on('error', (err) => out(errorLine(err)));
  if (ipc.config.rawBuffer) {
    target.on('data', (buf, socket) => {
      const line = { ev: 'data', hex: Buffer.from(buf).toString('hex') };
      if (socket && transport.startsWith('udp')) line.peer = { address: socket.address, port: socket.port };
      else if (socket) line.sock = numberOf(socket);
      out(line);
    });
  }
  for (const name of events) target.on(name, (data, socket) => report(name, data, socket));
  ipc.server.start();
} else {
  const created = () => {};
  if (transport === 'unix') ipc.connectTo(id, opts.path, created);
  else ipc.connectToNet(id, opts.host, opts.port, created);
  target = ipc.of[id];
  target.on('connect', () => out({ ev: 'connect' }));
  target.on('disconnect', () => out({ ev: 'disconnect' }));
  target.on('destroy', () => out({ ev: 'destroy' }));
  target.on('error', (err) => out(errorLine(err)));
  if (ipc.config.rawBuffer) {
    target.on('data', (buf) => out({ ev: 'data', hex: Buffer.from(buf).toString('hex') }));
  }
  for (const name of events) target.on(name, (data) => report(name, data));
  out({ ev: 'ready' });
}

// peerOf finds the target of a server-side command.
function peerOf(cmd) {
  if (cmd.peer) return { address: cmd.peer.address, port: cmd.peer.port };
  return sockets.get(cmd.sock || 1);
}

function emit(cmd, type, ...rest) {
  if (isServer) return ipc.server.emit(peerOf(cmd), type, ...rest);
  return ipc.of[id].emit(type, ...rest);
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  const cmd = JSON.parse(line);
  switch (cmd.cmd) {
    case 'emit':
      if (cmd.undef) emit(cmd, cmd.type); else emit(cmd, cmd.type, cmd.data);
      break;
    case 'broadcast':
      ipc.server.broadcast(cmd.type, cmd.data);
      break;
    case 'raw':
      emit(cmd, Buffer.from(cmd.hex, 'hex'));
      break;
    case 'rawstr':
      emit(cmd, cmd.value);
      break;
    case 'burst':
      for (let i = 0; i < cmd.count; i++) emit(cmd, cmd.type, { seq: i });
      break;
    case 'ping':
      out({ ev: 'pong', n: cmd.n });
      break;
    case 'stop':
      ipc.server.stop();
      break;
    case 'disconnect':
      ipc.disconnect(id);
      break;
    case 'exit':
      process.exit(0);
      break;
    case 'encode':
      try {
        const encode = isServer ? ipc.server.encode : ipc.of[id].encode;
        out({ ev: 'encoded', hex: Buffer.from(encode(cmd.type, cmd.data)).toString('hex') });
      } catch (err) {
        out({ ev: 'encodeError', code: err && err.code, message: String(err && err.message || err) });
      }
      break;
    case 'tryemit':
      try {
        emit(cmd, cmd.type, cmd.data);
        out({ ev: 'emitted' });
      } catch (err) {
        out({ ev: 'emitError', code: err && err.code, message: String(err && err.message || err) });
      }
      break;
    case 'write': {
      const socket = isServer ? peerOf(cmd) : ipc.of[id].socket;
      socket.write(Buffer.from(cmd.hex, 'hex'));
      break;
    }
  }
});
rl.on('close', () => process.exit(0));
