// Package companion holds nodeipc-companion, the Node.js module that gives
// node-ipc 9, 10/12 and 14 programs nodeipc's request/response and
// acknowledged delivery. Its Go test runs the module's own tests (node's test
// runner, test/*.test.mjs) against the node-ipc releases pinned in
// interop/node, so that `go test ./...` covers it.
package companion

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc/internal/nodeenv"
)

// TestNodeCompanion runs `node --test` on the module's tests: real node-ipc
// processes with the companion attached, node to node, over Unix sockets
// and TCP.
func TestNodeCompanion(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the companion's tests run node-ipc peers on Unix hosts")
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	nodeDir, err := nodeenv.Ensure(nodeenv.Interop, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if d, ok := t.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-10*time.Second))
		defer cancel()
	}
	files, err := filepath.Glob(filepath.Join("test", "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no test/*.test.mjs files (%v)", err)
	}
	cmd := exec.CommandContext(ctx, "node", append([]string{"--test", "--test-reporter=spec"}, files...)...)
	cmd.Dir = wd
	cmd.Env = append(os.Environ(), "NODEIPC_INTEROP_NODE="+nodeDir+string(filepath.Separator), "NO_COLOR=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<16), 1<<22)
	for sc.Scan() {
		t.Log(sc.Text())
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node --test: %v (its output is above)", err)
	}
}

// testWriter writes nodeenv's progress lines to the test's log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}
