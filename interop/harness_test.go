// Package interop tests nodeipc against real node-ipc 9.2.1,
// @achrinza/node-ipc 10.1.11 and node-ipc 14.0.0, each running as a Node.js
// process driven through interop/node/peer.mjs, or through
// companion/test/peer.mjs (node-ipc with nodeipc-companion) for
// request/response and acknowledged delivery.
package interop

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc/internal/nodeenv"
)

// versions are the node-ipc releases tested, by the alias in package.json.
var versions = []int{9, 10, 14}

var nodeDir string

func TestMain(m *testing.M) {
	if spec := os.Getenv(workerEnv); spec != "" {
		// This process is a Go endpoint a test started (and may kill).
		os.Exit(runWorker(spec))
	}
	if runtime.GOOS == "windows" {
		fmt.Println("interop: node-ipc peers run on Unix hosts; skipped on Windows")
		os.Exit(0)
	}
	dir, err := nodeenv.Ensure(nodeenv.Interop, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop:", err)
		os.Exit(1)
	}
	nodeDir = dir
	os.Exit(m.Run())
}

// event is one line a peer prints.
type event map[string]any

func (e event) str(k string) string { s, _ := e[k].(string); return s }

func (e event) raw(k string) string {
	b, _ := json.Marshal(e[k])
	return string(b)
}

// peer is a running node-ipc process.
type peer struct {
	t      testing.TB
	name   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan event
	stderr *strings.Builder
	done   chan struct{}
	mu     sync.Mutex
	pings  int
}

// startPeer runs peer.mjs with opts and waits for its ready line.
func startPeer(t testing.TB, opts map[string]any) *peer {
	t.Helper()
	p := launchPeer(t, opts)
	p.expect("ready")
	return p
}

// launchPeer runs peer.mjs with opts without waiting for it to be ready.
func launchPeer(t testing.TB, opts map[string]any) *peer {
	t.Helper()
	return launchScript(t, filepath.Join(nodeDir, "peer.mjs"), 2*time.Minute, opts)
}

// startCompanionPeer runs the companion's test peer (companion/test/peer.mjs:
// a node-ipc endpoint with nodeipc-companion attached, unless opts has
// "companion": false) with opts and waits for its ready line.
func startCompanionPeer(t testing.TB, opts map[string]any) *peer {
	t.Helper()
	script := filepath.Join(nodeDir, "..", "..", "companion", "test", "peer.mjs")
	p := launchScript(t, script, 5*time.Minute, opts)
	p.name = fmt.Sprintf("node-ipc %v %v with the companion", opts["lib"], opts["role"])
	p.expect("ready")
	return p
}

// launchScript runs a peer script with opts, killed after limit at the
// latest, without waiting for it to be ready.
func launchScript(t testing.TB, script string, limit time.Duration, opts map[string]any) *peer {
	t.Helper()
	if _, ok := opts["config"]; !ok {
		opts["config"] = map[string]any{}
	}
	b, _ := json.Marshal(opts)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	cmd := exec.CommandContext(ctx, "node", script, string(b))
	cmd.Dir = nodeDir
	cmd.Env = append(os.Environ(), "NODEIPC_INTEROP_NODE="+nodeDir+string(filepath.Separator))
	p := &peer{t: t, name: fmt.Sprintf("node-ipc %v %v", opts["lib"], opts["role"]), cmd: cmd,
		events: make(chan event, 100000), stderr: &strings.Builder{}, done: make(chan struct{})}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.stdin = stdin
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &lockedWriter{mu: &p.mu, b: p.stderr}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			var e event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = event{"ev": "garbage", "line": sc.Text()}
			}
			p.events <- e
		}
	}()
	t.Cleanup(func() {
		p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		cancel()
	})
	return p
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// send writes one command line.
func (p *peer) send(cmd map[string]any) {
	p.t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		p.t.Fatalf("%s: write command: %v", p.name, err)
	}
}

// expect waits for the next event named ev, skipping others it may ignore
// (lifecycle noise), and fails on a crash.
func (p *peer) expect(ev string) event {
	p.t.Helper()
	return p.expectWithin(ev, 20*time.Second)
}

func (p *peer) expectWithin(ev string, d time.Duration) event {
	p.t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case e, ok := <-p.events:
			if !ok {
				p.t.Fatalf("%s exited while waiting for %s; stderr:\n%s", p.name, ev, p.errText())
			}
			if e.str("ev") == "crash" {
				p.t.Fatalf("%s crashed: %v", p.name, e["message"])
			}
			if e.str("ev") == ev {
				return e
			}
		case <-p.done:
			// Drain what was printed before exit.
			select {
			case e := <-p.events:
				if e.str("ev") == ev {
					return e
				}
				continue
			default:
			}
			p.t.Fatalf("%s exited while waiting for %s; stderr:\n%s", p.name, ev, p.errText())
		case <-timer.C:
			p.t.Fatalf("%s: timed out waiting for %s; stderr:\n%s", p.name, ev, p.errText())
		}
	}
	// unreachable
}

// sync round-trips a ping so every earlier command has been executed.
func (p *peer) sync() {
	p.t.Helper()
	p.pings++
	n := p.pings
	p.send(map[string]any{"cmd": "ping", "n": n})
	for {
		e := p.expect("pong")
		if v, _ := e["n"].(float64); int(v) == n {
			return
		}
	}
}

func (p *peer) errText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// shortDir returns a short private directory (Unix socket paths are limited
// to about 100 bytes).
func shortDir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", "nix")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}
