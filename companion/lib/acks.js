// Acknowledged delivery: the sender's outbox of numbered messages, and the
// receiver's state for one sender session.

import { randomBytes } from 'node:crypto';
import { AbortError, codes, IPCError } from './errors.js';
import { byteLength, events, innerData, isName, isObject, isReservedEvent, isSeq } from './wire.js';

/**
 * newSession makes a sender session id: 16 random bytes as 32 lowercase hex
 * characters.
 */
export function newSession() {
  return randomBytes(16).toString('hex');
}

/**
 * @typedef {object} OutboxItem
 * @property {number} seq
 * @property {string} event
 * @property {unknown} data
 * @property {string | Uint8Array} frame the nodeipc.msg frame, encoded once
 * @property {number} bytes
 * @property {boolean} sent written at least once
 */

/**
 * Outbox holds one sender stream: the next sequence number and the
 * messages not yet acknowledged, bounded in bytes.
 */
export class Outbox {
  /** @type {OutboxItem[]} */
  items = [];
  bytes = 0;
  nextSeq = 1;
  /** @type {IPCError | null} */
  failure = null;
  /** @type {Set<{resolve: () => void, reject: (err: Error) => void}>} */
  #waiters = new Set();
  #maxBytes;
  #encode;
  #stats;

  /**
   * @param {number} maxBytes
   * @param {(type: string, data: unknown) => string | Uint8Array} encode
   * @param {any} stats
   */
  constructor(maxBytes, encode, stats) {
    this.#maxBytes = maxBytes;
    this.#encode = encode;
    this.#stats = stats;
  }

  /** lastSeq is the highest sequence number given out (0 for none). */
  get lastSeq() {
    return this.nextSeq - 1;
  }

  /**
   * add numbers one message and keeps it until it is acknowledged. It
   * throws, taking no number, if the event is not a name an acknowledged
   * message may carry, the data cannot be encoded, the outbox would pass its
   * byte bound, or the stream has failed.
   * @param {string} event
   * @param {unknown} data
   * @returns {OutboxItem}
   */
  add(event, data) {
    if (this.failure) throw new IPCError(this.failure.code, this.failure.message);
    if (!isName(event)) throw new TypeError('emit: the event name must be a non-empty string');
    if (isReservedEvent(event)) {
      throw new TypeError(`emit: ${JSON.stringify(event)} is a lifecycle, Object.prototype or extension event name, ` +
        'not one an acknowledged message may carry');
    }
    const seq = this.nextSeq;
    const frame = this.#encode(events.msg, { seq, event, data: innerData(data) });
    const bytes = byteLength(frame);
    if (this.bytes + bytes > this.#maxBytes) {
      throw new IPCError(codes.OUTBOX_FULL,
        `emit ${JSON.stringify(event)}: ${this.items.length} unacknowledged messages hold ${this.bytes} bytes; ` +
        `${bytes} more would pass maxOutboxBytes (${this.#maxBytes}); wait for flush()`);
    }
    const item = { seq, event, data, frame, bytes, sent: false };
    this.items.push(item);
    this.bytes += bytes;
    this.nextSeq = seq + 1;
    this.#stats.messagesSent++;
    return item;
  }

  /**
   * ackThrough forgets the messages with seq <= n and returns how many
   * there were.
   * @param {number} n
   */
  ackThrough(n) {
    let i = 0;
    while (i < this.items.length && this.items[i].seq <= n) {
      this.bytes -= this.items[i].bytes;
      i++;
    }
    if (i > 0) {
      this.items.splice(0, i);
      this.#stats.messagesAcknowledged += i;
    }
    if (this.items.length === 0) this.#settle(null);
    return i;
  }

  /**
   * flush resolves when every message given to add has been acknowledged,
   * and rejects if the stream fails first or the signal fires.
   * @param {AbortSignal} [signal]
   * @returns {Promise<void>}
   */
  flush(signal) {
    if (this.failure) return Promise.reject(new IPCError(this.failure.code, this.failure.message));
    if (this.items.length === 0) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(new AbortError('flush aborted', signal.reason));
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.#waiters.delete(waiter);
        reject(new AbortError('flush aborted', signal?.reason));
      };
      const waiter = {
        resolve: () => { signal?.removeEventListener('abort', onAbort); resolve(); },
        reject: (/** @type {Error} */ err) => { signal?.removeEventListener('abort', onAbort); reject(err); },
      };
      this.#waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * fail ends the stream: later adds throw err's code, flush waiters reject
   * with err, and the messages not acknowledged are returned (and attached
   * to err as `unsent`).
   * @param {IPCError} err
   * @returns {{seq: number, event: string, data: unknown}[]}
   */
  fail(err) {
    const unsent = this.items.map(({ seq, event, data }) => ({ seq, event, data }));
    this.items = [];
    this.bytes = 0;
    this.failure = err;
    /** @type {any} */ (err).unsent = unsent;
    this.#settle(err);
    return unsent;
  }

  /** @param {Error | null} err */
  #settle(err) {
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const w of waiters) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }
}

/**
 * Inbox is the receiving side of one sender session's stream: the last seq
 * delivered from it, and whether an acknowledgement is owed. A delivered of
 * null means the receiver has no record of the session (it restarted
 * without a durable record, or forgot the session): the first message it
 * then receives starts the stream, whatever its seq.
 */
export class Inbox {
  owed = false;
  sinceAck = 0;

  /**
   * @param {string} session
   * @param {number | null} delivered
   */
  constructor(session, delivered) {
    this.session = session;
    /** @type {number | null} */
    this.delivered = delivered;
  }

  /** known is the last seq delivered, 0 when there is no record. */
  get known() {
    return this.delivered ?? 0;
  }
}

/**
 * Serial runs async tasks one at a time, in the order they were pushed, so
 * that a stream's messages reach their handlers in order even when handlers
 * are async. A task that throws is reported and the next one runs.
 */
export class Serial {
  /** @type {(() => Promise<void> | void)[]} */
  #queue = [];
  #running = false;
  #report;

  /** @param {(err: unknown) => void} report */
  constructor(report) {
    this.#report = report;
  }

  /** waiting is the number of tasks pushed and not yet started. */
  get waiting() {
    return this.#queue.length;
  }

  /** @param {() => Promise<void> | void} task */
  push(task) {
    this.#queue.push(task);
    if (!this.#running) this.#drain();
  }

  async #drain() {
    this.#running = true;
    while (this.#queue.length > 0) {
      const task = /** @type {() => Promise<void> | void} */ (this.#queue.shift());
      try {
        await task();
      } catch (err) {
        this.#report(err);
      }
    }
    this.#running = false;
  }
}

/**
 * receiveMessage applies the receiver's rules to the data of one nodeipc.msg:
 * a duplicate is dropped (and an ack owed), the next message is delivered
 * through deliver and becomes the last delivered, and anything else throws
 * an IPCError that must close the connection (a gap, or a malformed
 * message). An error from deliver (a handler that threw) is returned: the
 * message counts as delivered.
 * @param {Inbox} inbox
 * @param {unknown} data
 * @param {(event: string, data: unknown, info: {session: string, seq: number}) => Promise<void> | void} deliver
 * @param {any} stats
 * @returns {Promise<unknown>} the handler's error, if any
 */
export async function receiveMessage(inbox, data, deliver, stats) {
  if (!isObject(data) || !isSeq(data.seq) || !isName(data.event)) {
    throw new IPCError(codes.INVALID_MESSAGE, 'nodeipc.msg without a valid seq and event name');
  }
  const seq = data.seq;
  if (inbox.delivered === null) inbox.delivered = seq - 1;
  if (seq <= inbox.delivered) {
    stats.duplicatesDropped++;
    inbox.owed = true;
    return undefined;
  }
  if (seq > inbox.delivered + 1) {
    throw new IPCError(codes.ACK_SEQUENCE,
      `message ${seq} of session ${inbox.session} came after ${inbox.delivered}: messages are missing; ` +
      'closing the connection so that the sender sends again from the first missing one');
  }
  let failure;
  try {
    await deliver(data.event, innerData(data.data), { session: inbox.session, seq });
  } catch (err) {
    failure = err;
  }
  inbox.delivered = seq;
  inbox.owed = true;
  inbox.sinceAck++;
  stats.messagesDelivered++;
  return failure;
}
