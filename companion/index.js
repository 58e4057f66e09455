// nodeipc-companion: request/response and acknowledged delivery for node-ipc
// 9, 10/12 and 14 programs, in the wire format of the Go library nodeipc.
// Types: index.d.ts.

export { attachClient, CompanionClient } from './lib/client.js';
export { attachServer, CompanionServer } from './lib/server.js';
export { AbortError, codes, IPCError, RemoteError } from './lib/errors.js';
export { defaults } from './lib/options.js';
export { events } from './lib/wire.js';
