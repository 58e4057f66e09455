//go:build unix

package nodeipc

import (
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"
)

// socketPair returns both ends of a connection made over network.
func socketPair(t *testing.T, network string) (net.Conn, net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer
}

// TestSocketPollerReadsBytesAndSeesEndAndClose polls real sockets, Unix and
// TCP: nothing to read, bytes written by the peer (which the poll reads,
// whole and in order), the peer's end of the connection, and this side
// closed.
func TestSocketPollerReadsBytesAndSeesEndAndClose(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			c, peer := socketPair(t, network)
			s := newSocketPoller(c)
			if s == nil {
				t.Fatal("no poller for a plain socket")
			}
			buf := make([]byte, 8)
			// poll polls until the poll reads bytes or says a read would
			// return at once, for 5 s at most.
			poll := func() (int, bool) {
				t.Helper()
				deadline := time.Now().Add(5 * time.Second)
				for {
					n, ready := s.try(buf)
					if n > 0 || ready || time.Now().After(deadline) {
						return n, ready
					}
					time.Sleep(time.Millisecond)
				}
			}
			if n, ready := s.try(buf); n != 0 || ready {
				t.Fatalf("nothing sent: try = %d, %v", n, ready)
			}
			if _, err := peer.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			var got []byte
			for len(got) < 5 {
				n, ready := poll()
				if n == 0 {
					t.Fatalf("after %q: try = %d, %v", got, n, ready)
				}
				got = append(got, buf[:n]...)
			}
			if string(got) != "hello" {
				t.Fatalf("polls read %q", got)
			}
			if n, ready := s.try(buf); n != 0 || ready {
				t.Fatalf("all read: try = %d, %v", n, ready)
			}
			// More than the buffer holds: the rest stays for the next read.
			if _, err := peer.Write([]byte("0123456789")); err != nil {
				t.Fatal(err)
			}
			if n, _ := poll(); string(buf[:n]) != "01234567" {
				t.Fatalf("a poll into 8 bytes read %q", buf[:n])
			}
			if n, err := c.Read(buf); string(buf[:n]) != "89" || err != nil {
				t.Fatalf("the read after it = %q, %v", buf[:n], err)
			}
			peer.Close()
			if n, ready := poll(); n != 0 || !ready {
				t.Fatalf("the peer closed: try = %d, %v", n, ready)
			}
			if n, err := c.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("the read at the end = %d, %v", n, err)
			}
			c.Close()
			if n, ready := s.try(buf); n != 0 || !ready {
				t.Fatalf("this side closed: try = %d, %v", n, ready)
			}
		})
	}
}

// TestSpinnerReadsThroughItsPoll: on a real busy connection, bytes that the
// poll finds are what the read returns, without the blocking read.
func TestSpinnerReadsThroughItsPoll(t *testing.T) {
	noBusyReaders(t)
	c, peer := socketPair(t, "tcp") // two ends in one process: the spinner is made by hand
	p := newSocketPoller(c)
	s := &spinner{budget: time.Second, limit: maxSpinners(), try: p.try}
	defer s.stop()
	s.setBusy(true)
	go func() {
		time.Sleep(5 * time.Millisecond)
		_, _ = peer.Write([]byte("ping"))
	}()
	buf := make([]byte, 16)
	blocking := 0
	n, err := s.read(buf, func(b []byte) (int, error) { blocking++; return c.Read(b) })
	if string(buf[:n]) != "ping" || err != nil || blocking != 0 {
		t.Fatalf("read %q, %v, with %d blocking reads", buf[:n], err, blocking)
	}
	if !s.busy() {
		t.Fatal("the connection is no longer busy after a poll that paid")
	}
}

// TestConnectionsWithinOneProcessDoNotPoll: both ends of a connection in
// this process would only take the processor from each other.
func TestConnectionsWithinOneProcessDoNotPoll(t *testing.T) {
	c, peer := socketPair(t, "unix")
	if newSpinner(c, time.Second) != nil || newSpinner(peer, time.Second) != nil {
		t.Fatal("a spinner for a Unix socket whose peer is this process")
	}
	c, peer = socketPair(t, "tcp")
	first := newSpinner(c, time.Second)
	if first == nil {
		t.Fatal("no spinner for the first end of a TCP connection")
	}
	if newSpinner(peer, time.Second) != nil {
		t.Fatal("a spinner for the second end of a TCP connection within the process")
	}
	if first.state.Load() != spinStopped {
		t.Fatal("the first end still polls once the second is known")
	}
	if n := TCPEnds(); n != 0 {
		t.Fatalf("%d TCP ends still recorded", n)
	}
	// A TCP end whose other end is elsewhere is recorded until it stops.
	c, _ = socketPair(t, "tcp")
	s := newSpinner(c, time.Second)
	if s == nil || TCPEnds() != 1 {
		t.Fatalf("spinner %v, %d TCP ends recorded", s, TCPEnds())
	}
	s.stop()
	if n := TCPEnds(); n != 0 {
		t.Fatalf("%d TCP ends recorded after stop", n)
	}
}

func TestSpinnerOnlyForPlainSockets(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if newSpinner(a, time.Second) != nil {
		t.Fatal("a spinner for an in-memory pipe")
	}
}
