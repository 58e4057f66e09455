package nodeipc

import (
	"errors"
	"io"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// The read side of a stream connection: one goroutine (the endpoint's, for
// that connection) reads, cuts what it reads into frames (internal/wire),
// decodes each under the profile's rules (rules.decode, shared with UDP's
// read path) and hands it to the endpoint's deliver step, Server.deliver or
// Client.deliver, in wire order.

// readLoop reads until the connection ends, handing every complete message
// to deliver in wire order: its event name and data (in raw mode the name is
// nil and data is the chunk read), and owned, which says that data is
// deliver's to keep (a large frame joined for this delivery). A message
// refused alone (a name a peer may not send, in the fast profile) goes to
// refuse. Frames that arrive while this side closes gracefully are still
// delivered; after an abort nothing is. It returns nil when the peer closed
// cleanly or this side closed, a *ProtocolError for a violation, or the read
// or write error that ended the connection.
func (c *conn) readLoop(deliver deliverFunc, refuse func(*ProtocolError)) error {
	if c.r.codec != nil {
		return c.readCodec(deliver, refuse)
	}
	if c.r.raw {
		return c.readRaw(deliver)
	}
	var sp *wire.Splitter
	defer func() {
		if sp != nil && sp.Buffered() == 0 {
			c.releaseSplitter(sp)
		}
	}()
	timed := c.r.messageTimeout > 0
	deadlineSet := false
	batching := false
	for {
		var n int
		var err error
		if c.wait != nil && (sp == nil || sp.Buffered() == 0) && !c.spin.busy() {
			// Nothing is held: a quiet connection waits without a
			// buffer, which goes back to the pool meanwhile.
			if sp != nil {
				c.releaseSplitter(sp)
			}
			sp, n, err = c.readIdle()
		} else {
			if sp == nil {
				sp = c.takeSplitter()
			}
			n, err = c.read(sp.Space())
		}
		sp.Advance(n)
		completed := false
		perr := c.frames(sp, n, deliver, refuse, &completed, &batching)
		if perr == errStopReading {
			return nil
		}
		if perr != nil {
			return perr
		}
		if c.afterRead != nil && completed {
			c.afterRead()
		}
		if timed && err == nil {
			// The fair timer: it runs while an unfinished frame waits and
			// restarts whenever a frame completes. A closing connection's
			// deadline is the flush timeout's, not this one's.
			switch {
			case sp.Buffered() > 0 && (completed || !deadlineSet):
				deadlineSet = c.setMessageDeadline(time.Now().Add(c.r.messageTimeout))
			case sp.Buffered() == 0 && deadlineSet:
				c.setMessageDeadline(time.Time{})
				deadlineSet = false
			}
		}
		if err != nil {
			if deadlineSet && errors.Is(err, os.ErrDeadlineExceeded) && !c.isClosing() {
				return protoErr(CodeMessageTimeout, "an unfinished frame of "+strconv.Itoa(sp.Buffered())+" bytes waited longer than MessageTimeout ("+c.r.messageTimeout.String()+")")
			}
			return c.readEnd(err, sp.Buffered())
		}
	}
}

// deliverFunc is an endpoint's deliver step for one connection: it takes a
// decoded message (see readLoop).
type deliverFunc func(typ, data []byte, owned bool)

// readRaw is the read loop of raw mode: every read is delivered as it came.
func (c *conn) readRaw(deliver deliverFunc) error {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.read(buf)
		if n > 0 && !c.aborted.Load() {
			c.sawMessage()
			deliver(nil, buf[:n], false)
		}
		if err != nil {
			return c.readEnd(err, 0)
		}
	}
}

// frames decodes every complete frame in the buffer and hands it to
// deliver. When more bytes follow a frame, in this read or (over TLS) in
// records already received, what the handlers emit from then on is held and
// written at once when those frames are done; a frame that is alone is
// answered at once. *batching says whether a hold is in progress: over TLS
// one spans the reads of every record already received.
func (c *conn) frames(sp *wire.Splitter, n int, deliver deliverFunc, refuse func(*ProtocolError), completed, batching *bool) (err error) {
	defer func() {
		if *batching && (err != nil || !c.recordReady()) {
			*batching = false
			c.yieldToRequesters()
			c.endBatch()
		}
	}()
	for n > 0 {
		f, ok, werr := sp.Frame()
		if werr != nil {
			return wireErr(werr)
		}
		if !ok {
			return nil
		}
		*completed = true
		c.sawMessage()
		if c.aborted.Load() {
			return errStopReading
		}
		typ, data, perr, fatal := c.r.decode(f)
		if perr != nil {
			if fatal {
				return perr
			}
			refuse(perr)
			continue
		}
		if !*batching && (sp.Buffered() > 0 || c.recordReady() || string(typ) == EventReply) {
			*batching = true
			c.beginBatch()
			c.inBatch = 0
		}
		deliver(typ, data, sp.Owned())
		if *batching {
			if c.inBatch++; c.inBatch >= batchFrames || (c.woke && c.inBatch >= batchFramesWoke) {
				// What the batch queued so far goes now, so that the
				// peer works on it while the rest is dispatched.
				c.yieldToRequesters()
				c.endBatch()
				c.beginBatch()
				c.inBatch = 0
			}
		}
	}
	return nil
}

// yieldToRequesters lets the goroutines that replies of this batch woke run
// before the batch's frames are written: a requester that sends its next
// request at once (as one in a loop does) has it held with the batch's, so
// that many requests go out in one write rather than one write each. A
// reply delivered alone starts a batch for the same reason.
func (c *conn) yieldToRequesters() {
	if c.woke {
		c.woke = false
		runtime.Gosched()
	}
}

// readEnd says how a connection whose read failed with err ended: nil for
// an orderly end (the peer closed, or this side did), the reason this side
// gave (an idle timeout), an incomplete frame, or the error that broke the
// connection (a failed write's first).
func (c *conn) readEnd(err error, buffered int) error {
	c.mu.Lock()
	endErr, writeErr := c.endErr, c.writeErr
	c.mu.Unlock()
	switch {
	case endErr != nil:
		return endErr
	case errors.Is(err, io.EOF):
		if buffered > 0 && !c.aborted.Load() {
			return protoErr(CodeIncompleteFrame, "the peer closed the connection in the middle of a frame ("+strconv.Itoa(buffered)+" bytes)")
		}
		return nil
	case c.isClosing():
		return nil
	case writeErr != nil:
		return writeErr
	}
	return err
}

// errStopReading ends the read loop quietly: this side is closing.
var errStopReading = errors.New("stop reading")

// setMessageDeadline sets the read deadline of the incomplete-frame timer,
// unless the connection is closing (then the flush timeout's deadline
// stands), and reports whether it did.
func (c *conn) setMessageDeadline(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != connOpen {
		return false
	}
	c.setReadDeadline(t)
	return true
}

// recordReady reports whether a TLS record is waiting to be read.
func (c *conn) recordReady() bool { return c.ts != nil && c.ts.recordReady() }

// read reads from the connection, polling first while it is busy.
func (c *conn) read(p []byte) (int, error) {
	n, err := c.spin.read(p, c.readWait)
	if n > 0 && c.r.idleTimeout > 0 {
		c.lastRead.Store(int64(time.Since(c.opened)))
	}
	return n, err
}

// readWait is the connection's read when it waits for bytes with a buffer
// in hand: after a poll that ran out, or with part of a frame held.
func (c *conn) readWait(p []byte) (int, error) { return c.wait.readWith(p, c.nc.Read) }

// readWith waits until the socket has something to read and reads it into
// p. On Linux neither system call is announced to the Go scheduler (see
// sysio_raw.go): a blocking read would wake the scheduler's monitor thread
// whenever the process was idle. When there were no bytes after all, read
// (the connection's own) says why: the end, an error, a passed deadline.
// A nil waiter (not a plain Unix or TCP socket) reads with read alone.
func (w *readWaiter) readWith(p []byte, read func([]byte) (int, error)) (int, error) {
	if w == nil {
		return read(p)
	}
	w.wait()
	return w.readAfter(p, read)
}

// readAfter reads into p, after a wait, what the socket holds, without
// waiting again; when it holds nothing after all, read says why.
func (w *readWaiter) readAfter(p []byte, read func([]byte) (int, error)) (int, error) {
	if n := w.read(p); n > 0 {
		return n, nil
	}
	return read(p)
}

// readIdle waits until the socket has something to read, then takes a
// splitter and reads into it.
func (c *conn) readIdle() (*wire.Splitter, int, error) {
	var start time.Time
	if c.spin != nil {
		start = monoNow()
	}
	c.wait.wait()
	sp := c.takeSplitter()
	n, err := c.wait.readAfter(sp.Space(), c.nc.Read)
	if c.spin != nil {
		c.spin.setBusy(err == nil && time.Since(start) <= c.spin.budget)
	}
	if n > 0 && c.r.idleTimeout > 0 {
		c.lastRead.Store(int64(time.Since(c.opened)))
	}
	return sp, n, err
}

// splitterPools holds a pool of splitters for each delimiter and limit:
// connections of one server (or one client) share theirs.
var splitterPools sync.Map // splitterKey -> *sync.Pool

type splitterKey struct {
	delim string
	limit int
}

func splitterPool(delim []byte, limit int) *sync.Pool {
	k := splitterKey{string(delim), limit}
	if p, ok := splitterPools.Load(k); ok {
		return p.(*sync.Pool)
	}
	p, _ := splitterPools.LoadOrStore(k, &sync.Pool{New: func() any { return wire.NewSplitter(delim, limit) }})
	return p.(*sync.Pool)
}

func (c *conn) takeSplitter() *wire.Splitter { return c.spool.Get().(*wire.Splitter) }

// releaseSplitter returns an empty splitter to the pool, unless a large
// frame made its buffer grow.
func (c *conn) releaseSplitter(sp *wire.Splitter) {
	if len(sp.Space()) <= wire.ReadBuffer {
		c.spool.Put(sp)
	}
}

// sawMessage notes that a complete message arrived.
func (c *conn) sawMessage() {
	if c.r.firstMessageTimeout > 0 && !c.gotMsg.Load() {
		c.gotMsg.Store(true)
	}
}

// overdue reports why the connection has been silent too long, or nil: no
// complete message within the first-message timeout, or no bytes within the
// idle timeout.
func (c *conn) overdue() error {
	age := time.Since(c.opened)
	if d := c.r.firstMessageTimeout; d > 0 && age > d && !c.gotMsg.Load() {
		return protoErr(CodeIdleTimeout, "no complete message within FirstMessageTimeout ("+d.String()+") of connecting")
	}
	if d := c.r.idleTimeout; d > 0 && age-time.Duration(c.lastRead.Load()) > d {
		return protoErr(CodeIdleTimeout, "nothing received for IdleTimeout ("+d.String()+")")
	}
	return nil
}
