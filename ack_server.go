package nodeipc

import (
	"sync"
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
