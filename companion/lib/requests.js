// Request / response: the requester's table of requests in flight, and the
// responder's handlers.

import { AbortError, codes, IPCError, RemoteError, toWireError } from './errors.js';
import { innerData, isName, isObject, isSeq } from './wire.js';

/**
 * @typedef {object} RequestOptions
 * @property {number} [timeout] milliseconds to wait for the reply; Infinity waits for ever
 * @property {AbortSignal} [signal] rejects the request when it fires (nothing is sent to the peer)
 */

/**
 * @typedef {object} Conn
 * One connection a request goes out on.
 * @property {unknown} key identifies the connection a reply must come back on
 * @property {() => boolean} open whether the connection can take the request now
 * @property {(onClose: () => void) => void} watch calls onClose once when the connection ends (never for UDP)
 * @property {(data: object) => void} write sends a nodeipc.request with this data
 */

/**
 * Requester keeps the requests in flight of one companion: it numbers them,
 * matches replies, and settles each request exactly once (reply, remote
 * error, timeout, abort, connection end, close).
 */
export class Requester {
  /** @type {Map<number, any>} */
  #pending = new Map();
  #nextId = 1;
  #stats;
  #maxInFlight;
  #timeout;
  /** @type {WeakSet<object>} */
  #watched = new WeakSet();

  /**
   * @param {{maxInFlight: number, timeout: number, stats: any}} options
   */
  constructor({ maxInFlight, timeout, stats }) {
    this.#maxInFlight = maxInFlight;
    this.#timeout = timeout;
    this.#stats = stats;
  }

  /** inFlight is the number of requests waiting for a reply. */
  get inFlight() {
    return this.#pending.size;
  }

  /**
   * start sends one request on conn and returns the promise of its reply.
   * @param {Conn} conn
   * @param {string} event
   * @param {unknown} data
   * @param {RequestOptions | undefined} options
   * @returns {Promise<any>}
   */
  start(conn, event, data, options) {
    return new Promise((resolve, reject) => {
      if (!isName(event)) {
        reject(new TypeError('request: the event name must be a non-empty string'));
        return;
      }
      if (options !== undefined && !isObject(options)) {
        reject(new TypeError('request: options must be an object'));
        return;
      }
      const timeout = options?.timeout === undefined ? this.#timeout : options.timeout;
      if (typeof timeout !== 'number' || !(timeout > 0)) {
        reject(new TypeError('request: timeout must be a positive number of milliseconds (Infinity for none)'));
        return;
      }
      const signal = options?.signal;
      if (signal !== undefined && (signal === null || typeof signal.aborted !== 'boolean' ||
        typeof signal.addEventListener !== 'function')) {
        reject(new TypeError('request: signal must be an AbortSignal'));
        return;
      }
      if (signal?.aborted) {
        this.#stats.aborts++;
        reject(new AbortError(`request "${event}" aborted before it was sent`, signal.reason));
        return;
      }
      if (this.#pending.size >= this.#maxInFlight) {
        reject(new IPCError(codes.TOO_MANY_REQUESTS,
          `request "${event}" refused: ${this.#pending.size} requests are in flight, the most maxInFlight allows`));
        return;
      }
      if (!conn.open()) {
        reject(new IPCError(codes.NOT_CONNECTED, `request "${event}" not sent: not connected`));
        return;
      }
      const rid = this.#allocate();
      try {
        conn.write({ rid, event, data: innerData(data) });
      } catch (err) {
        reject(err);
        return;
      }
      this.#stats.requestsSent++;
      const entry = { rid, event, key: conn.key, resolve, reject, timer: /** @type {any} */ (null), signal, onAbort: /** @type {any} */ (null) };
      this.#pending.set(rid, entry);
      if (timeout !== Infinity) {
        // setTimeout takes at most 2^31-1 ms; longer waits are clamped to that.
        entry.timer = setTimeout(() => {
          if (this.#take(entry)) {
            this.#stats.timeouts++;
            reject(new IPCError(codes.TIMEOUT, `request "${event}" got no reply within ${timeout} ms`));
          }
        }, Math.min(timeout, 2 ** 31 - 1));
      }
      if (signal) {
        entry.onAbort = () => {
          if (this.#take(entry)) {
            this.#stats.aborts++;
            reject(new AbortError(`request "${event}" aborted`, signal.reason));
          }
        };
        signal.addEventListener('abort', entry.onAbort, { once: true });
      }
      const key = /** @type {object} */ (conn.key);
      if (typeof key === 'object' && key !== null && !this.#watched.has(key)) {
        this.#watched.add(key);
        conn.watch(() => this.drop(key, () => new IPCError(codes.DISCONNECTED,
          'the connection closed before the reply came')));
      }
    });
  }

  /**
   * settle handles the data of a nodeipc.reply that came in on the
   * connection key. It returns an error to report for a reply that cannot
   * be matched because it is malformed; a well-formed reply to no request in
   * flight (late, or for another connection) is dropped and counted.
   * "error": null is a success; a reply with both an error and data is the
   * error; an error without a code of its own is ERR_IPC_HANDLER_FAILED.
   * @param {unknown} data
   * @param {unknown} key
   * @returns {IPCError | undefined}
   */
  settle(data, key) {
    if (!isObject(data) || !isSeq(data.rid)) {
      return new IPCError(codes.INVALID_MESSAGE, 'nodeipc.reply without a valid rid: dropped');
    }
    const entry = this.#pending.get(data.rid);
    if (!entry || entry.key !== key) {
      this.#stats.lateReplies++;
      return undefined;
    }
    this.#take(entry);
    const error = data.error;
    if (error !== undefined && error !== null) {
      this.#stats.remoteErrors++;
      const code = isObject(error) && isName(error.code) ? error.code : codes.HANDLER_FAILED;
      const message = isObject(error) && typeof error.message === 'string' ? error.message
        : 'the reply carried a malformed error';
      entry.reject(new RemoteError(code, message));
      return undefined;
    }
    this.#stats.repliesReceived++;
    entry.resolve(innerData(data.data));
    return undefined;
  }

  /**
   * drop rejects every request in flight on the connection key.
   * @param {unknown} key
   * @param {() => Error} makeError
   */
  drop(key, makeError) {
    for (const entry of [...this.#pending.values()]) {
      if (entry.key === key && this.#take(entry)) {
        this.#stats.disconnects++;
        entry.reject(withEvent(makeError(), entry.event));
      }
    }
  }

  /**
   * dropAll rejects every request in flight.
   * @param {() => Error} makeError
   */
  dropAll(makeError) {
    for (const entry of [...this.#pending.values()]) {
      if (this.#take(entry)) entry.reject(withEvent(makeError(), entry.event));
    }
  }

  #allocate() {
    for (;;) {
      const rid = this.#nextId;
      this.#nextId = rid >= Number.MAX_SAFE_INTEGER ? 1 : rid + 1;
      if (!this.#pending.has(rid)) return rid;
    }
  }

  /** @param {any} entry whether entry was still pending (and is no longer) */
  #take(entry) {
    if (this.#pending.get(entry.rid) !== entry) return false;
    this.#pending.delete(entry.rid);
    if (entry.timer) clearTimeout(entry.timer);
    if (entry.onAbort) entry.signal.removeEventListener('abort', entry.onAbort);
    return true;
  }
}

/**
 * withEvent adds the request's event name to a connection error's message.
 * @param {Error} err
 * @param {string} event
 */
function withEvent(err, event) {
  err.message = `request "${event}": ${err.message}`;
  return err;
}

/**
 * Responder runs the request handlers of one companion and answers every
 * request that carries a valid rid exactly once.
 */
export class Responder {
  /** @type {Map<string, Function>} */
  #handlers = new Map();
  #stats;

  /** @param {any} stats */
  constructor(stats) {
    this.#stats = stats;
  }

  /**
   * handle registers fn as the handler of event, replacing any earlier one.
   * @param {string} event
   * @param {Function} fn
   */
  handle(event, fn) {
    if (!isName(event)) throw new TypeError('handle: the event name must be a non-empty string');
    if (typeof fn !== 'function') throw new TypeError('handle: the handler must be a function');
    this.#handlers.set(event, fn);
  }

  /**
   * unhandle removes the handler of event; its requests are then answered
   * ERR_IPC_NO_HANDLER.
   * @param {string} event
   */
  unhandle(event) {
    this.#handlers.delete(event);
  }

  /**
   * respond answers the data of one nodeipc.request. args are the handler's
   * arguments after data (the socket, on a server). reply sends the data of
   * a nodeipc.reply and returns false if it could not be sent (connection
   * gone); it may throw if the data cannot be encoded.
   * @param {unknown} data
   * @param {unknown[]} args
   * @param {(data: object) => boolean} reply
   * @returns {Promise<IPCError | undefined>} an error to report locally, if any
   */
  async respond(data, args, reply) {
    if (!isObject(data) || !isSeq(data.rid)) {
      this.#stats.invalidRequests++;
      return new IPCError(codes.INVALID_REQUEST,
        'nodeipc.request without a valid rid (an integer 1..2^53-1): not answered');
    }
    const rid = data.rid;
    if (!isName(data.event)) {
      this.#stats.invalidRequests++;
      this.#send(reply, { rid, error: { code: codes.INVALID_REQUEST, message: 'the request has no valid event name' } });
      return undefined;
    }
    const fn = this.#handlers.get(data.event);
    if (!fn) {
      this.#stats.noHandler++;
      this.#send(reply, { rid, error: { code: codes.NO_HANDLER, message: `no handler for ${quote(data.event)}` } });
      return undefined;
    }
    this.#stats.requestsHandled++;
    let answer;
    try {
      const result = await fn(innerData(data.data), ...args);
      answer = { rid, data: innerData(result) };
    } catch (err) {
      this.#stats.handlerErrors++;
      answer = { rid, error: toWireError(err) };
    }
    this.#send(reply, answer);
    return undefined;
  }

  /**
   * #send writes a reply; one that cannot be encoded becomes an
   * ERR_IPC_HANDLER_FAILED error reply.
   * @param {(data: object) => boolean} reply
   * @param {object} answer
   */
  #send(reply, answer) {
    let sent;
    try {
      sent = reply(answer);
    } catch (err) {
      const rid = /** @type {any} */ (answer).rid;
      sent = reply({ rid, error: { code: codes.HANDLER_FAILED,
        message: `the handler's result could not be encoded: ${toWireError(err).message}` } });
    }
    if (!sent) this.#stats.repliesDropped++;
  }
}

/** @param {string} s an event name for a message, shortened */
function quote(s) {
  return JSON.stringify(s.length > 100 ? s.slice(0, 100) + '...' : s);
}
