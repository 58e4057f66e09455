package nodeipc_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/internal/leakcheck"
)

// workers are what a process of this test binary started as a worker runs
// instead of the tests: NODEIPC_TEST_WORKER=name or name:argument runs
// workers[name](argument). Test files add theirs.
var workers = map[string]func(arg string) int{}

// TestMain fails the run if a goroutine of the library outlives the tests,
// or a closed connection is still counted as busy (see ReadSpin).
func TestMain(m *testing.M) {
	if mode := os.Getenv("NODEIPC_TEST_WORKER"); mode != "" {
		name, arg, _ := strings.Cut(mode, ":")
		if w := workers[name]; w != nil {
			os.Exit(w(arg))
		}
		fmt.Fprintf(os.Stderr, "no worker %q\n", name)
		os.Exit(2)
	}
	code := leakcheck.Run(m)
	if n, ends := nodeipc.BusyReaders(), nodeipc.TCPEnds(); code == 0 && (n != 0 || ends != 0) {
		fmt.Fprintf(os.Stderr, "closed connections are still counted: %d as busy readers, %d as TCP ends\n", n, ends)
		code = 1
	}
	os.Exit(code)
}

// tempRoot returns a short private directory for socket files (Unix socket
// paths are limited to about 100 bytes), removed after the test.
func tempRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir + "/"
}

// newIPC returns a silent instance whose socket root is private to the test
// and whose clients retry quickly.
func newIPC(t testing.TB) *nodeipc.IPC {
	t.Helper()
	ipc := nodeipc.New()
	ipc.Config.Silent = true
	ipc.Config.SocketRoot = tempRoot(t)
	ipc.Config.Retry = 20 * time.Millisecond
	ipc.Config.FlushTimeout = time.Second
	return ipc
}

// recv waits for a value from ch or fails the test after 10 s.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	return recvWithin(t, ch, 10*time.Second, what)
}

// waitUntil polls cond until it holds or fails the test after 10 s, for a
// state that no event announces.
func waitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// recvWithin waits up to d for a value from ch or fails the test: a guard
// against a hang for tests whose work takes long on a loaded machine under
// the race detector, not a measure of time.
func recvWithin[T any](t testing.TB, ch <-chan T, d time.Duration, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// transports are the stream transports every behaviour test runs over.
var transports = []string{"unix", "tcp"}

// testAddress returns a fresh address for network: a socket path in a
// private directory (a pipe name on Windows) or a loopback port chosen by
// the system.
func testAddress(t testing.TB, network string) string {
	t.Helper()
	if network != "unix" {
		return "127.0.0.1:0"
	}
	if runtime.GOOS == "windows" {
		return fmt.Sprintf("/nodeipc-test/%d-%d", time.Now().UnixNano(), rand.Int())
	}
	return tempRoot(t) + "s.sock"
}

func testConfig() *nodeipc.Config {
	c := nodeipc.DefaultConfig()
	c.Silent = true
	c.Retry = 20 * time.Millisecond
	c.FlushTimeout = time.Second
	return &c
}

// startServer starts a server and stops it (waiting for its goroutines)
// when the test ends. It returns the address clients dial.
func startServer(t testing.TB, network string, cfg *nodeipc.Config, setup func(*nodeipc.Server)) (*nodeipc.Server, string) {
	t.Helper()
	if cfg == nil {
		cfg = testConfig()
	}
	srv, err := nodeipc.NewServer(network, testAddress(t, network), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if setup != nil {
		setup(srv)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	addr := srv.Path()
	if network != "unix" {
		addr = srv.Addr().String()
	}
	return srv, addr
}

// startClient connects a client and closes it when the test ends. connected
// receives once per connect event.
func startClient(t testing.TB, network, addr string, cfg *nodeipc.Config, setup func(*nodeipc.Client)) (*nodeipc.Client, <-chan struct{}) {
	t.Helper()
	if cfg == nil {
		cfg = testConfig()
	}
	connected := make(chan struct{}, 16)
	c, err := nodeipc.NewClient("test", network, addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.On("connect", func(*nodeipc.Message) { connected <- struct{}{} })
	if setup != nil {
		setup(c)
	}
	c.Connect()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = c.Close(ctx)
	})
	return c, connected
}

// hostileFrames are frames a peer may send that are never delivered. alone
// marks the names a peer may not send: in the fast profile only that frame
// is refused (an error event) and the connection stays up; in the guarded
// profiles, and for every other frame, the connection is closed.
var hostileFrames = []struct {
	name  string
	bytes string
	code  nodeipc.Code
	alone bool
}{
	{"not JSON", "not json\f", nodeipc.CodeInvalidJSON, false},
	{"empty frame", "\f", nodeipc.CodeInvalidJSON, false},
	{"number", "5\f", nodeipc.CodeInvalidMessage, false},
	{"string", "\"str\"\f", nodeipc.CodeInvalidMessage, false},
	{"array", "[1]\f", nodeipc.CodeInvalidMessage, false},
	{"null", "null\f", nodeipc.CodeInvalidMessage, false},
	{"no type", "{\"data\":1}\f", nodeipc.CodeInvalidEvent, false},
	{"numeric type", "{\"type\":5}\f", nodeipc.CodeInvalidEvent, false},
	{"toString", "{\"type\":\"toString\"}\f", nodeipc.CodeInvalidEvent, true},
	{"constructor", "{\"type\":\"constructor\"}\f", nodeipc.CodeInvalidEvent, true},
	{"__proto__", "{\"type\":\"__proto__\"}\f", nodeipc.CodeInvalidEvent, true},
	{"error spoof", "{\"type\":\"error\",\"data\":\"x\"}\f", nodeipc.CodeReservedEvent, true},
	{"close spoof", "{\"type\":\"close\"}\f", nodeipc.CodeReservedEvent, true},
	{"connect spoof", "{\"type\":\"connect\"}\f", nodeipc.CodeReservedEvent, true},
	{"data as an event", "{\"type\":\"data\",\"data\":1}\f", nodeipc.CodeReservedEvent, true},
	{"wildcard", "{\"type\":\"*\",\"data\":1}\f", nodeipc.CodeReservedEvent, true},
	{"invalid UTF-8", "{\"type\":\"a\",\"data\":\"\xff\xfe\"}\f", nodeipc.CodeInvalidJSON, false},
	{"deep nesting", strings.Repeat("[", 100000) + "\f", nodeipc.CodeInvalidJSON, false},
	{"partial frame then EOF", "{\"type\":\"a\",\"da", nodeipc.CodeIncompleteFrame, false},
}

func dialRaw(t testing.TB, network, addr string) net.Conn {
	t.Helper()
	if network == "unix" {
		c, err := dialLocalForTest(addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

// rawServer accepts connections on a loopback port and hands each to serve.
func rawServer(t testing.TB, serve func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); serve(c) }()
		}
	}()
	return ln.Addr().String()
}

// startUDPServer starts a UDP server, skipping the test where the platform
// has no UDP sockets for Go: Wine, where the Windows build is tested, does
// not implement the socket ioctl Go sets on them.
func startUDPServer(t testing.TB, srv *nodeipc.Server) {
	t.Helper()
	if err := srv.Start(); err != nil {
		if runtime.GOOS == "windows" && strings.Contains(err.Error(), "wsaioctl") {
			t.Skip("UDP sockets are not available here (Wine):", err)
		}
		t.Fatal(err)
	}
}
