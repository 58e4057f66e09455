package nodeipc

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Acknowledged delivery (Config.Acks on both ends, stream transports): each
// direction of a client/server pair is a stream of numbered messages
// (EventSeq) owned by the sender's session; the receiver delivers each once,
// in order, and acknowledges cumulatively (EventAck); the sender keeps what
// is not acknowledged and sends it again on the next connection, after the
// session handshake (EventHello) has told it what the receiver delivered.
// PROTOCOL.md has the rules.

// DefaultAckTimeout is how long a client with acknowledgements waits for
// the server's answer to its hello before it refuses the server.
const DefaultAckTimeout = 5 * time.Second

// DefaultAckSessionTimeout is how long a server keeps the unacknowledged
// messages of a client session whose connection ended, for the client to
// come back; then they are reported as unsent.
const DefaultAckSessionTimeout = time.Minute

// newSession returns a random session id: 16 random bytes in hex.
func newSession() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validSession reports whether a peer's session id is acceptable: 1 to 256
// bytes, no control characters.
func validSession(s []byte) bool {
	if len(s) == 0 || len(s) > 256 {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// ackQueue holds a sender's messages not yet acknowledged, in sequence
// order, back to back in one buffer.
type ackQueue struct {
	buf     []byte
	start   int        // buf[:start] is acknowledged, to be reclaimed
	entries []ackEntry // from the oldest
	first   int        // entries[:first] are acknowledged
}

type ackEntry struct {
	seq uint64
	end int // the message ends at buf[end]
}

// push appends the message buf[from:] (just encoded at the end of buf).
func (q *ackQueue) push(seq uint64) {
	q.entries = append(q.entries, ackEntry{seq: seq, end: len(q.buf)})
}

// len reports the messages held.
func (q *ackQueue) len() int { return len(q.entries) - q.first }

// bytes reports the bytes held.
func (q *ackQueue) bytes() int { return len(q.buf) - q.start }

// pending returns every message held, back to back.
func (q *ackQueue) pending() []byte { return q.buf[q.start:] }

// dropThrough forgets the messages up to seq, acknowledged.
func (q *ackQueue) dropThrough(seq uint64) {
	for q.first < len(q.entries) && q.entries[q.first].seq <= seq {
		q.start = q.entries[q.first].end
		q.first++
	}
	if q.first == len(q.entries) {
		q.buf, q.entries, q.start, q.first = q.buf[:0], q.entries[:0], 0, 0
		return
	}
	if q.start > len(q.buf)/2 && q.start > 64<<10 {
		// Reclaim the acknowledged front.
		n := copy(q.buf, q.buf[q.start:])
		for i := q.first; i < len(q.entries); i++ {
			q.entries[i].end -= q.start
		}
		q.buf, q.start = q.buf[:n], 0
		q.entries = q.entries[:copy(q.entries, q.entries[q.first:])]
		q.first = 0
	}
}

// dropLast forgets the newest message (one its connection refused).
func (q *ackQueue) dropLast() {
	q.entries = q.entries[:len(q.entries)-1]
	end := q.start
	if len(q.entries) > q.first {
		end = q.entries[len(q.entries)-1].end
	}
	q.buf = q.buf[:end]
}

// seqSender is a sender's stream: the next sequence number and the messages
// not yet acknowledged.
type seqSender struct {
	next uint64
	q    ackQueue
}

// emit numbers one message and keeps it until it is acknowledged, within max
// bytes, and writes it on cn when cn is not nil. A message its connection
// refuses (backpressure) is not kept: the error says so.
func (w *seqSender) emit(r *rules, event string, data any, max int, cn *conn) error {
	before := len(w.q.buf)
	buf, err := r.appendSeq(w.q.buf, w.next, event, data)
	if err != nil {
		w.q.buf = buf[:before]
		return err
	}
	if len(buf)-w.q.start > max {
		w.q.buf = buf[:before]
		return unackedError(w.q.bytes(), max)
	}
	w.q.buf = buf
	w.q.push(w.next)
	w.next++
	if cn != nil {
		if err := cn.enqueue(buf[before:]); err != nil && !errors.Is(err, ErrClosed) {
			w.q.dropLast()
			w.next--
			return err
		}
	}
	return nil
}

// seqReceiver is a receiver's state for one sender's stream.
type seqReceiver struct {
	session   string // the sender's session
	delivered uint64 // the last seq delivered
	acked     uint64 // the last seq acknowledged to the sender
	// unknown: this receiver has no record of the stream (a server that
	// restarted with no AckDelivered, or forgot the session). The first
	// message it gets starts the stream: its sender sends again from its
	// oldest unacknowledged message, which a receiver with no record
	// cannot tell from a gap.
	unknown bool
}

// receive applies the receiver's rule to message seq: deliver it (true),
// drop a duplicate (false), or a gap (an error).
func (r *seqReceiver) receive(seq uint64) (bool, error) {
	if r.unknown && seq > 0 {
		r.unknown = false
		r.delivered, r.acked = seq-1, seq-1
	}
	switch {
	case seq == r.delivered+1:
		return true, nil
	case seq <= r.delivered:
		return false, nil
	}
	return false, protoErr(CodeAckSequence, "acknowledged message "+strconv.FormatUint(seq, 10)+" arrived where "+strconv.FormatUint(r.delivered+1, 10)+" was due")
}

// ackDue returns the frame acknowledging what was delivered since the last
// acknowledgement, or nil.
func (r *seqReceiver) ackDue(rules *rules) []byte {
	if r.delivered == r.acked {
		return nil
	}
	frame, err := rules.appendAck(nil, r.delivered)
	if err != nil {
		return nil
	}
	r.acked = r.delivered
	return frame
}

// appendHello appends a hello frame.
func (r *rules) appendHello(dst []byte, acks bool, session, peer string, delivered uint64) ([]byte, error) {
	return r.frameOf(dst, EventHello, func(b []byte) ([]byte, error) {
		if !acks {
			return append(b, `{"v":1,"acks":false}`...), nil
		}
		b = append(b, `{"v":1,"acks":true,"session":`...)
		b = wire.AppendString(b, session)
		if peer != "" || delivered > 0 {
			b = append(b, `,"peer":`...)
			b = wire.AppendString(b, peer)
		}
		b = append(b, `,"delivered":`...)
		b = strconv.AppendUint(b, delivered, 10)
		return append(b, '}'), nil
	})
}

// checkAcks refuses settings acknowledged delivery cannot work with.
func checkAcks(c *Config, r *rules) error {
	if !c.Acks {
		return nil
	}
	switch {
	case r.raw || r.codec != nil:
		return errors.New("nodeipc: Acks needs framed JSON messages: not RawBuffer, the raw profile or a custom Codec")
	case c.Sync:
		return errors.New("nodeipc: Acks and Sync cannot be combined")
	}
	return nil
}

// unackedError reports a sender's queue of unacknowledged messages full.
func unackedError(held, max int) error {
	return fmt.Errorf("%w: %d bytes are not yet acknowledged, and MaxOutboxBytes is %d", ErrOutboxFull, held, max)
}
