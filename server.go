package nodeipc

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Server is node-ipc's server: built by IPC.Serve or IPC.ServeNet (or
// NewServer), it binds on Start and publishes start, connect,
// socket.disconnected, close, error and every application event. Handlers of
// one connection run in wire order, one at a time; different connections run
// concurrently. A TLS peer whose handshake fails was never connected: it gets
// an error event only.
type Server struct {
	cfg     Config
	rules   *rules
	network string // "unix", "tcp", "tls", "udp4", "udp6"
	address string // socket path, or host:port
	onStart func()
	initErr error
	events  registry
	tlsConf *tls.Config
	// logPayloads logs every event sent and received (LogPayloads).
	logPayloads bool
	reqs        *requests
	acks        *serverAcks     // acknowledged delivery (Config.Acks); or nil
	udpCtx      context.Context // for request handlers over UDP: ends with Stop
	udpCancel   context.CancelFunc

	mu       sync.Mutex
	ln       net.Listener
	udp      *udpServer
	sockets  []*Socket
	started  bool
	stopping bool
	stopped  chan struct{} // closed by Stop: ends the idle sweeper
	seq      uint64
	wg       sync.WaitGroup
}

// NewServer builds a server without starting it. network is "unix" (a Unix
// socket, or a named pipe on Windows), "tcp", "tls", "udp4" or "udp6";
// address is a socket path or host:port. cfg nil means DefaultConfig; it is
// copied.
func NewServer(network, address string, cfg *Config) (*Server, error) {
	s := newServer(network, address, cfg, nil)
	return s, s.initErr
}

func newServer(network, address string, cfg *Config, onStart func()) *Server {
	c := resolveConfig(cfg)
	s := &Server{cfg: c, network: network, address: address, onStart: onStart, stopped: make(chan struct{}),
		logPayloads: c.LogPayloads && !c.Silent, reqs: newRequests(c.MaxRequests)}
	s.udpCtx, s.udpCancel = context.WithCancel(context.Background())
	s.rules, s.initErr = newRules(&s.cfg)
	if s.initErr == nil {
		s.initErr = s.check()
	}
	return s
}

func (s *Server) check() error {
	switch s.network {
	case "unix", "local":
		s.network = "unix"
		if s.address == "" {
			return errors.New("nodeipc: server path is empty")
		}
	case "tcp", "tls", "udp4", "udp6":
		host, port, err := net.SplitHostPort(s.address)
		if err != nil {
			return fmt.Errorf("nodeipc: bad server address %q: %w", s.address, err)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("nodeipc: bad port %q: want 0 to 65535", port)
		}
		_ = host
	default:
		return fmt.Errorf("nodeipc: unknown network %q (want unix, tcp, tls, udp4 or udp6)", s.network)
	}
	if s.rules.codec != nil && (s.network == "udp4" || s.network == "udp6") {
		return errors.New("nodeipc: a custom Codec works on stream transports, not UDP")
	}
	if s.cfg.TLS != nil && s.network == "tcp" {
		s.network = "tls"
	}
	if s.rules.assured {
		if err := assuredServerCheck(s); err != nil {
			return err
		}
	}
	if s.cfg.Acks {
		if err := checkAcks(&s.cfg, s.rules); err != nil {
			return err
		}
		if s.network == "udp4" || s.network == "udp6" {
			return errors.New("nodeipc: Acks works on stream transports, not UDP")
		}
		if s.cfg.MaxOutboxBytes <= 0 {
			return errors.New("nodeipc: Acks keeps unacknowledged messages within MaxOutboxBytes, which must be positive")
		}
		s.acks = newServerAcks(&s.cfg)
	}
	return nil
}

// Network returns the transport: "unix", "tcp", "tls", "udp4" or "udp6".
func (s *Server) Network() string { return s.network }

// Path returns the socket path of a local server (the name its named pipe
// is made from, on Windows), or "" for a network server, whose address
// Address returns.
func (s *Server) Path() string {
	if s.network == "unix" {
		return s.address
	}
	return ""
}

// Address returns the address the server was configured with: its socket
// path, or host:port (Addr returns the one bound, useful with port 0).
func (s *Server) Address() string { return s.address }

// Addr returns the bound address once started (useful with port 0), else nil.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.ln != nil:
		return s.ln.Addr()
	case s.udp != nil:
		return s.udp.pc.LocalAddr()
	}
	return nil
}

// On registers a handler for an event: an application event name, "*" for
// every application event, or a lifecycle event (start, connect,
// socket.disconnected, close, error; data in raw mode).
func (s *Server) On(event string, h func(*Message)) { s.events.on(event, h) }

// Off removes every handler of an event.
func (s *Server) Off(event string) { s.events.off(event) }

// Start binds the server and publishes start. Errors (address in use, a
// non-socket file at the path, an insecure socket root) are returned and
// also published as an error event.
func (s *Server) Start() error { return s.start(nil) }

// StartListener starts a stream server on a listener the caller made or
// inherited, for instance a worker process serving a socket its primary
// opened (node-ipc's cluster example). The server owns ln from then on.
func (s *Server) StartListener(ln net.Listener) error {
	if ln == nil {
		return errors.New("nodeipc: StartListener needs a listener")
	}
	if s.network == "udp4" || s.network == "udp6" {
		return errors.New("nodeipc: StartListener is for stream servers")
	}
	return s.start(ln)
}

func (s *Server) start(ln net.Listener) error {
	if s.initErr != nil {
		s.publishErr(nil, s.initErr)
		return s.initErr
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return ErrStopped
	}
	if s.started {
		s.mu.Unlock()
		return errors.New("nodeipc: server already started")
	}
	s.started = true
	var err error
	switch {
	case s.network == "udp4" || s.network == "udp6":
		s.udp, err = startUDP(s)
	case ln != nil:
		s.ln = ln
		if s.network == "tls" {
			s.tlsConf, err = s.cfg.TLS.serverConfig(s.rules.assured)
		}
	default:
		s.ln, err = s.listen()
	}
	if err != nil {
		s.started = false
		s.mu.Unlock()
		s.publishErr(nil, err)
		return err
	}
	s.mu.Unlock()
	s.cfg.log("starting server on", s.address)
	if s.onStart != nil {
		s.onStart()
	}
	s.events.emit(&Message{Type: "start"})
	if s.udp != nil {
		s.wg.Add(1)
		go s.udp.readLoop()
	} else {
		s.wg.Add(1)
		go s.acceptLoop(s.ln)
		if s.rules.idleTimeout > 0 || s.rules.firstMessageTimeout > 0 || s.acks != nil {
			s.wg.Add(1)
			go s.sweep()
		}
	}
	return nil
}

// sweep closes the connections that sent no complete message within
// FirstMessageTimeout of connecting, or nothing at all for IdleTimeout, so
// that silent peers cannot hold every MaxConnections slot.
func (s *Server) sweep() {
	defer s.wg.Done()
	every := time.Second
	keep := time.Duration(0)
	if s.acks != nil {
		keep = s.acks.keep
	}
	for _, d := range []time.Duration{s.rules.idleTimeout, s.rules.firstMessageTimeout, keep} {
		if d > 0 {
			every = min(every, max(d/4, 10*time.Millisecond))
		}
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stopped:
			return
		case <-t.C:
		}
		s.mu.Lock()
		socks := append([]*Socket(nil), s.sockets...)
		s.mu.Unlock()
		for _, sock := range socks {
			if err := sock.conn.overdue(); err != nil {
				sock.conn.closeWith(err)
			}
		}
		if s.acks != nil {
			s.expireSessions(time.Now())
		}
	}
}

func (s *Server) listen() (ln net.Listener, err error) {
	switch s.network {
	case "unix":
		return listenLocal(s.address, &s.cfg, s.rules)
	case "tls":
		ln, s.tlsConf, err = listenTLS(s.address, &s.cfg, s.rules.assured)
		return ln, err
	}
	return listenTCP(s.address, &s.cfg)
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			stopping := s.stopping
			s.mu.Unlock()
			if stopping || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: wait and go on, as
			// net/http does, rather than stop serving.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			s.publishErr(nil, fmt.Errorf("nodeipc: accept: %w", err))
			time.Sleep(delay)
			continue
		}
		delay = 0
		if err := s.admit(nc); err != nil {
			nc.Close()
			s.publishErr(nil, err)
			continue
		}
	}
}

// admit registers an accepted connection and starts serving it.
func (s *Server) admit(nc net.Conn) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return ErrStopped
	}
	if len(s.sockets) >= s.cfg.MaxConnections {
		return fmt.Errorf("nodeipc: connection from %s refused: MaxConnections (%d) reached", addrString(nc.RemoteAddr()), s.cfg.MaxConnections)
	}
	sock := &Socket{server: s}
	if s.network == "unix" {
		sock.cred = peerCred(nc)
		if err := s.checkPeer(sock.cred); err != nil {
			return err
		}
	}
	if s.tlsConf != nil {
		nc = serverTLS(nc, s.tlsConf, &s.cfg)
	}
	s.seq++
	sock.seq = s.seq
	sock.conn = newConn(nc, s.rules, s.cfg.FlushTimeout)
	s.sockets = append(s.sockets, sock)
	s.wg.Add(1)
	go s.serve(sock)
	return nil
}

func (s *Server) checkPeer(cred *PeerCred) error {
	if len(s.cfg.AllowedUIDs) == 0 {
		return nil
	}
	if cred == nil {
		return protoErr(CodePeerNotPermitted, "peer credentials are not available, and AllowedUIDs is set")
	}
	for _, uid := range s.cfg.AllowedUIDs {
		if uid == cred.UID {
			return nil
		}
	}
	return protoErr(CodePeerNotPermitted, "peer uid "+strconv.Itoa(cred.UID)+" (pid "+strconv.Itoa(cred.PID)+") is not in AllowedUIDs")
}

func addrString(a net.Addr) string {
	if a == nil || a.String() == "" || a.String() == "@" {
		return "a local peer"
	}
	return a.String()
}

// serve runs one connection: connect, its events in wire order, then error
// (if any), socket.disconnected and close. A TLS peer whose handshake fails
// was never connected and gets only the error event.
func (s *Server) serve(sock *Socket) {
	defer s.wg.Done()
	c := sock.conn
	var err error
	if tc, ok := c.nc.(*tls.Conn); ok {
		err = handshake(tc, s.cfg.DialTimeout)
	}
	connected := err == nil
	if connected {
		if s.acks != nil {
			c.afterRead = func() { s.ackAfterRead(sock) }
		}
		c.start()
		s.events.emit(&Message{Type: "connect", Socket: sock})
		err = c.readLoop(func(typ, data []byte, owned bool) { s.deliver(sock, typ, data, owned) },
			func(perr *ProtocolError) { s.publishErr(sock, perr) })
		c.finish()
		s.reqs.fail(c, ErrConnectionLost)
	} else {
		close(c.writerDone)
		c.nc.Close()
	}
	s.mu.Lock()
	stopping := s.stopping
	for i, x := range s.sockets {
		if x == sock {
			s.sockets = append(s.sockets[:i], s.sockets[i+1:]...)
			break
		}
	}
	s.mu.Unlock()
	if err != nil {
		s.publishErr(sock, err)
	}
	if connected && sock.ses.Load() != nil {
		// Its unacknowledged messages wait for the session to come back.
		s.departed(sock)
	} else if connected {
		unsent, lost := c.takeUnsent()
		if s.acks != nil {
			lost += sock.early.takeEarly() // held for a first frame that never came
		}
		if len(unsent) > 0 || lost > 0 {
			s.publishErr(sock, &UnsentError{Frames: countFrames(unsent, s.rules) + lost, Reason: "the connection ended before they were written"})
		}
	}
	if !connected {
		// node-ipc's TLS server never sees a peer whose handshake failed:
		// no socket.disconnected or close for one that never connected.
		return
	}
	if !stopping {
		var id any = false
		if v := sock.ID(); v != "" {
			id = v
		}
		s.events.emit(&Message{Type: "socket.disconnected", Socket: sock, Data: mustJSON(id)})
	}
	s.events.emit(&Message{Type: "close", Socket: sock})
}

// deliver is the server's receive step, for a message from any of its
// peers, stream or UDP, decoded by the read path (typ nil in raw mode,
// where data is the bytes read): it identifies the peer (IdentifyPeer),
// logs the message (LogPayloads), hands the extension events to their
// handlers, and dispatches the others to the application's. owned says
// that data is the caller's to hand over (see registry.dispatch).
func (s *Server) deliver(sock *Socket, typ, data []byte, owned bool) {
	if s.rules.raw {
		s.events.emit(&Message{Type: "data", Data: append(json.RawMessage(nil), data...), Socket: sock})
		return
	}
	if s.acks != nil && sock.conn != nil && !sock.early.decided.Load() && string(typ) != EventHello {
		s.earlyPlain(sock) // not a client with Acks: what was held goes out plain
	}
	if s.cfg.IdentifyPeer && !isExtension(typ) {
		identify(sock, data)
	}
	if s.logPayloads {
		s.cfg.log("received event", string(typ), json.RawMessage(data))
	}
	if isExtension(typ) && s.extension(typ, data, sock) {
		return
	}
	s.events.dispatch(typ, data, sock, owned)
}

// extension handles a request or a reply, and reports whether typ was one.
func (s *Server) extension(typ, data []byte, sock *Socket) bool {
	switch string(typ) {
	case EventRequest:
		f, _ := wire.ParseFields(data)
		ctx := s.udpCtx
		if sock.conn != nil {
			ctx = sock.conn.context()
		}
		frame, err := s.reqs.answer(s.rules, &f, ctx, sock)
		if err == nil {
			err = s.sendFrame(sock, frame)
		}
		if err != nil {
			s.publishErr(sock, err)
		}
	case EventReply:
		f, _ := wire.ParseFields(data)
		if s.reqs.end(&f, s.replyOwner(sock), sock) && sock.conn != nil {
			sock.conn.woke = true
		}
	default:
		return s.ackExtension(typ, data, sock)
	}
	return true
}

// replyOwner is what a request to sock goes out on, and what its reply
// must come from: the connection, or the UDP peer's address.
func (s *Server) replyOwner(sock *Socket) any {
	if sock.conn != nil {
		return sock.conn
	}
	return sock.udp
}

// requestOwner is what a request to sock goes out on: its connection, or
// over UDP the address it is sent to (a host name given to UDPPeer looked
// up now), which the reply must come from.
func (s *Server) requestOwner(sock *Socket) (any, error) {
	s.mu.Lock()
	udp := s.udp
	s.mu.Unlock()
	if udp == nil || sock.conn != nil {
		return s.replyOwner(sock), nil
	}
	ap, err := udp.address(sock)
	if err != nil {
		return nil, err
	}
	if !udp.v6 {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return ap, nil
}

// sending says whether the server can send now (ErrClosed once it stops,
// ErrNotStarted before it starts), and returns its UDP endpoint or, when
// asked, its stream peers.
func (s *Server) sending(peers bool) (*udpServer, []*Socket, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopping:
		return nil, nil, ErrClosed
	case !s.started:
		return nil, nil, ErrNotStarted
	case peers && s.udp == nil:
		return nil, append([]*Socket(nil), s.sockets...), nil
	}
	return s.udp, nil, nil
}

// sendFrame sends an encoded frame to a peer.
func (s *Server) sendFrame(to *Socket, frame []byte) error {
	udp, _, err := s.sending(false)
	switch {
	case err != nil:
		return err
	case udp != nil:
		return udp.emit(to, frame)
	case to.server != s || to.conn == nil:
		return ErrUnknownSocket
	}
	return to.conn.enqueue(frame)
}

// Handle registers h to answer the requests for event that peers send with
// Request (a Go client or server, or a node-ipc program through the Node.js
// companion). A request for an event with no handler is answered with
// ERR_IPC_NO_HANDLER. A nil h removes the handler.
func (s *Server) Handle(event string, h RequestHandler) { s.reqs.handle(event, h) }

// Request sends a request for event with data to one peer (a socket, or for
// UDP a peer from a handler or UDPPeer) and waits for the reply: its data in
// a Message (Decode it), a *RemoteError when the peer's handler failed, or
// ctx's error when ctx ends first; over UDP a lost datagram ends only with
// ctx, so give it a deadline. It returns ErrConnectionLost at once when the
// peer's connection ends before the reply, and ErrTooManyRequests when
// MaxRequests are in flight.
func (s *Server) Request(ctx context.Context, to *Socket, event string, data any) (*Message, error) {
	if to == nil {
		return nil, errors.New("nodeipc: Request needs a socket")
	}
	if s.initErr != nil {
		return nil, s.initErr
	}
	id, p, err := s.reqs.start(event)
	if err != nil {
		return nil, err
	}
	frame, err := s.rules.appendRequest(nil, id, event, data)
	var owner any
	if err == nil {
		owner, err = s.requestOwner(to)
	}
	if err == nil {
		s.reqs.sent(p, owner)
		err = s.sendFrame(to, frame)
	}
	if err != nil {
		s.reqs.remove(id)
		return nil, err
	}
	return s.reqs.wait(ctx, id, p)
}

// RequestStats returns the counts of this server's requests.
func (s *Server) RequestStats() RequestStats { return s.reqs.stats() }

func mustJSON(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// identify sets the socket's id from a truthy data.id (node-ipc's
// convention; unauthenticated).
func identify(sock *Socket, data []byte) {
	if len(data) == 0 || data[0] != '{' {
		return
	}
	var v struct {
		ID any `json:"id"`
	}
	if json.Unmarshal(data, &v) != nil {
		return
	}
	switch id := v.ID.(type) {
	case string:
		if id != "" {
			sock.SetID(id)
		}
	case float64:
		if id != 0 {
			sock.SetID(strconv.FormatFloat(id, 'f', -1, 64))
		}
	case bool:
		if id {
			sock.SetID("true")
		}
	}
}

func (s *Server) publishErr(sock *Socket, err error) {
	s.cfg.log("server error:", err)
	s.events.emit(&Message{Type: "error", Socket: sock, Err: err})
}

func (s *Server) isStopping() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// Sockets returns the connected stream peers (or the UDP peers seen), in the
// order they arrived.
func (s *Server) Sockets() []*Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp != nil {
		return s.udp.peers()
	}
	return append([]*Socket(nil), s.sockets...)
}

// Emit sends one event to one peer: a socket from a handler or Sockets, or
// for UDP a peer from a handler or UDPPeer. It returns nil once the frame is
// queued, or why it will not be sent (ErrClosed once the peer's connection
// or the server is closing).
//
// Delivery of an accepted frame on a stream: while the connection lives,
// exactly once and in order; Stop, Shutdown and Socket.Close write it
// before they close. Frames still queued when the connection ends without
// them (the peer vanished, or FlushTimeout passed) are reported by an error
// event carrying an *UnsentError and the Socket. A frame already handed to
// the operating system when the peer crashes is delivered at most once.
// Over UDP a frame is one datagram: at most once, as the network delivers.
func (s *Server) Emit(to *Socket, event string, data any) error {
	if to == nil {
		return errors.New("nodeipc: Emit needs a socket")
	}
	if ss := to.ses.Load(); ss != nil && to.server == s {
		if s.isStopping() {
			return ErrClosed
		}
		return s.emitAcked(ss, event, data)
	}
	buf := getBuf()
	defer putBuf(buf)
	frame, err := s.encode((*buf)[:0], event, data)
	*buf = frame
	if err != nil {
		return err
	}
	if s.logPayloads {
		s.cfg.log("dispatching event to socket", event, data)
	}
	if held, err := s.holdEarly(to, frame); held {
		return err
	}
	if ss := to.ses.Load(); ss != nil && to.server == s {
		return s.emitAcked(ss, event, data) // the client's hello came meanwhile
	}
	return s.sendFrame(to, frame)
}

// Broadcast sends one event to every connected peer (every UDP peer seen),
// encoding it once. It returns the errors of the peers it could not queue
// for, joined; the others still get the frame.
func (s *Server) Broadcast(event string, data any) error {
	buf := getBuf()
	defer putBuf(buf)
	frame, err := s.encode((*buf)[:0], event, data)
	*buf = frame
	if err != nil {
		return err
	}
	if s.logPayloads {
		s.cfg.log("broadcasting event", event, data)
	}
	udp, socks, err := s.sending(true)
	switch {
	case err != nil:
		return err
	case udp != nil:
		return udp.broadcast(frame)
	}
	var errs []error
	for _, sock := range socks {
		var err error
		if ss := sock.ses.Load(); ss != nil {
			err = s.emitAcked(ss, event, data) // numbered for its session
		} else if held, herr := s.holdEarly(sock, frame); held {
			err = herr
		} else if ss := sock.ses.Load(); ss != nil {
			err = s.emitAcked(ss, event, data) // its hello came meanwhile
		} else {
			err = sock.conn.enqueue(frame)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", sock, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Server) encode(dst []byte, event string, data any) ([]byte, error) {
	if s.initErr != nil {
		return dst, s.initErr
	}
	return s.rules.encode(dst, event, data, s.cfg.Encoding)
}

// Stop closes the listener and every connection gracefully: what was queued
// for each is written, the peer is told nothing more comes (a half-close),
// and what it sends until it closes too is still delivered, all within
// FlushTimeout; frames that could not be written are reported as an
// *UnsentError error event. Only close events follow for the connections it
// closes, as in node-ipc 14. Emit and Broadcast return ErrClosed from then
// on. It does not wait; Shutdown does.
func (s *Server) Stop() error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return nil
	}
	s.stopping = true
	close(s.stopped)
	s.udpCancel()
	ln, udp, socks := s.ln, s.udp, append([]*Socket(nil), s.sockets...)
	s.mu.Unlock()
	var err error
	if ln != nil {
		err = ln.Close()
	}
	if udp != nil {
		err = udp.close()
	}
	for _, sock := range socks {
		sock.conn.close(true)
	}
	if udp != nil {
		s.reqs.fail(nil, ErrClosed)
	}
	s.cfg.log("server stopped:", s.address)
	return err
}

// Shutdown stops the server (see Stop) and waits until every connection is
// closed and every handler has returned, or ctx ends. When ctx ends first,
// the remaining connections are closed at once and Shutdown returns ctx's
// error without waiting further: a handler still running finishes in the
// background. Do not call it from a handler of this server.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.Stop()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-ctx.Done():
		s.mu.Lock()
		socks := append([]*Socket(nil), s.sockets...)
		s.mu.Unlock()
		for _, sock := range socks {
			sock.conn.close(false)
		}
		return ctx.Err()
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) <= 64<<10 {
		*b = (*b)[:0]
		bufPool.Put(b)
	}
}
