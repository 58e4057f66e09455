// Errors and their codes.

/**
 * The codes this module gives to the errors it raises or sends. The first
 * group travels on the wire (in a reply's `error.code`), the others stay local.
 */
export const codes = Object.freeze({
  /** no handler is registered for a request's event on the responder */
  NO_HANDLER: 'ERR_IPC_NO_HANDLER',
  /** the handler threw an error that carries no code of its own */
  HANDLER_FAILED: 'ERR_IPC_HANDLER_FAILED',
  /** a request with a rid but no valid event name */
  INVALID_REQUEST: 'ERR_IPC_INVALID_REQUEST',

  /** no reply within the request's timeout */
  TIMEOUT: 'ERR_IPC_TIMEOUT',
  /** the request's AbortSignal fired (Node's own code for aborts) */
  ABORTED: 'ABORT_ERR',
  /** the connection is down: nothing was sent */
  NOT_CONNECTED: 'ERR_IPC_NOT_CONNECTED',
  /** the connection ended while a request waited, or the node-ipc client gave up */
  DISCONNECTED: 'ERR_IPC_DISCONNECTED',
  /** as many requests are in flight as maxInFlight allows */
  TOO_MANY_REQUESTS: 'ERR_IPC_TOO_MANY_REQUESTS',
  /** the unacknowledged messages already hold maxOutboxBytes */
  OUTBOX_FULL: 'ERR_IPC_OUTBOX_FULL',
  /** the server did not answer hello in time, or answered acks:false */
  ACKS_UNSUPPORTED: 'ERR_IPC_ACKS_UNSUPPORTED',
  /** a numbered message out of its place: a gap, or a message before hello */
  ACK_SEQUENCE: 'ERR_IPC_ACK_SEQUENCE',
  /** an extension frame whose data lacks or mistypes a field */
  INVALID_MESSAGE: 'ERR_IPC_INVALID_MESSAGE',
  /** an acknowledged message named a lifecycle, Object.prototype or extension event, or "*" */
  RESERVED_EVENT: 'ERR_IPC_RESERVED_EVENT',
  /** close() was called on the companion */
  CLOSED: 'ERR_IPC_CLOSED',
});

/**
 * IPCError is an error raised by this module; `code` is one of {@link codes}.
 */
export class IPCError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {ErrorOptions} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = 'IPCError';
    /** @type {string} */
    this.code = code;
  }
}

/**
 * RemoteError is the error a request rejects with when the responder answered
 * with an error: `code` and `message` are the peer's. Handlers may throw it to
 * answer with a code of their own (any error whose `code` is a non-empty
 * string does the same).
 */
export class RemoteError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = 'RemoteError';
    /** @type {string} */
    this.code = code;
  }
}

/**
 * AbortError is the error a request rejects with when its AbortSignal fires;
 * it has Node's name and code for aborts, and the signal's reason as cause.
 */
export class AbortError extends Error {
  /**
   * @param {string} message
   * @param {unknown} reason
   */
  constructor(message, reason) {
    super(message, { cause: reason });
    this.name = 'AbortError';
    /** @type {string} */
    this.code = codes.ABORTED;
  }
}

/**
 * toWireError turns what a handler threw into the {code, message} a reply
 * carries: the error's own code when it is a non-empty string, else
 * ERR_IPC_HANDLER_FAILED.
 * @param {unknown} err
 * @returns {{code: string, message: string}}
 */
export function toWireError(err) {
  const e = /** @type {any} */ (err);
  const code = e !== null && typeof e === 'object' && typeof e.code === 'string' && e.code !== ''
    ? e.code : codes.HANDLER_FAILED;
  let message;
  if (e !== null && typeof e === 'object' && typeof e.message === 'string') message = e.message;
  else {
    try {
      message = String(e);
    } catch {
      message = 'handler failed';
    }
  }
  return { code, message };
}
