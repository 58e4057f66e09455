package nodeipc

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
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
	writeErr error

	writerDone chan struct{}
	inBatch    int  // frames delivered in the current batch (reader only)
	owned      bool // the frame being delivered is deliver's to keep (reader only)
}

func newConn(nc net.Conn, r *rules, flush time.Duration) *conn {
	c := &conn{nc: nc, dw: newDirectWriter(nc), r: r, flush: flush, writerDone: make(chan struct{})}
	c.tc, c.ts = tlsSockOf(nc)
	c.spin = newSpinner(nc, r.readSpin)
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
// work by turns. Every 16 frames, a write still carries many replies, and the
// two sides overlap (Unix sockets and TLS: 10 to 20% more round trips per
// second in the benchmark, TCP unchanged).
const batchFrames = 16

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
		if c.state == connClosed || len(c.pending) == 0 && !c.flushTLS {
			draining := c.state == connDraining
			c.state = connClosed
			c.mu.Unlock()
			if draining {
				c.nc.Close()
			}
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
		for off := 0; err == nil && off < len(buf); {
			var n int
			n, err = c.nc.Write(buf[off:min(len(buf), off+writeChunk)])
			if err == nil && n <= 0 {
				err = io.ErrShortWrite
			}
			off += n
			if err == nil && off < len(buf) {
				c.mu.Lock()
				c.inflight = len(buf) - off
				c.mu.Unlock()
			}
		}

		c.mu.Lock()
		c.inflight = 0
		if cap(buf) <= 4*minReadBuffer {
			c.spare = buf[:0]
		} else {
			c.spare = nil
		}
		if err != nil {
			c.writeErr = err
			c.state = connClosed
			c.mu.Unlock()
			c.abort()
			return
		}
		c.mu.Unlock()
	}
}

// writeChunk is the most the writer hands the socket in one call.
const writeChunk = 32 << 10

// close stops the connection. With flush, frames already queued are written
// first (within the flush timeout); without, they are dropped and the socket
// closes at once.
func (c *conn) close(flush bool) {
	c.byUs.Store(true)
	c.mu.Lock()
	switch {
	case c.state == connClosed:
		c.mu.Unlock()
		return
	case flush && c.state == connOpen:
		c.state = connDraining
		if c.flush > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(c.flush))
		}
		c.cond.Signal()
		c.mu.Unlock()
		// The writer closes the socket when done, which ends the reader.
		return
	case flush:
		c.mu.Unlock()
		return
	}
	c.state = connClosed
	c.cond.Signal()
	c.mu.Unlock()
	c.abort()
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

// finish ends the connection once the reader has returned: a drain in
// progress completes (within the flush timeout), otherwise whatever is still
// queued is dropped. It returns when the writer has exited.
func (c *conn) finish() {
	c.mu.Lock()
	if c.state == connOpen {
		c.state = connClosed
		c.cond.Signal()
		c.mu.Unlock()
		c.abort()
	} else {
		c.mu.Unlock()
	}
	<-c.writerDone
	c.abort() // a drained writer closed it already; a second Close is harmless
}

// takeUnsent returns the frames never handed to the socket, for a client to
// send again after reconnecting. Call it after finish.
func (c *conn) takeUnsent() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending
	c.pending = nil
	return p
}

// isClosing reports whether this side closed or is closing the connection.
func (c *conn) isClosing() bool { return c.byUs.Load() }

// read reads from the connection, polling first while it is busy.
func (c *conn) read(p []byte) (int, error) { return c.spin.read(p, c.nc.Read) }

// readLoop reads until the connection ends, handing every complete frame to
// deliver in wire order (event name and raw data; in raw mode the name is nil
// and data is the chunk read). It returns nil when the peer closed cleanly or
// this side closed, a *ProtocolError for a violation, or the read error.
func (c *conn) readLoop(deliver func(typ, data []byte)) error {
	if c.r.codec != nil {
		return c.readCodec(deliver)
	}
	if c.r.raw {
		buf := make([]byte, 64<<10)
		for {
			n, err := c.read(buf)
			if n > 0 && !c.isClosing() {
				deliver(nil, buf[:n])
			}
			if err != nil {
				return c.readEnd(err, 0)
			}
		}
	}
	sp := newSplitter(c.r.delim, c.r.maxMessageSize)
	timed := c.r.messageTimeout > 0
	deadlineSet := false
	batching := false
	for {
		n, err := c.read(sp.space())
		sp.advance(n)
		completed := false
		perr := c.deliverFrames(sp, n, deliver, &completed, &batching)
		if perr == errStopReading {
			return nil
		}
		if perr != nil {
			return perr
		}
		if timed && err == nil {
			// The fair timer: it runs while an unfinished frame waits and
			// restarts whenever a frame completes.
			switch {
			case sp.buffered() > 0 && (completed || !deadlineSet):
				_ = c.nc.SetReadDeadline(time.Now().Add(c.r.messageTimeout))
				deadlineSet = true
			case sp.buffered() == 0 && deadlineSet:
				_ = c.nc.SetReadDeadline(time.Time{})
				deadlineSet = false
			}
		}
		if err != nil {
			if deadlineSet && errors.Is(err, os.ErrDeadlineExceeded) {
				return protoErr(CodeMessageTimeout, "an unfinished frame of "+strconv.Itoa(sp.buffered())+" bytes waited longer than MessageTimeout ("+c.r.messageTimeout.String()+")")
			}
			return c.readEnd(err, sp.buffered())
		}
	}
}

// recordReady reports whether a TLS record is waiting to be read.
func (c *conn) recordReady() bool { return c.ts != nil && c.ts.recordReady() }

// errStopReading ends the read loop quietly: this side is closing.
var errStopReading = errors.New("stop reading")

// deliverFrames hands every complete frame in the buffer to deliver. When
// more bytes follow a frame, in this read or (over TLS) in records already
// received, what the handlers emit from then on is held and written at once
// when those frames are done; a frame that is alone is answered at once.
// *batching says whether a hold is in progress: over TLS one spans the reads
// of every record already received.
func (c *conn) deliverFrames(sp *splitter, n int, deliver func(typ, data []byte), completed, batching *bool) (err error) {
	defer func() {
		if *batching && (err != nil || !c.recordReady()) {
			*batching = false
			c.endBatch()
		}
	}()
	for n > 0 {
		f, ok, perr := sp.frame()
		if perr != nil {
			return perr
		}
		if !ok {
			return nil
		}
		*completed = true
		typ, data, perr := parseEnvelope(f)
		if perr == nil {
			perr = c.r.checkName(typ, true)
		}
		if perr != nil {
			return perr
		}
		if c.isClosing() {
			return errStopReading
		}
		if !*batching && (sp.buffered() > 0 || c.recordReady()) {
			*batching = true
			c.beginBatch()
			c.inBatch = 0
		}
		c.owned = sp.owned()
		deliver(typ, data)
		if *batching {
			if c.inBatch++; c.inBatch == batchFrames {
				// What the batch queued so far goes now, so that the
				// peer works on it while the rest is dispatched.
				c.endBatch()
				c.beginBatch()
				c.inBatch = 0
			}
		}
	}
	return nil
}

func (c *conn) readEnd(err error, buffered int) error {
	if c.isClosing() {
		return nil
	}
	if errors.Is(err, io.EOF) {
		if buffered > 0 {
			return protoErr(CodeIncompleteFrame, "the peer closed the connection in the middle of a frame ("+strconv.Itoa(buffered)+" bytes)")
		}
		return nil
	}
	return err
}
