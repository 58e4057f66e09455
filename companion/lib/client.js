// The companion of a node-ipc client (ipc.of[id]).

import { Inbox, newSession, Outbox, receiveMessage, Serial } from './acks.js';
import { Companion, Core } from './core.js';
import { codes, IPCError } from './errors.js';
import { Requester } from './requests.js';
import { checkEndpoint, encoder, events, helloVersion, isCount, isObject, isOpen, isSessionId } from './wire.js';

/**
 * CompanionClient adds request/response and acknowledged delivery to a
 * node-ipc client, over the client's own connection. Make one with
 * attachClient.
 */
export class CompanionClient extends Companion {
  #core;
  #requester;
  /** @type {'off' | 'down' | 'hello' | 'answered' | 'ready' | 'failed'} */
  #state = 'off';
  #session = newSession();
  #outbox;
  /** @type {any} the socket of the connection the acknowledged stream runs on */
  #socket = null;
  /** @type {ReturnType<typeof setTimeout> | null} */
  #helloTimer = null;
  /** the server session last heard from ("" for none) */
  #peer = '';
  /** @type {Inbox | null} the stream received from #peer */
  #inbox = null;
  #serial;
  /** @type {WeakSet<object>} */
  #watched = new WeakSet();

  /**
   * @param {any} client a node-ipc client: ipc.of[id]
   * @param {import('../index.js').ClientOptions} [options]
   */
  constructor(client, options) {
    checkEndpoint(client, 'client');
    const core = new Core(client, options);
    super(core);
    this.#core = core;
    const o = core.options;
    this.#requester = new Requester({ maxInFlight: o.maxInFlight, timeout: o.timeout, stats: core.stats });
    this.#outbox = new Outbox(o.maxOutboxBytes, encoder(client), core.stats);
    this.#serial = new Serial((err) => core.report(err));
    core.bind(events.reply, (/** @type {unknown} */ data) => {
      const err = this.#requester.settle(data, client.socket);
      if (err) core.report(err);
    });
    core.bind(events.request, (/** @type {unknown} */ data) => this.#onRequest(data));
    core.bind(events.hello, (/** @type {unknown} */ data) => this.#onHello(data));
    core.bind(events.msg, (/** @type {unknown} */ data) => this.#onMsg(data));
    core.bind(events.ack, (/** @type {unknown} */ data) => this.#onAck(data));
    core.bind('connect', () => this.#connected());
    core.bind('destroy', () => this.#destroyed());
    if (o.acks) this.#state = 'down';
    const socket = client.socket;
    if (socket && !socket.destroyed && !socket.connecting) this.#connected();
  }

  /**
   * request sends a request for event with data and resolves with the
   * handler's reply. It rejects with a RemoteError (the peer's code and
   * message), or an IPCError: ERR_IPC_TIMEOUT, ERR_IPC_DISCONNECTED (the
   * connection ended first), ERR_IPC_NOT_CONNECTED, ERR_IPC_TOO_MANY_REQUESTS;
   * or an AbortError when options.signal fires.
   * @param {string} event
   * @param {unknown} [data]
   * @param {import('./requests.js').RequestOptions} [options]
   * @returns {Promise<any>}
   */
  request(event, data, options) {
    const core = this.#core;
    if (core.closed) return Promise.reject(new IPCError(codes.CLOSED, 'request: the companion is closed'));
    const client = core.endpoint;
    const socket = client.socket;
    return this.#requester.start({
      key: socket,
      open: () => isOpen(socket),
      watch: (onClose) => socket.once('close', onClose),
      write: (d) => client.emit(events.request, d),
    }, event, data, options);
  }

  /**
   * emit sends event with data as an acknowledged message and returns its
   * sequence number. The message is kept until the server acknowledges it,
   * and sent again after a reconnect. It throws ERR_IPC_OUTBOX_FULL when the
   * unacknowledged messages would pass maxOutboxBytes, and the failure's code
   * (ERR_IPC_ACKS_UNSUPPORTED, ERR_IPC_DISCONNECTED, ERR_IPC_CLOSED) once
   * the stream has failed.
   * @param {string} event
   * @param {unknown} [data]
   * @returns {number}
   */
  emit(event, data) {
    if (this.#state === 'off') {
      throw new TypeError('emit: acknowledged delivery is off; attach with { acks: true }');
    }
    const item = this.#outbox.add(event, data);
    if (this.#state === 'ready') this.#write(item);
    return item.seq;
  }

  /**
   * flush resolves when every message given to emit has been acknowledged;
   * it rejects with the stream's failure (err.unsent lists what was not
   * acknowledged) or an AbortError when options.signal fires.
   * @param {{signal?: AbortSignal}} [options]
   * @returns {Promise<void>}
   */
  flush(options) {
    if (this.#state === 'off') {
      return Promise.reject(new TypeError('flush: acknowledged delivery is off; attach with { acks: true }'));
    }
    return this.#outbox.flush(options?.signal);
  }

  /**
   * close removes the companion from the node-ipc client: requests in flight
   * and flush reject with ERR_IPC_CLOSED. The node-ipc client stays as it is.
   */
  close() {
    const core = this.#core;
    if (core.closed) return;
    core.closed = true;
    core.unbindAll();
    this.#clearHelloTimer();
    this.#requester.dropAll(() => new IPCError(codes.CLOSED, 'the companion was closed'));
    if (this.#state !== 'off' && this.#state !== 'failed') {
      const err = new IPCError(codes.CLOSED, 'the companion was closed');
      this.#outbox.fail(err);
      this.#state = 'failed';
    }
  }

  /** session is this client's sender session id (32 hex characters). */
  get session() {
    return this.#session;
  }

  /** peerSession is the server session last heard from ("" for none). */
  get peerSession() {
    return this.#peer;
  }

  /** ready reports whether the hello exchange of the current connection is done. */
  get ready() {
    return this.#state === 'ready';
  }

  /** inFlight is the number of requests waiting for their reply. */
  get inFlight() {
    return this.#requester.inFlight;
  }

  /** unacknowledged is the number of messages not yet acknowledged. */
  get unacknowledged() {
    return this.#outbox.items.length;
  }

  /** unacknowledgedBytes is the size of their frames. */
  get unacknowledgedBytes() {
    return this.#outbox.bytes;
  }

  /** stats is a snapshot of the companion's counters. */
  get stats() {
    return { ...this.#core.stats };
  }

  /** @param {unknown} data */
  #onRequest(data) {
    const core = this.#core;
    const client = core.endpoint;
    const socket = client.socket;
    core.responder.respond(data, [], (answer) => {
      if (core.closed || client.socket !== socket || !isOpen(socket)) return false;
      client.emit(events.reply, answer);
      return true;
    }).then((err) => { if (err) core.report(err); });
  }

  #connected() {
    const core = this.#core;
    const socket = core.endpoint.socket;
    if (!socket || core.closed) return;
    if (!this.#watched.has(socket)) {
      this.#watched.add(socket);
      socket.once('close', () => this.#socketClosed(socket));
    }
    if (this.#state === 'off' || this.#state === 'failed' || this.#socket === socket) return;
    this.#socket = socket;
    this.#state = 'hello';
    core.endpoint.emit(events.hello, {
      v: helloVersion,
      acks: true,
      session: this.#session,
      peer: this.#peer,
      delivered: this.#inbox ? this.#inbox.known : 0,
    });
    const ms = core.options.helloTimeout;
    this.#helloTimer = setTimeout(() => {
      this.#helloTimer = null;
      if (this.#state === 'hello' && this.#socket === socket) {
        this.#fail(new IPCError(codes.ACKS_UNSUPPORTED,
          `no answer to nodeipc.hello within ${ms} ms: the server does not speak acknowledged delivery`));
      }
    }, ms);
  }

  /** @param {any} socket */
  #socketClosed(socket) {
    if (socket === this.#socket) {
      this.#clearHelloTimer();
      this.#socket = null;
      if (this.#state === 'hello' || this.#state === 'answered' || this.#state === 'ready') this.#state = 'down';
    }
    const client = this.#core.endpoint;
    if (client.explicitlyDisconnected || client.protocolViolation) this.#destroyed();
  }

  #destroyed() {
    if (this.#state === 'off' || this.#state === 'failed' || this.#core.closed) return;
    // With nothing unacknowledged this is an ordinary end: later emits throw, nothing to report.
    this.#fail(new IPCError(codes.DISCONNECTED, 'the node-ipc client stopped (disconnected, or gave up reconnecting)'),
      this.#outbox.items.length > 0);
  }

  /**
   * @param {IPCError} err
   * @param {boolean} [report]
   */
  #fail(err, report = true) {
    if (this.#state === 'failed') return;
    this.#clearHelloTimer();
    this.#state = 'failed';
    const n = this.#outbox.items.length;
    err.message += `; ${n} message${n === 1 ? '' : 's'} not acknowledged (listed in err.unsent), ` +
      'acknowledged delivery stopped';
    this.#outbox.fail(err);
    if (report) this.#core.report(err);
  }

  #clearHelloTimer() {
    if (this.#helloTimer) clearTimeout(this.#helloTimer);
    this.#helloTimer = null;
  }

  /** @param {unknown} data */
  #onHello(data) {
    const core = this.#core;
    if (this.#state === 'off') return;
    const socket = core.endpoint.socket;
    if (this.#state !== 'hello' || socket !== this.#socket) {
      if (this.#state !== 'failed') {
        core.report(new IPCError(codes.INVALID_MESSAGE, 'an unexpected nodeipc.hello from the server: ignored'));
      }
      return;
    }
    this.#clearHelloTimer();
    if (!isObject(data) || data.acks !== true) {
      this.#fail(new IPCError(codes.ACKS_UNSUPPORTED,
        'the server answered nodeipc.hello with acks:false: its acknowledged delivery is off'));
      return;
    }
    if (!isSessionId(data.session) || !isCount(data.delivered)) {
      this.#fail(new IPCError(codes.ACKS_UNSUPPORTED,
        'the server answered nodeipc.hello without a valid session and delivered count'));
      return;
    }
    const answer = { session: data.session, delivered: data.delivered };
    this.#state = 'answered';
    this.#serial.push(async () => {
      if (this.#state !== 'answered' || this.#socket !== socket || !isOpen(socket)) return;
      if (answer.session !== this.#peer) {
        let known;
        try {
          known = await core.loadDelivered(answer.session);
        } catch (err) {
          core.report(err);
          socket.destroy();
          return;
        }
        if (this.#state !== 'answered' || this.#socket !== socket || !isOpen(socket)) return;
        // A new server session's stream starts at 1: without a record, nothing was delivered from it.
        this.#peer = answer.session;
        this.#inbox = new Inbox(answer.session, known ?? 0);
      }
      let n = answer.delivered;
      if (n > this.#outbox.lastSeq) {
        core.report(new IPCError(codes.ACK_SEQUENCE, `the server's hello says message ${n} was delivered, ` +
          `but only ${this.#outbox.lastSeq} were sent`));
        n = this.#outbox.lastSeq;
      }
      this.#outbox.ackThrough(n);
      this.#state = 'ready';
      for (const item of this.#outbox.items) this.#write(item);
    });
  }

  /** @param {import('./acks.js').OutboxItem} item */
  #write(item) {
    const socket = this.#socket;
    if (!isOpen(socket)) return; // the connection is ending: sent after the next hello
    if (item.sent) this.#core.stats.messagesResent++;
    item.sent = true;
    socket.write(item.frame);
  }

  /** @param {unknown} data */
  #onAck(data) {
    const core = this.#core;
    if (this.#state === 'off' || this.#state === 'failed') return;
    if (!isObject(data) || !isCount(data.seq)) {
      core.report(new IPCError(codes.INVALID_MESSAGE, 'nodeipc.ack without a valid seq: ignored'));
      return;
    }
    let n = data.seq;
    if (n > this.#outbox.lastSeq) {
      core.report(new IPCError(codes.ACK_SEQUENCE,
        `the server acknowledged message ${n}, but only ${this.#outbox.lastSeq} were sent`));
      n = this.#outbox.lastSeq;
    }
    this.#outbox.ackThrough(n);
  }

  /** @param {unknown} data */
  #onMsg(data) {
    const core = this.#core;
    if (this.#state === 'off') {
      core.report(new IPCError(codes.ACK_SEQUENCE,
        'a nodeipc.msg from the server, but acknowledged delivery is off: dropped'));
      return;
    }
    const socket = core.endpoint.socket;
    this.#serial.push(async () => {
      // The connection ended: the server sends the message again after the next hello.
      if (socket !== this.#socket || !isOpen(socket) || core.closed) return;
      const inbox = this.#inbox;
      if (this.#state !== 'ready' || !inbox) {
        core.report(new IPCError(codes.ACK_SEQUENCE, 'a nodeipc.msg from the server before its hello answer: ' +
          'closing the connection'));
        socket.destroy();
        return;
      }
      let failure;
      try {
        failure = await receiveMessage(inbox, data,
          (event, d, info) => core.deliver(event, d, [], info), core.stats);
      } catch (err) {
        core.report(err);
        socket.destroy();
        return;
      }
      if (failure) core.report(core.handlerFailed(failure, data));
      if (inbox.owed && (this.#serial.waiting === 0 || inbox.sinceAck >= core.options.ackEvery)) {
        inbox.owed = false;
        inbox.sinceAck = 0;
        if (socket === this.#socket && isOpen(socket)) {
          core.endpoint.emit(events.ack, { seq: inbox.known });
          core.stats.acksSent++;
        }
      }
    });
  }
}

/**
 * attachClient attaches a companion to a node-ipc client (ipc.of[id] after
 * ipc.connectTo or ipc.connectToNet; node-ipc 9, 10/12 or 14).
 * @param {any} client
 * @param {import('../index.js').ClientOptions} [options]
 */
export function attachClient(client, options) {
  return new CompanionClient(client, options);
}
