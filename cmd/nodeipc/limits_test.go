package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/effeeea0/nodeipc"
)

func TestEmitDataFromFileAndStdin(t *testing.T) {
	dir := t.TempDir()
	// More than one argument may hold (Linux takes 128 KiB at most).
	big := `{"blob":"` + strings.Repeat("x", 256<<10) + `"}`
	file := filepath.Join(dir, "job.json")
	if err := os.WriteFile(file, []byte(big+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startBackground(t, "serve", "--tcp", "127.0.0.1:0", "--echo", "--quiet", "--json")
	addr := listenAddr(t, srv.waitFor("listening"))

	for _, c := range []struct {
		name, stdin string
		args        []string
	}{
		{"@file", "", []string{"job=@" + file}},
		{"stdin", big, []string{"job=-"}},
		{"both", big, []string{"first=-", "job=@" + file}},
	} {
		args := append([]string{"emit", "--tcp", addr}, c.args...)
		r := runCLI(t, c.stdin, append(args, "--wait", "job", "--json")...)
		if r.code != 0 {
			t.Fatalf("%s: exit %d: %s", c.name, r.code, r.stderr)
		}
		if got := parseLines(t, r.stdout); len(got) != 1 || string(got[0].Data) != big {
			t.Fatalf("%s: the echo is not the data sent (%d bytes printed)", c.name, len(r.stdout))
		}
	}

	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"blob": oops}`), 0o600)
	for _, c := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"missing file", []string{"job=@" + filepath.Join(dir, "none.json")}, exitFailure, "none.json: no such file"},
		{"file not JSON", []string{"job=@" + bad}, exitUsage, "bad.json is not JSON"},
		{"stdin twice", []string{"a=-", "b=-"}, exitUsage, "only one argument can read stdin"},
	} {
		r := runCLI(t, "1", append([]string{"emit", "--tcp", addr}, c.args...)...)
		oneLineOn(t, r, c.code, c.msg)
	}
	srv.interrupt()
}

func TestLimitsAreSetAndNamedOnTheCommandLine(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(`"`+strings.Repeat("y", size)+`"`), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	twoMiB := write("2m.json", 2<<20)
	srv := startBackground(t, "serve", "--tcp", "127.0.0.1:0", "--echo", "--quiet", "--json")
	addr := listenAddr(t, srv.waitFor("listening"))

	// The guarded profile's frame limit (1 MiB), then raised.
	r := runCLI(t, "", "emit", "--tcp", addr, "--parser", "guarded", "job=@"+twoMiB)
	oneLineOn(t, r, exitFailure, "job: ERR_IPC_FRAME_TOO_LARGE")
	if !strings.Contains(r.stderr, "--max-message") {
		t.Errorf("the refusal does not name the flag that raises the limit: %q", r.stderr)
	}
	if r := runCLI(t, "", "emit", "--tcp", addr, "--parser", "guarded", "--max-message", "4MiB", "job=@"+twoMiB, "--wait", "job"); r.code != 0 {
		t.Errorf("--max-message 4MiB: exit %d %s", r.code, r.stderr)
	}

	// The bytes waiting to be written (8 MiB unless set), then raised.
	r = runCLI(t, "", "emit", "--tcp", addr, "--max-pending", "1MiB", "job=@"+twoMiB)
	oneLineOn(t, r, exitFailure, "job: ERR_IPC_BACKPRESSURE")
	if !strings.Contains(r.stderr, "--max-pending") {
		t.Errorf("the refusal does not name the flag that raises the limit: %q", r.stderr)
	}
	if r := runCLI(t, "", "emit", "--tcp", addr, "--max-pending", "3MiB", "job=@"+twoMiB, "--wait", "job"); r.code != 0 {
		t.Errorf("--max-pending 3MiB: exit %d %s", r.code, r.stderr)
	}
	srv.interrupt()

	// A server's own limit on what it receives, said where it is hit.
	small := startBackground(t, "serve", "--tcp", "127.0.0.1:0", "--json", "--max-message", "1MiB")
	addr = listenAddr(t, small.waitFor("listening"))
	runCLI(t, "", "emit", "--tcp", addr, "job=@"+twoMiB)
	l := small.waitFor(`"event":"error"`)
	if !strings.Contains(l, string(nodeipc.CodeFrameTooLarge)) || !strings.Contains(l, "--max-message") {
		t.Errorf("serve's refusal: %s", l)
	}
	small.interrupt()
}
