package nodeipc

import (
	"context"
	"time"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// clientAcks is a client's acknowledged delivery: the stream it sends (its
// session, numbered messages not yet acknowledged) and the server's stream
// it receives. Guarded by Client.mu, but recv, which only the reader uses.
type clientAcks struct {
	session string
	send    seqSender
	ready   *conn // the connection whose hello was answered; messages go out on it
	flushed chan struct{}
	lost    bool // the client ended with messages unacknowledged: Flush fails
	timeout time.Duration

	recv seqReceiver // the server's stream (recv.session: the server's session)
}

func newClientAcks(cfg *Config) *clientAcks {
	a := &clientAcks{session: newSession(), send: seqSender{next: 1}, timeout: cfg.AckTimeout}
	if a.timeout <= 0 {
		a.timeout = DefaultAckTimeout
	}
	return a
}

// emitAcked numbers one message and queues it until it is acknowledged.
func (c *Client) emitAcked(event string, data any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status >= StatusClosing {
		return ErrDestroyed
	}
	if c.logPayloads {
		c.logEmit(event, data)
	}
	return c.ack.send.emit(c.rules, event, data, c.cfg.MaxOutboxBytes, c.ack.ready)
}

// startAcks begins a connection with acknowledgements: the hello goes out
// first, and nothing else until the server answers it within the timeout.
func (c *Client) startAcks(cn *conn) (stop func()) {
	a := c.ack
	hello, _ := c.rules.appendHello(nil, true, a.session, a.recv.session, a.recv.delivered)
	cn.pending = append(cn.pending, hello...)
	a.ready = nil
	cn.afterRead = func() {
		if frame := a.recv.ackDue(c.rules); frame != nil {
			_ = cn.enqueue(frame)
		}
	}
	t := time.AfterFunc(a.timeout, func() {
		c.mu.Lock()
		answered := a.ready == cn
		c.mu.Unlock()
		if !answered {
			cn.closeWith(protoErr(CodeAcksUnsupported, "the server did not answer the hello within AckTimeout ("+a.timeout.String()+"): it does not acknowledge (a plain node-ipc server, or Acks off)"))
		}
	})
	return func() { t.Stop() }
}

// ackExtension handles the acknowledged-delivery frames from the server on
// cn, and reports whether typ was one.
func (c *Client) ackExtension(cn *conn, typ, data []byte) bool {
	a := c.ack
	switch string(typ) {
	case EventHello:
		f, _ := wire.ParseFields(data)
		if a == nil {
			return true // a hello we did not ask for: nothing to do
		}
		if !f.Acks {
			cn.closeWith(protoErr(CodeAcksUnsupported, "the server does not acknowledge (its Acks is off)"))
			return true
		}
		if !validSession(f.Session) {
			cn.closeWith(protoErr(CodeAckSequence, "the server's hello carries no valid session"))
			return true
		}
		if a.recv.session != string(f.Session) {
			// Another server process: its stream starts afresh.
			a.recv = seqReceiver{session: string(f.Session)}
		}
		c.mu.Lock()
		a.send.q.dropThrough(f.Delivered)
		c.wakeFlushLocked()
		if a.send.q.len() > 0 {
			cn.resend(a.send.q.pending())
		}
		a.ready = cn
		c.mu.Unlock()
	case EventAck:
		f, _ := wire.ParseFields(data)
		if a == nil {
			return true
		}
		c.mu.Lock()
		a.send.q.dropThrough(f.Seq)
		c.wakeFlushLocked()
		c.mu.Unlock()
	case EventSeq:
		f, _ := wire.ParseFields(data)
		if a == nil || a.recv.session == "" || !f.HasSeq {
			cn.closeWith(protoErr(CodeAckSequence, "an acknowledged message came before the session handshake"))
			return true
		}
		deliver, err := a.recv.receive(f.Seq)
		if err != nil {
			cn.closeWith(err)
			return true
		}
		if !deliver {
			return true // a duplicate: acknowledged again, not delivered
		}
		a.recv.delivered = f.Seq
		if perr := c.rules.checkSeqName(f.Event, true); perr != nil {
			c.publish("error", perr)
			return true
		}
		c.events.dispatchSeq(f.Event, f.Data, nil, false, a.recv.session, f.Seq)
	default:
		return false
	}
	return true
}

// wakeFlushLocked releases Flush when nothing is left to acknowledge.
func (c *Client) wakeFlushLocked() {
	if a := c.ack; a.send.q.len() == 0 && a.flushed != nil {
		close(a.flushed)
		a.flushed = nil
	}
}

// Flush waits until everything Emit accepted has been delivered as far as
// this client can know: with acknowledged delivery (Config.Acks), until the
// server has acknowledged every message; otherwise until every frame has
// been handed to the operating system. It returns ctx's error if ctx ends
// first, and ErrDestroyed if the client ends first.
func (c *Client) Flush(ctx context.Context) error {
	if c.ack == nil {
		return c.flushPlain(ctx)
	}
	c.mu.Lock()
	a := c.ack
	if a.lost {
		c.mu.Unlock()
		return ErrDestroyed
	}
	if a.send.q.len() == 0 {
		c.mu.Unlock()
		return nil
	}
	if a.flushed == nil {
		a.flushed = make(chan struct{})
	}
	ch := a.flushed
	c.mu.Unlock()
	select {
	case <-ch:
		c.mu.Lock()
		lost := a.lost
		c.mu.Unlock()
		if lost {
			return ErrDestroyed
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrDestroyed
	}
}

// flushPlain waits until the outbox and the connection's queue are empty.
func (c *Client) flushPlain(ctx context.Context) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		c.mu.Lock()
		empty := len(c.outbox) == 0 && (c.conn == nil || c.conn.queued() == 0)
		c.mu.Unlock()
		if empty {
			return nil
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.done:
			return ErrDestroyed
		}
	}
}

// Session returns the client's session id for acknowledged delivery (the
// id its messages carry to the server), or "" without Config.Acks.
func (c *Client) Session() string {
	if c.ack == nil {
		return ""
	}
	return c.ack.session
}
