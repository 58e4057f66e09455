// Running peer.mjs processes from node:test.
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const peerScript = new URL('./peer.mjs', import.meta.url).pathname;

/** The node-ipc releases tested, by their alias in interop/node/package.json. */
export const libs = [9, 10, 14];

/** How long a test waits for a line before it fails (a stuck peer, not a measurement). */
const deadline = 60_000;

/**
 * Peer is a running peer.mjs process.
 */
export class Peer {
  /** @type {any[]} lines printed and not yet taken by next */
  #lines = [];
  /** @type {{match: (e: any) => boolean, resolve: (e: any) => void}[]} */
  #waiting = [];
  #stderr = '';
  #log = [];

  /**
   * @param {string} name
   * @param {object} opts
   */
  constructor(name, opts) {
    this.name = name;
    this.proc = spawn(process.execPath, [peerScript, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
    this.proc.stderr.setEncoding('utf8');
    this.proc.stderr.on('data', (s) => { this.#stderr += s; });
    this.proc.stdin.on('error', () => {}); // a killed peer's stdin
    readline.createInterface({ input: this.proc.stdout }).on('line', (line) => {
      let e;
      try {
        e = JSON.parse(line);
      } catch {
        e = { ev: 'garbage', line };
      }
      this.#log.push(e);
      if (this.#log.length > 50) this.#log.shift();
      const i = this.#waiting.findIndex((w) => w.match(e));
      if (i >= 0) this.#waiting.splice(i, 1)[0].resolve(e);
      else this.#lines.push(e);
    });
  }

  /** @param {object} cmd */
  send(cmd) {
    this.proc.stdin.write(JSON.stringify(cmd) + '\n');
  }

  /**
   * next resolves with the first line (printed or to come) whose ev is ev
   * and that satisfies pred, taking it; it rejects if the peer crashes or
   * nothing comes before the deadline.
   * @param {string} ev
   * @param {(e: any) => boolean} [pred]
   */
  next(ev, pred = () => true) {
    const match = (/** @type {any} */ e) => e.ev === 'crash' || (e.ev === ev && pred(e));
    const i = this.#lines.findIndex(match);
    const got = i >= 0 ? Promise.resolve(this.#lines.splice(i, 1)[0]) : new Promise((resolve, reject) => {
      const w = { match, resolve };
      this.#waiting.push(w);
      const timer = setTimeout(() => {
        this.#waiting.splice(this.#waiting.indexOf(w), 1);
        reject(new Error(`${this.name}: no "${ev}" line within ${deadline} ms; last lines:\n` +
          this.#log.map((l) => JSON.stringify(l)).join('\n') + `\nstderr:\n${this.#stderr}`));
      }, deadline);
      timer.unref();
      w.resolve = (e) => { clearTimeout(timer); resolve(e); };
    });
    return got.then((e) => {
      if (e.ev === 'crash') throw new Error(`${this.name} crashed: ${e.message}\nstderr:\n${this.#stderr}`);
      return e;
    });
  }

  /**
   * request sends a request command and resolves with its result line.
   * @param {object} cmd
   */
  async request(cmd) {
    this.send({ cmd: 'request', ...cmd });
    return this.next('result', (e) => e.n === /** @type {any} */ (cmd).n);
  }

  /** stats resolves with the peer's companion counters. */
  async stats() {
    this.send({ cmd: 'stats' });
    return this.next('stats');
  }

  /**
   * taken returns the lines printed so far whose ev is ev, without waiting,
   * and takes them.
   * @param {string} ev
   */
  taken(ev) {
    const got = this.#lines.filter((e) => e.ev === ev);
    this.#lines = this.#lines.filter((e) => e.ev !== ev);
    return got;
  }

  /** kill sends SIGKILL and resolves once the process is gone. */
  async kill() {
    this.proc.kill('SIGKILL');
    await this.exited;
  }

  /** stop asks the peer to exit, and kills it if it does not. */
  async stop() {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.send({ cmd: 'exit' });
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }
}

/**
 * Endpoint is where a test's server listens: a Unix socket path in a fresh
 * directory, or a free TCP port on loopback.
 */
export class Endpoint {
  /**
   * @param {'unix' | 'tcp'} transport
   * @param {string} dir
   * @param {number} port
   */
  constructor(transport, dir, port) {
    this.transport = transport;
    this.dir = dir;
    this.port = port;
  }

  /** opts are the peer options that name this endpoint. */
  get opts() {
    return this.transport === 'unix'
      ? { transport: 'unix', path: path.join(this.dir, 's.sock') }
      : { transport: 'tcp', host: '127.0.0.1', port: this.port };
  }
}

/**
 * endpoint makes an Endpoint and removes its directory when the test ends.
 * @param {import('node:test').TestContext} t
 * @param {'unix' | 'tcp'} transport
 */
export async function endpoint(t, transport) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nic-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = transport === 'tcp' ? await freePort() : 0;
  return new Endpoint(transport, dir, port);
}

/** freeUDPPort returns a UDP port on loopback that was free a moment ago. */
export function freeUDPPort() {
  return new Promise((resolve, reject) => {
    const sock = dgram.createSocket('udp4');
    sock.once('error', reject);
    sock.bind(0, '127.0.0.1', () => {
      const { port } = sock.address();
      sock.close(() => resolve(port));
    });
  });
}

/** freePort returns a TCP port on loopback that was free a moment ago. */
function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (srv.address());
      srv.close(() => resolve(port));
    });
  });
}

/**
 * startPeer runs a peer, waits for its ready line, and stops it when the
 * test ends.
 * @param {import('node:test').TestContext} t
 * @param {string} name
 * @param {object} opts
 */
export async function startPeer(t, name, opts) {
  const p = new Peer(name, opts);
  t.after(() => p.stop());
  await p.next('ready');
  return p;
}
