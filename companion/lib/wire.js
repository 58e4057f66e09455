// The extension frames' names and checks, and what the module needs to know
// about a node-ipc endpoint (9.2.1, @achrinza/node-ipc 10.1.11, 14.0.0).

/** The event names of the extension frames. */
export const events = Object.freeze({
  request: 'nodeipc.request',
  reply: 'nodeipc.reply',
  hello: 'nodeipc.hello',
  msg: 'nodeipc.msg',
  ack: 'nodeipc.ack',
});

/** The prefix every extension event name starts with. */
export const prefix = 'nodeipc.';

/** The version of the hello exchange this module speaks. */
export const helloVersion = 1;

// Lifecycle names node-ipc publishes itself (node-ipc 14's reserved list).
const lifecycle = new Set(['start', 'connect', 'disconnect', 'destroy', 'close',
  'socket.disconnected', 'error', 'data']);
const prototypeNames = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * isReservedEvent reports whether an acknowledged message may not carry this
 * event name: a lifecycle name, an Object.prototype name, an extension name,
 * or the wildcard "*" (which nodeipc never sends as an event).
 * @param {string} event
 */
export function isReservedEvent(event) {
  return lifecycle.has(event) || prototypeNames.has(event) || event.startsWith(prefix) || event === '*';
}

/**
 * isSessionId reports whether v is a sender session id a peer may use: a
 * string of 1 to 256 bytes (UTF-8) without control characters.
 * @param {unknown} v
 * @returns {v is string}
 */
export function isSessionId(v) {
  if (typeof v !== 'string' || v === '' || v.length > 256 || Buffer.byteLength(v) > 256) return false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** @param {unknown} v @returns {v is number} a rid or seq: an integer 1..2^53-1 */
export function isSeq(v) {
  return Number.isSafeInteger(v) && /** @type {number} */ (v) >= 1;
}

/** @param {unknown} v @returns {v is number} a count: an integer 0..2^53-1 */
export function isCount(v) {
  return Number.isSafeInteger(v) && /** @type {number} */ (v) >= 0;
}

/** @param {unknown} v @returns {v is Record<string, any>} */
export function isObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** @param {unknown} v @returns {v is string} a non-empty string */
export function isName(v) {
  return typeof v === 'string' && v !== '';
}

/**
 * innerData applies the envelope's rule to the data inside an extension
 * frame: omitted or undefined is {}.
 * @param {unknown} v
 */
export function innerData(v) {
  return v === undefined ? {} : v;
}

/**
 * isServer tells a node-ipc server (ipc.server) from a client (ipc.of[id]).
 * @param {any} endpoint
 */
export function isServer(endpoint) {
  return endpoint !== null && typeof endpoint === 'object' && Array.isArray(endpoint.sockets) &&
    typeof endpoint.broadcast === 'function';
}

/**
 * isUDP reports whether a node-ipc server serves UDP.
 * @param {any} server
 */
export function isUDP(server) {
  return Boolean(server.udp4 || server.udp6);
}

/**
 * checkEndpoint throws a TypeError for an endpoint the module cannot work
 * with: not a node-ipc endpoint, raw-buffer mode, or sync mode.
 * @param {any} endpoint
 * @param {'client' | 'server'} role
 */
export function checkEndpoint(endpoint, role) {
  const ok = endpoint !== null && typeof endpoint === 'object' &&
    typeof endpoint.on === 'function' && typeof endpoint.off === 'function' &&
    typeof endpoint.emit === 'function' && typeof endpoint.publish === 'function' &&
    (role === 'server' ? isServer(endpoint) : !isServer(endpoint) && typeof endpoint.connect === 'function');
  if (!ok) {
    throw new TypeError(role === 'server'
      ? 'expected a node-ipc server (ipc.server after ipc.serve or ipc.serveNet)'
      : 'expected a node-ipc client (ipc.of[id] after ipc.connectTo or ipc.connectToNet)');
  }
  const config = endpoint.config || {};
  if (config.rawBuffer || endpoint.raw || config.parser === 'raw') {
    throw new TypeError('nodeipc-companion needs framed JSON events; this endpoint is in raw-buffer mode');
  }
  if (role === 'client' && config.sync) {
    throw new TypeError('nodeipc-companion does not work with node-ipc sync mode: ' +
      'sync holds each emit until something is received');
  }
}

/**
 * encoder returns a function that encodes one frame exactly as the endpoint's
 * emit would write it: node-ipc 14's parser when there is one, else
 * JSON.stringify of {type, data} and the delimiter (node-ipc 9 and 10).
 * @param {any} endpoint
 * @returns {(type: string, data: unknown) => string | Uint8Array}
 */
export function encoder(endpoint) {
  if (typeof endpoint.encode === 'function') return (type, data) => endpoint.encode(type, data);
  const delimiter = typeof endpoint.config?.delimiter === 'string' ? endpoint.config.delimiter : '\f';
  return (type, data) => JSON.stringify({ type, data }) + delimiter;
}

/**
 * byteLength is the size of an encoded frame in bytes.
 * @param {string | Uint8Array} frame
 */
export function byteLength(frame) {
  return typeof frame === 'string' ? Buffer.byteLength(frame) : frame.byteLength;
}

/**
 * isOpen reports whether a stream socket can take writes now or once it has
 * connected (node-ipc leaves a destroyed socket in place between retries).
 * @param {any} socket
 */
export function isOpen(socket) {
  return Boolean(socket) && !socket.destroyed && socket.writable !== false;
}
