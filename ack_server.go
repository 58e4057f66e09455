package nodeipc

import (
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// serverSession is a server's acknowledged delivery with one client
// session: the client's stream it receives, and the stream it sends to
// that client (numbered messages not yet acknowledged), which outlive a
// connection: when the same session connects again, what was not
// acknowledged goes out again.
type serverSession struct {
	mu       sync.Mutex
	recv     seqReceiver // the client's stream (recv.session: the client's session)
	send     seqSender   // the server's stream to the client
	sock     *Socket     // its live connection; nil when it has none
	last     *Socket     // its latest connection, for reports
	departed time.Time
}

// serverAcks holds a server's sessions, by client session.
type serverAcks struct {
	session string // this server's own, one per process lifetime
	mu      sync.Mutex
	byID    map[string]*serverSession
	keep    time.Duration
	max     int // sessions kept at most (departed ones are forgotten first)
}

func newServerAcks(cfg *Config) *serverAcks {
	a := &serverAcks{session: newSession(), byID: map[string]*serverSession{}, keep: cfg.AckSessionTimeout,
		max: 4*max(cfg.MaxConnections, 1) + 1024}
	if a.keep <= 0 {
		a.keep = DefaultAckSessionTimeout
	}
	return a
}

// session finds or makes the state of a client session. A session new to
// this process asks AckDelivered what a durable receiver delivered before;
// without a record the first message it gets starts the stream.
func (s *Server) session(id string) *serverSession {
	a := s.acks
	a.mu.Lock()
	ss := a.byID[id]
	fresh := ss == nil
	if fresh {
		ss = &serverSession{recv: seqReceiver{session: id, unknown: true}, send: seqSender{next: 1}}
		a.byID[id] = ss
	}
	a.mu.Unlock()
	if fresh {
		var delivered uint64
		known := false
		if d := s.cfg.AckDelivered; d != nil {
			delivered, known = d(id)
		}
		ss.mu.Lock()
		if known {
			ss.recv.delivered, ss.recv.acked, ss.recv.unknown = delivered, delivered, false
		}
		ss.mu.Unlock()
	}
	return ss
}

// hello answers a client's hello on sock: the server's session and what it
// delivered from the client's; then what the client has not acknowledged
// of the server's stream goes out again.
func (s *Server) hello(sock *Socket, data []byte) {
	if s.acks == nil || sock.conn == nil {
		frame, _ := s.rules.appendHello(nil, false, "", "", 0)
		_ = s.sendFrame(sock, frame)
		return
	}
	f, _ := wire.ParseFields(data)
	if !validSession(f.Session) {
		perr := protoErr(CodeAckSequence, "a hello without a valid session")
		sock.conn.closeWith(perr)
		return
	}
	ss := s.session(string(f.Session))
	e := &sock.early
	e.mu.Lock()
	defer e.mu.Unlock()
	ss.mu.Lock()
	old := ss.sock
	ss.sock, ss.last = sock, sock
	sock.ses.Store(ss)
	answer, _ := s.rules.appendHello(nil, true, s.acks.session, "", ss.recv.delivered)
	_ = sock.conn.enqueue(answer)
	if string(f.Peer) == s.acks.session {
		ss.send.q.dropThrough(f.Delivered)
	}
	if ss.send.q.len() > 0 {
		sock.conn.resend(ss.send.q.pending())
	}
	s.earlyToSession(sock, ss)
	ss.mu.Unlock()
	if old != nil && old != sock {
		old.conn.close(true) // the session moved to a new connection
	}
}

// ackExtension handles the acknowledged-delivery frames from a client, and
// reports whether typ was one.
func (s *Server) ackExtension(typ, data []byte, sock *Socket) bool {
	switch string(typ) {
	case EventHello:
		s.hello(sock, data)
	case EventAck:
		if ss := sock.ses.Load(); ss != nil {
			f, _ := wire.ParseFields(data)
			ss.mu.Lock()
			ss.send.q.dropThrough(f.Seq)
			ss.mu.Unlock()
		}
	case EventSeq:
		ss := sock.ses.Load()
		f, _ := wire.ParseFields(data)
		if ss == nil || !f.HasSeq {
			perr := protoErr(CodeAckSequence, "an acknowledged message came before the session handshake")
			if sock.conn != nil {
				sock.conn.closeWith(perr)
			} else {
				s.publishErr(sock, perr)
			}
			return true
		}
		ss.mu.Lock()
		deliver, err := ss.recv.receive(f.Seq)
		if deliver {
			ss.recv.delivered = f.Seq
		}
		session := ss.recv.session
		ss.mu.Unlock()
		switch {
		case err != nil:
			sock.conn.closeWith(err)
		case !deliver: // a duplicate: acknowledged again, not delivered
		default:
			if perr := s.rules.checkSeqName(f.Event, true); perr != nil {
				s.publishErr(sock, perr)
				break
			}
			s.events.dispatchSeq(f.Event, f.Data, sock, false, session, f.Seq)
		}
	default:
		return false
	}
	return true
}

// ackAfterRead acknowledges what the reader of sock delivered.
func (s *Server) ackAfterRead(sock *Socket) {
	ss := sock.ses.Load()
	if ss == nil {
		return
	}
	ss.mu.Lock()
	frame := ss.recv.ackDue(s.rules)
	ss.mu.Unlock()
	if frame != nil {
		_ = sock.conn.enqueue(frame)
	}
}

// emitAcked numbers one message to a client session and queues it until it
// is acknowledged; it goes out on the session's live connection.
func (s *Server) emitAcked(ss *serverSession, event string, data any) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var cn *conn
	if ss.sock != nil {
		cn = ss.sock.conn
	}
	return ss.send.emit(s.rules, event, data, s.cfg.MaxOutboxBytes, cn)
}

// departed notes that sock, which ended, no longer carries its session.
func (s *Server) departed(sock *Socket) {
	if ss := sock.ses.Load(); ss != nil {
		ss.mu.Lock()
		if ss.sock == sock {
			ss.sock, ss.departed = nil, time.Now()
		}
		ss.mu.Unlock()
	}
}

// expireSessions reports the unacknowledged messages of sessions gone
// longer than AckSessionTimeout, and, beyond the bound on sessions kept,
// forgets departed ones gone that long.
func (s *Server) expireSessions(now time.Time) {
	a := s.acks
	a.mu.Lock()
	var expired []*serverSession
	for id, ss := range a.byID {
		ss.mu.Lock()
		gone := ss.sock == nil && !ss.departed.IsZero()
		if gone && now.Sub(ss.departed) > a.keep && ss.send.q.len() > 0 {
			expired = append(expired, ss)
		}
		if gone && len(a.byID) > a.max && now.Sub(ss.departed) > a.keep {
			delete(a.byID, id)
		}
		ss.mu.Unlock()
	}
	a.mu.Unlock()
	for _, ss := range expired {
		ss.mu.Lock()
		n, last := ss.send.q.len(), ss.last
		ss.send.q = ackQueue{}
		ss.mu.Unlock()
		if n > 0 {
			s.publishErr(last, &UnsentError{Frames: n, Reason: "the client's session did not come back within AckSessionTimeout"})
		}
	}
}

// earlyQueue holds what a server with acknowledged delivery emits to a new
// connection before the client's first frame: a client with Acks sends its
// hello first, and what the server emitted from its connect handler belongs
// in that session's acknowledged stream, not in plain frames that a broken
// connection could lose without a trace. The first frame decides: after a
// hello the held frames become the session's first numbered messages; after
// anything else, or with no frame within AckTimeout, they go out as they
// are (a plain node-ipc client). Frames still held when the connection ends
// are reported unsent.
type earlyQueue struct {
	decided atomic.Bool // set under mu; read alone on the receive path
	mu      sync.Mutex
	frames  []byte // plain frames, back to back
	n       int    // frames held
	timer   *time.Timer
}

// holdEarly keeps frame for sock while its client has not yet sent its
// first frame, and reports whether it did (with an error when the frame is
// refused: the connection closing, or MaxPendingBytes held already).
func (s *Server) holdEarly(sock *Socket, frame []byte) (bool, error) {
	if s.acks == nil || sock.conn == nil || sock.server != s || sock.early.decided.Load() {
		return false, nil
	}
	e := &sock.early
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.decided.Load() {
		return false, nil
	}
	if !sock.conn.isOpen() {
		return true, ErrClosed
	}
	if limit := s.cfg.MaxPendingBytes; limit > 0 && len(e.frames)+len(frame) > limit {
		return true, protoErr(CodeBackpressure, fmt.Sprintf("%d bytes wait for the client's first frame (with Acks, emits to a new connection wait for its hello) and MaxPendingBytes is %d", len(e.frames), limit))
	}
	if e.timer == nil {
		wait := s.cfg.AckTimeout
		if wait <= 0 {
			wait = DefaultAckTimeout
		}
		e.timer = time.AfterFunc(wait, func() { s.earlyPlain(sock) })
	}
	e.frames = append(e.frames, frame...)
	e.n++
	return true, nil
}

// earlyPlain sends what was held for sock as plain frames: its client's
// first frame was not a hello, or none came within AckTimeout.
func (s *Server) earlyPlain(sock *Socket) {
	e := &sock.early
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.decided.Load() {
		return
	}
	e.decided.Store(true)
	e.stopTimer()
	if e.n > 0 && sock.conn.resend(e.frames) {
		e.frames, e.n = nil, 0
	}
}

// earlyToSession makes what was held for sock the first numbered messages
// of ss's stream, after the messages sent again. e.mu and ss.mu are held.
func (s *Server) earlyToSession(sock *Socket, ss *serverSession) {
	e := &sock.early
	if e.decided.Load() {
		return
	}
	e.decided.Store(true)
	e.stopTimer()
	frames := e.frames
	for len(frames) > 0 {
		i := wire.Index(frames, s.rules.delim)
		frame := frames[:i]
		frames = frames[i+len(s.rules.delim):]
		var err error
		if typ, data, perr := wire.ParseEnvelope(frame); perr != nil {
			err = perr
		} else {
			err = ss.send.emit(s.rules, string(typ), json.RawMessage(data), s.cfg.MaxOutboxBytes, sock.conn)
		}
		if err != nil {
			s.publishErr(sock, &UnsentError{Frames: e.n, Reason: "held for the client's hello, they could not join its session: " + err.Error()})
			break
		}
		e.n--
	}
	e.frames, e.n = nil, 0
}

// takeEarly ends the hold on sock's connection, which ended, and returns
// how many frames were still held.
func (e *earlyQueue) takeEarly() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.decided.Store(true)
	e.stopTimer()
	n := e.n
	e.frames, e.n = nil, 0
	return n
}

func (e *earlyQueue) stopTimer() {
	if e.timer != nil {
		e.timer.Stop()
	}
}
