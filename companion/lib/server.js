// The companion of a node-ipc server (ipc.server).

import { Inbox, newSession, Outbox, receiveMessage, Serial } from './acks.js';
import { Companion, Core } from './core.js';
import { codes, IPCError } from './errors.js';
import { Requester } from './requests.js';
import {
  checkEndpoint, encoder, events, helloVersion, isCount, isObject, isOpen, isSessionId, isUDP,
} from './wire.js';

/**
 * @typedef {object} Session
 * What the server keeps for one client session.
 * @property {string} id the client's session id
 * @property {Inbox | null} inbox the stream received from it (null until its first hello is answered)
 * @property {Outbox} outbox the stream sent to it
 * @property {Serial} serial runs its hello answers and messages in order
 * @property {any} socket its current connection, or null
 * @property {boolean} ready whether the hello of that connection has been answered
 */

/**
 * CompanionServer adds request/response and acknowledged delivery to a
 * node-ipc server. Make one with attachServer.
 */
export class CompanionServer extends Companion {
  #core;
  #requester;
  #udp;
  #encode;
  #session = newSession();
  /** @type {Map<string, Session>} */
  #sessions = new Map();
  /** @type {WeakMap<object, Session>} */
  #bySocket = new WeakMap();
  /** @type {WeakSet<object>} sockets closed for a protocol violation */
  #failed = new WeakSet();
  /** @type {WeakSet<object>} */
  #watched = new WeakSet();

  /**
   * @param {any} server a node-ipc server: ipc.server
   * @param {import('../index.js').ServerOptions} [options]
   */
  constructor(server, options) {
    checkEndpoint(server, 'server');
    const core = new Core(server, options);
    super(core);
    this.#core = core;
    const o = core.options;
    this.#udp = isUDP(server);
    this.#encode = encoder(server);
    this.#requester = new Requester({ maxInFlight: o.maxInFlight, timeout: o.timeout, stats: core.stats });
    core.bind(events.reply, (/** @type {any} */ data, /** @type {any} */ socket) => {
      const err = this.#requester.settle(data, this.#key(socket));
      if (err) core.report(err);
    });
    core.bind(events.request, (/** @type {unknown} */ data, /** @type {any} */ socket) => this.#onRequest(data, socket));
    core.bind(events.hello, (/** @type {unknown} */ data, /** @type {any} */ socket) => this.#onHello(data, socket));
    core.bind(events.msg, (/** @type {unknown} */ data, /** @type {any} */ socket) => this.#onMsg(data, socket));
    core.bind(events.ack, (/** @type {unknown} */ data, /** @type {any} */ socket) => this.#onAck(data, socket));
    core.bind('connect', (/** @type {any} */ socket) => this.#accepted(socket));
    if (!this.#udp) for (const socket of server.sockets) this.#accepted(socket);
  }

  /**
   * request sends a request for event with data to one client (a socket a
   * handler received, or an entry of ipc.server.sockets; for UDP an
   * {address, port}) and resolves with the reply; it rejects as the client's
   * request does.
   * @param {any} socket
   * @param {string} event
   * @param {unknown} [data]
   * @param {import('./requests.js').RequestOptions} [options]
   * @returns {Promise<any>}
   */
  request(socket, event, data, options) {
    const core = this.#core;
    if (core.closed) return Promise.reject(new IPCError(codes.CLOSED, 'request: the companion is closed'));
    if (socket === null || typeof socket !== 'object') {
      return Promise.reject(new TypeError('request: the first argument must be a socket of this server'));
    }
    const server = core.endpoint;
    if (this.#udp) {
      if (!socket.address || !socket.port) {
        return Promise.reject(new TypeError('request: a UDP peer needs an address and a port'));
      }
      return this.#requester.start({
        key: this.#key(socket),
        open: () => true,
        watch: () => {},
        write: (d) => server.emit(socket, events.request, d),
      }, event, data, options);
    }
    return this.#requester.start({
      key: socket,
      open: () => isOpen(socket),
      watch: (onClose) => socket.once('close', onClose),
      write: (d) => server.emit(socket, events.request, d),
    }, event, data, options);
  }

  /**
   * emit sends event with data as an acknowledged message to the client
   * session of target (a socket that has done the hello exchange, or a
   * client session id) and returns its sequence number. The message is kept
   * until that client acknowledges it and sent again when the same client
   * session reconnects. Throws as CompanionClient.emit does, and
   * ERR_IPC_NOT_CONNECTED for a socket without a session.
   * @param {any} target
   * @param {string} event
   * @param {unknown} [data]
   * @returns {number}
   */
  emit(target, event, data) {
    const core = this.#core;
    if (!core.options.acks) throw new TypeError('emit: acknowledged delivery is off; attach with { acks: true }');
    if (core.closed) throw new IPCError(codes.CLOSED, 'emit: the companion is closed');
    const s = this.#lookup(target);
    if (!s) {
      throw new IPCError(codes.NOT_CONNECTED, typeof target === 'string'
        ? `emit: no client session ${JSON.stringify(target)} is known`
        : 'emit: that socket has not done the acknowledged-delivery hello');
    }
    const item = s.outbox.add(event, data);
    if (s.ready && isOpen(s.socket)) this.#write(s.socket, item);
    return item.seq;
  }

  /**
   * flush resolves when every acknowledged message sent to target's client
   * session (or, without a target, to every session) has been acknowledged.
   * @param {any} [target]
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<void>}
   */
  flush(target, options) {
    if (!this.#core.options.acks) {
      return Promise.reject(new TypeError('flush: acknowledged delivery is off; attach with { acks: true }'));
    }
    if (target === undefined || target === null) {
      return Promise.all([...this.#sessions.values()].map((s) => s.outbox.flush(options?.signal))).then(() => {});
    }
    const s = this.#lookup(target);
    if (!s) return Promise.reject(new IPCError(codes.NOT_CONNECTED, 'flush: unknown client session'));
    return s.outbox.flush(options?.signal);
  }

  /**
   * sessionOf returns the client session id of a socket that has done the
   * hello exchange, else undefined.
   * @param {any} socket
   */
  sessionOf(socket) {
    return this.#bySocket.get(socket)?.id;
  }

  /**
   * forget drops what the server keeps for a client session: its delivered
   * count and its unacknowledged messages (flush for it rejects with
   * ERR_IPC_CLOSED, err.unsent lists them).
   * @param {string} session
   */
  forget(session) {
    const s = this.#sessions.get(session);
    if (!s) return;
    this.#sessions.delete(session);
    if (!s.outbox.failure) s.outbox.fail(new IPCError(codes.CLOSED, `client session ${session} was forgotten`));
  }

  /**
   * close removes the companion from the node-ipc server: requests in flight
   * and flushes reject with ERR_IPC_CLOSED. The server stays as it is.
   */
  close() {
    const core = this.#core;
    if (core.closed) return;
    core.closed = true;
    core.unbindAll();
    this.#requester.dropAll(() => new IPCError(codes.CLOSED, 'the companion was closed'));
    for (const s of this.#sessions.values()) {
      if (!s.outbox.failure) s.outbox.fail(new IPCError(codes.CLOSED, 'the companion was closed'));
    }
  }

  /** session is this server's incarnation: its sender session id for this process's lifetime. */
  get session() {
    return this.#session;
  }

  /** inFlight is the number of requests waiting for their reply. */
  get inFlight() {
    return this.#requester.inFlight;
  }

  /** stats is a snapshot of the companion's counters. */
  get stats() {
    return { ...this.#core.stats };
  }

  /** @param {any} socket */
  #key(socket) {
    return this.#udp ? `${socket?.address}:${socket?.port}` : socket;
  }

  /** @param {any} target */
  #lookup(target) {
    if (typeof target === 'string') return this.#sessions.get(target);
    if (target !== null && typeof target === 'object') return this.#bySocket.get(target);
    return undefined;
  }

  /** @param {any} socket */
  #accepted(socket) {
    if (this.#udp || !socket || typeof socket.once !== 'function') return;
    if (this.#watched.has(socket)) return;
    this.#watched.add(socket);
    socket.once('close', () => {
      const s = this.#bySocket.get(socket);
      if (s && s.socket === socket) {
        s.socket = null;
        s.ready = false;
      }
    });
  }

  /**
   * @param {unknown} data
   * @param {any} socket
   */
  #onRequest(data, socket) {
    const core = this.#core;
    core.responder.respond(data, [socket], (answer) => {
      if (core.closed || (!this.#udp && !isOpen(socket))) return false;
      core.endpoint.emit(socket, events.reply, answer);
      return true;
    }).then((err) => { if (err) core.report(err); });
  }

  /**
   * @param {unknown} data
   * @param {any} socket
   */
  #onHello(data, socket) {
    const core = this.#core;
    const server = core.endpoint;
    if (this.#udp || !core.options.acks) {
      server.emit(socket, events.hello, { v: helloVersion, acks: false });
      return;
    }
    if (isObject(data) && data.acks === false) { // a client that does not want acknowledgements
      server.emit(socket, events.hello, { v: helloVersion, acks: false });
      return;
    }
    if (!isObject(data) || data.acks !== true || !isSessionId(data.session) ||
      (data.peer !== undefined && typeof data.peer !== 'string') ||
      (data.delivered !== undefined && !isCount(data.delivered))) {
      core.report(new IPCError(codes.INVALID_MESSAGE, 'a nodeipc.hello without acks:true and a valid session, ' +
        'peer and delivered: answered acks:false'));
      server.emit(socket, events.hello, { v: helloVersion, acks: false });
      return;
    }
    this.#accepted(socket);
    const s = this.#sessionFor(data.session);
    const before = this.#bySocket.get(socket);
    if (before && before !== s && before.socket === socket) {
      before.socket = null;
      before.ready = false;
    }
    this.#bySocket.set(socket, s);
    s.socket = socket;
    s.ready = false;
    const peer = data.peer ?? '';
    const theirs = data.delivered ?? 0;
    s.serial.push(async () => {
      if (s.socket !== socket || !isOpen(socket) || core.closed) return;
      if (!s.inbox) {
        let known;
        try {
          known = await core.loadDelivered(s.id);
        } catch (err) {
          core.report(err);
          socket.destroy();
          return;
        }
        if (!s.inbox) s.inbox = new Inbox(s.id, known);
        if (s.socket !== socket || !isOpen(socket) || core.closed) return;
      }
      server.emit(socket, events.hello, {
        v: helloVersion, acks: true, session: this.#session, delivered: s.inbox.known,
      });
      if (peer === this.#session) {
        let n = theirs;
        if (n > s.outbox.lastSeq) {
          core.report(new IPCError(codes.ACK_SEQUENCE, `client session ${s.id} says message ${n} was delivered, ` +
            `but only ${s.outbox.lastSeq} were sent to it`));
          n = s.outbox.lastSeq;
        }
        s.outbox.ackThrough(n);
      }
      s.ready = true;
      for (const item of s.outbox.items) this.#write(socket, item);
    });
  }

  /**
   * @param {any} socket
   * @param {import('./acks.js').OutboxItem} item
   */
  #write(socket, item) {
    if (!isOpen(socket)) return;
    if (item.sent) this.#core.stats.messagesResent++;
    item.sent = true;
    socket.write(item.frame);
  }

  /**
   * @param {unknown} data
   * @param {any} socket
   */
  #onMsg(data, socket) {
    const core = this.#core;
    const s = this.#bySocket.get(socket);
    if (this.#udp || !core.options.acks || !s) {
      if (this.#failed.has(socket)) return;
      core.report(new IPCError(codes.ACK_SEQUENCE, !core.options.acks || this.#udp
        ? 'a nodeipc.msg, but acknowledged delivery is off here: closing the connection'
        : 'a nodeipc.msg before nodeipc.hello: closing the connection'));
      this.#failed.add(socket);
      if (!this.#udp) socket.destroy?.();
      return;
    }
    s.serial.push(async () => {
      const inbox = s.inbox;
      if (this.#failed.has(socket) || !inbox || core.closed) return;
      let failure;
      try {
        failure = await receiveMessage(inbox, data,
          (event, d, info) => core.deliver(event, d, [socket], info), core.stats);
      } catch (err) {
        core.report(err);
        this.#failed.add(socket);
        socket.destroy();
        return;
      }
      if (failure) core.report(core.handlerFailed(failure, data));
      if (inbox.owed && (s.serial.waiting === 0 || inbox.sinceAck >= core.options.ackEvery)) {
        inbox.owed = false;
        inbox.sinceAck = 0;
        const to = isOpen(socket) ? socket : (s.ready && isOpen(s.socket) ? s.socket : null);
        if (to) {
          core.endpoint.emit(to, events.ack, { seq: inbox.known });
          core.stats.acksSent++;
        }
      }
    });
  }

  /**
   * @param {unknown} data
   * @param {any} socket
   */
  #onAck(data, socket) {
    const core = this.#core;
    const s = this.#bySocket.get(socket);
    if (!s) {
      if (core.options.acks) core.report(new IPCError(codes.ACK_SEQUENCE, 'a nodeipc.ack before nodeipc.hello: ignored'));
      return;
    }
    if (!isObject(data) || !isCount(data.seq)) {
      core.report(new IPCError(codes.INVALID_MESSAGE, 'nodeipc.ack without a valid seq: ignored'));
      return;
    }
    let n = data.seq;
    if (n > s.outbox.lastSeq) {
      core.report(new IPCError(codes.ACK_SEQUENCE,
        `client session ${s.id} acknowledged message ${n}, but only ${s.outbox.lastSeq} were sent to it`));
      n = s.outbox.lastSeq;
    }
    s.outbox.ackThrough(n);
  }

  /**
   * sessionFor returns the state of a client session, making it if it is
   * new; past maxSessions the oldest session with no connection, nothing
   * unacknowledged and nothing waiting is forgotten.
   * @param {string} id
   * @returns {Session}
   */
  #sessionFor(id) {
    const core = this.#core;
    let s = this.#sessions.get(id);
    if (s) {
      this.#sessions.delete(id); // most recently used last
      this.#sessions.set(id, s);
      return s;
    }
    if (this.#sessions.size >= core.options.maxSessions) {
      for (const [old, o] of this.#sessions) {
        if (!o.socket && o.outbox.items.length === 0 && o.serial.waiting === 0) {
          this.#sessions.delete(old);
          break;
        }
      }
    }
    s = {
      id,
      inbox: null,
      outbox: new Outbox(core.options.maxOutboxBytes, this.#encode, core.stats),
      serial: new Serial((err) => core.report(err)),
      socket: null,
      ready: false,
    };
    this.#sessions.set(id, s);
    return s;
  }
}

/**
 * attachServer attaches a companion to a node-ipc server (ipc.server after
 * ipc.serve or ipc.serveNet; node-ipc 9, 10/12 or 14). Attach it before
 * ipc.server.start() so that it sees every connection.
 * @param {any} server
 * @param {import('../index.js').ServerOptions} [options]
 */
export function attachServer(server, options) {
  return new CompanionServer(server, options);
}
