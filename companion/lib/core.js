// What the client and server companions share: options, counters, error
// reporting, the handlers of acknowledged messages, and the node-ipc
// handlers they install.

import { codes, IPCError } from './errors.js';
import { newStats, readOptions } from './options.js';
import { Responder } from './requests.js';
import { isCount, isName, isReservedEvent } from './wire.js';

/**
 * Core holds the state a companion of either role keeps.
 */
export class Core {
  /** @type {any} */
  endpoint;
  /** @type {ReturnType<typeof readOptions>} */
  options;
  stats = newStats();
  closed = false;
  /** @type {Map<string, Set<Function>>} */
  handlers = new Map();
  /** @type {[string, Function][]} */
  #bindings = [];

  /**
   * @param {any} endpoint
   * @param {any} options
   */
  constructor(endpoint, options) {
    this.endpoint = endpoint;
    this.options = readOptions(options);
    this.responder = new Responder(this.stats);
  }

  /**
   * bind registers fn for a node-ipc event on the endpoint, to be removed by
   * unbindAll.
   * @param {string} event
   * @param {Function} fn
   */
  bind(event, fn) {
    this.endpoint.on(event, fn);
    this.#bindings.push([event, fn]);
  }

  unbindAll() {
    for (const [event, fn] of this.#bindings) this.endpoint.off(event, fn);
    this.#bindings = [];
  }

  /**
   * report hands an error that has no caller to reject to options.onError,
   * or to process.emitWarning when there is none.
   * @param {unknown} err
   */
  report(err) {
    const onError = this.options.onError;
    if (onError) {
      try {
        onError(err);
        return;
      } catch (thrown) {
        err = thrown;
      }
    }
    process.emitWarning(/** @type {Error} */ (err instanceof Error ? err : new Error(String(err))));
  }

  /**
   * on registers handler for acknowledged messages of event.
   * @param {string} event
   * @param {Function} handler
   */
  on(event, handler) {
    if (!isName(event)) throw new TypeError('on: the event name must be a non-empty string');
    if (isReservedEvent(event)) {
      throw new TypeError(`on: ${JSON.stringify(event)} is a lifecycle, Object.prototype or extension event name, ` +
        'not one an acknowledged message may carry');
    }
    if (typeof handler !== 'function') throw new TypeError('on: the handler must be a function');
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler);
  }

  /**
   * off removes handler (or, without one, every handler) of event.
   * @param {string} event
   * @param {Function} [handler]
   */
  off(event, handler) {
    const set = this.handlers.get(event);
    if (!set) return;
    if (handler === undefined) set.clear();
    else set.delete(handler);
    if (set.size === 0) this.handlers.delete(event);
  }

  /**
   * deliver hands one acknowledged message to its handlers: the companion's
   * own handlers of event if there are any (awaited in turn), else the
   * endpoint's node-ipc handlers, through publish, as an ordinary event.
   * args are what the handlers get after data (the socket on a server);
   * info ({session, seq}) comes last. A message named after a lifecycle,
   * Object.prototype or extension event is refused alone: it throws
   * ERR_IPC_RESERVED_EVENT, and the message counts as delivered.
   * @param {string} event
   * @param {unknown} data
   * @param {unknown[]} args
   * @param {{session: string, seq: number}} info
   */
  async deliver(event, data, args, info) {
    if (isReservedEvent(event)) {
      throw new IPCError(codes.RESERVED_EVENT, `acknowledged message ${info.seq} of session ${info.session} ` +
        `is named ${JSON.stringify(event)}, a lifecycle, Object.prototype or extension event name: refused`);
    }
    const set = this.handlers.get(event);
    if (set && set.size > 0) {
      for (const handler of [...set]) await handler(data, ...args, info);
      return;
    }
    this.endpoint.publish(event, data, ...args, info);
  }

  /**
   * handlerFailed wraps the error a handler of an acknowledged message
   * threw. The message still counts as delivered.
   * @param {unknown} err
   * @param {unknown} data the nodeipc.msg data
   */
  handlerFailed(err, data) {
    if (err instanceof IPCError && err.code === codes.RESERVED_EVENT) return err;
    const d = /** @type {any} */ (data);
    return new IPCError(codes.HANDLER_FAILED, `the handler of acknowledged message ${d.seq} ` +
      `(${JSON.stringify(d.event)}) threw; the message counts as delivered: ${err instanceof Error ? err.message : String(err)}`,
    { cause: err });
  }

  /**
   * loadDelivered asks options.delivered for the last seq delivered from a
   * sender session: a count, or undefined/null when the receiver has no
   * record of it.
   * @param {string} session
   * @returns {Promise<number | null>}
   */
  async loadDelivered(session) {
    const hook = this.options.delivered;
    if (!hook) return null;
    const n = await hook(session);
    if (n === undefined || n === null) return null;
    if (!isCount(n)) {
      throw new TypeError(`options.delivered(${JSON.stringify(session)}) returned ${String(n)}, ` +
        'not an integer 0..2^53-1 (nor undefined for no record)');
    }
    return n;
  }
}

/**
 * Companion is what a companion of either role offers the same way:
 * request handlers and handlers of acknowledged messages. A client's
 * handlers are called as handler(data) and handler(data, {session, seq}); a
 * server's get the node-ipc socket after data: handler(data, socket) and
 * handler(data, socket, {session, seq}).
 */
export class Companion {
  #core;

  /** @param {Core} core */
  constructor(core) {
    this.#core = core;
  }

  /**
   * handle registers the handler of requests for event: its result (or the
   * value its promise resolves to) is the reply; an error it throws is
   * answered with {code, message} (the error's code if it is a non-empty
   * string, else ERR_IPC_HANDLER_FAILED). One handler per event.
   * @param {string} event
   * @param {(...args: any[]) => unknown} handler
   */
  handle(event, handler) {
    this.#core.responder.handle(event, handler);
    return this;
  }

  /**
   * unhandle removes the request handler of event.
   * @param {string} event
   */
  unhandle(event) {
    this.#core.responder.unhandle(event);
    return this;
  }

  /**
   * on registers a handler of acknowledged messages of event, called in
   * the stream's order (each client's stream, on a server); the next
   * message of that stream waits for the promise it returns. Messages of an
   * event with no such handler are published on the node-ipc endpoint as
   * ordinary events.
   * @param {string} event
   * @param {(...args: any[]) => unknown} handler
   */
  on(event, handler) {
    this.#core.on(event, handler);
    return this;
  }

  /**
   * off removes a handler registered with on (all of event's without one).
   * @param {string} event
   * @param {Function} [handler]
   */
  off(event, handler) {
    this.#core.off(event, handler);
    return this;
  }
}
