package main

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// checkValues fails when a field of a JSON line holds text layout: padding,
// an arrow, a colour, or nothing at all. Only data is the peer's.
func checkValues(t *testing.T, command, l string) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(l), &m); err != nil {
		t.Errorf("%s: not a JSON line: %q", command, l)
		return
	}
	for k, v := range m {
		if k == "data" {
			continue
		}
		switch v := v.(type) {
		case string:
			bad := v == "" || v != strings.TrimSpace(v) || strings.Contains(v, "  ") || strings.Contains(v, "\x1b")
			if k != "text" {
				bad = bad || strings.Contains(v, "->") || strings.Contains(v, "<-")
			}
			if bad {
				t.Errorf("%s: field %q holds layout, not a value: %q in %s", command, k, v, l)
			}
		case map[string]any, []any:
			t.Errorf("%s: field %q is not a plain value: %s", command, k, l)
		}
	}
}

func TestJSONLinesHoldValuesOnly(t *testing.T) {
	dir := t.TempDir()
	srv := startBackground(t, "serve", "--tcp", "127.0.0.1:0", "--echo", "--json")
	addr := listenAddr(t, srv.waitFor("listening"))
	sock := filepath.Join(dir, "app.px")
	px := startBackground(t, "proxy", "--listen", "unix:"+sock, "--to", "tcp:"+addr, "--json")
	px.waitFor("listening")

	outputs := map[string]string{}
	r := runCLI(t, "ping {\"n\":1}\nhello \"there\"\n", "connect", sock, "--count", "2", "--json")
	if r.code != 0 {
		t.Fatalf("connect: exit %d %s", r.code, r.stderr)
	}
	outputs["connect"] = r.stdout
	r = runCLI(t, "", "connect", filepath.Join(dir, "app.nobody"), "--max-retries", "1", "--retry", "10ms", "--json")
	outputs["connect (waiting)"] = r.stdout
	r = runCLI(t, "", "demo", "--socket-root", dir, "--json")
	if r.code != 0 {
		t.Fatalf("demo: exit %d %s", r.code, r.stderr)
	}
	outputs["demo"] = r.stdout
	r = runCLI(t, "", "version", "--json")
	outputs["version"] = r.stdout

	// A malformed frame through the proxy: shown by the proxy, an error for
	// the server. (On Windows the local endpoint is a named pipe.)
	if runtime.GOOS != "windows" {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "not json\f")
		io.Copy(io.Discard, c) // until the server closes
		c.Close()
		px.waitFor(`"event":"malformed"`)
		px.waitFor(`"event":"close"`)
		srv.waitFor(`"event":"error"`)
	}
	px.interrupt()
	srv.interrupt()
	outputs["proxy"], outputs["serve"] = px.all.String(), srv.all.String()

	for command, out := range outputs {
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) == 0 || lines[0] == "" {
			t.Errorf("%s printed nothing", command)
		}
		for _, l := range lines {
			checkValues(t, command, l)
		}
	}
}

func TestVersionReportsTheBuild(t *testing.T) {
	r := runCLI(t, "", "version", "--json")
	var v struct {
		Version, Revision, Time, Go, Platform string
		Modified                              *bool
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
		t.Fatalf("version --json: exit %d, %q", r.code, r.stdout)
	}
	if v.Version == "" || v.Go != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version --json: %+v", v)
	}
	// What Go recorded in the binary (nothing of the source revision when
	// built with -buildvcs=false).
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) == 2 && f[0] == "build" {
			k, val, _ := strings.Cut(f[1], "=")
			recorded[k] = val
		}
	}
	modified := ""
	if v.Modified != nil {
		modified = map[bool]string{true: "true", false: "false"}[*v.Modified]
	}
	if v.Revision != recorded["vcs.revision"] || v.Time != recorded["vcs.time"] || modified != recorded["vcs.modified"] {
		t.Errorf("version --json %+v (modified %q), the binary records %v", v, modified, recorded)
	}

	text := runCLI(t, "", "version")
	if !strings.HasPrefix(text.stdout, "nodeipc "+v.Version) || !strings.Contains(text.stdout, v.Revision) ||
		!strings.Contains(text.stdout, v.Go+" "+v.Platform) || strings.Count(text.stdout, "\n") != 1 {
		t.Errorf("version: %q", text.stdout)
	}
	if flag := runCLI(t, "", "--version"); flag.stdout != text.stdout {
		t.Errorf("--version %q, version %q", flag.stdout, text.stdout)
	}
}

func TestServeQuietPrintsNothingPerEvent(t *testing.T) {
	srv := startBackground(t, "serve", "--tcp", "127.0.0.1:0", "--echo", "--quiet", "--json")
	addr := listenAddr(t, srv.waitFor("listening"))
	for range 3 {
		if r := runCLI(t, "", "emit", "--tcp", addr, "ping", "--wait", "ping"); r.code != 0 {
			t.Fatalf("emit: exit %d %s", r.code, r.stderr)
		}
	}
	srv.interrupt()
	if n := countEvents(t, srv.all.String()); len(n) != 1 || n["listening"] != 1 {
		t.Errorf("serve --quiet printed %v:\n%s", n, srv.all.String())
	}
}

func TestCompletionOffersValues(t *testing.T) {
	for _, c := range []struct {
		args  []string
		words []string
	}{
		{[]string{"serve", "--parser", ""}, parsers},
		{[]string{"connect", "--parser", ""}, parsers},
		{[]string{"serve", "--encoding", ""}, encodings},
		{[]string{"emit", "--encoding", ""}, encodings},
	} {
		r := runCLI(t, "", append([]string{"__complete"}, c.args...)...)
		got := strings.Fields(r.stdout)
		for _, w := range c.words {
			if !strings.Contains(" "+strings.Join(got, " ")+" ", " "+w+" ") {
				t.Errorf("__complete %v offers %q, not %q", c.args, got, w)
			}
		}
	}
}

func TestSIGTERMCleansUpAsCtrlCDoes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGTERM on Windows")
	}
	dir := t.TempDir()
	sock, front := filepath.Join(dir, "app.term"), filepath.Join(dir, "app.front")
	srv := startBackground(t, "serve", sock)
	srv.waitFor("listening")
	px := startBackground(t, "proxy", "--listen", "unix:"+front, "--to", "unix:"+sock)
	px.waitFor("listening")
	for _, b := range []*background{px, srv} {
		if code := b.signal(syscall.SIGTERM); code != exitTerminated {
			t.Errorf("%v after SIGTERM: exit %d, want %d", b.cmd.Args[1:], code, exitTerminated)
		}
		if got := strings.TrimSpace(b.errb.String()); got != "nodeipc: terminated" {
			t.Errorf("%v after SIGTERM: stderr %q", b.cmd.Args[1:], got)
		}
	}

	for _, p := range []string{sock, front} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left behind after SIGTERM: %v", p, err)
		}
	}
}
