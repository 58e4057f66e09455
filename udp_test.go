package nodeipc_test

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

type udpEnd struct {
	srv    *nodeipc.Server
	got    chan string // "type data"
	errs   chan error
	port   int
	sender chan *nodeipc.Socket
}

func startUDP(t *testing.T, network, host string, mutate func(*nodeipc.Config)) *udpEnd {
	t.Helper()
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := nodeipc.NewServer(network, net.JoinHostPort(host, "0"), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	startUDPServer(t, srv)
	u := &udpEnd{srv: srv, got: make(chan string, 100), errs: make(chan error, 100), sender: make(chan *nodeipc.Socket, 100)}
	srv.On("*", func(m *nodeipc.Message) {
		u.got <- m.Type + " " + string(m.Data)
		u.sender <- m.Socket
	})
	srv.On("error", func(m *nodeipc.Message) { u.errs <- m.Err })
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	u.port = srv.Addr().(*net.UDPAddr).Port
	return u
}

func TestUDPBothWays(t *testing.T) {
	for _, c := range []struct{ network, host string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(c.network, func(t *testing.T) {
			if c.network == "udp6" {
				if ln, err := net.ListenPacket("udp6", "[::1]:0"); err != nil {
					t.Skip("no IPv6 loopback here:", err)
				} else {
					ln.Close()
				}
			}
			a := startUDP(t, c.network, c.host, nil)
			b := startUDP(t, c.network, c.host, nil)
			if err := a.srv.Emit(nodeipc.UDPPeer(c.host, b.port), "hello", map[string]any{"from": "a", "text": "wörld ☃ <>&"}); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, b.got, "hello at b"); got != `hello {"from":"a","text":"wörld ☃ <>&"}` {
				t.Fatalf("b got %s", got)
			}
			from := recv(t, b.sender, "sender")
			if ua, _ := from.RemoteAddr().(*net.UDPAddr); ua == nil || ua.Port != a.port {
				t.Fatalf("sender %v, want port %d", from.RemoteAddr(), a.port)
			}
			// Answer through the Socket the handler received.
			if err := b.srv.Emit(from, "reply", 42); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, a.got, "reply at a"); got != "reply 42" {
				t.Fatalf("a got %s", got)
			}
		})
	}
}

func TestUDPBroadcastReachesEveryPeerSeen(t *testing.T) {
	hub := startUDP(t, "udp4", "127.0.0.1", nil)
	var peers []*udpEnd
	for range 3 {
		p := startUDP(t, "udp4", "127.0.0.1", nil)
		if err := p.srv.Emit(nodeipc.UDPPeer("127.0.0.1", hub.port), "join", nil); err != nil {
			t.Fatal(err)
		}
		recv(t, hub.got, "join")
		peers = append(peers, p)
	}
	if n := len(hub.srv.Sockets()); n != 3 {
		t.Fatalf("%d peers known, want 3", n)
	}
	if err := hub.srv.Broadcast("news", "all"); err != nil {
		t.Fatal(err)
	}
	for i, p := range peers {
		if got := recv(t, p.got, "news"); got != `news "all"` {
			t.Fatalf("peer %d got %s", i, got)
		}
	}
}

func rawUDP(t *testing.T, port int) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestUDPDatagramFraming(t *testing.T) {
	u := startUDP(t, "udp4", "127.0.0.1", nil)
	a, b := rawUDP(t, u.port), rawUDP(t, u.port)

	// Several frames in one datagram, in order.
	_, _ = a.Write([]byte(`{"type":"one","data":1}` + "\f" + `{"type":"two","data":2}` + "\f" + `{"type":"three","data":3}` + "\f"))
	for _, want := range []string{"one 1", "two 2", "three 3"} {
		if got := recv(t, u.got, want); got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	// A frame split across datagrams is completed per peer: b's datagram in
	// between does not mix with a's unfinished frame.
	_, _ = a.Write([]byte(`{"type":"split",`))
	_, _ = b.Write([]byte(`{"type":"other","data":"b"}` + "\f"))
	if got := recv(t, u.got, "other"); got != `other "b"` {
		t.Fatalf("got %s", got)
	}
	_, _ = a.Write([]byte(`"data":"joined"}` + "\f"))
	if got := recv(t, u.got, "split"); got != `split "joined"` {
		t.Fatalf("got %s", got)
	}
}

func TestUDPHostileDatagrams(t *testing.T) {
	u := startUDP(t, "udp4", "127.0.0.1", nil)
	bad, good := rawUDP(t, u.port), rawUDP(t, u.port)
	noise := make([]byte, 512)
	_, _ = rand.Read(noise)
	noise = append(noise, '\f')
	for _, d := range [][]byte{noise, []byte("not json\f"), []byte("5\f"), []byte(`{"type":"error","data":1}` + "\f"), []byte("\xff\xfe\f")} {
		_, _ = bad.Write(d)
		err := recv(t, u.errs, "error for a hostile datagram")
		var pe *nodeipc.ProtocolError
		if !errors.As(err, &pe) {
			t.Fatalf("%q: %v is not a *ProtocolError", d, err)
		}
		// The endpoint still serves the well-behaved peer, and the bad one
		// too once it sends a valid frame.
		_, _ = good.Write([]byte(`{"type":"ok","data":1}` + "\f"))
		if got := recv(t, u.got, "ok"); got != "ok 1" {
			t.Fatalf("got %s", got)
		}
	}
	_, _ = bad.Write([]byte(`{"type":"recovered"}` + "\f"))
	if got := recv(t, u.got, "recovered"); got != "recovered " { // no data: Data is nil
		t.Fatalf("got %s", got)
	}
}

func TestUDPFrameTooLargeForADatagram(t *testing.T) {
	u := startUDP(t, "udp4", "127.0.0.1", nil)
	err := u.srv.Emit(nodeipc.UDPPeer("127.0.0.1", u.port), "big", strings.Repeat("x", 70000))
	var pe *nodeipc.ProtocolError
	if !errors.As(err, &pe) || pe.Code != nodeipc.CodeDatagramTooLarge {
		t.Fatalf("want %s, got %v", nodeipc.CodeDatagramTooLarge, err)
	}
	// The largest frame that fits goes out.
	const overhead = len(`{"type":"big","data":""}` + "\f")
	if err := u.srv.Emit(nodeipc.UDPPeer("127.0.0.1", u.port), "big", strings.Repeat("x", 65507-overhead)); err != nil {
		t.Fatalf("a frame of exactly one datagram: %v", err)
	}
}

func TestUDPIdlePeersAreForgotten(t *testing.T) {
	u := startUDP(t, "udp4", "127.0.0.1", func(c *nodeipc.Config) { c.UDPPeerIdleTimeout = 200 * time.Millisecond })
	for i := range 5 {
		c := rawUDP(t, u.port)
		_, _ = c.Write([]byte(`{"type":"hi","data":` + strconv.Itoa(i) + `}` + "\f"))
		recv(t, u.got, "hi")
	}
	if n := len(u.srv.Sockets()); n != 5 {
		t.Fatalf("%d peers, want 5", n)
	}
	time.Sleep(300 * time.Millisecond) // past UDPPeerIdleTimeout: the five are idle now
	last := rawUDP(t, u.port)
	_, _ = last.Write([]byte(`{"type":"hi"}` + "\f"))
	recv(t, u.got, "hi")
	if n := len(u.srv.Sockets()); n != 1 {
		t.Fatalf("%d peers after the idle timeout, want 1", n)
	}
}

func TestUDPClientIsRefused(t *testing.T) {
	if _, err := nodeipc.NewClient("c", "udp4", "127.0.0.1:9", nil); err == nil || !strings.Contains(err.Error(), "ServeNet") {
		t.Fatalf("want an error pointing at ServeNet, got %v", err)
	}
}

// udpPeerConn is a plain UDP socket next to an endpoint, on the same
// network, to send it datagrams and read its replies one by one.
func udpPeerConn(t *testing.T, network, host string) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(host)})
	if err != nil {
		t.Skip("no UDP here:", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func readDatagram(t *testing.T, c *net.UDPConn, what string) string {
	t.Helper()
	buf := make([]byte, 64<<10)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
	return string(buf[:n])
}

// runHandlerInABatch sends the endpoint at host:port one datagram of two
// frames, the second of type "go", so that the "go" handler runs in the
// middle of a batch and its sends go out together; it waits for the error the
// handler reports on handled.
func runHandlerInABatch(t *testing.T, from *net.UDPConn, host string, port int, handled <-chan error) {
	t.Helper()
	to := &net.UDPAddr{IP: net.ParseIP(host), Port: port}
	if _, err := from.WriteToUDP([]byte(`{"type":"first"}`+"\f"+`{"type":"go"}`+"\f"), to); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, handled, "the handler"); err != nil {
		t.Fatal(err)
	}
}

func TestUDPFramesToAPeerKeepTheirOrder(t *testing.T) {
	for _, c := range []struct{ network, host string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(c.network, func(t *testing.T) {
			peer := udpPeerConn(t, c.network, c.host)
			u := startUDP(t, c.network, c.host, nil)
			// A handler's replies are sent together after the dispatch;
			// more than one system call's worth of them, then frames sent
			// from another goroutine once the handler has returned.
			const fromHandler, total = 150, 200
			handled := make(chan error, 1)
			u.srv.On("go", func(m *nodeipc.Message) {
				var err error
				for i := 0; i < fromHandler && err == nil; i++ {
					err = u.srv.Emit(m.Socket, "n", i)
				}
				handled <- err
			})
			runHandlerInABatch(t, peer, c.host, u.port, handled)
			back := nodeipc.UDPPeer(c.host, peer.LocalAddr().(*net.UDPAddr).Port)
			for i := fromHandler; i < total; i++ {
				if err := u.srv.Emit(back, "n", i); err != nil {
					t.Fatal(err)
				}
			}
			for i := 0; i < total; i++ {
				want := `{"type":"n","data":` + strconv.Itoa(i) + "}\f"
				if got := readDatagram(t, peer, "frame "+strconv.Itoa(i)); got != want {
					t.Fatalf("datagram %d is %q, want %q", i, got, want)
				}
			}
		})
	}
}

// Replies sent together go out, where the system allows, as runs that the
// kernel cuts into datagrams, and a nodeipc endpoint may take a run in one
// read: every datagram still arrives as itself. A raw receiver shows it, one
// data event per datagram.
func TestUDPBurstArrivesDatagramByDatagram(t *testing.T) {
	for _, c := range []struct{ network, host string }{{"udp4", "127.0.0.1"}, {"udp6", "::1"}} {
		t.Run(c.network, func(t *testing.T) {
			trigger := udpPeerConn(t, c.network, c.host)
			sender := startUDP(t, c.network, c.host, nil)
			receiver := startUDP(t, c.network, c.host, func(cfg *nodeipc.Config) { cfg.RawBuffer = true })
			got := make(chan string, 400)
			receiver.srv.On("data", func(m *nodeipc.Message) { got <- string(m.Data) })
			// Equal frames, a shorter and a longer one, and frames too
			// large to be cut from a run.
			var data []string
			for i := range 150 {
				data = append(data, strconv.Itoa(1000+i))
			}
			data = append(data, "x", "12345", strings.Repeat("y", 3000), strings.Repeat("z", 3000))
			to := nodeipc.UDPPeer(c.host, receiver.port)
			handled := make(chan error, 1)
			sender.srv.On("go", func(*nodeipc.Message) {
				var err error
				for _, d := range data {
					if err = sender.srv.Emit(to, "n", d); err != nil {
						break
					}
				}
				handled <- err
			})
			runHandlerInABatch(t, trigger, c.host, sender.port, handled)
			want := make([]string, len(data))
			for i, d := range data {
				want[i] = `{"type":"n","data":"` + d + `"}` + "\f"
			}
			for i, w := range want {
				if g := recv(t, got, "datagram "+strconv.Itoa(i)); g != w {
					t.Fatalf("datagram %d is %q, want %q", i, g, w)
				}
			}
		})
	}
}

func TestUDPSendErrorsInHandlersAreReported(t *testing.T) {
	peer := udpPeerConn(t, "udp4", "127.0.0.1")
	u := startUDP(t, "udp4", "127.0.0.1", nil)
	type results struct{ tooLarge, unroutable, after error }
	done := make(chan results, 1)
	u.srv.On("go", func(m *nodeipc.Message) {
		var r results
		r.tooLarge = u.srv.Emit(m.Socket, "big", strings.Repeat("x", 70000))
		// A socket bound to the loopback address cannot reach TEST-NET-1.
		r.unroutable = u.srv.Emit(nodeipc.UDPPeer("192.0.2.1", 9), "lost", 1)
		r.after = u.srv.Emit(m.Socket, "after", 1)
		done <- r
	})
	// The handler runs for a frame in the middle of a batch.
	if _, err := peer.WriteToUDP([]byte(`{"type":"first"}`+"\f"+`{"type":"go"}`+"\f"), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: u.port}); err != nil {
		t.Fatal(err)
	}
	r := recv(t, done, "the handler")
	// Too large is known at once, even while a batch is being dispatched.
	var pe *nodeipc.ProtocolError
	if !errors.As(r.tooLarge, &pe) || pe.Code != nodeipc.CodeDatagramTooLarge {
		t.Fatalf("want %s from Emit, got %v", nodeipc.CodeDatagramTooLarge, r.tooLarge)
	}
	if r.after != nil {
		t.Fatal(r.after)
	}
	// The datagram after the failed one still goes out.
	if got := readDatagram(t, peer, "after"); got != `{"type":"after","data":1}`+"\f" {
		t.Fatalf("got %q", got)
	}
	// The failed send is an error from Emit or, when it was sent with the
	// rest of the batch, an error event.
	switch {
	case r.unroutable != nil:
		if runtime.GOOS == "linux" {
			t.Fatalf("a send during a dispatch failed at once on Linux: %v", r.unroutable)
		}
	case runtime.GOOS != "linux":
		t.Skip("this platform sends to 192.0.2.1 from the loopback address")
	default:
		err := recv(t, u.errs, "the error event of the failed send")
		if !strings.Contains(err.Error(), "192.0.2.1:9") {
			t.Fatalf("the error does not name the peer: %v", err)
		}
	}
}

func TestUDPReplyDoesNotWaitForASlowHandler(t *testing.T) {
	peer := udpPeerConn(t, "udp4", "127.0.0.1")
	u := startUDP(t, "udp4", "127.0.0.1", nil)
	release := make(chan struct{})
	u.srv.On("ping", func(m *nodeipc.Message) { _ = u.srv.Emit(m.Socket, "pong", nil) })
	u.srv.On("wait", func(*nodeipc.Message) {
		select {
		case <-release:
		case <-time.After(10 * time.Second):
		}
	})
	// One datagram, so its frames are dispatched in the same batch: the
	// reply to the ping in its middle goes out while the last frame's
	// handler runs.
	frames := `{"type":"first"}` + "\f" + `{"type":"ping"}` + "\f" + `{"type":"wait"}` + "\f"
	if _, err := peer.WriteToUDP([]byte(frames), &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: u.port}); err != nil {
		t.Fatal(err)
	}
	got := readDatagram(t, peer, "the reply")
	close(release)
	if !strings.HasPrefix(got, `{"type":"pong"`) {
		t.Fatalf("got %q", got)
	}
}

// UDPPeer takes a host name, as node-ipc's examples use "localhost": it is
// looked up for the server's family on each Emit, and a name that does not
// resolve is an error from Emit, not a broadcast or a silent drop.
func TestUDPPeerByHostName(t *testing.T) {
	if _, err := net.ResolveUDPAddr("udp4", "localhost:1"); err != nil {
		t.Skip("localhost does not resolve here:", err)
	}
	a := startUDP(t, "udp4", "127.0.0.1", nil)
	b := startUDP(t, "udp4", "127.0.0.1", nil)
	if err := a.srv.Emit(nodeipc.UDPPeer("localhost", b.port), "hello", "by name"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, b.got, "hello at b"); got != `hello "by name"` {
		t.Fatalf("b got %s", got)
	}
	err := a.srv.Emit(nodeipc.UDPPeer("no-such-host.invalid", b.port), "hello", 1)
	if err == nil || !strings.Contains(err.Error(), "no-such-host.invalid") {
		t.Fatalf("emit to a name that does not resolve: %v, want an error naming it", err)
	}
	if err := a.srv.Emit(nodeipc.UDPPeer("127.0.0.1", 70000), "hello", 1); err == nil || !strings.Contains(err.Error(), "port") {
		t.Fatalf("emit to port 70000: %v, want an error about the port", err)
	}
}
