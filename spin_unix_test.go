//go:build unix

package nodeipc

import (
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

// TestSocketPollerSeesBytesEndAndClose polls real sockets, Unix and TCP:
// nothing to read, bytes written by the peer, the peer's end of the
// connection, and this side closed.
func TestSocketPollerSeesBytesEndAndClose(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			c, peer := socketPair(t, network)
			s := newSocketPoller(c)
			if s == nil {
				t.Fatal("no poller for a plain socket")
			}
			readyWithin := func(want bool) {
				t.Helper()
				deadline := time.Now().Add(5 * time.Second)
				for {
					ok, err := s.ready()
					if err != nil {
						t.Fatalf("ready: %v", err)
					}
					if ok == want || !want || time.Now().After(deadline) {
						if ok != want {
							t.Fatalf("ready = %v, want %v", ok, want)
						}
						return
					}
					time.Sleep(time.Millisecond)
				}
			}
			readyWithin(false)
			if _, err := peer.Write([]byte("hi")); err != nil {
				t.Fatal(err)
			}
			readyWithin(true)
			buf := make([]byte, 8)
			if n, err := c.Read(buf); n != 2 || err != nil {
				t.Fatalf("read = %d, %v", n, err)
			}
			readyWithin(false)
			peer.Close()
			readyWithin(true) // the end: the read returns at once
			c.Close()
			if _, err := s.ready(); err == nil {
				t.Fatal("no error polling a closed socket")
			}
		})
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
