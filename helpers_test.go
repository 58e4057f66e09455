package nodeipc_test

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// workerMain, when a test file sets it, runs instead of the tests in a
// process started as a worker (NODEIPC_TEST_WORKER set).
var workerMain func() int

// TestMain fails the run if a goroutine of the library outlives the tests.
func TestMain(m *testing.M) {
	if workerMain != nil && os.Getenv("NODEIPC_TEST_WORKER") != "" {
		os.Exit(workerMain())
	}
	code := m.Run()
	if code == 0 {
		if leaked := waitNoLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitNoLeaks waits until no goroutine runs library code, and returns the
// stacks of those that still do after timeout.
func waitNoLeaks(timeout time.Duration) string {
	deadline := time.Now().Add(timeout)
	for {
		leaked := libraryGoroutines()
		if leaked == "" || time.Now().After(deadline) {
			return leaked
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func libraryGoroutines() string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/effeeea0/nodeipc.") && !strings.Contains(g, "_test.") &&
			!strings.Contains(g, "testing.tRunner") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
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

// recv waits for a value from ch or fails the test.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}
