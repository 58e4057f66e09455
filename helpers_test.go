package nodeipc_test

import (
	"fmt"
	"os"
	"strings"
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
