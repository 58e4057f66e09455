package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/internal/leakcheck"
	"github.com/effeeea0/nodeipc/internal/testcert"
)

// childEnv makes the test binary run as the adversary command: the test
// re-executes itself, so the attacks come from a separate process.
const childEnv = "NODEIPC_ADVERSARY_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(leakcheck.Run(m))
}

// Limits of the servers under attack.
const (
	maxMessage = 64 << 10
	maxRead    = 1 << 20
	maxPending = 256 << 10
	maxConns   = 16
	msgTimeout = 300 * time.Millisecond
	// handshake bounds a server's TLS handshake: short, so that the stalled
	// handshake case ends soon, yet long enough for the flood's 16 honest
	// handshakes at once on a loaded 2-core machine under the race detector
	// (500 ms was not).
	handshake   = 3 * time.Second
	floodConns  = 3 * maxConns
	slowlorisOn = 2 * time.Second // how long slowloris holds a partial frame: well past msgTimeout
)

// server is one server under attack and what it reports.
type server struct {
	profile string
	network string
	addr    string
	srv     *nodeipc.Server
	client  *nodeipc.Config // for the well-behaved clients
	args    []string        // the adversary's flags

	mu       sync.Mutex
	counting bool     // events are the current case's
	errs     []string // the case's errors, classified, in order
	closes   int      // connections of the case closed
	refusals int      // connections of the case refused
	bursts   int      // burst events of the case
	idle     int      // connections closed between cases
	lines    map[*nodeipc.Socket][]byte
}

func (s *server) record(sock *nodeipc.Socket, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.counting {
		return
	}
	c := classify(err)
	// A connection refused at the door (over MaxConnections, or a failed
	// TLS handshake) gets only this error event: it was never connected,
	// so no close follows.
	if c == "refused: MaxConnections" || strings.HasPrefix(c, "TLS: ") {
		s.refusals++
	}
	if n := len(s.errs); n == 0 || s.errs[n-1] != c {
		s.errs = append(s.errs, c)
	}
}

// classify names an error for the table: its code, or what kind it is.
func classify(err error) string {
	if err == nil {
		return "an error event without an error: spoofed by the peer"
	}
	var pe *nodeipc.ProtocolError
	if errors.As(err, &pe) {
		return string(pe.Code)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "MaxConnections"):
		return "refused: MaxConnections"
	case strings.Contains(msg, "TLS handshake"):
		// The reason alone: without the parenthesis x509 adds, after
		// the last "tls: " or "x509: " (or ": ").
		msg, _, _ = strings.Cut(msg, " (")
		for _, sep := range []string{"x509: ", "tls: ", ": "} {
			if i := strings.LastIndex(msg, sep); i >= 0 {
				msg = msg[i+len(sep):]
				break
			}
		}
		return "TLS: " + msg
	}
	return msg
}

// newServer starts a server of profile: fast, guarded, assured and raw on
// Unix sockets directly inside one secure socket root, assured-tls on
// loopback with mutual TLS.
func newServer(t *testing.T, profile, root string, certs *testcert.Set) *server {
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	cfg.Retry = 20 * time.Millisecond
	cfg.FlushTimeout = time.Second
	cfg.SocketRoot = root
	cfg.MaxMessageSize = maxMessage
	cfg.MaxReadBuffer = maxRead
	cfg.MaxPendingBytes = maxPending
	cfg.MaxConnections = maxConns
	cfg.MessageTimeout = msgTimeout
	cfg.DialTimeout = handshake
	s := &server{profile: profile, network: "unix", addr: root + "app." + profile, lines: map[*nodeipc.Socket][]byte{}}
	s.args = []string{"-limit", strconv.Itoa(maxMessage), "-ceiling", strconv.Itoa(maxRead),
		"-hold", slowlorisOn.String(), "-conns", strconv.Itoa(floodConns)}
	switch profile {
	case "fast":
	case "guarded":
		cfg.Parser = nodeipc.ParserGuarded
	case "assured", "assured-tls":
		cfg.Parser = nodeipc.ParserAssured
		cfg.AllowedEvents = []string{"ping", "pong", "burst"}
	case "raw":
		cfg.Parser = nodeipc.ParserRaw
		s.args = append(s.args, "-raw")
	}
	client := cfg
	if profile == "assured-tls" {
		s.network, s.addr = "tls", "127.0.0.1:0"
		cfg.TLS = &nodeipc.TLSConfig{Private: certs.Server.KeyFile, Public: certs.Server.CertFile, TrustedConnections: []string{certs.CAFile}}
		client.TLS = &nodeipc.TLSConfig{Private: certs.Client.KeyFile, Public: certs.Client.CertFile, TrustedConnections: []string{certs.CAFile}}
		s.args = append(s.args, "-ca", certs.CAFile, "-cert", certs.Client.CertFile, "-key", certs.Client.KeyFile)
	}
	s.client = &client
	srv, err := nodeipc.NewServer(s.network, s.addr, &cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv.On("ping", func(m *nodeipc.Message) {
		if err := srv.Emit(m.Socket, "pong", m.Data); err != nil {
			s.record(m.Socket, err)
		}
	})
	srv.On("burst", func(*nodeipc.Message) {
		s.mu.Lock()
		s.bursts++
		s.mu.Unlock()
	})
	srv.On("data", func(m *nodeipc.Message) { s.answerLines(srv, m) })
	srv.On("error", func(m *nodeipc.Message) { s.record(m.Socket, m.Err) })
	srv.On("close", func(m *nodeipc.Message) {
		s.mu.Lock()
		delete(s.lines, m.Socket)
		if s.counting {
			s.closes++
		} else {
			s.idle++
		}
		s.mu.Unlock()
	})
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	s.srv = srv
	if s.network == "tls" {
		s.addr = srv.Addr().String()
	}
	return s
}

// answerLines is the raw server: it answers every line holding "probe-"
// with the line from there on, and keeps at most 256 bytes of an
// unfinished line.
func (s *server) answerLines(srv *nodeipc.Server, m *nodeipc.Message) {
	s.mu.Lock()
	buf := append(s.lines[m.Socket], m.Data...)
	s.mu.Unlock()
	for {
		i := bytes.IndexByte(buf, '\n')
		if i < 0 {
			break
		}
		if j := bytes.Index(buf[:i], []byte("probe-")); j >= 0 {
			if err := srv.Emit(m.Socket, string(buf[j:i+1]), nil); err != nil {
				s.record(m.Socket, err)
			}
		}
		buf = buf[i+1:]
	}
	keep := append([]byte(nil), buf[max(0, len(buf)-256):]...)
	s.mu.Lock()
	s.lines[m.Socket] = keep
	s.mu.Unlock()
}

// goodClient is a well-behaved client that asks for round trips.
type goodClient struct {
	c       *nodeipc.Client
	replies chan string
	raw     bool
}

func (s *server) goodClient(t *testing.T) *goodClient {
	t.Helper()
	g := &goodClient{replies: make(chan string, 16), raw: s.profile == "raw"}
	c, err := nodeipc.NewClient("good", s.network, s.addr, s.client)
	if err != nil {
		t.Fatal(err)
	}
	connected := make(chan struct{}, 4)
	c.On("connect", func(*nodeipc.Message) { connected <- struct{}{} })
	c.On("pong", func(m *nodeipc.Message) { g.replies <- string(m.Data) })
	c.On("data", func(m *nodeipc.Message) { g.replies <- string(m.Data) })
	c.Connect()
	g.c = c
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		t.Fatal("a well-behaved client could not connect")
	}
	return g
}

func (g *goodClient) roundTrip(msg string) error {
	want := strconv.Quote(msg)
	var err error
	if g.raw {
		want = "probe-" + msg + "\n"
		err = g.c.Emit(want, nil)
	} else {
		err = g.c.Emit("ping", msg)
	}
	if err != nil {
		return err
	}
	select {
	case got := <-g.replies:
		if got != want {
			return fmt.Errorf("got %q, want %q", got, want)
		}
		return nil
	case <-time.After(10 * time.Second):
		return errors.New("no answer within 10s")
	}
}

func (g *goodClient) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = g.c.Close(ctx)
}

// outcome is what the server should do: the error it reports ("" none;
// "TLS" any TLS handshake failure) and whether it closes the connection.
type outcome struct {
	code   nodeipc.Code
	closed bool
}

// expect is the outcome of a case against a profile.
func expect(profile, name string) outcome {
	guarded := profile != "fast" && profile != "raw"
	assured := strings.HasPrefix(profile, "assured")
	open := outcome{}
	refused := outcome{"refused: MaxConnections", true}
	if profile == "raw" {
		// Bytes are bytes: nothing is refused but connections beyond
		// MaxConnections, and a full queue.
		switch name {
		case "ping-flood-no-read":
			return outcome{nodeipc.CodeBackpressure, false}
		case "half-frame-eof":
			return outcome{"", true}
		case "connection-flood":
			return refused
		}
		return open
	}
	when := func(cond bool, code nodeipc.Code) outcome {
		if cond {
			return outcome{code, true}
		}
		return open
	}
	switch name {
	case "malformed-json", "empty-frame", "invalid-utf8-data", "invalid-utf8-name", "control-char", "deep-nesting", "violation-after-valid":
		return outcome{nodeipc.CodeInvalidJSON, true}
	case "non-object", "null", "number":
		return outcome{nodeipc.CodeInvalidMessage, true}
	case "missing-type", "numeric-type", "empty-type":
		return outcome{nodeipc.CodeInvalidEvent, true}
	case "proto-__proto__", "proto-constructor", "proto-toString":
		// A name a peer may not send: in fast only that frame is refused.
		return outcome{nodeipc.CodeInvalidEvent, guarded}
	case "reserved-error", "reserved-close", "reserved-escaped-key", "wildcard-event":
		return outcome{nodeipc.CodeReservedEvent, guarded}
	case "unlisted-event", "name-flood":
		return when(assured, nodeipc.CodeEventNotAllowed)
	case "long-name", "long-name-utf16":
		return when(guarded, nodeipc.CodeEventTooLarge)
	case "large-frame":
		return when(guarded, nodeipc.CodeFrameTooLarge)
	case "oversized-frame", "endless-frame":
		return outcome{nodeipc.CodeFrameTooLarge, true}
	case "slowloris", "slowloris-drip":
		return when(guarded, nodeipc.CodeMessageTimeout)
	case "ping-flood-no-read":
		return outcome{nodeipc.CodeBackpressure, guarded}
	case "half-frame-eof":
		return outcome{nodeipc.CodeIncompleteFrame, true}
	case "connection-flood":
		return refused
	case "tls-no-client-cert", "tls-untrusted-cert", "tls-plaintext", "tls-handshake-stall":
		return outcome{"TLS", true}
	}
	return open
}

// TestAdversarialCatalogue runs every case of the catalogue, from a
// separate process, against a server of each profile, checks what the
// server did, and after every case that it still serves its well-behaved
// clients: one connected all along and one connecting afresh.
func TestAdversarialCatalogue(t *testing.T) {
	dir, err := os.MkdirTemp("", "nadv")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	root := filepath.Join(dir, "root") + string(filepath.Separator) // created 0700 by the first server
	certs, err := testcert.New(dir, "adversary")
	if err != nil {
		t.Fatal(err)
	}
	profiles := []string{"fast", "guarded", "assured", "raw", "assured-tls"}
	if runtime.GOOS == "windows" {
		t.Skip("the adversary attacks Unix sockets and TLS; the Windows build is tested over pipes elsewhere")
	}
	for _, profile := range profiles {
		t.Run(profile, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, profile, root, certs)
			good := s.goodClient(t)
			defer good.close()
			var table strings.Builder
			tw := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "profile\tcase\tserver error\tclosed\tms\tnote\tround trips")
			for _, c := range catalogue {
				if c.tlsOnly && s.network != "tls" {
					continue
				}
				row, err := s.attack(t, c.name, good)
				fmt.Fprintln(tw, row)
				if err != nil {
					tw.Flush()
					t.Log("\n" + table.String())
					t.Fatalf("%s: %v", c.name, err)
				}
			}
			tw.Flush()
			t.Log("\n" + table.String())
		})
	}
}

// attack runs one case and returns its table row, and what was wrong.
func (s *server) attack(t *testing.T, name string, good *goodClient) (string, error) {
	s.mu.Lock()
	s.counting, s.errs, s.closes, s.refusals, s.bursts = true, nil, 0, 0, 0
	s.mu.Unlock()
	r, err := s.runAdversary(name)
	if err != nil {
		return name + "\t" + err.Error(), err
	}
	// Wait until every connection of the case is accounted for: closed
	// (after its error event, if any) or refused.
	deadline := time.Now().Add(15 * time.Second)
	for {
		s.mu.Lock()
		done := s.closes+s.refusals >= r.Conns
		s.mu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			return name, fmt.Errorf("the server closed %d and refused %d of %d connections", s.closes, s.refusals, r.Conns)
		}
		time.Sleep(2 * time.Millisecond)
	}
	s.mu.Lock()
	s.counting = false
	errs, bursts, idle := s.errs, s.bursts, s.idle
	s.mu.Unlock()

	// Round trips: the client connected all along, and a new one.
	trips := "ok"
	if err := good.roundTrip("after-" + name); err != nil {
		trips = "connected client: " + err.Error()
	} else {
		fresh := s.goodClient(t)
		err := fresh.roundTrip("fresh-" + name)
		fresh.close()
		if err != nil {
			trips = "new client: " + err.Error()
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(2 * time.Millisecond) {
			s.mu.Lock()
			gone := s.idle > idle
			s.mu.Unlock()
			if gone && len(s.srv.Sockets()) == 1 {
				break
			}
			if time.Now().After(deadline) {
				return name, errors.New("the new client's connection did not close")
			}
		}
	}

	seen := strings.Join(errs, ", ")
	if seen == "" {
		seen = "-"
	}
	closed := "no"
	if r.Closed {
		closed = "yes"
	}
	note := r.Note
	if r.Sent > 0 && name != "connection-flood" {
		note = strings.TrimSpace(fmt.Sprintf("%d sent %s", r.Sent, note))
	}
	if name == "burst" || name == "violation-after-valid" {
		note += fmt.Sprintf(" (server got %d bursts)", bursts)
	}
	row := fmt.Sprintf("%s\t%s\t%s\t%s\t%.1f\t%s\t%s", s.profile, name, seen, closed, r.Millis, note, trips)

	// The verdict.
	want := expect(s.profile, name)
	switch {
	case r.Failed:
		return row, fmt.Errorf("the adversary failed: %s", r.Note)
	case trips != "ok":
		return row, errors.New("the server stopped serving well-behaved clients: " + trips)
	case want.code == "" && len(errs) > 0:
		return row, fmt.Errorf("errors %v, want none", errs)
	case want.code == "TLS" && (len(errs) == 0 || !strings.HasPrefix(errs[0], "TLS: ")):
		return row, fmt.Errorf("errors %v, want a TLS handshake failure", errs)
	case want.code != "" && want.code != "TLS" && (len(errs) == 0 || errs[0] != string(want.code)):
		return row, fmt.Errorf("errors %v, want %s", errs, want.code)
	case r.Closed != want.closed:
		return row, fmt.Errorf("closed %v, want %v", r.Closed, want.closed)
	case !want.closed && !r.Answered:
		return row, errors.New("the connection stayed open but got no answer")
	}
	switch name {
	case "connection-flood":
		if r.Sent != maxConns-1 || r.Refused != floodConns-(maxConns-1) {
			return row, fmt.Errorf("%d answered and %d refused, want %d and %d", r.Sent, r.Refused, maxConns-1, floodConns-(maxConns-1))
		}
	case "burst":
		if s.profile != "raw" && bursts != r.Sent {
			return row, fmt.Errorf("the server got %d of %d bursts", bursts, r.Sent)
		}
	case "violation-after-valid":
		if s.profile != "raw" && bursts != 1 {
			return row, fmt.Errorf("the server got %d bursts, want the 1 before the violation", bursts)
		}
	}
	return row, nil
}

// runAdversary runs the adversary process for one case and returns its
// report.
func (s *server) runAdversary(name string) (Report, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{"-network", s.network, "-addr", s.addr}, s.args...)
	cmd := exec.CommandContext(ctx, os.Args[0], append(args, name)...)
	// The race detector sleeps a second at exit unless told not to.
	cmd.Env = append(os.Environ(), childEnv+"=1", "GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var r Report
	if jerr := json.Unmarshal(out, &r); jerr != nil {
		return r, fmt.Errorf("adversary: %v %v: %s%s", err, jerr, out, stderr.Bytes())
	}
	return r, nil
}
