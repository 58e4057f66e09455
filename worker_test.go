//go:build unix

package nodeipc_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// worker is a process of this test binary started as a worker.
type worker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// line returns the next line the worker prints, trimmed, or fails the test
// when the worker's output ends first.
func (w *worker) line(t *testing.T) string {
	t.Helper()
	line, err := w.out.ReadString('\n')
	if err != nil && line == "" {
		t.Fatalf("worker: %v", err)
	}
	return strings.TrimSpace(line)
}

// startWorker starts this test binary as a worker (NODEIPC_TEST_WORKER=mode,
// and env), calling prepare on the command first when it is not nil, and
// returns the first line the worker prints, trimmed. When the test ends the
// worker's stdin is closed and the test waits for it to exit (killing it
// after 10 s).
func startWorker(t *testing.T, mode string, env []string, prepare func(*exec.Cmd)) (*worker, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), "NODEIPC_TEST_WORKER="+mode), env...)
	cmd.Stderr = os.Stderr
	if prepare != nil {
		prepare(cmd)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w := &worker{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() {
		w.stdin.Close()
		done := make(chan error, 1)
		go func() { done <- w.cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			w.cmd.Process.Kill()
			<-done
		}
	})
	return w, w.line(t)
}

// request writes one line to the worker and returns the line it answers,
// trimmed.
func (w *worker) request(t *testing.T, line string) string {
	t.Helper()
	if _, err := io.WriteString(w.stdin, line+"\n"); err != nil {
		t.Fatalf("worker: %v", err)
	}
	answer, err := w.out.ReadString('\n')
	if err != nil {
		t.Fatalf("worker: no answer to %q: %v", line, err)
	}
	return strings.TrimSpace(answer)
}
