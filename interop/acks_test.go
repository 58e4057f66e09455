package interop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// Acknowledged delivery between nodeipc and node-ipc programs that use
// nodeipc-companion (companion/test/peer.mjs), both ways, and a Go client
// refused by a server that does not acknowledge.

// until returns the next event named ev, calling skipped for each other
// event before it (expect drops them).
func (p *peer) until(ev string, d time.Duration, skipped func(event)) event {
	p.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				p.t.Fatalf("%s exited while waiting for %s; stderr:\n%s", p.name, ev, p.errText())
			}
			switch e.str("ev") {
			case "crash":
				p.t.Fatalf("%s crashed: %v", p.name, e["message"])
			case ev:
				return e
			}
			skipped(e)
		case <-timer.C:
			p.t.Fatalf("%s: timed out waiting for %s; stderr:\n%s", p.name, ev, p.errText())
		}
	}
}

// messages reads the "message" lines of a companion peer with
// reportMessages until it has seen through seq last; each must be the next
// of session (set from the first when empty), with data {"k": seq}.
type messages struct {
	t       *testing.T
	p       *peer
	session string
	seen    int
}

func (ms *messages) through(last int) {
	ms.t.Helper()
	for ms.seen < last {
		e := ms.p.until("message", time.Minute, ms.other)
		ms.check(e)
	}
}

func (ms *messages) check(e event) {
	ms.t.Helper()
	info, _ := e["info"].(map[string]any)
	data, _ := e["data"].(map[string]any)
	session, _ := info["session"].(string)
	seq, _ := info["seq"].(float64)
	k, _ := data["k"].(float64)
	if ms.session == "" {
		ms.session = session
	}
	if session != ms.session || int(seq) != ms.seen+1 || int(k) != ms.seen+1 {
		ms.t.Fatalf("after message %d of %s the node peer delivered %v", ms.seen, ms.session, e)
	}
	ms.seen++
}

// other fails on what must not come while messages are read.
func (ms *messages) other(e event) {
	ms.t.Helper()
	switch e.str("ev") {
	case "error", "emitError", "flushError":
		ms.t.Fatalf("the node peer reported %v", e)
	}
}

// done checks that nothing but the messages read came: the peer's stats
// line comes after every message line it printed.
func (ms *messages) done() event {
	ms.t.Helper()
	ms.p.send(map[string]any{"cmd": "stats"})
	return ms.p.until("stats", time.Minute, func(e event) {
		if e.str("ev") == "message" {
			ms.t.Fatalf("delivered again or beyond the last: %v", e)
		}
		ms.other(e)
	})
}

// A Go client with Config.Acks sends to a node-ipc server with the
// companion's acknowledged delivery; the server destroys the connection as
// it delivers message 100, with more on their way: every message is
// delivered once, in order.
func TestAcksGoClientToNodeIPCServer(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		ep := newEndpoint(t, network)
		p := startCompanionPeer(t, ep.opts(lib, "server", map[string]any{"acks": true, "reportMessages": true, "quiet": true,
			"dropAt": 100}))
		cfg := goConfig()
		cfg.Acks = true
		errs := make(chan error, 16)
		c, connected := startClientWith(t, ep.network, ep.addr, cfg, func(c *nodeipc.Client) {
			c.On("error", func(m *nodeipc.Message) {
				// The reset of the destroyed connection is reported too; what
				// must not come is a protocol error or frames reported unsent.
				var pe *nodeipc.ProtocolError
				var ue *nodeipc.UnsentError
				if errors.As(m.Err, &pe) || errors.As(m.Err, &ue) {
					errs <- m.Err
				}
			})
		})
		within(t, connected, "connect")
		const n = 600
		emit := func(from, to int) {
			for k := from; k <= to; k++ {
				if err := c.Emit("m", map[string]int{"k": k}); err != nil {
					t.Fatalf("emit %d: %v", k, err)
				}
			}
		}
		ms := &messages{t: t, p: p, session: c.Session()}
		emit(1, n/2)
		within(t, connected, "the reconnect")
		emit(n/2+1, n)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
		ms.through(n)
		st := ms.done()
		if st.counter("messagesDelivered") != n {
			t.Fatalf("the companion counted %d delivered, want %d", st.counter("messagesDelivered"), n)
		}
		select {
		case err := <-errs:
			t.Fatalf("the Go client reported %v", err)
		default:
		}
		if c.Reconnects() != 1 {
			t.Fatalf("%d reconnects, want 1", c.Reconnects())
		}
		t.Logf("%d messages, the connection destroyed at message 100: delivered once each, in order (%d duplicates dropped by the companion)",
			n, st.counter("duplicatesDropped"))
	})
}

// A Go server with Config.Acks sends to a node-ipc client with the
// companion's acknowledged delivery; the client destroys its connection as
// it delivers message 100, and the Go server goes on emitting to the socket
// it had: every message is delivered once, in order, in the server's
// session.
func TestAcksGoServerToNodeIPCClient(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		socks := make(chan *nodeipc.Socket, 4)
		cfg := goConfig()
		cfg.Acks = true
		ups := make(chan *nodeipc.Message, 4)
		srv, ep := listenGo(t, network, cfg, func(s *nodeipc.Server) {
			s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
			s.On("up", func(m *nodeipc.Message) { ups <- m })
		})
		p := startCompanionPeer(t, ep.opts(lib, "client", map[string]any{"acks": true, "retry": 20, "reportMessages": true, "quiet": true,
			"dropAt": 100}))
		p.expect("connect")
		sock := within(t, socks, "the Go server's connect")
		// Once a message of the client is acknowledged, the hello exchange
		// is done: the Go server's emits to the socket are acknowledged ones.
		p.send(map[string]any{"cmd": "send", "count": 1, "event": "up"})
		p.send(map[string]any{"cmd": "flush"})
		p.expect("flushed")
		up := within(t, ups, "the client's message")
		client := p.stats().str("session")
		if up.Session != client || up.Seq != 1 {
			t.Fatalf("the Go server got message %d of %q; the client's session is %q", up.Seq, up.Session, client)
		}
		const n = 600
		emit := func(from, to int) {
			for k := from; k <= to; k++ {
				if err := srv.Emit(sock, "m", map[string]int{"k": k}); err != nil {
					t.Fatalf("emit %d: %v", k, err)
				}
			}
		}
		ms := &messages{t: t, p: p}
		emit(1, n/2)
		p.until("connect", time.Minute, func(e event) {
			if e.str("ev") == "message" {
				ms.check(e)
			} else {
				ms.other(e)
			}
		})
		emit(n/2+1, n)
		ms.through(n)
		if ms.session == client || len(ms.session) != 32 {
			t.Fatalf("the messages came in session %q", ms.session)
		}
		st := ms.done()
		t.Logf("%d messages, the connection destroyed at message 100: delivered once each, in order (%d duplicates dropped by the companion)",
			n, st.counter("duplicatesDropped"))
	})
}

// A Go client with Config.Acks refuses a server that does not acknowledge:
// a plain node-ipc server (no answer to the hello within AckTimeout) and a
// node-ipc server with the companion and acknowledgements off (answered
// acks:false). It reports ERR_IPC_ACKS_UNSUPPORTED, gives up without
// reconnecting, reports its messages unsent, and Flush does not hang; the
// server is not disturbed.
func TestAcksGoClientRefusedByNodeIPCServerWithoutAcks(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		for _, kind := range []string{"plain", "acks off"} {
			if kind == "acks off" && network != "unix" {
				continue // the answer acks:false is the same over every transport
			}
			ep := newEndpoint(t, network)
			var p *peer
			if kind == "plain" {
				p = startPeer(t, ep.opts(lib, "server", map[string]any{"events": []string{"message", nodeipc.EventHello}}))
			} else {
				p = startCompanionPeer(t, ep.opts(lib, "server", map[string]any{"acks": false, "events": []string{"message"}}))
			}
			cfg := goConfig()
			cfg.Acks = true
			cfg.AckTimeout = 300 * time.Millisecond
			errs := make(chan error, 16)
			c, _ := startClientWith(t, ep.network, ep.addr, cfg, func(c *nodeipc.Client) {
				c.On("error", func(m *nodeipc.Message) { errs <- m.Err })
			})
			for k := 1; k <= 3; k++ {
				if err := c.Emit("m", map[string]int{"k": k}); err != nil {
					t.Fatalf("%s: emit %d: %v", kind, k, err)
				}
			}
			flushed := make(chan error, 1)
			go func() { flushed <- c.Flush(context.Background()) }()
			within(t, c.Done(), kind+": the client giving up")
			var refused *nodeipc.ProtocolError
			var unsent *nodeipc.UnsentError
			for len(errs) > 0 {
				err := <-errs
				var pe *nodeipc.ProtocolError
				var ue *nodeipc.UnsentError
				switch {
				case errors.As(err, &pe):
					refused = pe
				case errors.As(err, &ue):
					unsent = ue
				default:
					t.Fatalf("%s: the client reported %v", kind, err)
				}
			}
			if refused == nil || refused.Code != nodeipc.CodeAcksUnsupported || unsent == nil || unsent.Frames != 3 {
				t.Fatalf("%s: the client reported %v and %v; want %s and 3 frames unsent", kind, refused, unsent, nodeipc.CodeAcksUnsupported)
			}
			if err := c.Emit("m", 4); !errors.Is(err, nodeipc.ErrDestroyed) {
				t.Fatalf("%s: emit after the refusal: %v", kind, err)
			}
			within(t, flushed, kind+": Flush") // returns; what it returns: TestAcksGoClientFlushAfterRefusal
			if kind == "plain" {
				e := p.expect("event")
				hello, _ := e["data"].(map[string]any)
				if e.str("type") != nodeipc.EventHello || hello["session"] != c.Session() || hello["acks"] != true {
					t.Fatalf("the plain server received %v", e)
				}
			}
			// The server is not disturbed: another client's events still arrive.
			other, connected := startGoClient(t, ep, nil)
			within(t, connected, kind+": another client")
			if err := other.Emit("message", kind); err != nil {
				t.Fatal(err)
			}
			if e := p.expect("event"); e.str("type") != "message" || e.str("data") != kind {
				t.Fatalf("%s: the server got %v", kind, e)
			}
		}
	})
}

// Client.Flush, waiting when a Go client with Config.Acks is refused by a
// plain node-ipc server, or called after that, reports that its messages
// were not acknowledged: ErrDestroyed, as its doc says, never nil.
func TestAcksGoClientFlushAfterRefusal(t *testing.T) {
	t.Parallel()
	ep := newEndpoint(t, "unix")
	startPeer(t, ep.opts(14, "server", nil))
	cfg := goConfig()
	cfg.Acks = true
	cfg.AckTimeout = 300 * time.Millisecond
	c, _ := startClientWith(t, ep.network, ep.addr, cfg, nil)
	if err := c.Emit("m", 1); err != nil {
		t.Fatal(err)
	}
	waiting := make(chan error, 1)
	go func() { waiting <- c.Flush(context.Background()) }()
	within(t, c.Done(), "the client giving up")
	err := within(t, waiting, "Flush")
	after := c.Flush(context.Background())
	if !errors.Is(err, nodeipc.ErrDestroyed) || !errors.Is(after, nodeipc.ErrDestroyed) {
		t.Fatalf("the client gave up with 1 message unacknowledged, yet Flush returned %v while waiting and %v after; want ErrDestroyed both times", err, after)
	}
}

// ackRestarts runs a node-ipc client with the companion's acknowledged
// delivery against a Go server in a worker process (Config.Acks, and
// AckDelivered from its log when durable) that is killed (SIGKILL) and
// restarted restarts times while the client sends perRound messages a
// round, and checks the server's log: every message delivered once (once at
// least without a record), in order.
func ackRestarts(t *testing.T, lib int, network string, durable bool, restarts, perRound int) {
	ep := newEndpoint(t, network)
	logPath := filepath.Join(shortDir(t), "delivered.log")
	spec := fmt.Sprintf("ackserver:%s|%s|%s|%s", map[bool]string{true: "yes", false: "no"}[durable], ep.network, ep.addr, logPath)
	began := time.Now()
	server := startGoWorker(t, spec)
	client := startCompanionPeer(t, ep.opts(lib, "client", map[string]any{"acks": true, "retry": 20, "quiet": true}))
	client.expect("connect")
	send := func() {
		client.send(map[string]any{"cmd": "send", "count": perRound, "yieldEvery": 10})
	}
	for round := 0; round < restarts; round++ {
		send()
		server.expect("progress") // this process delivered 100 messages
		server.kill()
		server = startGoWorker(t, spec)
	}
	send()
	// The companion's flush waits for what was emitted: every send loop
	// (each yields, and the last may still run) must be done first.
	for range restarts + 1 {
		client.until("sent", 2*time.Minute, func(e event) {
			switch e.str("ev") {
			case "emitError", "error":
				t.Fatalf("the node client reported %v", e)
			}
		})
	}
	client.send(map[string]any{"cmd": "flush"})
	client.until("flushed", 2*time.Minute, func(e event) {
		switch e.str("ev") {
		case "flushError", "emitError", "error":
			t.Fatalf("the node client reported %v", e)
		}
	})
	took := time.Since(began)
	st := client.stats()
	session := st.str("session")
	total := perRound * (restarts + 1)

	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]bool, total+1)
	next, dups, disorder, other := 1, 0, 0, 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[0] != session {
			other++
			continue
		}
		seq, _ := strconv.Atoi(f[1])
		k, _ := strconv.Atoi(f[2])
		switch {
		case seq < 1 || seq > total || k != seq:
			other++
			continue
		case seen[seq]:
			dups++
		case seq != next:
			disorder++
		}
		seen[seq] = true
		next = seq + 1
	}
	lost := 0
	for seq := 1; seq <= total; seq++ {
		if !seen[seq] {
			lost++
		}
	}
	record := "a durable Go server"
	if !durable {
		record = "a Go server without a record"
	}
	t.Logf("node-ipc %d client -> %s over %s: %d messages, %d restarts (SIGKILL), %v: %d lost, %d duplicated, %d out of order (%d sent again by the companion)",
		lib, record, network, total, restarts, took.Round(time.Millisecond), lost, dups, disorder, st.counter("messagesResent"))
	if !durable {
		dups = 0 // allowed: what was delivered and not yet acknowledged at each kill
	}
	if lost != 0 || dups != 0 || disorder != 0 || other != 0 {
		t.Fatalf("lost %d, duplicated %d, out of order %d, malformed or foreign lines %d", lost, dups, disorder, other)
	}
	if st.counter("messagesAcknowledged") != total || st.counter("messagesSent") != total {
		t.Fatalf("the companion sent %d and had %d acknowledged, want %d", st.counter("messagesSent"), st.counter("messagesAcknowledged"), total)
	}
}

// A node-ipc client with the companion sends acknowledged messages to a
// durable Go server that is killed and restarted: nothing lost, duplicated
// or out of order.
func TestAcksNodeIPCClientToRestartedGoServer(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		ackRestarts(t, lib, network, true, 5, 400)
	})
	t.Run("v14/unix/long", func(t *testing.T) {
		if testing.Short() {
			t.Skip("20 restarts")
		}
		t.Parallel()
		ackRestarts(t, 14, "unix", true, 20, 1000)
	})
	t.Run("v14/unix/no-record", func(t *testing.T) {
		t.Parallel()
		ackRestarts(t, 14, "unix", false, 5, 400)
	})
}

// A node-ipc client with the companion's acknowledged delivery is refused
// by a Go server without Config.Acks (it answers the hello acks:false):
// ERR_IPC_ACKS_UNSUPPORTED with the messages listed unsent, and requests
// over the same connection go on working.
func TestAcksNodeIPCClientRefusedByGoServerWithoutAcks(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		ep := newEndpoint(t, network)
		// The client has 3 messages to send before the server is up.
		p := startCompanionPeer(t, ep.opts(lib, "client", map[string]any{"acks": true, "retry": 20, "helloTimeout": 60000}))
		p.send(map[string]any{"cmd": "send", "count": 3})
		p.expect("sent")
		startGoServer(t, ep, func(s *nodeipc.Server) {
			newGoResponder(s.Handle)
		})
		e := p.expect("error")
		unsent, _ := json.Marshal(e["unsent"])
		if e.str("code") != string(nodeipc.CodeAcksUnsupported) || string(unsent) != "[1,2,3]" {
			t.Fatalf("the node client reported %v; want %s with 1, 2 and 3 unsent", e, nodeipc.CodeAcksUnsupported)
		}
		p.send(map[string]any{"cmd": "flush"})
		if e := p.expect("flushError"); e.str("code") != string(nodeipc.CodeAcksUnsupported) {
			t.Fatalf("flush after the refusal: %v", e)
		}
		p.send(map[string]any{"cmd": "request", "n": 1, "event": "echo", "data": "still here"})
		if e := p.result(1); e["ok"] != true || e.str("data") != "still here" {
			t.Fatalf("a request after the refusal: %v", e)
		}
	})
}
