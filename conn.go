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
// and one writer goroutine, the only code that writes to the socket. Frames
// are queued in pending; the writer takes the whole queue at once, so frames
// emitted while a write is in progress go out together in the next write.
type conn struct {
	nc    net.Conn
	dw    *directWriter // for direct writes; nil where unsupported
	r     *rules
	flush time.Duration

	mu       sync.Mutex
	cond     sync.Cond
	pending  []byte // frames not yet handed to the socket
	spare    []byte // the previous write's buffer, reused
	inflight int    // bytes being written now
	state    int
	batching bool        // the reader is dispatching a read's frames; it flushes after
	hold     holdTimer   // frames queued while batching wait at most maxHold
	byUs     atomic.Bool // closed by this side (Stop, Disconnect, Close)
	writeErr error

	writerDone chan struct{}
	bytesOut   atomic.Uint64
}

func newConn(nc net.Conn, r *rules, flush time.Duration) *conn {
	c := &conn{nc: nc, dw: newDirectWriter(nc), r: r, flush: flush, writerDone: make(chan struct{})}
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
	if queued := len(c.pending) + c.inflight; queued+len(frame) > c.r.maxPending {
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
		c.pending = append(c.pending, frame...)
		c.mu.Unlock()
		return nil
	}
	if len(c.pending) == 0 && c.inflight == 0 && c.dw != nil {
		// The writer is idle: one non-blocking write from here saves
		// waking it (a thread handoff per message). What does not fit in
		// the socket buffer goes to the writer as usual.
		n := c.dw.try(frame)
		c.bytesOut.Add(uint64(n))
		frame = frame[n:]
		if len(frame) == 0 {
			c.mu.Unlock()
			return nil
		}
	}
	if len(c.pending) == 0 {
		c.cond.Signal()
	}
	c.pending = append(c.pending, frame...)
	c.mu.Unlock()
	return nil
}

// beginBatch marks the start of dispatching the frames of one read.
func (c *conn) beginBatch() {
	if c.dw == nil {
		return
	}
	c.mu.Lock()
	c.batching = true
	c.mu.Unlock()
}

// endBatch writes what the batch queued: one non-blocking write when the
// writer is idle, the writer goroutine for the rest.
func (c *conn) endBatch() {
	if c.dw == nil {
		return
	}
	c.mu.Lock()
	c.batching = false
	c.hold.release()
	if len(c.pending) > 0 && c.inflight == 0 && c.state == connOpen {
		n := c.dw.try(c.pending)
		c.bytesOut.Add(uint64(n))
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
	return len(c.pending) + c.inflight
}

func (c *conn) writeLoop() {
	defer close(c.writerDone)
	for {
		c.mu.Lock()
		for len(c.pending) == 0 && c.state == connOpen {
			c.cond.Wait()
		}
		if c.state == connClosed || len(c.pending) == 0 {
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
		c.mu.Unlock()

		n, err := c.nc.Write(buf)
		c.bytesOut.Add(uint64(n))

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
			n, err := c.nc.Read(buf)
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
	for {
		n, err := c.nc.Read(sp.space())
		sp.advance(n)
		completed := false
		perr := c.deliverFrames(sp, n, deliver, &completed)
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

// errStopReading ends the read loop quietly: this side is closing.
var errStopReading = errors.New("stop reading")

// deliverFrames hands every complete frame in the buffer to deliver. When
// more bytes follow a frame in this read, what the handlers emit from then on
// is held and written at once when the read's frames are done; a frame that
// is alone in its read is answered at once.
func (c *conn) deliverFrames(sp *splitter, n int, deliver func(typ, data []byte), completed *bool) error {
	batching := false
	defer func() {
		if batching {
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
		if !batching && sp.buffered() > 0 {
			batching = true
			c.beginBatch()
		}
		deliver(typ, data)
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
