package nodeipc_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/internal/testcert"
)

func certs(t *testing.T, name string) *testcert.Set {
	t.Helper()
	// Not t.TempDir: Wine, where the Windows build is tested, cannot
	// remove these files and would fail the cleanup.
	dir, err := os.MkdirTemp("", "certs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	s, err := testcert.New(dir, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tlsConfig(tc *nodeipc.TLSConfig) *nodeipc.Config {
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	cfg.Retry = 20 * time.Millisecond
	cfg.MaxRetries = 0
	cfg.FlushTimeout = time.Second
	cfg.TLS = tc
	return &cfg
}

// startTLS starts an echo server over TLS and returns its address and the
// errors it reports.
func startTLS(t *testing.T, tc *nodeipc.TLSConfig) (*nodeipc.Server, string, chan error) {
	return startTLSWith(t, tlsConfig(tc))
}

func startTLSWith(t *testing.T, cfg *nodeipc.Config) (*nodeipc.Server, string, chan error) {
	t.Helper()
	srv, err := nodeipc.NewServer("tls", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 16)
	srv.On("error", func(m *nodeipc.Message) { errs <- m.Err })
	srv.On("ping", func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, "pong", m.Data) })
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	return srv, srv.Addr().String(), errs
}

// tlsClient connects and reports whether a ping came back, or the error
// that ended the client.
func tlsClient(t *testing.T, addr string, tc *nodeipc.TLSConfig) error {
	t.Helper()
	c, err := nodeipc.NewClient("c", "tls", addr, tlsConfig(tc))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	result := make(chan error, 4)
	var last error
	c.On("connect", func(*nodeipc.Message) {
		if err := c.Emit("ping", "over tls"); err != nil {
			result <- err
		}
	})
	c.On("pong", func(m *nodeipc.Message) {
		if string(m.Data) != `"over tls"` {
			result <- errors.New("pong carried " + string(m.Data))
			return
		}
		result <- nil
	})
	c.On("error", func(m *nodeipc.Message) { last = m.Err })
	c.On("destroy", func(*nodeipc.Message) {
		if last == nil {
			last = errors.New("destroyed without an error event")
		}
		result <- last
	})
	c.Connect()
	return recv(t, result, "the TLS client's outcome")
}

func TestTLSOneWay(t *testing.T) {
	s := certs(t, "one")
	_, addr, _ := startTLS(t, &nodeipc.TLSConfig{Private: s.Server.KeyFile, Public: s.Server.CertFile})
	if err := tlsClient(t, addr, &nodeipc.TLSConfig{TrustedConnections: []string{s.CAFile}}); err != nil {
		t.Fatalf("one-way TLS: %v", err)
	}
	// Inline PEM (node-ipc's key/cert/ca) works the same.
	if err := tlsClient(t, addr, &nodeipc.TLSConfig{CA: [][]byte{s.CA}}); err != nil {
		t.Fatalf("inline CA: %v", err)
	}
	// Verification is on by default: without the CA the server is refused.
	err := tlsClient(t, addr, &nodeipc.TLSConfig{})
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("an unknown CA must be refused, got %v", err)
	}
}

func TestTLSMutual(t *testing.T) {
	s := certs(t, "mutual")
	_, addr, serverErrs := startTLS(t, &nodeipc.TLSConfig{Private: s.Server.KeyFile, Public: s.Server.CertFile, TrustedConnections: []string{s.CAFile}})
	ok := &nodeipc.TLSConfig{Private: s.Client.KeyFile, Public: s.Client.CertFile, TrustedConnections: []string{s.CAFile}}
	if err := tlsClient(t, addr, ok); err != nil {
		t.Fatalf("mutual TLS: %v", err)
	}

	// A client without a certificate is refused, with an error on both sides.
	err := tlsClient(t, addr, &nodeipc.TLSConfig{TrustedConnections: []string{s.CAFile}})
	if err == nil {
		t.Fatal("a client without a certificate was accepted")
	}
	if serr := recv(t, serverErrs, "the server's error"); !strings.Contains(serr.Error(), "TLS handshake") {
		t.Fatalf("server error %v", serr)
	}

	// A client whose certificate another CA signed is refused.
	other := certs(t, "other")
	err = tlsClient(t, addr, &nodeipc.TLSConfig{Private: other.Client.KeyFile, Public: other.Client.CertFile, TrustedConnections: []string{s.CAFile}})
	if err == nil {
		t.Fatal("an untrusted client certificate was accepted")
	}
	if serr := recv(t, serverErrs, "the server's error"); !strings.Contains(serr.Error(), "certificate") {
		t.Fatalf("server error %v", serr)
	}

	// The server still serves a good client.
	if err := tlsClient(t, addr, ok); err != nil {
		t.Fatalf("after refusals: %v", err)
	}
}

func TestTLSWrongServerName(t *testing.T) {
	s := certs(t, "name")
	_, addr, _ := startTLS(t, &nodeipc.TLSConfig{Private: s.Server.KeyFile, Public: s.Server.CertFile})
	err := tlsClient(t, addr, &nodeipc.TLSConfig{TrustedConnections: []string{s.CAFile}, ServerName: "elsewhere.example"})
	if err == nil || !strings.Contains(err.Error(), "elsewhere.example") {
		t.Fatalf("a server with the wrong name must be refused, got %v", err)
	}
	// A Go *tls.Config is accepted too.
	pool := mustPool(t, s.CA)
	if err := tlsClient(t, addr, &nodeipc.TLSConfig{Config: &tls.Config{RootCAs: pool}}); err != nil {
		t.Fatalf("with a Go tls.Config: %v", err)
	}
}

func TestTLSClientRetriesFollowTheRules(t *testing.T) {
	s := certs(t, "retry")
	_, addr, _ := startTLS(t, &nodeipc.TLSConfig{Private: s.Server.KeyFile, Public: s.Server.CertFile})
	cfg := tlsConfig(&nodeipc.TLSConfig{TrustedConnections: []string{s.CAFile}, ServerName: "wrong.example"})
	cfg.MaxRetries = 2
	c, err := nodeipc.NewClient("c", "tls", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 10)
	destroyed := make(chan struct{})
	c.On("error", func(m *nodeipc.Message) { errs <- m.Err })
	c.On("destroy", func(*nodeipc.Message) { close(destroyed) })
	c.Connect()
	recv(t, destroyed, "destroy after the retries")
	if n := len(errs); n != 3 {
		t.Errorf("%d handshake errors, want 3 (the first attempt and 2 retries)", n)
	}
	_ = c.Close(context.Background())
}

func TestTLSServerNeedsKeyAndCertificate(t *testing.T) {
	srv, err := nodeipc.NewServer("tls", "127.0.0.1:0", tlsConfig(&nodeipc.TLSConfig{}))
	if err == nil {
		err = srv.Start()
	}
	var pe *nodeipc.ProtocolError
	if !errors.As(err, &pe) || pe.Code != nodeipc.CodeTLSConfiguration {
		t.Fatalf("want %s, got %v", nodeipc.CodeTLSConfiguration, err)
	}
	srv, err = nodeipc.NewServer("tls", "127.0.0.1:0", tlsConfig(&nodeipc.TLSConfig{Private: "/nonexistent/key.pem", Public: "/nonexistent/cert.pem"}))
	if err == nil {
		err = srv.Start()
	}
	if !errors.As(err, &pe) || pe.Code != nodeipc.CodeTLSConfiguration || !strings.Contains(err.Error(), "key.pem") {
		t.Fatalf("unreadable files: got %v", err)
	}
}

func TestTLSGarbageAndStalledHandshakes(t *testing.T) {
	s := certs(t, "garbage")
	cfg := tlsConfig(&nodeipc.TLSConfig{Private: s.Server.KeyFile, Public: s.Server.CertFile})
	cfg.DialTimeout = 300 * time.Millisecond // also bounds the server's handshake
	_, addr, errs := startTLSWith(t, cfg)

	// A peer that stalls the handshake stays connected meanwhile.
	stalled, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()

	// Plain JSON frames instead of a handshake.
	g, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = g.Write([]byte(`{"type":"ping","data":1}` + "\f"))
	if e := recv(t, errs, "garbage error"); !strings.Contains(e.Error(), "TLS handshake") {
		t.Fatalf("garbage: %v", e)
	}
	g.Close()

	// A good client is served while the stalled one waits.
	if err := tlsClient(t, addr, &nodeipc.TLSConfig{TrustedConnections: []string{s.CAFile}}); err != nil {
		t.Fatalf("good client: %v", err)
	}
	// The stalled handshake ends with a timeout error and a closed connection.
	if e := recv(t, errs, "stalled handshake error"); !strings.Contains(e.Error(), "timeout") {
		t.Fatalf("stalled: %v", e)
	}
	_ = stalled.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stalled.Read(make([]byte, 1)); err == nil {
		t.Fatal("the stalled connection is still open")
	}
}

func mustPool(t *testing.T, pemCA []byte) *x509.CertPool {
	t.Helper()
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(pemCA) {
		t.Fatal("bad CA PEM")
	}
	return p
}

// A peer whose TLS handshake fails was never connected: the server reports
// the error, and no connect, socket.disconnected or close follows for it (a
// server counting clients by socket.disconnected would count it otherwise).
func TestTLSFailedHandshakeIsOnlyAnError(t *testing.T) {
	s := certs(t, "failed")
	srv, err := nodeipc.NewServer("tls", "127.0.0.1:0", tlsConfig(&nodeipc.TLSConfig{Private: s.Server.KeyFile, Public: s.Server.CertFile}))
	if err != nil {
		t.Fatal(err)
	}
	events := make(chan string, 16)
	for _, ev := range []string{"error", "connect", "socket.disconnected", "close"} {
		srv.On(ev, func(*nodeipc.Message) { events <- ev })
	}
	srv.On("ping", func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, "pong", m.Data) })
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })

	// Plain frames instead of a handshake.
	g, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = g.Write([]byte(`{"type":"ping","data":1}` + "\f"))
	if ev := recv(t, events, "the handshake error"); ev != "error" {
		t.Fatalf("first event %q, want error", ev)
	}
	g.Close()

	// A client that completes the handshake comes and goes.
	if err := tlsClient(t, srv.Addr().String(), &nodeipc.TLSConfig{TrustedConnections: []string{s.CAFile}}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"connect", "socket.disconnected", "close"} {
		if ev := recv(t, events, want); ev != want {
			t.Fatalf("got %q, want %q: the failed handshake must not look like a client that left", ev, want)
		}
	}
	if n := len(srv.Sockets()); n != 0 {
		t.Fatalf("%d sockets left, want 0", n)
	}
}

// Frames emitted over TLS by several goroutines at once, small and larger
// than a TLS record, arrive whole and in each goroutine's order, both ways:
// the client's emits race its writer, and the server answers from its
// handlers, several frames to a read.
func TestTLSConcurrentEmitsArriveWholeAndInOrder(t *testing.T) {
	s := certs(t, "order")
	srv, addr, serverErrs := startTLS(t, &nodeipc.TLSConfig{Private: s.Server.KeyFile, Public: s.Server.CertFile})
	type item struct {
		G, I int
		Pad  string
	}
	// About 6 MB in all, below the default MaxPendingBytes (8 MiB): where
	// writes are slower than emits (Windows), the whole lot may be queued
	// at once, and must not be refused for backpressure.
	const goroutines, each = 6, 100
	sizes := []int{0, 90, 5000, 40000, 17000, 1}
	var (
		mu        sync.Mutex
		atServer  = make([]int, goroutines)
		atClient  = make([]int, goroutines)
		failure   error
		completed = make(chan struct{})
	)
	check := func(seen []int, data []byte, where string) {
		var it item
		mu.Lock()
		defer mu.Unlock()
		switch err := json.Unmarshal(data, &it); {
		case err != nil:
			failure = fmt.Errorf("%s: %v", where, err)
		case it.G < 0 || it.G >= goroutines || it.I != seen[it.G]:
			failure = fmt.Errorf("%s: frame %d of goroutine %d came after %d", where, it.I, it.G, seen[it.G])
		case len(it.Pad) != sizes[it.I%len(sizes)] || strings.Trim(it.Pad, "p") != "":
			failure = fmt.Errorf("%s: frame %d of goroutine %d carries %d bytes of padding", where, it.I, it.G, len(it.Pad))
		default:
			seen[it.G]++
		}
	}
	srv.On("up", func(m *nodeipc.Message) {
		check(atServer, m.Data, "at the server")
		_ = srv.Emit(m.Socket, "down", m.Data)
	})
	c, err := nodeipc.NewClient("c", "tls", addr, tlsConfig(&nodeipc.TLSConfig{TrustedConnections: []string{s.CAFile}}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var total atomic.Int64
	c.On("down", func(m *nodeipc.Message) {
		check(atClient, m.Data, "at the client")
		if total.Add(1) == goroutines*each {
			close(completed)
		}
	})
	connected := make(chan struct{})
	c.On("connect", func(*nodeipc.Message) { close(connected) })
	c.Connect()
	recv(t, connected, "connect")
	emitErrs := make(chan error, goroutines)
	for g := range goroutines {
		go func() {
			for i := range each {
				if err := c.Emit("up", item{g, i, strings.Repeat("p", sizes[i%len(sizes)])}); err != nil {
					emitErrs <- err
					return
				}
			}
			emitErrs <- nil
		}()
	}
	for range goroutines {
		if err := recv(t, emitErrs, "the emitters"); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-completed:
	case err := <-serverErrs:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		mu.Lock()
		defer mu.Unlock()
		t.Fatalf("replies missing: %d of %d arrived (server %v, client %v, %v)", total.Load(), goroutines*each, atServer, atClient, failure)
	}
	mu.Lock()
	defer mu.Unlock()
	if failure != nil {
		t.Fatal(failure)
	}
}
