package nodeipc

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// conn states.
const (
	connOpen     = iota
	connDraining // no new frames; the writer flushes, then closes
	connClosed
)

// conn is one stream connection: the reader (run by the caller of readLoop)
// and one writer goroutine. Frames are queued in pending; the writer takes
// the whole queue at once, so frames emitted while a write is in progress go
// out together in the next write. While the writer is idle, an emitting
// goroutine writes itself where the socket allows a write that never blocks
// (plain Unix and TCP sockets, and TLS over TCP through tlsSock), leaving to
// the writer only what the socket does not take.
type conn struct {
	nc    net.Conn
	dw    *directWriter // direct writes on a plain socket; nil where unsupported
	tc    *tls.Conn     // a TLS connection over a tlsSock, for direct TLS writes; or nil
	ts    *tlsSock      // the socket under tc; or nil
	spin  *spinner      // polls a plain socket before a read sleeps; or nil
	wait  *readWaiter   // waits for a plain socket without a buffer; or nil
	spool *sync.Pool    // read buffers (splitters) of this delimiter and limit
	r     *rules
	flush time.Duration

	mu       sync.Mutex
	cond     sync.Cond
	pending  []byte // frames not yet handed to the socket
	spare    []byte // the previous write's buffer, reused
	inflight int    // bytes being written now
	flushTLS bool   // a direct TLS write left ciphertext for the writer
	state    int
	batching bool        // the reader is dispatching a read's frames; it flushes after
	hold     holdTimer   // frames queued while batching wait at most maxHold
	byUs     atomic.Bool // closed by this side (Stop, Disconnect, Close)
	aborted  atomic.Bool // closed at once by this side: nothing more is delivered
	writeErr error       // the write that failed, if one did
	endErr   error       // why this side ended the connection (an idle timeout), for the reader to report
	lost     int         // frames cut by a failed write: neither sent nor kept

	writerDone chan struct{}
	inBatch    int  // frames delivered in the current batch (reader only)
	woke       bool // a reply of this batch woke its requester (reader only)

	// For the idle and first-message timeouts (servers), in nanoseconds
	// since the connection opened.
	lastRead atomic.Int64 // the last read that brought bytes
	gotMsg   atomic.Bool  // a complete message arrived
	opened   time.Time

	ctx    context.Context // for request handlers: ends with the connection; made on first use
	cancel context.CancelFunc

	// afterRead, when set, runs on the reader after the frames of each read
	// were delivered (acknowledged delivery sends its acknowledgements).
	afterRead func()
}

func newConn(nc net.Conn, r *rules, flush time.Duration) *conn {
	c := &conn{nc: nc, dw: newDirectWriter(nc), r: r, flush: flush, writerDone: make(chan struct{}), opened: time.Now()}
	c.tc, c.ts = tlsSockOf(nc)
	c.spin = newSpinner(nc, r.readSpin)
	c.wait = newReadWaiter(nc)
	c.spool = splitterPool(r.delim, r.maxMessageSize)
	c.cond.L = &c.mu
	c.hold = holdTimer{max: maxHold, fire: c.holdExpired}
	return c
}

// start runs the writer.
func (c *conn) start() { go c.writeLoop() }

// enqueue queues one encoded frame. It refuses with ErrClosed once the
// connection is closing, and with ERR_IPC_BACKPRESSURE when the queued bytes
// would exceed the limit (closing the connection in the guarded profiles, as
// node-ipc 14 does).
func (c *conn) enqueue(frame []byte) error {
	c.mu.Lock()
	if c.state != connOpen {
		c.mu.Unlock()
		return ErrClosed
	}
	if queued := c.queuedLocked(); queued+c.cost(frame) > c.r.maxPending {
		c.mu.Unlock()
		err := protoErr(CodeBackpressure, strconv.Itoa(queued)+" bytes are waiting to be written; "+strconv.Itoa(len(frame))+" more would exceed MaxPendingBytes ("+strconv.Itoa(c.r.maxPending)+")")
		if c.r.closeOnPressure {
			c.close(false)
		}
		return err
	}
	if c.batching {
		// The reader flushes everything queued during this read at once,
		// when its handlers return; a handler that runs long (or frames
		// emitted meanwhile by other goroutines) waits at most maxHold.
		if len(c.pending) == 0 && c.inflight == 0 {
			c.hold.hold()
		}
		c.pending = appendWithin(c.pending, frame, c.r.maxPending)
		c.mu.Unlock()
		return nil
	}
	if len(c.pending) == 0 && c.inflight == 0 {
		// The writer is idle: one non-blocking write from here saves
		// waking it (a thread handoff per message). What does not fit in
		// the socket buffer goes to the writer as usual.
		frame = frame[c.writeNow(frame):]
		if len(frame) == 0 {
			c.mu.Unlock()
			return nil
		}
	}
	if len(c.pending) == 0 {
		c.cond.Signal()
	}
	c.pending = appendWithin(c.pending, frame, c.r.maxPending)
	c.mu.Unlock()
	return nil
}

// isOpen reports whether the connection still takes frames.
func (c *conn) isOpen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == connOpen
}

// resend queues frames that must go out whatever MaxPendingBytes says: the
// messages acknowledged delivery sends again, which its own bound (the
// outbox's) has admitted already. It reports false, queuing nothing, when
// the connection is no longer open.
func (c *conn) resend(frames []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != connOpen {
		return false
	}
	if len(c.pending) == 0 {
		c.cond.Signal()
	}
	c.pending = append(c.pending, frames...)
	return true
}

// writeNow makes one non-blocking write of b from the calling goroutine,
// with c.mu held, the connection open and the writer idle, and reports how
// much of b it took: on a plain socket what the socket buffer takes; over TLS
// all of b, encrypted, with what the socket did not take left to the writer
// (or none of b when the TLS connection refuses writes). Where direct writes
// are not supported it takes nothing.
func (c *conn) writeNow(b []byte) int {
	switch {
	case c.dw != nil:
		return c.dw.try(b)
	case c.ts != nil:
		c.ts.setDirect(true)
		_, err := c.tc.Write(b)
		if c.ts.setDirect(false) > 0 {
			c.flushTLS = true
			c.cond.Signal()
		}
		if err != nil {
			return 0
		}
		return len(b)
	}
	return 0
}

// direct reports whether the connection makes direct writes.
func (c *conn) direct() bool { return c.dw != nil || c.ts != nil }

// beginBatch marks the start of dispatching the frames of one read.
func (c *conn) beginBatch() {
	if !c.direct() {
		return
	}
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

// endBatch writes what the batch queued: one non-blocking write when the
// writer is idle, the writer goroutine for the rest.
func (c *conn) endBatch() {
	if !c.direct() {
		return
	}
	c.mu.Lock()
	c.batching = false
	c.hold.release()
	if len(c.pending) > 0 && c.inflight == 0 && c.state == connOpen {
		n := c.writeNow(c.pending)
		if n == len(c.pending) {
			c.pending = c.pending[:0]
		} else {
			c.pending = c.pending[:copy(c.pending, c.pending[n:])]
		}
	}
	if len(c.pending) > 0 {
		c.cond.Signal()
	}
	c.mu.Unlock()
}

// batchFrames is how many frames of a batch are dispatched before what
// their handlers emitted is written: holding a whole read's replies (64 or
// more) until the end leaves the peer idle meanwhile, and both sides then
// work by turns, while each write costs a system call (over loopback TCP,
// with the receiving side's work in it). Every 32 frames the two sides
// overlap and a write still carries many replies. Against every 16, in
// alternating benchmark runs of the typical lane: about a fifth less CPU
// per round trip over TCP and TLS, a few percent less over Unix sockets,
// as many round trips or more.
const batchFrames = 32

// batchFramesWoke replaces batchFrames in a batch whose replies woke
// Request callers. Before each write of a batch the woken callers run
// (yieldToRequesters), and the requests they send then go out in that
// write; writing such a batch more often sends their requests sooner.
const batchFramesWoke = 16

// maxHold bounds how long a frame queued while the reader dispatches a
// read's frames waits for the end of that dispatch before the writer sends it.
const maxHold = time.Millisecond

// holdExpired hands what a long dispatch has queued so far to the writer.
func (c *conn) holdExpired() {
	c.mu.Lock()
	if c.hold.due() && len(c.pending) > 0 {
		c.cond.Signal()
	}
	c.mu.Unlock()
}

// queued reports the bytes waiting to be written.
func (c *conn) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queuedLocked()
}

// cost is what frame adds to the queued bytes at most: over TLS with direct
// writes, its ciphertext, records' headers and tags included.
func (c *conn) cost(frame []byte) int {
	if c.ts == nil {
		return len(frame)
	}
	return len(frame) + (len(frame)/tlsMaxPlaintext+1)*tlsMaxOverhead
}

// queuedLocked is queued with c.mu held. Over TLS with direct writes it
// counts ciphertext left for the writer, a little larger than its frames.
func (c *conn) queuedLocked() int {
	n := len(c.pending) + c.inflight
	if c.ts != nil {
		n += c.ts.unwritten()
	}
	return n
}

func (c *conn) writeLoop() {
	defer close(c.writerDone)
	for {
		c.mu.Lock()
		for len(c.pending) == 0 && !c.flushTLS && c.state == connOpen {
			c.cond.Wait()
		}
		if c.state == connClosed {
			c.mu.Unlock()
			return
		}
		if len(c.pending) == 0 && !c.flushTLS {
			// Draining, and everything accepted is written: tell the
			// peer this side is done sending. The reader goes on until
			// the peer closes too (or the flush timeout), so that no
			// byte it sends meanwhile is left unread (closing with
			// unread input resets the connection and loses what is
			// still in flight toward the peer).
			c.state = connClosed
			c.mu.Unlock()
			c.closeWrite()
			return
		}
		buf := c.pending
		c.pending = c.spare[:0]
		c.inflight = len(buf)
		flushTLS := c.flushTLS
		c.flushTLS = false
		c.mu.Unlock()

		var err error
		if flushTLS {
			err = c.ts.flush()
		}
		// The batch goes to the socket a chunk at a time, and what is in
		// flight shrinks as the socket takes it: a system that confirms a
		// write only after the peer has read most of it (Wine does, for
		// pipes and sockets) would otherwise count as queued what the peer
		// already has.
		// A write reported short with no error (go-winio's pipe Write does
		// so when the system does) is continued, not lost.
		off := 0
		for err == nil && off < len(buf) {
			var n int
			n, err = c.nc.Write(buf[off:min(len(buf), off+writeChunk)])
			if err == nil && n <= 0 {
				err = io.ErrShortWrite
			}
			off += max(n, 0)
			if err == nil && off < len(buf) {
				c.mu.Lock()
				c.inflight = len(buf) - off
				c.mu.Unlock()
			}
		}

		c.mu.Lock()
		c.inflight = 0
		if err != nil {
			// The socket is left to the reader, which delivers what the
			// peer had sent before the connection broke; it stops at the
			// end of the stream or at the flush timeout. What was not
			// written stays queued, for a client to send again.
			c.writeErr = err
			c.keepUnwritten(buf, off)
			c.state = connClosed
			c.mu.Unlock()
			c.setReadDeadline(time.Now().Add(c.flushWait()))
			return
		}
		if cap(buf) <= 4*wire.ReadBuffer {
			c.spare = buf[:0]
		} else {
			c.spare = nil
		}
		c.mu.Unlock()
	}
}

// keepUnwritten puts the whole frames of buf that a failed write did not
// send back in front of the queue, and counts the frame it cut as lost.
// Raw and custom-codec bytes have no frames to keep: what was not sent of
// them is lost. c.mu is held.
func (c *conn) keepUnwritten(buf []byte, off int) {
	rest := buf[off:]
	if len(rest) == 0 {
		return
	}
	framed := !c.r.raw && c.r.codec == nil
	switch {
	case !framed:
		c.lost++
		rest = nil
	case off > 0 && !bytes.HasSuffix(buf[:off], c.r.delim):
		c.lost++
		if i := wire.Index(rest, c.r.delim); i >= 0 {
			rest = rest[i+len(c.r.delim):]
		} else {
			rest = nil
		}
	}
	kept := make([]byte, 0, len(rest)+len(c.pending))
	c.pending = append(append(kept, rest...), c.pending...)
}

// flushWait is how long a closing connection flushes and then waits for the
// peer to close: the flush timeout, or 5 s when that is not positive.
func (c *conn) flushWait() time.Duration {
	if c.flush > 0 {
		return c.flush
	}
	return DefaultFlushTimeout
}

// closeWrite tells the peer this side sends nothing more: a half-close of a
// Unix or TCP socket, TLS's close_notify alert, or, where there is no
// half-close (a named pipe), the end of the connection.
func (c *conn) closeWrite() {
	switch nc := c.nc.(type) {
	case *tls.Conn:
		_ = nc.CloseWrite()
	case interface{ CloseWrite() error }:
		if nc.CloseWrite() == nil {
			return
		}
		c.nc.Close()
	default:
		c.nc.Close()
	}
}

// setReadDeadline sets the read deadline while nothing else may change it.
func (c *conn) setReadDeadline(t time.Time) { _ = c.nc.SetReadDeadline(t) }

// writeChunk is the most the writer hands the socket in one call.
const writeChunk = 32 << 10

// close stops the connection. With flush, what was queued is written first
// and the peer is told that nothing more comes (a half-close); the reader
// goes on delivering what the peer sends until it closes too, and all of it
// is bounded by the flush timeout. Without flush, queued frames are dropped
// and the socket closes at once, and nothing more is delivered.
func (c *conn) close(flush bool) {
	c.byUs.Store(true)
	c.mu.Lock()
	if c.cancel != nil {
		c.cancel() // request handlers stop waiting as the connection closes
	}
	if !flush {
		c.aborted.Store(true)
		c.state = connClosed
		c.cond.Signal()
		c.mu.Unlock()
		c.abort()
		return
	}
	if c.state != connOpen {
		c.mu.Unlock()
		return
	}
	c.state = connDraining
	until := time.Now().Add(c.flushWait())
	_ = c.nc.SetWriteDeadline(until)
	c.setReadDeadline(until)
	c.cond.Signal()
	c.mu.Unlock()
}

// closeWith ends the connection for a reason of this side's (an idle
// timeout), which the reader then reports as the connection's error.
func (c *conn) closeWith(err error) {
	c.mu.Lock()
	if c.endErr == nil {
		c.endErr = err
	}
	c.mu.Unlock()
	c.close(true)
}

// abort closes the socket at once. Over TLS it skips the close_notify alert,
// which would wait (up to crypto/tls's 5 s) for room in the buffers of a
// peer that does not read, blocking whoever closes: an Emit refused for
// backpressure, say.
func (c *conn) abort() {
	c.spin.stop() // every connection ends here (finish), read loop or not
	if tc, ok := c.nc.(*tls.Conn); ok {
		tc.NetConn().Close()
		return
	}
	c.nc.Close()
}

// finish ends the connection once the reader has returned. Frames still
// queued are written first (the peer may have closed only its sending side,
// as a closing nodeipc or node-ipc peer does), within the flush timeout;
// then the socket closes. It returns when the writer has exited.
func (c *conn) finish() {
	c.mu.Lock()
	if c.state == connOpen {
		c.state = connDraining
		_ = c.nc.SetWriteDeadline(time.Now().Add(c.flushWait()))
		c.cond.Signal()
	}
	c.mu.Unlock()
	<-c.writerDone
	c.abort()
	c.mu.Lock()
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Unlock()
}

// context returns a context that ends when this side starts closing the
// connection, or when it has ended.
func (c *conn) context() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil {
		c.ctx, c.cancel = context.WithCancel(context.Background())
		if c.byUs.Load() {
			c.cancel()
		}
	}
	return c.ctx
}

// takeUnsent returns the frames never handed to the socket, for a client to
// send again after reconnecting, and how many frames a failed write cut
// (lost). Call it after finish.
func (c *conn) takeUnsent() (unsent []byte, lost int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, n := c.pending, c.lost
	c.pending, c.lost = nil, 0
	return p, n
}

// isClosing reports whether this side closed or is closing the connection.
func (c *conn) isClosing() bool { return c.byUs.Load() }
