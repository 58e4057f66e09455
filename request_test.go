package nodeipc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// sum answers {"a":x,"b":y} with x+y, and fails on a negative a.
func sum(_ context.Context, m *nodeipc.Message) (any, error) {
	var v struct{ A, B int }
	if err := m.Decode(&v); err != nil {
		return nil, err
	}
	if v.A < 0 {
		return nil, &nodeipc.RemoteError{Code: "E_NEGATIVE", Message: fmt.Sprintf("a is %d", v.A)}
	}
	return v.A + v.B, nil
}

// requestPair starts a server and a connected client over transport, each
// answering "sum", and returns them with the server side of the client.
func requestPair(t *testing.T, transport string, tweak func(*nodeipc.Config)) (*nodeipc.Server, *nodeipc.Client, *nodeipc.Socket) {
	t.Helper()
	network, scfg, ccfg := closePair(t, transport)
	if tweak != nil {
		tweak(scfg)
		tweak(ccfg)
	}
	socks := make(chan *nodeipc.Socket, 1)
	srv, addr := startServer(t, network, scfg, func(s *nodeipc.Server) {
		s.Handle("sum", sum)
		s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
	})
	c, connected := startClient(t, network, addr, ccfg, func(c *nodeipc.Client) { c.Handle("sum", sum) })
	recv(t, connected, "connect")
	return srv, c, recv(t, socks, "the server's connect")
}

func decodeInt(t *testing.T, m *nodeipc.Message, err error) int {
	t.Helper()
	if err != nil {
		t.Fatalf("request: %v", err)
	}
	var n int
	if err := m.Decode(&n); err != nil {
		t.Fatalf("reply %s: %v", m.Data, err)
	}
	return n
}

func TestRequestBothWaysOverEveryStreamTransport(t *testing.T) {
	for _, transport := range closeTransports {
		t.Run(transport, func(t *testing.T) {
			srv, c, sock := requestPair(t, transport, nil)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m, err := c.Request(ctx, "sum", map[string]int{"a": 2, "b": 3})
			if n := decodeInt(t, m, err); n != 5 || m.Type != "sum" {
				t.Fatalf("client asked 2+3, got %d (%s)", n, m.Type)
			}
			m, err = srv.Request(ctx, sock, "sum", map[string]int{"a": 40, "b": 2})
			if n := decodeInt(t, m, err); n != 42 || m.Socket != sock {
				t.Fatalf("server asked 40+2, got %d from %v", n, m.Socket)
			}
			// Many in flight at once, answered in any order they come.
			errs := make(chan error, 100)
			for i := range 100 {
				go func() {
					m, err := c.Request(ctx, "sum", map[string]int{"a": i, "b": i})
					if err == nil {
						var n int
						if err = m.Decode(&n); err == nil && n != 2*i {
							err = fmt.Errorf("%d+%d gave %d", i, i, n)
						}
					}
					errs <- err
				}()
			}
			for range 100 {
				if err := recv(t, errs, "a reply"); err != nil {
					t.Fatal(err)
				}
			}
			if st := c.RequestStats(); st.InFlight != 0 || st.Late != 0 {
				t.Fatalf("stats after every reply: %+v", st)
			}
		})
	}
}

func TestRequestErrorsTravelBack(t *testing.T) {
	srv, c, sock := requestPair(t, "unix", nil)
	srv.Handle("fail", func(context.Context, *nodeipc.Message) (any, error) { return nil, errors.New("boom") })
	ctx := context.Background()
	for _, tc := range []struct {
		event string
		data  any
		code  nodeipc.Code
		msg   string
	}{
		{"sum", map[string]int{"a": -1}, "E_NEGATIVE", "a is -1"},
		{"fail", nil, nodeipc.CodeHandlerFailed, "boom"},
		{"nobody", nil, nodeipc.CodeNoHandler, `no handler for "nobody"`},
	} {
		_, err := c.Request(ctx, tc.event, tc.data)
		var re *nodeipc.RemoteError
		if !errors.As(err, &re) || re.Code != tc.code || re.Message != tc.msg {
			t.Errorf("%s: got %v, want %s %q", tc.event, err, tc.code, tc.msg)
		}
	}
	// The other way too.
	_, err := srv.Request(ctx, sock, "nobody", 1)
	var re *nodeipc.RemoteError
	if !errors.As(err, &re) || re.Code != nodeipc.CodeNoHandler {
		t.Errorf("server to client: got %v", err)
	}
	// Refused before anything is sent: a name no peer may receive.
	if _, err := c.Request(ctx, "error", 1); err == nil {
		t.Error("a request for a reserved name was sent")
	}
}

// A request whose context ends returns at once and leaves nothing behind;
// its reply, when it comes, is dropped and counted.
func TestRequestContextEndsAndLateReplyIsCounted(t *testing.T) {
	release := make(chan struct{})
	srv, c, _ := requestPair(t, "tcp", nil)
	srv.Handle("slow", func(context.Context, *nodeipc.Message) (any, error) {
		<-release
		return "late", nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.Request(ctx, "slow", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
	if st := c.RequestStats(); st.InFlight != 0 {
		t.Fatalf("%d requests still in flight", st.InFlight)
	}
	close(release)
	// The next request's reply comes after the late one on the same
	// connection: once it is here, the late one was counted.
	m, err := c.Request(context.Background(), "sum", map[string]int{"a": 1, "b": 1})
	if n := decodeInt(t, m, err); n != 2 {
		t.Fatalf("got %d", n)
	}
	if st := c.RequestStats(); st.Late != 1 {
		t.Fatalf("late replies: %d, want 1", st.Late)
	}
	// Cancellation too.
	ctx2, cancel2 := context.WithCancel(context.Background())
	done := make(chan error)
	release2 := make(chan struct{})
	srv.Handle("slow", func(context.Context, *nodeipc.Message) (any, error) { <-release2; return nil, nil })
	go func() { _, err := c.Request(ctx2, "slow", nil); done <- err }()
	cancel2()
	if err := recv(t, done, "the cancelled request"); !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
	close(release2)
}

// A request whose connection ends returns ErrConnectionLost at once, not
// at its deadline.
func TestRequestEndsWhenItsConnectionEnds(t *testing.T) {
	for _, transport := range closeTransports {
		t.Run(transport, func(t *testing.T) {
			srv, c, sock := requestPair(t, transport, nil)
			srv.Handle("hang", func(context.Context, *nodeipc.Message) (any, error) {
				sock.Abort()
				return nil, nil
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			start := time.Now()
			_, err := c.Request(ctx, "hang", nil)
			if !errors.Is(err, nodeipc.ErrConnectionLost) {
				t.Fatalf("got %v after %v, want ErrConnectionLost", err, time.Since(start))
			}
		})
		t.Run(transport+"/server", func(t *testing.T) {
			// The server's side: a request to a client that leaves.
			srv, c, sock := requestPair(t, transport, nil)
			c.Handle("leave", func(ctx context.Context, _ *nodeipc.Message) (any, error) {
				go c.Close(context.Background())
				<-ctx.Done() // ends as the connection starts closing
				return nil, nil
			})
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := srv.Request(ctx, sock, "leave", nil); !errors.Is(err, nodeipc.ErrConnectionLost) {
				t.Fatalf("server: got %v, want ErrConnectionLost", err)
			}
			if st := srv.RequestStats(); st.InFlight != 0 {
				t.Fatalf("server: %d still in flight", st.InFlight)
			}
		})
	}
}

func TestRequestsInFlightAreBounded(t *testing.T) {
	release := make(chan struct{})
	srv, c, _ := requestPair(t, "unix", func(cfg *nodeipc.Config) { cfg.MaxRequests = 2 })
	srv.Handle("wait", func(context.Context, *nodeipc.Message) (any, error) { <-release; return 1, nil })
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := c.Request(context.Background(), "wait", nil); errs <- err }()
	}
	waitUntil(t, "two requests in flight", func() bool { return c.RequestStats().InFlight >= 2 })
	if _, err := c.Request(context.Background(), "wait", nil); !errors.Is(err, nodeipc.ErrTooManyRequests) {
		t.Fatalf("third request: %v, want ErrTooManyRequests", err)
	}
	close(release)
	for range 2 {
		if err := recv(t, errs, "reply"); err != nil {
			t.Fatal(err)
		}
	}
}

// Over UDP requests go between two endpoints; a request to a peer that
// never answers ends with its context, never hangs.
func TestRequestOverUDP(t *testing.T) {
	start := func() *nodeipc.Server {
		srv, err := nodeipc.NewServer("udp4", "127.0.0.1:0", testConfig())
		if err != nil {
			t.Fatal(err)
		}
		srv.Handle("sum", sum)
		startUDPServer(t, srv)
		t.Cleanup(func() { _ = srv.Stop() })
		return srv
	}
	a, b := start(), start()
	baddr := b.Addr().(*net.UDPAddr)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := a.Request(ctx, nodeipc.UDPPeer("127.0.0.1", baddr.Port), "sum", map[string]int{"a": 20, "b": 22})
	if n := decodeInt(t, m, err); n != 42 {
		t.Fatalf("got %d", n)
	}
	// Nobody listens on this port: the datagram is lost.
	ln, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	silent := ln.LocalAddr().(*net.UDPAddr).Port
	ln.Close()
	short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	if _, err := a.Request(short, nodeipc.UDPPeer("127.0.0.1", silent), "sum", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want the deadline", err)
	}
	if st := a.RequestStats(); st.InFlight != 0 {
		t.Fatalf("%d still in flight", st.InFlight)
	}
}

// A plain node-ipc style peer that knows nothing of requests just sees an
// ordinary event, and a request frame without an id is not answered but
// reported.
func TestRequestFramesAreOrdinaryFrames(t *testing.T) {
	errs := make(chan error, 4)
	_, addr := startServer(t, "tcp", nil, func(s *nodeipc.Server) {
		s.Handle("sum", sum)
		s.On("error", func(m *nodeipc.Message) { errs <- m.Err })
	})
	raw := dialRaw(t, "tcp", addr)
	defer raw.Close()
	_, _ = raw.Write([]byte(`{"type":"nodeipc.request","data":{"rid":7,"event":"sum","data":{"a":1,"b":2}}}` + "\f" +
		`{"type":"nodeipc.request","data":{"event":"sum"}}` + "\f"))
	want := `{"type":"nodeipc.reply","data":{"rid":7,"data":3}}` + "\f"
	buf := make([]byte, len(want))
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(raw, buf); err != nil || string(buf) != want {
		t.Fatalf("reply %q, %v; want %q", buf, err, want)
	}
	var pe *nodeipc.ProtocolError
	if err := recv(t, errs, "the report of the request without an id"); !errors.As(err, &pe) || pe.Code != nodeipc.CodeInvalidRequest {
		t.Fatalf("got %v", err)
	}
}

// Requests need framed JSON envelopes: in raw mode or with a custom codec
// they are refused with an error, never a panic.
func TestRequestRefusedWithoutFramedEnvelopes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		tweak func(*nodeipc.Config)
	}{
		{"raw", func(c *nodeipc.Config) { c.RawBuffer = true }},
		{"codec", func(c *nodeipc.Config) { c.Codec = lineCodec{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			tc.tweak(cfg)
			c, err := nodeipc.NewClient("c", "tcp", "127.0.0.1:1", cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Disconnect()
			if _, err := c.Request(context.Background(), "sum", 1); err == nil {
				t.Fatal("a request was sent without framed envelopes")
			}
		})
	}
}

// Over UDP a request may name its peer by host name: the reply comes from
// the address the name resolved to.
func TestRequestOverUDPToAHostName(t *testing.T) {
	a, err := nodeipc.NewServer("udp4", "127.0.0.1:0", testConfig())
	if err != nil {
		t.Fatal(err)
	}
	b, err := nodeipc.NewServer("udp4", "127.0.0.1:0", testConfig())
	if err != nil {
		t.Fatal(err)
	}
	b.Handle("sum", sum)
	for _, s := range []*nodeipc.Server{a, b} {
		startUDPServer(t, s)
		t.Cleanup(func() { _ = s.Stop() })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	m, err := a.Request(ctx, nodeipc.UDPPeer("localhost", b.Addr().(*net.UDPAddr).Port), "sum", map[string]int{"a": 1, "b": 2})
	if n := decodeInt(t, m, err); n != 3 {
		t.Fatalf("got %d", n)
	}
}
