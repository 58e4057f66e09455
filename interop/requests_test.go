package interop

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// Request/response between nodeipc and node-ipc programs that use
// nodeipc-companion (companion/test/peer.mjs), both ways and in both roles,
// and against plain node-ipc peers that know nothing of it.

// result waits for the result line of the peer's request n.
func (p *peer) result(n int) event {
	p.t.Helper()
	for {
		e := p.expect("result")
		if v, _ := e["n"].(float64); int(v) == n {
			return e
		}
	}
}

// stats returns the companion's counters.
func (p *peer) stats() event {
	p.t.Helper()
	p.send(map[string]any{"cmd": "stats"})
	return p.expect("stats")
}

// counter returns one of the companion's counters from a stats line.
func (e event) counter(name string) int {
	st, _ := e["stats"].(map[string]any)
	v, _ := st[name].(float64)
	return int(v)
}

// goResponder holds the request handlers a Go endpoint registers for the
// node peer's requests: echo (the data back), coded (an error with the code
// E_GO), plain (an error without a code), hold (answers once released).
type goResponder struct {
	entered chan string
	release chan struct{}
}

func newGoResponder(handle func(string, nodeipc.RequestHandler)) *goResponder {
	r := &goResponder{entered: make(chan string, 8), release: make(chan struct{}, 8)}
	handle("echo", func(_ context.Context, m *nodeipc.Message) (any, error) {
		return json.RawMessage(m.Data), nil
	})
	handle("coded", func(context.Context, *nodeipc.Message) (any, error) {
		return nil, &nodeipc.RemoteError{Code: "E_GO", Message: "go says no"}
	})
	handle("plain", func(context.Context, *nodeipc.Message) (any, error) {
		return nil, errors.New("plain go error")
	})
	handle("hold", func(ctx context.Context, m *nodeipc.Message) (any, error) {
		r.entered <- string(m.Data)
		select {
		case <-r.release:
			return json.RawMessage(m.Data), nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	return r
}

// goRequestsNode makes Go requests to a node peer with the companion's
// handlers (echo, undef, fail, hold): replies, remote errors, no handler, a
// context deadline with the handler holding, and the late reply counted.
func goRequestsNode(t *testing.T, request func(context.Context, string, any) (*nodeipc.Message, error),
	stats func() nodeipc.RequestStats, p *peer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, data := range []string{`{"a":1,"b":[1,"x",null]}`, `"text"`, `0`, `false`, `[]`, `"é☃\f"`} {
		m, err := request(ctx, "echo", json.RawMessage(data))
		if err != nil || !sameJSON(string(m.Data), data) {
			t.Fatalf("echo %s: %v, %v", data, m, err)
		}
	}
	if m, err := request(ctx, "undef", nil); err != nil || string(m.Data) != "{}" {
		t.Fatalf("a node handler's undefined: %v, %v; want {}", m, err)
	}
	remote := func(event string, data any, code, msg string) {
		t.Helper()
		_, err := request(ctx, event, data)
		var re *nodeipc.RemoteError
		if !errors.As(err, &re) || string(re.Code) != code || (msg != "" && re.Message != msg) {
			t.Fatalf("%s %v: %v; want a RemoteError %s %q", event, data, err, code, msg)
		}
	}
	remote("fail", map[string]any{"code": "E_APP", "message": "no such thing"}, "E_APP", "no such thing")
	remote("fail", map[string]any{"message": "plain"}, string(nodeipc.CodeHandlerFailed), "plain")
	remote("throwstring", nil, string(nodeipc.CodeHandlerFailed), "a thrown string")
	remote("bigint", nil, string(nodeipc.CodeHandlerFailed), "")
	remote("nothing.here", nil, string(nodeipc.CodeNoHandler), "")

	// A handler that has not answered when the context ends; its reply
	// comes later and is counted, not delivered.
	before := stats().Late
	short, cancelShort := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := request(short, "hold", map[string]any{"key": "late"})
	cancelShort()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a request whose handler holds, with a deadline: %v", err)
	}
	p.expect("holding")
	p.send(map[string]any{"cmd": "release", "key": "late"})
	p.expect("released")
	// The reply to a later request comes after the late one.
	if m, err := request(ctx, "echo", 2); err != nil || string(m.Data) != "2" {
		t.Fatalf("echo after the late reply: %v, %v", m, err)
	}
	if st := stats(); st.Late != before+1 || st.InFlight != 0 {
		t.Fatalf("after the late reply: %+v, want Late %d and nothing in flight", st, before+1)
	}
}

// nodeRequestsGo makes the node peer request the Go handlers of r (extra:
// the request's target, for a node server): replies, the handler's code,
// ERR_IPC_HANDLER_FAILED, ERR_IPC_NO_HANDLER, node's timeout with the Go
// handler holding, and the late reply counted by the companion.
func nodeRequestsGo(t *testing.T, p *peer, extra map[string]any, r *goResponder) {
	t.Helper()
	n := 0
	req := func(event string, data any, more map[string]any) event {
		t.Helper()
		n++
		cmd := map[string]any{"cmd": "request", "n": n, "event": event}
		if data != nil {
			cmd["data"] = data
		}
		for k, v := range extra {
			cmd[k] = v
		}
		for k, v := range more {
			cmd[k] = v
		}
		p.send(cmd)
		return p.result(n)
	}
	for _, data := range []string{`{"a":1,"b":[1,"x",null]}`, `"text"`, `0`, `false`, `[]`, `"é☃\f"`} {
		e := req("echo", json.RawMessage(data), nil)
		if e["ok"] != true || !sameJSON(e.raw("data"), data) {
			t.Fatalf("node requests Go echo %s: %v", data, e)
		}
	}
	if e := req("echo", nil, nil); e["ok"] != true || e.raw("data") != "{}" {
		t.Fatalf("a node request without data: %v; want {}", e)
	}
	for _, c := range []struct{ event, code, message string }{
		{"coded", "E_GO", "go says no"},
		{"plain", string(nodeipc.CodeHandlerFailed), "plain go error"},
		{"nothing.here", string(nodeipc.CodeNoHandler), ""},
	} {
		e := req(c.event, nil, nil)
		if e["ok"] != false || e.str("name") != "RemoteError" || e.str("code") != c.code ||
			(c.message != "" && e.str("message") != c.message) {
			t.Fatalf("node requests Go %s: %v; want a RemoteError %s %q", c.event, e, c.code, c.message)
		}
	}

	before := p.stats()
	e := req("hold", map[string]any{"key": "late"}, map[string]any{"timeout": 300})
	if e["ok"] != false || e.str("code") != "ERR_IPC_TIMEOUT" {
		t.Fatalf("node's request with a timeout, the Go handler holding: %v", e)
	}
	within(t, r.entered, "the Go hold handler")
	r.release <- struct{}{}
	if e := req("echo", 3, nil); e["ok"] != true || e.raw("data") != "3" {
		t.Fatalf("echo after the late reply: %v", e)
	}
	after := p.stats()
	if after.counter("lateReplies") != before.counter("lateReplies")+1 || after.counter("timeouts") != before.counter("timeouts")+1 {
		t.Fatalf("the companion counted %d late replies and %d timeouts, before %d and %d",
			after.counter("lateReplies"), after.counter("timeouts"), before.counter("lateReplies"), before.counter("timeouts"))
	}
}

// A Go client and a node-ipc server with the companion request each other.
func TestRequestsGoClientAndNodeIPCServer(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		ep := newEndpoint(t, network)
		p := startCompanionPeer(t, ep.opts(lib, "server", nil))
		var r *goResponder
		c, connected := startGoClient(t, ep, func(c *nodeipc.Client) { r = newGoResponder(c.Handle) })
		within(t, connected, "connect")
		p.expect("connect")
		goRequestsNode(t, c.Request, c.RequestStats, p)
		nodeRequestsGo(t, p, map[string]any{"sock": 1}, r)
	})
}

// A node-ipc client with the companion and a Go server request each other.
func TestRequestsNodeIPCClientAndGoServer(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		socks := make(chan *nodeipc.Socket, 4)
		var r *goResponder
		srv, ep := listenGo(t, network, goConfig(), func(s *nodeipc.Server) {
			r = newGoResponder(s.Handle)
			s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
		})
		p := startCompanionPeer(t, ep.opts(lib, "client", nil))
		p.expect("connect")
		sock := within(t, socks, "the Go server's connect")
		goRequestsNode(t, func(ctx context.Context, event string, data any) (*nodeipc.Message, error) {
			return srv.Request(ctx, sock, event, data)
		}, srv.RequestStats, p)
		nodeRequestsGo(t, p, nil, r)
	})
}

// dataKeys returns the sorted member names of an event's data object.
func dataKeys(e event) string {
	d, _ := e["data"].(map[string]any)
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",")
}

// A plain node-ipc peer, which has no handler for nodeipc.request, is not
// disturbed by a Go request: it stays up and its events go on both ways;
// the request ends with its context. Replies written by hand follow the
// reply rules: "error": null is a success, an error wins over data, an
// error without a code is ERR_IPC_HANDLER_FAILED, a reply after the
// deadline is counted late.
func TestPlainNodeIPCServerGetsGoRequests(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		ep := newEndpoint(t, network)
		p := startPeer(t, ep.opts(lib, "server", map[string]any{"events": []string{"message", "nodeipc.request"}}))
		got := make(chan *nodeipc.Message, 4)
		c, connected := startGoClient(t, ep, func(c *nodeipc.Client) {
			c.On("message", func(m *nodeipc.Message) { got <- m })
		})
		within(t, connected, "connect")
		p.expect("connect")

		short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := c.Request(short, "echo", map[string]int{"x": 1})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a request to a plain node-ipc server: %v; want the context's deadline", err)
		}
		first := p.expect("event")
		if first.str("type") != nodeipc.EventRequest || dataKeys(first) != "data,event,rid" {
			t.Fatalf("the plain server received %v; want a nodeipc.request with data, event and rid", first)
		}
		// Its other events still work, both ways.
		if err := c.Emit("message", "after"); err != nil {
			t.Fatal(err)
		}
		if e := p.expect("event"); e.str("type") != "message" || e.raw("data") != `"after"` {
			t.Fatalf("the plain server got %v", e)
		}
		p.send(map[string]any{"cmd": "emit", "sock": 1, "type": "message", "data": "from node"})
		if m := within(t, got, "node's message"); string(m.Data) != `"from node"` {
			t.Fatalf("the Go client got %s", m.Data)
		}

		// Replies written by hand; the first answers the request that timed out.
		p.send(map[string]any{"cmd": "emit", "sock": 1, "type": nodeipc.EventReply,
			"data": map[string]any{"rid": first["data"].(map[string]any)["rid"], "data": "too late"}})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i, tc := range []struct {
			reply      map[string]any
			data, code string
		}{
			{reply: map[string]any{"error": nil, "data": map[string]any{"v": 7}}, data: `{"v":7}`},
			{reply: map[string]any{"error": map[string]any{"code": "E_X", "message": "both"}, "data": 1}, code: "E_X"},
			{reply: map[string]any{"error": map[string]any{"message": "no code"}}, code: string(nodeipc.CodeHandlerFailed)},
		} {
			done := make(chan error, 1)
			var m *nodeipc.Message
			go func() {
				var err error
				m, err = c.Request(ctx, "by.hand", i)
				done <- err
			}()
			e := p.expect("event")
			rid := e["data"].(map[string]any)["rid"]
			reply := map[string]any{"rid": rid}
			for k, v := range tc.reply {
				reply[k] = v
			}
			p.send(map[string]any{"cmd": "emit", "sock": 1, "type": nodeipc.EventReply, "data": reply})
			err := within(t, done, "the reply written by hand")
			var re *nodeipc.RemoteError
			switch {
			case tc.code == "" && (err != nil || !sameJSON(string(m.Data), tc.data)):
				t.Fatalf("reply %v: %v, %v; want %s", tc.reply, m, err, tc.data)
			case tc.code != "" && (!errors.As(err, &re) || string(re.Code) != tc.code):
				t.Fatalf("reply %v: %v; want a RemoteError %s", tc.reply, err, tc.code)
			}
		}
		if st := c.RequestStats(); st.Late != 1 || st.InFlight != 0 {
			t.Fatalf("%+v: want the reply after the deadline counted late", st)
		}
		p.sync()
	})
}

// A plain node-ipc client gets a Go server's request: not disturbed, and
// the request ends with its context.
func TestPlainNodeIPCClientGetsGoRequests(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		socks := make(chan *nodeipc.Socket, 4)
		got := make(chan *nodeipc.Message, 4)
		srv, ep := listenGo(t, network, goConfig(), func(s *nodeipc.Server) {
			s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
			s.On("message", func(m *nodeipc.Message) { got <- m })
		})
		p := startPeer(t, ep.opts(lib, "client", map[string]any{"events": []string{"message", "nodeipc.request"}}))
		p.expect("connect")
		sock := within(t, socks, "connect")
		short, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		_, err := srv.Request(short, sock, "echo", []int{1, 2})
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a request to a plain node-ipc client: %v; want the context's deadline", err)
		}
		if e := p.expect("event"); e.str("type") != nodeipc.EventRequest || dataKeys(e) != "data,event,rid" {
			t.Fatalf("the plain client received %v", e)
		}
		if err := srv.Emit(sock, "message", 5); err != nil {
			t.Fatal(err)
		}
		if e := p.expect("event"); e.str("type") != "message" || e.raw("data") != "5" {
			t.Fatalf("the plain client got %v", e)
		}
		p.send(map[string]any{"cmd": "emit", "type": "message", "data": "from node"})
		if m := within(t, got, "node's message"); string(m.Data) != `"from node"` {
			t.Fatalf("the Go server got %s", m.Data)
		}
		if st := srv.RequestStats(); st.InFlight != 0 {
			t.Fatalf("%+v: the request that ended is still in flight", st)
		}
		p.sync()
	})
}

// A Go server answers malformed requests from a node-ipc client as the wire
// format says: a request without a rid is not answered (reported on the
// server), one without a valid event name is answered
// ERR_IPC_INVALID_REQUEST, one for an event without a handler
// ERR_IPC_NO_HANDLER; the replies carry rid and no id.
func TestGoServerAnswersMalformedRequests(t *testing.T) {
	forEach(t, func(t *testing.T, lib int, network string) {
		errs := make(chan error, 8)
		_, ep := listenGo(t, network, goConfig(), func(s *nodeipc.Server) {
			s.On("error", func(m *nodeipc.Message) { errs <- m.Err })
		})
		p := startCompanionPeer(t, ep.opts(lib, "client", map[string]any{"events": []string{nodeipc.EventReply}}))
		p.expect("connect")
		raw := func(data map[string]any) {
			p.send(map[string]any{"cmd": "raw", "type": nodeipc.EventRequest, "data": data})
		}
		reply := func(rid float64) map[string]any {
			t.Helper()
			for {
				e := p.expect("event")
				if d, _ := e["data"].(map[string]any); e.str("type") == nodeipc.EventReply && d["rid"] == rid {
					return d
				}
			}
		}
		codeOf := func(d map[string]any) string {
			e, _ := d["error"].(map[string]any)
			s, _ := e["code"].(string)
			return s
		}

		raw(map[string]any{"event": "echo", "data": 1})
		var pe *nodeipc.ProtocolError
		if err := within(t, errs, "the Go server's report"); !errors.As(err, &pe) || pe.Code != nodeipc.CodeInvalidRequest {
			t.Fatalf("a request without a rid: the server reported %v; want %s", err, nodeipc.CodeInvalidRequest)
		}
		raw(map[string]any{"rid": 1e15, "event": "nothing.here"})
		if d := reply(1e15); codeOf(d) != string(nodeipc.CodeNoHandler) || dataKeys(event{"data": d}) != "error,rid" {
			t.Fatalf("a request for an event without a handler: %v", d)
		}
		raw(map[string]any{"rid": 1e15 + 1, "data": 1})
		if d := reply(1e15 + 1); codeOf(d) != string(nodeipc.CodeInvalidRequest) {
			t.Fatalf("a request without an event: %v; want %s", d, nodeipc.CodeInvalidRequest)
		}
		raw(map[string]any{"rid": 1e15 + 2, "event": 7})
		if d := reply(1e15 + 2); codeOf(d) != string(nodeipc.CodeInvalidRequest) {
			t.Fatalf("a request whose event is a number: %v; want %s", d, nodeipc.CodeInvalidRequest)
		}
		raw(map[string]any{"rid": 1e15 + 3, "event": ""})
		if d := reply(1e15 + 3); codeOf(d) != string(nodeipc.CodeInvalidRequest) {
			t.Fatalf("a request whose event is the empty string is answered %s, want %s", codeOf(d), nodeipc.CodeInvalidRequest)
		}
	})
}
