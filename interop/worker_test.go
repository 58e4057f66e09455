package interop

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/internal/acklog"
)

// workerEnv names the environment variable that turns the test binary into
// a worker: a Go endpoint in a process of its own, which a test can kill.
// Its value is "name:argument".
const workerEnv = "NODEIPC_INTEROP_WORKER"

// workers are the worker kinds, by name.
var workers = map[string]func(arg string) int{
	"ackserver": ackServerWorker,
}

// runWorker runs the worker spec names and returns the exit status.
func runWorker(spec string) int {
	name, arg, _ := strings.Cut(spec, ":")
	w := workers[name]
	if w == nil {
		fmt.Fprintf(os.Stderr, "no worker %q\n", name)
		return 2
	}
	return w(arg)
}

// ackServerWorker is a Go server with acknowledged delivery on network and
// address (arg "durable|network|address|log", durable "yes" or "no"). For
// each message of event "m" ({"k": n}) it appends "session seq k" to the
// log in one write; a durable one answers AckDelivered from that log after
// a restart. It prints "ready" once listening and "progress n" after every
// 100 messages this process delivered (the first may come before ready),
// and stops when stdin closes.
func ackServerWorker(arg string) int {
	parts := strings.SplitN(arg, "|", 4)
	if len(parts) != 4 {
		fmt.Fprintf(os.Stderr, "ackserver: bad argument %q\n", arg)
		return 2
	}
	durable, network, address, logPath := parts[0] == "yes", parts[1], parts[2], parts[3]
	count := 0
	srv, err := acklog.Server(durable, network, address, logPath, "m",
		func(m *nodeipc.Message) ([]byte, error) {
			var d struct{ K uint64 }
			if err := m.Decode(&d); err != nil {
				return nil, err
			}
			return []byte(strconv.FormatUint(d.K, 10)), nil
		},
		func() {
			if count++; count%100 == 0 {
				fmt.Printf("progress %d\n", count)
			}
		})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	srv.On("error", func(m *nodeipc.Message) { fmt.Fprintln(os.Stderr, "error:", m.Err) })
	if err := srv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = srv.Stop()
	return 0
}

// goWorker is a running worker process.
type goWorker struct {
	t      testing.TB
	spec   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan string
	mu     sync.Mutex
	stderr strings.Builder
	exited bool
}

// startGoWorker runs a worker (name:argument) and waits for its ready line.
// It is stopped when the test ends, unless it was killed before.
func startGoWorker(t testing.TB, spec string) *goWorker {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), workerEnv+"="+spec)
	w := &goWorker{t: t, spec: spec, cmd: cmd, lines: make(chan string, 1024)}
	cmd.Stderr = &lockedWriter{mu: &w.mu, b: &w.stderr}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	w.stdin = stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			w.lines <- sc.Text()
		}
	}()
	t.Cleanup(w.stop)
	// Its handlers may print before its ready line does.
	for l := w.next(); l != "ready"; l = w.next() {
		if !strings.HasPrefix(l, "progress ") {
			t.Fatalf("worker %s: %q instead of ready; stderr:\n%s", spec, l, w.errText())
		}
	}
	return w
}

// next returns the worker's next line, failing the test if it exits first.
func (w *goWorker) next() string {
	w.t.Helper()
	select {
	case l, ok := <-w.lines:
		if !ok {
			w.t.Fatalf("worker %s exited; stderr:\n%s", w.spec, w.errText())
		}
		return l
	case <-time.After(time.Minute):
		w.t.Fatalf("worker %s: no line within a minute; stderr:\n%s", w.spec, w.errText())
	}
	return ""
}

// expect skips lines until one that starts with prefix.
func (w *goWorker) expect(prefix string) string {
	w.t.Helper()
	for {
		if l := w.next(); strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// kill ends the worker with SIGKILL (on Unix) and waits for it.
func (w *goWorker) kill() {
	if w.exited {
		return
	}
	w.exited = true
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

// stop asks the worker to stop (its stdin closes), and kills it if it does
// not within a few seconds.
func (w *goWorker) stop() {
	if w.exited {
		return
	}
	w.exited = true
	w.stdin.Close()
	done := make(chan struct{})
	go func() { _ = w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = w.cmd.Process.Kill()
		<-done
	}
}

func (w *goWorker) errText() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stderr.String()
}
