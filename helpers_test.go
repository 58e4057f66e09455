package nodeipc_test

import (
	"os"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/internal/leakcheck"
)

// workerMain, when a test file sets it, runs instead of the tests in a
// process started as a worker (NODEIPC_TEST_WORKER set).
var workerMain func() int

// TestMain fails the run if a goroutine of the library outlives the tests.
func TestMain(m *testing.M) {
	if workerMain != nil && os.Getenv("NODEIPC_TEST_WORKER") != "" {
		os.Exit(workerMain())
	}
	os.Exit(leakcheck.Run(m))
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
