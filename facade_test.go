package nodeipc_test

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// node-ipc's own bug pattern: an emit followed by disconnect inside the
// connectTo callback, before the client has even started. node-ipc loses
// the emit; here it is sent, then the client closes.
func TestEmitThenDisconnectInConnectToCallbackIsDelivered(t *testing.T) {
	srvIPC := newIPC(t)
	srvIPC.Config.ID = "world"
	got := make(chan string, 4)
	srvIPC.Serve("", func() {
		srvIPC.Server.On("hello", func(m *nodeipc.Message) { got <- string(m.Data) })
	})
	if err := srvIPC.Server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srvIPC.Server.Stop() })

	ipc := newIPC(t)
	ipc.Config.SocketRoot = srvIPC.Config.SocketRoot
	var c *nodeipc.Client
	err := ipc.ConnectTo("world", "", func() {
		c = ipc.Of("world")
		if err := c.Emit("hello", "before disconnect"); err != nil {
			t.Error(err)
		}
		ipc.Disconnect("world")
	})
	if err != nil {
		t.Fatal(err)
	}
	if v := recv(t, got, "the emit made before disconnect"); v != `"before disconnect"` {
		t.Fatalf("got %s", v)
	}
	recv(t, c.Done(), "the client to end")
	if ipc.Of("world") != nil {
		t.Error("the client is still registered")
	}
}

// The same pattern against no server at all: the frame cannot be sent, and
// that is reported (an *UnsentError), not dropped silently.
func TestEmitThenDisconnectWithNoServerIsReported(t *testing.T) {
	ipc := newIPC(t)
	ipc.Config.FlushTimeout = 200 * time.Millisecond
	unsent := make(chan int, 1)
	var c *nodeipc.Client
	_ = ipc.ConnectTo("nobody", "", func() {
		c = ipc.Of("nobody")
		c.On("error", func(m *nodeipc.Message) {
			var ue *nodeipc.UnsentError
			if errors.As(m.Err, &ue) {
				unsent <- ue.Frames
			}
		})
		_ = c.Emit("hello", 1)
		ipc.Disconnect("nobody")
	})
	if n := recv(t, unsent, "the unsent report"); n != 1 {
		t.Fatalf("%d frames reported unsent, want 1", n)
	}
	recv(t, c.Done(), "the client to end")
}

// Retry, MaxRetries and StopRetrying are read from ipc.Config at each
// reconnect decision, as node-ipc reads ipc.config: a change made after
// connecting applies.
func TestFacadeReadsRetrySettingsLive(t *testing.T) {
	t.Run("StopRetrying set through Update", func(t *testing.T) {
		ipc := newIPC(t)
		ipc.Config.MaxRetries = nodeipc.RetryForever
		destroyed := make(chan struct{})
		attempts := make(chan struct{}, 1000)
		_ = ipc.ConnectTo("nobody", "", func() {
			c := ipc.Of("nobody")
			c.On("error", func(*nodeipc.Message) { attempts <- struct{}{} })
			c.On("destroy", func(*nodeipc.Message) { close(destroyed) })
		})
		for range 3 {
			recv(t, attempts, "a failed attempt")
		}
		ipc.Update(func(c *nodeipc.Config) { c.StopRetrying = true })
		recv(t, destroyed, "destroy once StopRetrying is set")
	})
	t.Run("MaxRetries read at each connect", func(t *testing.T) {
		srvIPC := newIPC(t)
		srvIPC.Config.ID = "world"
		srvIPC.Serve("", nil)
		if err := srvIPC.Server.Start(); err != nil {
			t.Fatal(err)
		}
		ipc := newIPC(t)
		ipc.Config.SocketRoot = srvIPC.Config.SocketRoot
		ipc.Config.MaxRetries = nodeipc.RetryForever
		connected, destroyed := make(chan struct{}, 1), make(chan struct{})
		var mu sync.Mutex
		attemptsAfterDrop := 0
		_ = ipc.ConnectTo("world", "", func() {
			c := ipc.Of("world")
			c.On("connect", func(*nodeipc.Message) { connected <- struct{}{} })
			c.On("error", func(m *nodeipc.Message) { mu.Lock(); attemptsAfterDrop++; mu.Unlock(); t.Logf("error: %v", m.Err) })
			c.On("destroy", func(*nodeipc.Message) { close(destroyed) })
		})
		recv(t, connected, "connect")
		// Changed while connected: node-ipc resets the retry count from
		// config.maxRetries when a connection is made, so the next
		// connection counts with it. Reconnect once to apply it.
		ipc.Update(func(c *nodeipc.Config) { c.MaxRetries = 1 })
		_ = srvIPC.Server.Stop()
		accepted := make(chan struct{}, 1)
		srvIPC.Serve("", func() {
			srvIPC.Server.On("connect", func(*nodeipc.Message) { accepted <- struct{}{} })
		})
		if err := srvIPC.Server.Start(); err != nil {
			t.Fatal(err)
		}
		recv(t, connected, "reconnect")
		recv(t, accepted, "the server to accept the reconnection") // not still in the listen backlog
		mu.Lock()
		attemptsAfterDrop = 0
		mu.Unlock()
		_ = srvIPC.Server.Stop()
		recv(t, destroyed, "destroy after one retry")
		mu.Lock()
		defer mu.Unlock()
		if attemptsAfterDrop != 1 {
			t.Fatalf("%d failed attempts after the server went away, want 1 (MaxRetries 1)", attemptsAfterDrop)
		}
	})
	t.Run("StopRetrying set in a disconnect handler", func(t *testing.T) {
		ipc := newIPC(t)
		destroyed := make(chan struct{})
		errorsSeen := 0
		_ = ipc.ConnectTo("nobody", "", func() {
			c := ipc.Of("nobody")
			c.On("error", func(*nodeipc.Message) { errorsSeen++ })
			// node-ipc's idiom: give up from the client's own handler.
			c.On("disconnect", func(*nodeipc.Message) { ipc.Config.StopRetrying = true })
			c.On("destroy", func(*nodeipc.Message) { close(destroyed) })
		})
		recv(t, destroyed, "destroy")
		if errorsSeen != 1 {
			t.Fatalf("%d attempts after StopRetrying was set in the first disconnect", errorsSeen)
		}
	})
}

// LogPayloads adds node-ipc 14's payload lines: what is sent and received,
// on both sides; without it only lifecycle lines are logged.
func TestLogPayloads(t *testing.T) {
	for _, on := range []bool{false, true} {
		var mu sync.Mutex
		var lines []string
		logger := func(s string) { mu.Lock(); lines = append(lines, s); mu.Unlock() }
		scfg, ccfg := testConfig(), testConfig()
		for _, c := range []*nodeipc.Config{scfg, ccfg} {
			c.Silent, c.LogInColor, c.LogPayloads, c.Logger = false, false, on, logger
		}
		got := make(chan struct{}, 1)
		_, addr := startServer(t, "tcp", scfg, func(s *nodeipc.Server) {
			s.On("ping", func(m *nodeipc.Message) { _ = s.Emit(m.Socket, "pong", m.Data) })
		})
		c, connected := startClient(t, "tcp", addr, ccfg, func(c *nodeipc.Client) {
			c.On("pong", func(*nodeipc.Message) { got <- struct{}{} })
		})
		recv(t, connected, "connect")
		if err := c.Emit("ping", map[string]any{"token": "abc"}); err != nil {
			t.Fatal(err)
		}
		recv(t, got, "pong")
		mu.Lock()
		all := strings.Join(lines, "\n")
		mu.Unlock()
		for _, want := range []string{
			"dispatching event to test " + addr + " : ping { token: 'abc' }", // client emit
			"received event ping { token: 'abc' }",                           // server
			"dispatching event to socket pong { token: 'abc' }",              // server emit
			"received event pong { token: 'abc' }",                           // client
		} {
			if strings.Contains(all, want) != on {
				t.Errorf("LogPayloads %v: line %q present: %v\n%s", on, want, !on, all)
			}
		}
		if !strings.Contains(all, "connected to") {
			t.Errorf("lifecycle lines missing:\n%s", all)
		}
	}
}

func TestInstancesAreIndependent(t *testing.T) {
	a, b := newIPC(t), newIPC(t)
	a.Config.ID, b.Config.ID = "a", "b"
	if err := a.Serve("", nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Serve("", nil); err != nil {
		t.Fatal(err)
	}
	if a.Server == b.Server || a.Server.Path() == b.Server.Path() {
		t.Fatal("instances share a server")
	}
	_ = a.ConnectTo("peer", "", nil)
	defer a.Disconnect("peer")
	if b.Of("peer") != nil {
		t.Fatal("instances share Of")
	}
}

func TestConnectToTwiceReusesALiveClient(t *testing.T) {
	ipc := newIPC(t)
	ipc.Config.Retry = time.Hour
	calls := 0
	if err := ipc.ConnectTo("x", "", func() { calls++ }); err != nil {
		t.Fatal(err)
	}
	first := ipc.Of("x")
	if err := ipc.ConnectTo("x", "", func() { calls++ }); err != nil {
		t.Fatal(err)
	}
	if ipc.Of("x") != first || calls != 2 {
		t.Fatalf("second ConnectTo replaced the client or skipped the callback (calls %d)", calls)
	}
	ipc.Disconnect("x")
	ipc.Disconnect("x") // unknown id: no-op
	if ipc.Of("x") != nil {
		t.Fatal("Disconnect left the client in Of")
	}
	<-first.Done()
}

func TestLogContract(t *testing.T) {
	ipc := nodeipc.New()
	var lines []string
	ipc.Config.Logger = func(s string) { lines = append(lines, s) }
	ipc.Config.LogInColor = false
	ipc.Config.LogDepth = 1
	ipc.Log("hello", 42, map[string]any{"a": map[string]any{"b": map[string]any{"c": 1}}}, []int{1, 2})
	if len(lines) != 1 {
		t.Fatalf("%d logger calls, want 1", len(lines))
	}
	if want := "hello 42 { a: { b: [Object] } } [ 1, 2 ]"; lines[0] != want {
		t.Fatalf("got %q, want %q", lines[0], want)
	}
	ipc.Config.Silent = true
	ipc.Log("quiet")
	if len(lines) != 1 {
		t.Fatal("Silent still logged")
	}
}
