// Options, their defaults, and the counters every companion keeps.

/** The defaults of the options attachClient and attachServer take. */
export const defaults = Object.freeze({
  /** milliseconds a request waits for its reply */
  timeout: 10_000,
  /** requests in flight at once, per companion */
  maxInFlight: 1024,
  /** milliseconds a client waits for the server's hello answer */
  helloTimeout: 5_000,
  /** bytes of encoded frames the unacknowledged messages of one stream may hold (nodeipc's MaxOutboxBytes) */
  maxOutboxBytes: 8 << 20,
  /** a receiver acknowledges at least once per this many delivered messages, and whenever it runs out of work */
  ackEvery: 64,
  /** client sessions a server remembers; the oldest idle ones are forgotten past it */
  maxSessions: 10_000,
});

/**
 * @typedef {object} Stats
 * Counters of one companion, since it was attached.
 * @property {number} requestsSent requests written
 * @property {number} repliesReceived replies that resolved a request
 * @property {number} remoteErrors replies that rejected a request with a RemoteError
 * @property {number} timeouts requests that timed out
 * @property {number} aborts requests aborted by their signal
 * @property {number} disconnects requests rejected because their connection ended
 * @property {number} lateReplies replies to no request in flight (late, after a timeout or abort): dropped
 * @property {number} requestsHandled requests given to a handler
 * @property {number} handlerErrors handlers that threw (answered with an error)
 * @property {number} noHandler requests answered ERR_IPC_NO_HANDLER
 * @property {number} invalidRequests requests answered ERR_IPC_INVALID_REQUEST or not answered (no valid rid)
 * @property {number} repliesDropped replies not sent because the requester's connection had ended
 * @property {number} messagesSent acknowledged-delivery messages accepted by emit
 * @property {number} messagesResent messages written again after a reconnect
 * @property {number} messagesAcknowledged messages the receiver acknowledged
 * @property {number} messagesDelivered messages received and delivered to handlers
 * @property {number} duplicatesDropped messages received again and dropped (still acknowledged)
 * @property {number} acksSent acknowledgements written
 */

/** @returns {Stats} */
export function newStats() {
  return {
    requestsSent: 0,
    repliesReceived: 0,
    remoteErrors: 0,
    timeouts: 0,
    aborts: 0,
    disconnects: 0,
    lateReplies: 0,
    requestsHandled: 0,
    handlerErrors: 0,
    noHandler: 0,
    invalidRequests: 0,
    repliesDropped: 0,
    messagesSent: 0,
    messagesResent: 0,
    messagesAcknowledged: 0,
    messagesDelivered: 0,
    duplicatesDropped: 0,
    acksSent: 0,
  };
}

/**
 * readOptions checks the options given to attachClient or attachServer and
 * fills in the defaults, without changing the caller's object.
 * @param {any} options
 */
export function readOptions(options) {
  if (options === undefined || options === null) options = {};
  if (typeof options !== 'object') throw new TypeError('options must be an object');
  const o = { ...defaults, acks: false, delivered: undefined, onError: undefined, ...options };
  positive(o, 'timeout', true);
  positive(o, 'helloTimeout', false);
  count(o, 'maxInFlight');
  count(o, 'maxOutboxBytes');
  count(o, 'ackEvery');
  count(o, 'maxSessions');
  if (typeof o.acks !== 'boolean') throw new TypeError('options.acks must be a boolean');
  if (o.delivered !== undefined && typeof o.delivered !== 'function') {
    throw new TypeError('options.delivered must be a function (session) => number');
  }
  if (o.onError !== undefined && typeof o.onError !== 'function') {
    throw new TypeError('options.onError must be a function (err) => void');
  }
  return o;
}

/** @param {any} o @param {string} name @param {boolean} infinite */
function positive(o, name, infinite) {
  const v = o[name];
  if (typeof v !== 'number' || !(v > 0) || (!infinite && !Number.isFinite(v))) {
    throw new TypeError(`options.${name} must be a positive number of milliseconds${infinite ? ' (Infinity for none)' : ''}`);
  }
}

/** @param {any} o @param {string} name */
function count(o, name) {
  const v = o[name];
  if (!Number.isSafeInteger(v) || v < 1) throw new TypeError(`options.${name} must be a positive integer`);
}
