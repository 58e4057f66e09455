//go:build unix

package nodeipc

import (
	"errors"
	"io"
	"os"
	"testing"
	"time"
)

// The quiet connection's wait and the read that follows it, and a direct
// write, on real Unix and TCP sockets: these make their system calls raw
// (sysio_raw.go) in builds without the race detector, and as the standard
// library makes them with it; this test runs in both (CI runs the package
// both ways).
func TestReadWaiterAndDirectWriterOnRealSockets(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			c, peer := socketPair(t, network)
			w, dw := newReadWaiter(c), newDirectWriter(peer)
			if w == nil || dw == nil {
				t.Fatal("no waiter or direct writer for a plain socket")
			}
			buf := make([]byte, 8)
			// Nothing sent: the readiness check says so, and the read that
			// does not wait reads nothing (and does not wait).
			if ready, err := w.check0(); ready || err != nil {
				t.Fatalf("nothing sent: readable = %v, %v", ready, err)
			}
			if n := w.read(buf); n != 0 {
				t.Fatalf("nothing sent: read %d bytes", n)
			}
			if n := dw.try([]byte("hello")); n != 5 {
				t.Fatalf("a direct write of 5 bytes wrote %d", n)
			}
			// The wait returns once the bytes are there; the read takes them.
			waited := make(chan struct{})
			go func() { w.wait(); close(waited) }()
			select {
			case <-waited:
			case <-time.After(5 * time.Second):
				t.Fatal("the wait did not return with bytes sent")
			}
			if n := w.read(buf); string(buf[:n]) != "hello" {
				t.Fatalf("the read after the wait = %q", buf[:n])
			}
			// More than the buffer holds: the rest stays for the next read.
			if n := dw.try([]byte("0123456789")); n != 10 {
				t.Fatalf("a direct write of 10 bytes wrote %d", n)
			}
			w.wait()
			if n := w.read(buf); string(buf[:n]) != "01234567" {
				t.Fatalf("a read into 8 bytes = %q", buf[:n])
			}
			if ready, err := w.check0(); !ready || err != nil {
				t.Fatalf("2 bytes left: readable = %v, %v", ready, err)
			}
			if n := w.read(buf); string(buf[:n]) != "89" {
				t.Fatalf("the read of the rest = %q", buf[:n])
			}
			// The end: the wait returns, the read takes nothing and leaves
			// the connection's own read to say what happened.
			peer.Close()
			w.wait()
			if n := w.read(buf); n != 0 {
				t.Fatalf("the peer closed: read %d bytes", n)
			}
			if n, err := c.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("the connection's read at the end = %d, %v", n, err)
			}
			// A direct write on a closed connection writes nothing.
			if n := dw.try([]byte("late")); n != 0 {
				t.Fatalf("a direct write after close wrote %d bytes", n)
			}
			c.Close()
			w.wait() // returns at once: the socket is closed
			if n := w.read(buf); n != 0 {
				t.Fatalf("this side closed: read %d bytes", n)
			}
		})
	}
}

// check0 makes the waiter's readiness check alone.
func (w *readWaiter) check0() (ready bool, err error) {
	cerr := w.poll.rc.Control(func(fd uintptr) { ready, err = sysReadable(int(fd)) })
	if cerr != nil {
		return false, cerr
	}
	return ready, err
}

// TestReadWithWaitsThenReads: a read that waits through the read waiter
// returns the bytes when they come, and leaves the end, a passed deadline
// and a closed socket to the connection's own read.
func TestReadWithWaitsThenReads(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			c, peer := socketPair(t, network)
			w := newReadWaiter(c)
			own := 0 // calls of the connection's own read
			read := func(p []byte) (int, error) { own++; return c.Read(p) }
			buf := make([]byte, 8)
			go func() {
				time.Sleep(10 * time.Millisecond)
				_, _ = peer.Write([]byte("ping"))
			}()
			if n, err := w.readWith(buf, read); string(buf[:n]) != "ping" || err != nil || own != 0 {
				t.Fatalf("bytes sent later: %q, %v, with %d reads of the connection's own", buf[:n], err, own)
			}
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if n, err := w.readWith(buf, read); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) || own != 1 {
				t.Fatalf("a passed deadline: %d, %v, with %d reads of the connection's own", n, err, own)
			}
			_ = c.SetReadDeadline(time.Time{})
			peer.Close()
			if n, err := w.readWith(buf, read); n != 0 || err != io.EOF || own != 2 {
				t.Fatalf("the peer closed: %d, %v, with %d reads of the connection's own", n, err, own)
			}
			c.Close()
			if n, err := w.readWith(buf, read); n != 0 || err == nil || own != 3 {
				t.Fatalf("this side closed: %d, %v, with %d reads of the connection's own", n, err, own)
			}
			var none *readWaiter
			if n, err := none.readWith(buf, func([]byte) (int, error) { return 3, nil }); n != 3 || err != nil {
				t.Fatalf("no waiter: %d, %v; want the connection's own read", n, err)
			}
		})
	}
}
