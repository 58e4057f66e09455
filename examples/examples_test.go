// Package examples_test builds every example and runs it as a user does: as
// real processes, both sides in one process and each side in its own,
// checking exit codes and the lines that show the exchange happened.
package examples_test

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// binDir holds the example binaries, built once by TestMain.
var binDir string

// raceEnabled is set by race_test.go when the tests run with -race; the
// examples are then built with -race too.
var raceEnabled bool

// procTimeout bounds every example process.
const procTimeout = 30 * time.Second

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nodeipc-examples-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	args := []string{"build", "-o", dir + string(filepath.Separator)}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./...")
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the examples: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	binDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// output is a stdout or stderr collected while the process runs.
type output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// proc is one running example.
type proc struct {
	t              *testing.T
	name           string
	args           []string
	cmd            *exec.Cmd
	stdout, stderr output
	done           chan struct{}
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, name, args...)
}

// startEnv starts an example with env added to the environment.
func startEnv(t *testing.T, env []string, name string, args ...string) *proc {
	t.Helper()
	exe := filepath.Join(binDir, name)
	if runtime.GOOS == "windows" {
		exe += ".exe"
	}
	p := &proc{t: t, name: name, args: args, cmd: exec.Command(exe, args...), done: make(chan struct{})}
	if raceEnabled {
		// A race-enabled program waits a second before it exits, unless
		// told not to.
		env = append(env, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	}
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
	})
	return p
}

func (p *proc) String() string {
	return fmt.Sprintf("%s %s\n--- stdout:\n%s--- stderr:\n%s", p.name, strings.Join(p.args, " "), p.stdout.String(), p.stderr.String())
}

// waitLine waits for a stdout line containing s and returns it.
func (p *proc) waitLine(s string) string {
	p.t.Helper()
	deadline := time.After(procTimeout)
	for {
		for _, l := range strings.Split(p.stdout.String(), "\n") {
			if strings.Contains(l, s) {
				return l
			}
		}
		select {
		case <-p.done:
			for _, l := range strings.Split(p.stdout.String(), "\n") {
				if strings.Contains(l, s) {
					return l
				}
			}
			p.t.Fatalf("exited without printing %q: %s", s, p)
		case <-deadline:
			p.t.Fatalf("no %q within %v: %s", s, procTimeout, p)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(procTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("did not exit within %v: %s", procTimeout, p)
	}
	return p.cmd.ProcessState.ExitCode()
}

// succeeds waits for a zero exit code.
func (p *proc) succeeds() *proc {
	p.t.Helper()
	if code := p.wait(); code != 0 {
		p.t.Fatalf("exit code %d, want 0: %s", code, p)
	}
	return p
}

// fails waits for exit code 1 and a stderr line containing why.
func (p *proc) fails(why string) *proc {
	p.t.Helper()
	if code := p.wait(); code != 1 || !strings.Contains(p.stderr.String(), why) {
		p.t.Fatalf("exit code %d, want 1 with %q on stderr: %s", code, why, p)
	}
	return p
}

// inOrder checks that stdout has lines containing each of want, in order
// (other lines may come between).
func (p *proc) inOrder(want ...string) {
	p.t.Helper()
	lines := strings.Split(p.stdout.String(), "\n")
	i := 0
	for _, w := range want {
		for i < len(lines) && !strings.Contains(lines[i], w) {
			i++
		}
		if i == len(lines) {
			p.t.Fatalf("no line %q (in this order: %q): %s", w, want, p)
		}
		i++
	}
}

// lacks checks that no stdout line contains s.
func (p *proc) lacks(s string) {
	p.t.Helper()
	if strings.Contains(p.stdout.String(), s) {
		p.t.Fatalf("unexpected %q: %s", s, p)
	}
}

var socketSeq atomic.Int64

// localPath returns a fresh local endpoint: a socket path in a short private
// directory (Unix socket paths are limited to about 100 bytes), or a pipe
// name on Windows.
func localPath(t *testing.T) string {
	t.Helper()
	if runtime.GOOS == "windows" {
		return fmt.Sprintf(`\\.\pipe\nodeipc-example-%d-%d`, os.Getpid(), socketSeq.Add(1))
	}
	dir, err := os.MkdirTemp("", "nipc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "app.world")
}

var portRe = regexp.MustCompile(`:(\d+)(?:\s|$)`)

// listeningPort waits for a server's "listening on HOST:PORT ..." line.
func (p *proc) listeningPort() string {
	p.t.Helper()
	l := p.waitLine("listening")
	m := portRe.FindStringSubmatch(strings.TrimSpace(l))
	if m == nil {
		p.t.Fatalf("no port in %q", l)
	}
	return m[1]
}

// transport is a -transport of the stream examples.
type transport struct {
	name      string
	listening string // in the server's "world: listening on" line
	args      func(t *testing.T) []string
}

// transports are the stream examples' transports, each with both sides in
// one process: a private local path, or any free port.
var transports = []transport{
	{"local", "world: listening on ", func(t *testing.T) []string { return []string{"-path", localPath(t)} }},
	{"tcp", "world: listening on 127.0.0.1:", func(*testing.T) []string { return []string{"-transport", "tcp", "-port", "0"} }},
	{"tls", " with TLS", func(*testing.T) []string { return []string{"-transport", "tls", "-port", "0"} }},
	{"mutual-tls", " with mutual TLS", func(*testing.T) []string { return []string{"-transport", "tls", "-port", "0", "-mutual"} }},
}

// eachTransport runs f in a parallel subtest per transport.
func eachTransport(t *testing.T, f func(t *testing.T, tr transport, args []string)) {
	t.Parallel()
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			f(t, tr, tr.args(t))
		})
	}
}

func TestBasic(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport, args []string) {
		start(t, "basic", args...).succeeds().inOrder(
			tr.listening,
			"hello: connected to world",
			"world: got a message: hello",
			"hello: got a message from world: hello world!",
			"world: a client disconnected",
		)
	})
}

// Without -path, -role both serves on a unique id in node-ipc's default
// socket root, here pointed at a temporary directory.
func TestBasicDefaultPath(t *testing.T) {
	t.Parallel()
	runtimeDir := filepath.Dir(localPath(t))
	p := startEnv(t, []string{"XDG_RUNTIME_DIR=" + runtimeDir}, "basic").succeeds()
	p.inOrder("world: listening on", "hello: got a message from world: hello world!")
	if runtime.GOOS != "windows" {
		p.inOrder("world: listening on " + filepath.Join(runtimeDir, "node-ipc", "app.world-"))
	}
}

func TestBasicServerAndClientProcesses(t *testing.T) {
	t.Parallel()
	t.Run("local", func(t *testing.T) {
		t.Parallel()
		path := localPath(t)
		srv := start(t, "basic", "-role", "server", "-path", path, "-clients", "1")
		srv.waitLine("world: listening on " + path)
		start(t, "basic", "-role", "client", "-path", path).succeeds().inOrder(
			"hello: connected to world",
			"hello: got a message from world: hello world!",
		)
		srv.succeeds().inOrder("world: got a message: hello", "world: a client disconnected")
		srv.lacks("hello:")
	})
	t.Run("tcp", func(t *testing.T) {
		t.Parallel()
		srv := start(t, "basic", "-role", "server", "-transport", "tcp", "-port", "0", "-clients", "1")
		port := srv.listeningPort()
		start(t, "basic", "-role", "client", "-transport", "tcp", "-port", port).succeeds().
			inOrder("hello: connected to world", "hello: got a message from world: hello world!")
		srv.succeeds().inOrder("world: got a message: hello", "world: a client disconnected")
	})
}

// The server makes the certificates in -certs; a client without a
// certificate is refused by a mutual-TLS server, which goes on serving the
// next client, which has one.
func TestBasicMutualTLSProcesses(t *testing.T) {
	t.Parallel()
	certs := t.TempDir()
	srv := start(t, "basic", "-role", "server", "-transport", "tls", "-certs", certs, "-port", "0", "-mutual", "-clients", "1")
	port := srv.listeningPort()
	start(t, "basic", "-role", "client", "-transport", "tls", "-certs", certs, "-port", port, "-timeout", "1s").
		fails("no answer from world").lacks("hello: got a message")
	srv.waitLine("world: error:")
	start(t, "basic", "-role", "client", "-transport", "tls", "-certs", certs, "-port", port, "-mutual").succeeds().
		inOrder("hello: connected to world", "hello: got a message from world: hello world!")
	srv.succeeds().inOrder("world: got a message: hello", "world: a client disconnected")
}

func TestBasicClientFailsWithoutServer(t *testing.T) {
	t.Parallel()
	start(t, "basic", "-role", "client", "-path", localPath(t), "-timeout", "300ms").
		fails("no answer from world")
}

func TestBadFlags(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		args []string
		why  string
	}{
		{"basic", []string{"-role", "nobody"}, `unknown -role "nobody"`},
		{"broadcast", []string{"-role", "client"}, `unknown -role "client"`},
		{"raw-buffer", []string{"-transport", "carrier-pigeon"}, `unknown -transport "carrier-pigeon"`},
		{"basic-sync", []string{"-role", "client", "-transport", "tls"}, "needs -certs DIR"},
		{"udp", []string{"-role", "client"}, `unknown -role "client"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			start(t, c.name, c.args...).fails(c.why)
		})
	}
}

// syncLines is the exchange of n messages in sync mode: each question is
// answered before the next one arrives.
func syncLines(n int) []string {
	var want []string
	for i := range n {
		want = append(want,
			fmt.Sprintf("world: got hello%d from hello (1 waiting)", i),
			fmt.Sprintf("hello: got a message from world: hello%d world!", i))
	}
	return append(want, "world: a client disconnected")
}

func TestBasicSync(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport, args []string) {
		p := start(t, "basic-sync", append(args, "-n", "4", "-delay", "10ms")...).succeeds()
		p.inOrder(tr.listening)
		p.inOrder(syncLines(4)...)
	})
}

func TestBasicSyncServerAndClientProcesses(t *testing.T) {
	t.Parallel()
	path := localPath(t)
	srv := start(t, "basic-sync", "-role", "server", "-path", path, "-clients", "1", "-delay", "10ms")
	srv.waitLine("world: listening on")
	start(t, "basic-sync", "-role", "client", "-path", path, "-n", "3").succeeds().inOrder(
		"hello: got a message from world: hello0 world!",
		"hello: got a message from world: hello1 world!",
		"hello: got a message from world: hello2 world!",
	)
	srv.succeeds().inOrder("world: got hello0 from hello (1 waiting)", "world: got hello2 from hello (1 waiting)")
	srv.lacks("(2 waiting)")
}

// Without sync mode the questions pile up at the server, and the example
// says so: its check is real.
func TestBasicSyncNoticesWhenSyncIsOff(t *testing.T) {
	t.Parallel()
	start(t, "basic-sync", "-path", localPath(t), "-n", "3", "-delay", "300ms", "-sync=false").
		fails("questions piled up").inOrder("world: got hello1 from hello (2 waiting)")
}

func TestBroadcast(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport, args []string) {
		p := start(t, "broadcast", args...).succeeds()
		p.inOrder(tr.listening)
		for _, id := range []string{"hello", "goodbye"} {
			p.inOrder(
				id+": connected to world",
				id+": got a message from world: "+id+" world!",
				id+": world requested kill.connection",
			)
			p.inOrder("world: got a message from "+id+": "+id, "world: got all required events")
		}
		p.inOrder("world: got all required events", "world: a client disconnected", "world: a client disconnected")
	})
}

func TestBroadcastServerAndClientProcesses(t *testing.T) {
	t.Parallel()
	path := localPath(t)
	srv := start(t, "broadcast", "-role", "server", "-path", path, "-clients", "2")
	srv.waitLine("world: listening on")
	hello := start(t, "broadcast", "-role", "hello", "-path", path)
	goodbye := start(t, "broadcast", "-role", "goodbye", "-path", path)
	for _, c := range []*proc{hello, goodbye} {
		id := c.args[1]
		c.succeeds().inOrder(id+": got a message from world: "+id+" world!", id+": world requested kill.connection")
	}
	srv.succeeds().inOrder("world: got all required events", "world: a client disconnected", "world: a client disconnected")
}

func TestRawBuffer(t *testing.T) {
	eachTransport(t, func(t *testing.T, tr transport, args []string) {
		start(t, "raw-buffer", args...).succeeds().inOrder(
			tr.listening,
			"hello: connected to world",
			`world: got "hello", answering`,
			// "hello" + "goodbye" + [10, 20, 30], in however many reads.
			"hello: got all 15 bytes: 68656c6c6f676f6f646279650a141e",
			"world: a client disconnected",
		)
	})
}

func TestRawBufferServerAndClientProcesses(t *testing.T) {
	t.Parallel()
	srv := start(t, "raw-buffer", "-role", "server", "-transport", "tcp", "-port", "0", "-clients", "1")
	port := srv.listeningPort()
	start(t, "raw-buffer", "-role", "client", "-transport", "tcp", "-port", port).succeeds().
		inOrder("hello: got all 15 bytes: 68656c6c6f676f6f646279650a141e")
	srv.succeeds().inOrder(`world: got "hello", answering`)
}

func skipWithoutIPv6(t *testing.T) {
	pc, err := net.ListenPacket("udp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback here:", err)
	}
	pc.Close()
}

// eachUDP runs f in a parallel subtest for udp4 and udp6.
func eachUDP(t *testing.T, f func(t *testing.T, udp string)) {
	t.Parallel()
	for _, udp := range []string{"udp4", "udp6"} {
		t.Run(udp, func(t *testing.T) {
			t.Parallel()
			if udp == "udp6" {
				skipWithoutIPv6(t)
			}
			f(t, udp)
		})
	}
}

const loved = "Everybody loves the world! Got messages from hello and goodbye!"

func TestUDP(t *testing.T) {
	eachUDP(t, func(t *testing.T, udp string) {
		p := start(t, "udp", "-udp", udp, "-port", "0").succeeds()
		p.inOrder("world: listening on "+udp, "world: got messages from hello and goodbye, telling everyone")
		for _, id := range []string{"hello", "goodbye"} {
			text := map[string]string{"hello": "Hello", "goodbye": "Goodbye"}[id]
			p.inOrder(id+": listening on "+udp, "world: got a message from "+id+": "+text)
			p.inOrder(id + ": got a message from world: " + text + " world!")
			p.inOrder("world: got messages from hello and goodbye", id+": got a message from world: "+loved)
		}
	})
}

// World and hello alone are node-ipc's basic UDP example; with goodbye and
// -broadcast, its Multi-Client-Broadcast.
func TestUDPServerAndClientProcesses(t *testing.T) {
	eachUDP(t, func(t *testing.T, udp string) {
		srv := start(t, "udp", "-role", "server", "-udp", udp, "-port", "0", "-clients", "2")
		port := srv.listeningPort()
		start(t, "udp", "-role", "hello", "-udp", udp, "-port", port, "-own-port", "0").succeeds().
			inOrder("hello: got a message from world: Hello world!")
		srv.waitLine("world: got a message from hello: Hello")
		srv.lacks("telling everyone")
		start(t, "udp", "-role", "goodbye", "-udp", udp, "-port", port, "-own-port", "0", "-broadcast").succeeds().
			inOrder("goodbye: got a message from world: Goodbye world!", "goodbye: got a message from world: "+loved)
		srv.succeeds().inOrder("world: got a message from goodbye: Goodbye", "world: got messages from hello and goodbye, telling everyone")
	})
}

// With nobody at world's port, a client keeps sending, then gives up.
func TestUDPClientGivesUp(t *testing.T) {
	t.Parallel()
	port := deadUDPPort(t)
	start(t, "udp", "-role", "hello", "-port", port, "-own-port", "0", "-resend", "50ms", "-timeout", "300ms").
		fails("no answer from world").inOrder("hello: no answer yet, sending again")
}

// deadUDPPort returns a loopback UDP port that nobody listens on, most
// likely.
func deadUDPPort(t *testing.T) string {
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return fmt.Sprint(pc.LocalAddr().(*net.UDPAddr).Port)
}

func TestUDPRawBuffer(t *testing.T) {
	eachUDP(t, func(t *testing.T, udp string) {
		start(t, "udp-raw-buffer", "-udp", udp, "-port", "0", "-hello-port", "0").succeeds().inOrder(
			"world: listening on "+udp,
			"hello: listening on "+udp,
			`world: got "hello" from `,
			`hello: got "goodbye" from world`,
		)
	})
}

func TestUDPRawBufferServerAndClientProcesses(t *testing.T) {
	t.Parallel()
	srv := start(t, "udp-raw-buffer", "-role", "server", "-port", "0", "-datagrams", "1")
	port := srv.listeningPort()
	start(t, "udp-raw-buffer", "-role", "client", "-port", port, "-hello-port", "0").succeeds().
		inOrder(`hello: got "goodbye" from world`)
	srv.succeeds().inOrder(`world: got "hello" from 127.0.0.1:`)
}

func TestUDPRawBufferClientGivesUp(t *testing.T) {
	t.Parallel()
	start(t, "udp-raw-buffer", "-role", "client", "-port", deadUDPPort(t), "-hello-port", "0", "-resend", "50ms", "-timeout", "300ms").
		fails("no answer from world").inOrder("hello: no answer yet, sending again")
}

func TestBinary(t *testing.T) {
	t.Parallel()
	start(t, "binary", "-port", "0").succeeds().inOrder(
		"world: sending 00 02 00 ff ee cc (uint16 2, uint32 16772812)",
		"c-peer: read 00 02 00 ff ee cc: uint16 2, uint32 16772812 (0xffeecc)",
		"c-peer: sending 00 03 00 c0 ff ee (uint16 3, uint32 12648430)",
		"world: read 00 03 00 c0 ff ee: uint16 3, uint32 12648430 (0xc0ffee)",
	)
}

func TestBinaryServerAndClientProcesses(t *testing.T) {
	t.Parallel()
	srv := start(t, "binary", "-role", "server", "-port", "0", "-clients", "2")
	port := srv.listeningPort()
	for range 2 {
		start(t, "binary", "-role", "client", "-port", port).succeeds().
			inOrder("c-peer: read 00 02 00 ff ee cc: uint16 2, uint32 16772812")
	}
	srv.succeeds().inOrder("world: read 00 03 00 c0 ff ee", "world: read 00 03 00 c0 ff ee")
}
