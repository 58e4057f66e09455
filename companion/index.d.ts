// Types of nodeipc-companion.

/** A node-ipc client: ipc.of[id] after ipc.connectTo or ipc.connectToNet. */
export type NodeIPCClient = object;
/** A node-ipc server: ipc.server after ipc.serve or ipc.serveNet. */
export type NodeIPCServer = object;
/** A connection as node-ipc hands it to server handlers (a net.Socket, or a UDP peer). */
export type Socket = any;

/** Where an acknowledged message came from: its sender session and sequence number. */
export interface MessageInfo {
  session: string;
  seq: number;
}

export interface RequestOptions {
  /** Milliseconds to wait for the reply (default 10000); Infinity waits for ever. */
  timeout?: number;
  /** Rejects the request with an AbortError when it fires; nothing is sent to the peer. */
  signal?: AbortSignal;
}

export interface FlushOptions {
  signal?: AbortSignal;
}

export interface Options {
  /** Milliseconds a request waits for its reply (10000; Infinity for none). */
  timeout?: number;
  /** Requests in flight at once (1024); past it a request rejects with ERR_IPC_TOO_MANY_REQUESTS. */
  maxInFlight?: number;
  /** Acknowledged delivery on (false). */
  acks?: boolean;
  /** Bytes of frames the unacknowledged messages of one stream may hold (8 MiB). */
  maxOutboxBytes?: number;
  /** A receiver acknowledges at least once per this many delivered messages (64). */
  ackEvery?: number;
  /**
   * A durable receiver's record: the last seq it delivered from a sender session, or
   * undefined/null when it has no record of that session.
   */
  delivered?: (session: string) => number | undefined | null | Promise<number | undefined | null>;
  /** Errors no caller can be given (default: process.emitWarning). */
  onError?: (err: Error) => void;
}

export interface ClientOptions extends Options {
  /** Milliseconds to wait for the server's hello answer before ERR_IPC_ACKS_UNSUPPORTED (5000). */
  helloTimeout?: number;
}

export interface ServerOptions extends Options {
  /** Client sessions remembered; past it the oldest idle one is forgotten (10000). */
  maxSessions?: number;
}

export interface Stats {
  requestsSent: number;
  repliesReceived: number;
  remoteErrors: number;
  timeouts: number;
  aborts: number;
  disconnects: number;
  lateReplies: number;
  requestsHandled: number;
  handlerErrors: number;
  noHandler: number;
  invalidRequests: number;
  repliesDropped: number;
  messagesSent: number;
  messagesResent: number;
  messagesAcknowledged: number;
  messagesDelivered: number;
  duplicatesDropped: number;
  acksSent: number;
}

export declare class CompanionClient {
  constructor(client: NodeIPCClient, options?: ClientOptions);
  request<T = any>(event: string, data?: unknown, options?: RequestOptions): Promise<T>;
  handle(event: string, handler: (data: any) => unknown): this;
  unhandle(event: string): this;
  on(event: string, handler: (data: any, info: MessageInfo) => unknown): this;
  off(event: string, handler?: Function): this;
  emit(event: string, data?: unknown): number;
  flush(options?: FlushOptions): Promise<void>;
  close(): void;
  readonly session: string;
  readonly peerSession: string;
  readonly ready: boolean;
  readonly inFlight: number;
  readonly unacknowledged: number;
  readonly unacknowledgedBytes: number;
  readonly stats: Stats;
}

export declare class CompanionServer {
  constructor(server: NodeIPCServer, options?: ServerOptions);
  request<T = any>(socket: Socket, event: string, data?: unknown, options?: RequestOptions): Promise<T>;
  handle(event: string, handler: (data: any, socket: Socket) => unknown): this;
  unhandle(event: string): this;
  on(event: string, handler: (data: any, socket: Socket, info: MessageInfo) => unknown): this;
  off(event: string, handler?: Function): this;
  emit(target: Socket | string, event: string, data?: unknown): number;
  flush(target?: Socket | string, options?: FlushOptions): Promise<void>;
  sessionOf(socket: Socket): string | undefined;
  forget(session: string): void;
  close(): void;
  readonly session: string;
  readonly inFlight: number;
  readonly stats: Stats;
}

export declare function attachClient(client: NodeIPCClient, options?: ClientOptions): CompanionClient;
export declare function attachServer(server: NodeIPCServer, options?: ServerOptions): CompanionServer;

/** An error raised by this module; code is one of codes. */
export declare class IPCError extends Error {
  constructor(code: string, message: string, options?: ErrorOptions);
  code: string;
  /** For a failed acknowledged stream: the messages that were not acknowledged. */
  unsent?: { seq: number; event: string; data: unknown }[];
}

/** The peer's error answer to a request; handlers may throw it to answer with their own code. */
export declare class RemoteError extends Error {
  constructor(code: string, message: string);
  code: string;
}

/** A request or flush ended by its AbortSignal; cause is the signal's reason. */
export declare class AbortError extends Error {
  constructor(message: string, reason: unknown);
  code: 'ABORT_ERR';
}

export declare const codes: Readonly<{
  NO_HANDLER: 'ERR_IPC_NO_HANDLER';
  HANDLER_FAILED: 'ERR_IPC_HANDLER_FAILED';
  INVALID_REQUEST: 'ERR_IPC_INVALID_REQUEST';
  TIMEOUT: 'ERR_IPC_TIMEOUT';
  ABORTED: 'ABORT_ERR';
  NOT_CONNECTED: 'ERR_IPC_NOT_CONNECTED';
  DISCONNECTED: 'ERR_IPC_DISCONNECTED';
  TOO_MANY_REQUESTS: 'ERR_IPC_TOO_MANY_REQUESTS';
  OUTBOX_FULL: 'ERR_IPC_OUTBOX_FULL';
  ACKS_UNSUPPORTED: 'ERR_IPC_ACKS_UNSUPPORTED';
  ACK_SEQUENCE: 'ERR_IPC_ACK_SEQUENCE';
  INVALID_MESSAGE: 'ERR_IPC_INVALID_MESSAGE';
  RESERVED_EVENT: 'ERR_IPC_RESERVED_EVENT';
  CLOSED: 'ERR_IPC_CLOSED';
}>;

export declare const defaults: Readonly<{
  timeout: number;
  maxInFlight: number;
  helloTimeout: number;
  maxOutboxBytes: number;
  ackEvery: number;
  maxSessions: number;
}>;

/** The names of the extension frames, and what their data holds. */
export declare const events: Readonly<{
  /** {rid, event, data}: rid is the requester's number, 1..2^53-1 */
  request: 'nodeipc.request';
  /** {rid, data} or {rid, error: {code, message}}; "error": null is a success */
  reply: 'nodeipc.reply';
  /** {v: 1, acks, session, peer?, delivered}: session ids are 1..256 bytes, no control characters */
  hello: 'nodeipc.hello';
  /** {seq, event, data}: one acknowledged message */
  msg: 'nodeipc.msg';
  /** {seq}: every message up to seq was delivered */
  ack: 'nodeipc.ack';
}>;
