// Package nodeipc is node-ipc for Go: a Go program serves and connects to
// Node.js and Electron programs that use node-ipc 9, 10/12 or 14, byte for
// byte, and to other Go programs, over Unix sockets and Windows named pipes,
// TCP, TLS and UDP. It speaks node-ipc's JSON event envelopes
// ({"type":..,"data":..} followed by a delimiter) and its raw-buffer mode,
// with reconnecting clients, and servers that emit and broadcast. It never
// crashes on what a peer sends, and it loses nothing without saying so.
//
// # From node-ipc to nodeipc
//
// The facade keeps node-ipc's names, in Go spelling:
//
//	node-ipc                                  nodeipc
//	new IPC()                                 nodeipc.New()  (NewLegacy(): node-ipc 9/10 defaults)
//	ipc.config.id = 'world'                   ipc.Config.ID = "world"  (set before Serve / ConnectTo)
//	ipc.config.retry = 1000  (while running)  ipc.Update(func(c *nodeipc.Config) { c.Retry = time.Second })
//	ipc.serve(path, cb)                       ipc.Serve(path, cb), then ipc.Server.Start()
//	ipc.serveNet(host, port, 'udp4', cb)      ipc.ServeNet(host, port, "udp4", cb), then ipc.Server.Start()
//	ipc.server.on('ping', (data, socket) =>)  ipc.Server.On("ping", func(m *nodeipc.Message) { ... })
//	ipc.server.emit(socket, 'pong', data)     ipc.Server.Emit(m.Socket, "pong", data)
//	ipc.server.broadcast('news', data)        ipc.Server.Broadcast("news", data)
//	ipc.server.stop()                         ipc.Server.Stop()  (Shutdown(ctx) also waits)
//	ipc.connectTo('world', path, cb)          ipc.ConnectTo("world", path, cb)
//	ipc.connectToNet('world', host, port, cb) ipc.ConnectToNet("world", host, port, cb)
//	ipc.of.world.on('pong', data =>)          ipc.Of("world").On("pong", func(m *nodeipc.Message) { ... })
//	ipc.of.world.emit('ping', data)           ipc.Of("world").Emit("ping", data)
//	ipc.disconnect('world')                   ipc.Disconnect("world")
//	ipc.log(...)                              ipc.Log(...)
//	'error' event, err.code                   "error" event, m.Err; errors.As(m.Err, &pe) with pe *ProtocolError, pe.Code
//
// A handler gets one *Message where node-ipc passes (data, socket):
// m.Data is the raw JSON of data (m.Decode(&v) unmarshals it; passed to
// Emit, it is written as it came), m.Socket the peer (the connection, or
// a UDP peer's address; nil on a client), m.Type the event name and m.Err
// the error of an "error" event. Config holds node-ipc 14's settings and
// defaults; an endpoint copies it when it is built, except the retry
// settings (Retry, MaxRetries, StopRetrying), which clients of the facade
// read live, as node-ipc reads ipc.config: change them with Update. In a
// Config literal a zero number, duration or string means its default, and
// a negative value turns a limit or timer off (see Config). Paths
// and the socket root follow node-ipc 14 (an owner-only directory);
// LegacyConfig and NewLegacy give node-ipc 9 and 10's /tmp/ and their way
// of sending null and "".
//
// Violations of the protocol by a peer are "error" events carrying a
// *ProtocolError whose Code is node-ipc 14's (ERR_IPC_INVALID_JSON,
// ERR_IPC_FRAME_TOO_LARGE, ...). A malformed frame closes the connection
// that sent it (over UDP it drops that peer's unfinished frame); every
// other connection goes on. A name a peer may not send (a lifecycle event
// such as "error", "*", "__proto__") is refused alone in the default fast
// profile and closes the connection in guarded and assured. Config.Parser
// chooses node-ipc 14's profile: fast, guarded, assured or raw.
//
// # Go-style endpoints
//
// NewServer(network, address, &cfg) and NewClient(id, network, address,
// &cfg) build endpoints without the facade, from a Config that
// DefaultConfig returns (nil means the defaults). network is "unix" (a
// named pipe on Windows), "tcp", "tls", "udp4" or "udp6"; a UDP endpoint is
// always a server, which also sends. Register handlers with On, then call
// Server.Start or Client.Connect. Client.Close(ctx) and
// Server.Shutdown(ctx) close gracefully and wait; Client.Disconnect and
// Server.Stop do the same without waiting.
//
// # Goroutines and order
//
// The handlers of one connection run on that connection's own goroutine,
// one at a time, in the order the peer sent the events; different
// connections run at the same time. A slow handler delays its own
// connection only. A client publishes all its events, lifecycle ones
// included, from one goroutine, in order. A UDP server runs its handlers on
// its one reading goroutine. Errors that belong to no connection (a refused
// connection, a failed accept, an acknowledgement session that expired)
// come from the server's own goroutines.
//
// Emit, Broadcast, Request and the methods that close without waiting
// (Stop, Disconnect, Socket.Close) are safe to call from any goroutine,
// handlers included; Emit and Broadcast never wait for a peer. A handler
// must not wait for what only its own connection's goroutine can deliver:
// the reply to a Request sent to the peer whose event it handles (on a
// client: to the server), a client's Flush, or Close or Shutdown of its own
// endpoint. Start a goroutine for those. On, Off and Handle may be called
// at any time; register before Start or Connect to see every event.
//
// # Closing and delivery
//
// Stop, Disconnect, Close, Shutdown and Socket.Close close gracefully: what
// Emit accepted is written first, the peer is told that nothing more comes
// (a half-close, or TLS's close_notify), and what it sends until it closes
// too is still delivered to the handlers, all within Config.FlushTimeout.
// When the context of Close or Shutdown ends first, the connections close at
// once. Frames that could not be written are reported by an "error" event
// carrying an *UnsentError.
//
// What arrives: a frame Emit accepted is delivered exactly once and in
// order while its connection lives. While a client is not
// connected, its emits wait in a bounded outbox (MaxOutboxBytes) and go out
// first, in order, on the next connection; node-ipc drops them. Memory is
// bounded everywhere: Emit returns an error rather than queue past a limit.
// When a peer crashes or the connection breaks, frames already handed to
// the operating system arrive at most once, and nothing says which did;
// an answer from the peer does, and acknowledged delivery makes it exactly
// once. Over UDP each frame is one datagram: at most once, in the order the
// network keeps.
//
// # Request and response
//
// Handle registers a function that answers the requests for an event; its
// value is the reply's data and its error the requester's *RemoteError.
// Client.Request and Server.Request send a request and wait for its reply,
// until the context ends, or until the connection it went out on ends
// (ErrConnectionLost).
// Both roles do both, over every transport, UDP included. A request is an
// ordinary node-ipc frame named "nodeipc.request", and its reply one named
// "nodeipc.reply": a node-ipc program takes part through the Node.js
// companion in this repository, and a node-ipc program without it ignores
// them.
//
// # Acknowledged delivery
//
// With Config.Acks on a client and on its server (stream transports), every
// message Emit accepts is numbered in its sender's session, delivered once
// and in order across reconnects, and kept by the sender until the receiver
// acknowledges it; Client.Flush waits until it has. Handlers see the
// session and number in Message.Session and Message.Seq. A server that must
// not deliver a message again after its own restart records them with its
// effects and answers Config.AckDelivered from that record. A client with
// Acks gives up on a server that does not acknowledge
// (ERR_IPC_ACKS_UNSUPPORTED) and reports its messages as unsent.
//
// # Where to start
//
// The examples below: Example for node-ipc's hello and world, then the
// ones for IPC.Serve, IPC.ConnectTo, NewServer, TLSConfig, UDP, raw
// buffers, sync mode, requests and Config.Acks. The README has node-ipc's
// examples in Go, the command-line tool (cmd/nodeipc), the compatibility
// table and benchmarks. PROTOCOL.md describes the wire byte by byte: the
// frames, what each side accepts, the events and their order, every error
// code, and the extensions.
package nodeipc
