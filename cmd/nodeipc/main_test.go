package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// bin is the nodeipc binary built for these tests: they drive it as a user
// does, as separate processes.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nodeipc-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "nodeipc")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building nodeipc: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the binary to completion with stdin.
func runCLI(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("nodeipc %v did not finish; stdout %q stderr %q", args, out.String(), errb.String())
	}
	return result{out.String(), errb.String(), cmd.ProcessState.ExitCode()}
}

// background is a long-running nodeipc process whose stdout is read line by
// line.
type background struct {
	t     *testing.T
	cmd   *exec.Cmd
	lines chan string
	all   bytes.Buffer
	errb  bytes.Buffer
}

func startBackground(t *testing.T, args ...string) *background {
	t.Helper()
	b, _ := startBackgroundWith(t, false, args...)
	return b
}

// startTyping starts a long-running nodeipc process whose stdin is a pipe
// the test writes to.
func startTyping(t *testing.T, args ...string) (*background, io.WriteCloser) {
	t.Helper()
	return startBackgroundWith(t, true, args...)
}

func startBackgroundWith(t *testing.T, withStdin bool, args ...string) (*background, io.WriteCloser) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	var stdin io.WriteCloser
	if withStdin {
		var err error
		if stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &background{t: t, cmd: cmd, lines: make(chan string, 1000)}
	cmd.Stderr = &b.errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			b.lines <- sc.Text()
		}
		close(b.lines)
	}()
	t.Cleanup(func() {
		if b.cmd.ProcessState == nil && b.cmd.Process != nil {
			_ = b.cmd.Process.Kill()
			_ = b.cmd.Wait()
		}
	})
	return b, stdin
}

// waitFor returns the first line containing s.
func (b *background) waitFor(s string) string {
	b.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case l, ok := <-b.lines:
			if !ok {
				b.t.Fatalf("output ended before %q; got:\n%s", s, b.all.String())
			}
			b.all.WriteString(l + "\n")
			if strings.Contains(l, s) {
				return l
			}
		case <-deadline:
			b.t.Fatalf("no %q within 15s; got:\n%s", s, b.all.String())
		}
	}
}

// interrupt sends Ctrl-C and returns the exit code.
func (b *background) interrupt() int {
	b.t.Helper()
	return b.signal(syscall.SIGINT)
}

// signal sends sig (on Windows, kills) and returns the exit code.
func (b *background) signal(sig syscall.Signal) int {
	b.t.Helper()
	if runtime.GOOS == "windows" {
		_ = b.cmd.Process.Kill()
	} else {
		_ = b.cmd.Process.Signal(sig)
	}
	return b.wait()
}

// wait waits for the process to end, keeping its output, and returns the
// exit code.
func (b *background) wait() int {
	b.t.Helper()
	done := make(chan struct{})
	go func() {
		for l := range b.lines {
			b.all.WriteString(l + "\n")
		}
		close(done)
	}()
	<-done // all of stdout was read: the process closed it
	_ = b.cmd.Wait()
	return b.cmd.ProcessState.ExitCode()
}

type printed struct {
	Event     string          `json:"event"`
	At        string          `json:"at"`
	Peer      string          `json:"peer"`
	Direction string          `json:"direction"`
	Endpoint  string          `json:"endpoint"`
	Data      json.RawMessage `json:"data"`
	Code      string          `json:"code"`
	Text      string          `json:"text"`
	Hex       string          `json:"hex"`
}

// listenAddr returns the HOST:PORT (or path) of the JSON "listening" line
// of serve or proxy: its endpoint without the network.
func listenAddr(t *testing.T, l string) string {
	t.Helper()
	var j printed
	if err := json.Unmarshal([]byte(l), &j); err != nil || j.Event != "listening" {
		t.Fatalf("not a JSON listening line: %q", l)
	}
	_, addr, ok := strings.Cut(j.Endpoint, ":")
	if !ok {
		t.Fatalf("endpoint %q has no network", j.Endpoint)
	}
	return addr
}

func parseLines(t *testing.T, s string) []printed {
	t.Helper()
	var out []printed
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		var j printed
		if err := json.Unmarshal([]byte(l), &j); err != nil {
			t.Fatalf("not a JSON line: %q", l)
		}
		out = append(out, j)
	}
	return out
}

func TestDemo(t *testing.T) {
	root := t.TempDir()
	r := runCLI(t, "", "demo", "--socket-root", root)
	if r.code != 0 {
		t.Fatalf("exit %d: %s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"listening", "server <- alice  hello", "server <- bob    hello",
		"alice  <- server welcome", "bob    <- server news", "socket.disconnected alice", "socket.disconnected bob", "stopped"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	if left, _ := os.ReadDir(root); len(left) != 0 {
		t.Errorf("demo left %v behind", left)
	}
}

func TestServeAndEmit(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "app.world")
	srv := startBackground(t, "serve", sock, "--echo", "--json")
	srv.waitFor("listening")

	r := runCLI(t, "", "emit", sock, `message={"hello":"wörld <>&\u2028"}`, "ping", "--wait", "message", "--json")
	if r.code != 0 {
		t.Fatalf("emit exit %d: %s", r.code, r.stderr)
	}
	got := parseLines(t, r.stdout)
	if len(got) != 1 || got[0].Event != "message" || string(got[0].Data) != `{"hello":"wörld <>&\u2028"}` {
		t.Fatalf("emit printed %+v", got)
	}
	l := srv.waitFor(`"event":"ping"`)
	if !strings.Contains(l, `"data":{}`) {
		t.Errorf("an event without data arrives with {} (node-ipc's envelope): %s", l)
	}
	srv.waitFor("socket.disconnected")

	// Without --wait, emit exits 0 once the events are written.
	if r := runCLI(t, "", "emit", sock, "one=1", "two=2"); r.code != 0 || r.stdout != "" {
		t.Fatalf("emit without --wait: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	srv.waitFor(`"event":"one"`)
	srv.waitFor(`"event":"two"`)

	if code := srv.interrupt(); code != exitInterrupted {
		t.Errorf("serve after Ctrl-C: exit %d, want %d", code, exitInterrupted)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the socket file is left behind after Ctrl-C: %v", err)
	}
}

func TestServeReplies(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "replies.jsonl")
	if err := os.WriteFile(script, []byte(`{"on":"ping","type":"pong","data":{"ok":true}}
{"on":"job","type":"job.accepted"}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startBackground(t, "serve", "--tcp", "127.0.0.1:0", "--replies", script, "--json")
	addr := listenAddr(t, srv.waitFor("listening"))

	r := runCLI(t, "", "emit", "--tcp", addr, "ping", "--wait", "pong", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"data":{"ok":true}`) {
		t.Fatalf("pong: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, "", "emit", "--tcp", addr, `job={"id":7}`, "--wait", "job.accepted", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"data":{"id":7}`) {
		t.Fatalf("job.accepted echoes the data: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	srv.interrupt()

	bad := filepath.Join(dir, "bad.jsonl")
	_ = os.WriteFile(bad, []byte("{\"on\":\"x\"}\n"), 0o600)
	if r := runCLI(t, "", "serve", "--tcp", "127.0.0.1:0", "--replies", bad); r.code != exitUsage || !strings.Contains(r.stderr, "line 1") {
		t.Errorf("a bad reply script: exit %d, %q", r.code, r.stderr)
	}
}

func TestConnectPipesJSONLines(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.c")
	srv := startBackground(t, "serve", sock, "--echo")
	srv.waitFor("listening")
	// Both forms: node-ipc's envelope, and EVENT JSON or EVENT alone.
	in := `{"type":"first","data":{"n":1}}
{"type":"second","data":"two"}

{"type":"third"}
fourth {"n": [4]}
fifth
	sixth	"six"
`
	r := runCLI(t, in, "connect", sock, "--count", "6", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var events []string
	for _, l := range parseLines(t, r.stdout) {
		if l.Event != "connect" && l.Event != "waiting" {
			events = append(events, l.Event+" "+string(l.Data))
		}
	}
	want := []string{`first {"n":1}`, `second "two"`, `third {}`, `fourth {"n":[4]}`, `fifth {}`, `sixth "six"`}
	if strings.Join(events, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", events, want)
	}

	// A malformed line: a one-line reason naming it, exit 1.
	r = runCLI(t, "{\"type\":\"ok\"}\n{\"type\":\n", "connect", sock)
	if r.code != exitFailure || !strings.Contains(r.stderr, "stdin line 2") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("malformed line: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "{\"data\":1}\n", "connect", sock)
	if r.code != exitFailure || !strings.Contains(r.stderr, `"type" is missing`) {
		t.Fatalf("line without type: exit %d, stderr %q", r.code, r.stderr)
	}
	r = runCLI(t, "ping {\"n\":1}\nping hello\n", "connect", sock)
	if r.code != exitFailure || !strings.Contains(r.stderr, "stdin line 2") || !strings.Contains(r.stderr, "not JSON") {
		t.Fatalf("short form with data that is not JSON: exit %d, stderr %q", r.code, r.stderr)
	}
	srv.interrupt()
}

func TestRawMode(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.raw")
	srv := startBackground(t, "serve", sock, "--raw", "--echo", "--json")
	srv.waitFor("listening")
	r := runCLI(t, "", "emit", sock, "--raw", "--encoding", "hex", "056d5cfffe000c", "--wait", "data", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := parseLines(t, r.stdout); len(got) != 1 || got[0].Hex != "056d5cfffe000c" {
		t.Fatalf("raw echo: %+v", got)
	}
	if l := srv.waitFor(`"event":"data"`); !strings.Contains(l, `"hex":"056d5cfffe000c"`) {
		t.Fatalf("server saw %s", l)
	}
	r = runCLI(t, "", "emit", sock, "--raw", "--encoding", "hex", "zz")
	if r.code != exitFailure || !strings.Contains(r.stderr, "ERR_IPC_INVALID_RAW") && !strings.Contains(r.stderr, "hex") {
		t.Fatalf("invalid hex: exit %d, %q", r.code, r.stderr)
	}
	srv.interrupt()
}

func TestFailuresExitCodes(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "app.quiet")
	srv := startBackground(t, "serve", sock)
	srv.waitFor("listening")

	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown flag", []string{"serve", "--bogus"}, exitUsage, "unknown flag: --bogus"},
		{"unknown command", []string{"sever"}, exitUsage, "unknown command"},
		{"no endpoint", []string{"serve"}, exitUsage, "give a local id or socket path"},
		{"two endpoints", []string{"serve", "x", "--tcp", ":1"}, exitUsage, "give one endpoint"},
		{"bad port", []string{"serve", "--tcp", "127.0.0.1:99999"}, exitUsage, "bad port"},
		{"bad address", []string{"connect", "--tcp", "nohostport"}, exitUsage, "want HOST:PORT"},
		{"cert without tls", []string{"serve", "--tcp", ":0", "--cert", "x.pem"}, exitUsage, "go with --tls"},
		{"tls server without key", []string{"serve", "--tls", "127.0.0.1:0"}, exitUsage, "serve --tls needs --cert and --key"},
		{"tls cert without key", []string{"connect", "--tls", "127.0.0.1:1", "--cert", "c.pem"}, exitUsage, "--cert and --key go together"},
		{"tls unreadable cert", []string{"serve", "--tls", "127.0.0.1:0", "--cert", filepath.Join(dir, "no.pem"), "--key", filepath.Join(dir, "no-key.pem")}, exitFailure, "ERR_IPC_TLS_CONFIGURATION: cannot read"},
		{"empty delimiter", []string{"serve", "--tcp", ":0", "--delimiter", ""}, exitUsage, "--delimiter is empty"},
		{"unknown encoding", []string{"serve", "--tcp", ":0", "--encoding", "bogus"}, exitUsage,
			`--encoding "bogus": want utf8, hex, base64, base64url, ascii, latin1, binary, utf16le or ucs2`},
		{"unknown parser", []string{"serve", "--tcp", ":0", "--parser", "strict"}, exitUsage, `--parser "strict": want raw, fast, guarded or assured`},
		{"assured without allow", []string{"serve", "--tcp", ":0", "--parser", "assured"}, exitUsage, "--allow"},
		{"bad size", []string{"serve", "--tcp", ":0", "--max-message", "lots"}, exitUsage, "--max-message"},
		{"data not JSON", []string{"emit", sock, "message=hello"}, exitUsage, "not JSON"},
		{"emit without event", []string{"emit", sock}, exitUsage, "at least one"},
		{"unreachable path", []string{"emit", filepath.Join(dir, "nobody"), "x"}, exitFailure, "could not reach"},
		{"unreachable port", []string{"emit", "--tcp", "127.0.0.1:1", "x"}, exitFailure, "could not reach"},
		{"reply never comes", []string{"emit", sock, "x", "--wait", "y", "--timeout", "300ms"}, exitTimeout, `no "y" within 300ms`},
		{"not a socket", []string{"serve", filepath.Join(dir)}, exitFailure, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := runCLI(t, "", c.args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d; stderr %q", r.code, c.code, r.stderr)
			}
			msg := strings.TrimSpace(r.stderr)
			if !strings.HasPrefix(msg, "nodeipc: ") || strings.Contains(msg, "\n") || !strings.Contains(msg, c.msg) {
				t.Fatalf("want one line containing %q, got %q", c.msg, r.stderr)
			}
			// Said once, in the words of the command line.
			if strings.Contains(msg, "nodeipc: nodeipc:") {
				t.Errorf("doubled prefix: %q", msg)
			}
			for _, goName := range []string{"Private", "Public", "Delimiter", "MaxMessageSize", "MaxReadBuffer", "MaxPendingBytes", "AllowedEvents", "Config."} {
				if strings.Contains(msg, goName) {
					t.Errorf("the message names the Go setting %s: %q", goName, msg)
				}
			}
			if r.stdout != "" {
				t.Errorf("a failure is reported on stderr only; stdout has %q", r.stdout)
			}
		})
	}
	srv.interrupt()
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("socket left behind: %v", err)
	}
}

func TestConnectInterrupted(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.i")
	srv := startBackground(t, "serve", sock)
	srv.waitFor("listening")
	c := exec.Command(bin, "connect", sock)
	c.Env = append(os.Environ(), "NO_COLOR=1")
	stdin, _ := c.StdinPipe()
	out, _ := c.StdoutPipe()
	var errb bytes.Buffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(out)
	if l, err := br.ReadString('\n'); err != nil || !strings.Contains(l, "connect") {
		t.Fatalf("connect line: %q %v", l, err)
	}
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT to send on Windows")
	}
	_ = c.Process.Signal(syscall.SIGINT)
	go io.Copy(io.Discard, br)
	_ = c.Wait()
	stdin.Close()
	if code := c.ProcessState.ExitCode(); code != exitInterrupted || strings.TrimSpace(errb.String()) != "nodeipc: interrupted" {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
	srv.waitFor("socket.disconnected")
	srv.interrupt()
}

func TestProxyShowsAndForwards(t *testing.T) {
	srv := startBackground(t, "serve", "--tcp", "127.0.0.1:0", "--echo", "--json")
	target := listenAddr(t, srv.waitFor("listening"))
	sock := filepath.Join(t.TempDir(), "app.proxy")
	px := startBackground(t, "proxy", "--listen", "unix:"+sock, "--to", "tcp:"+target, "--json")
	px.waitFor("listening")

	r := runCLI(t, "", "emit", sock, `hello={"n":1}`, "--wait", "hello", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"data":{"n":1}`) {
		t.Fatalf("through the proxy: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	to := px.waitFor(`"direction":"client-to-server"`)
	back := px.waitFor(`"direction":"server-to-client"`)
	for _, l := range []string{to, back} {
		if !strings.Contains(l, `"event":"hello"`) || !strings.Contains(l, `"data":{"n":1}`) || !strings.Contains(l, `"ms":`) {
			t.Errorf("proxy line %s", l)
		}
	}
	if code := px.interrupt(); code != exitInterrupted {
		t.Errorf("proxy exit %d", code)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("proxy socket left behind: %v", err)
	}
	srv.interrupt()
}

func TestBenchPrintsFigures(t *testing.T) {
	dir := t.TempDir()
	svg, out := filepath.Join(dir, "b.svg"), filepath.Join(dir, "b.json")
	r := runCLI(t, "", "bench", "--count", "3000", "--latency-count", "300", "--svg", svg, "--out", out)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"round trips/s", "p50 µs", "nodeipc local socket", "nodeipc tcp"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("bench output lacks %q:\n%s", want, r.stdout)
		}
	}
	var res []benchResult
	b, err := os.ReadFile(out)
	if err != nil || json.Unmarshal(b, &res) != nil || len(res) != 2 {
		t.Fatalf("--out: %v %s", err, b)
	}
	for _, x := range res {
		if x.RTTPerSec <= 0 || x.P50us <= 0 || x.P99us < x.P50us || x.Count != 3000 {
			t.Errorf("implausible figures %+v", x)
		}
	}
	if s, err := os.ReadFile(svg); err != nil || !bytes.HasPrefix(s, []byte("<svg")) || !bytes.Contains(s, []byte("nodeipc tcp")) {
		t.Errorf("--svg: %v %.80s", err, s)
	}

	// Against a server given by address: nodeipc serve --echo.
	srv := startBackground(t, "serve", "--tcp", "127.0.0.1:0", "--echo", "--json")
	addr := listenAddr(t, srv.waitFor("listening"))
	r = runCLI(t, "", "bench", "--tcp", addr, "--count", "500", "--latency-count", "50", "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"rtt_per_sec"`) {
		t.Fatalf("bench --tcp: exit %d %s %s", r.code, r.stdout, r.stderr)
	}
	srv.interrupt()

	if r := runCLI(t, "", "bench", "--tcp", "127.0.0.1:1", "--count", "10", "--latency-count", "1"); r.code != exitFailure {
		t.Errorf("bench against nothing: exit %d %q", r.code, r.stderr)
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, sub := range []string{"serve", "connect", "emit", "proxy", "bench", "demo"} {
		r := runCLI(t, "", sub, "--help")
		if r.code != 0 || !strings.Contains(r.stdout, "Examples:") {
			t.Errorf("%s --help: exit %d, no examples:\n%s", sub, r.code, r.stdout)
		}
	}
	if r := runCLI(t, "", "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "nodeipc ") {
		t.Errorf("version: %d %q", r.code, r.stdout)
	}
	if r := runCLI(t, "", "completion", "bash"); r.code != 0 || !strings.Contains(r.stdout, "bash completion") {
		t.Errorf("completion bash: exit %d", r.code)
	}
}
