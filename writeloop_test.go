package nodeipc

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// gateConn is a socket whose writes take at most max bytes each (a short
// write reported as a success, as go-winio's pipes can) and wait, one by
// one, for the test to let them complete.
type gateConn struct {
	net.Conn // unused: only Write and Close are called
	max      int
	started  chan int      // the length offered to each write
	release  chan struct{} // lets one write complete
	mu       sync.Mutex
	got      bytes.Buffer
}

func (g *gateConn) Write(b []byte) (int, error) {
	g.started <- len(b)
	<-g.release
	n := min(len(b), g.max)
	g.mu.Lock()
	g.got.Write(b[:n])
	g.mu.Unlock()
	return n, nil
}

func (g *gateConn) Close() error { return nil }

// The writer hands the socket a chunk at a time and counts as queued only
// what the socket has not yet taken; writes reported short are completed,
// not lost.
func TestWriterChunksAndCountsWhatTheSocketTook(t *testing.T) {
	const max = 10 << 10
	g := &gateConn{max: max, started: make(chan int), release: make(chan struct{})}
	c := newConn(g, &rules{maxPending: 1 << 20}, time.Second)
	c.start()

	frame := bytes.Repeat([]byte("x"), 100<<10)
	if err := c.enqueue(frame); err != nil {
		t.Fatal(err)
	}
	taken := 0
	for taken < len(frame) {
		offered := <-g.started
		if offered > writeChunk {
			t.Fatalf("a write of %d bytes, want at most %d", offered, writeChunk)
		}
		if q := c.queued(); q != len(frame)-taken {
			t.Fatalf("%d bytes queued after the socket took %d of %d, want %d", q, taken, len(frame), len(frame)-taken)
		}
		g.release <- struct{}{}
		taken += min(offered, max)
	}
	// The last write's completion and the writer's bookkeeping race the
	// check: wait for the queue to empty.
	for deadline := time.Now().Add(5 * time.Second); c.queued() != 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d bytes still queued after the socket took everything", c.queued())
		}
	}
	c.close(false)
	<-c.writerDone
	g.mu.Lock()
	defer g.mu.Unlock()
	if !bytes.Equal(g.got.Bytes(), frame) {
		t.Fatalf("the socket got %d bytes, want the %d written, in order", g.got.Len(), len(frame))
	}
}
