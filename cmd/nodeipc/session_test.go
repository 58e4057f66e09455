package main

import (
	"bufio"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// oneLineOn checks that a failure said msg on one line of stderr.
func oneLineOn(t *testing.T, r result, code int, msg string) {
	t.Helper()
	s := strings.TrimSpace(r.stderr)
	if r.code != code || !strings.HasPrefix(s, "nodeipc: ") || strings.Contains(s, "\n") || !strings.Contains(s, msg) {
		t.Fatalf("want exit %d and one line with %q; got exit %d, stderr %q", code, msg, r.code, r.stderr)
	}
}

func countEvents(t *testing.T, out string) map[string]int {
	t.Helper()
	n := map[string]int{}
	for _, l := range parseLines(t, out) {
		n[l.Event]++
	}
	return n
}

func TestConnectFailsWhenNothingIsDelivered(t *testing.T) {
	nobody := filepath.Join(t.TempDir(), "app.nobody")
	where := "unix:" + nobody

	// No server and nothing to send: the client gives up, and says why.
	r := runCLI(t, "", "connect", nobody, "--max-retries", "3", "--retry", "10ms", "--json")
	oneLineOn(t, r, exitFailure, "could not reach "+where+": dial unix")
	// Waiting is said once, not once per attempt.
	if n := countEvents(t, r.stdout); n["waiting"] != 1 || n["error"]+n["disconnect"] != 0 {
		t.Errorf("while waiting: %v\n%s", n, r.stdout)
	}

	// Two events typed: both reported as not sent.
	r = runCLI(t, "ping\nping {\"n\":1}\n", "connect", nobody, "--max-retries", "1", "--retry", "10ms")
	oneLineOn(t, r, exitFailure, "2 frames not sent: could not reach "+where)
	if strings.Contains(r.stdout, "error") {
		t.Errorf("the failure is printed on stdout as well: %q", r.stdout)
	}

	r = runCLI(t, "", "emit", nobody, "a", "b")
	oneLineOn(t, r, exitFailure, "could not reach "+where)
}

func TestConnectWaitsOnceThenConnects(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.later")
	c, stdin := startTyping(t, "connect", sock, "--retry", "10ms", "--json")
	c.waitFor(`"event":"waiting"`)

	srv := startBackground(t, "serve", sock, "--echo", "--json")
	srv.waitFor("listening")
	c.waitFor(`"event":"connect"`)
	io.WriteString(stdin, "ping {\"n\":1}\n")
	c.waitFor(`"event":"ping"`)

	// The server goes and comes back: disconnected, waiting (once), connected.
	srv.interrupt()
	c.waitFor(`"event":"disconnect"`)
	c.waitFor(`"event":"waiting"`)
	srv = startBackground(t, "serve", sock, "--echo", "--json")
	srv.waitFor("listening")
	c.waitFor(`"event":"connect"`)
	io.WriteString(stdin, "pong\n")
	c.waitFor(`"event":"pong"`)

	stdin.Close()
	if code := c.wait(); code != exitOK {
		t.Fatalf("exit %d: %s", code, c.errb.String())
	}
	n := countEvents(t, c.all.String())
	if n["waiting"] != 2 || n["connect"] != 2 || n["disconnect"] != 1 || n["error"] != 0 {
		t.Errorf("lifecycle lines %v:\n%s", n, c.all.String())
	}
	srv.interrupt()
}

func TestServeTakesAPeerThatLeavesCalmly(t *testing.T) {
	srv := startBackground(t, "serve", "--tcp", "127.0.0.1:0", "--echo", "--json")
	addr := listenAddr(t, srv.waitFor("listening"))

	// Ordinary emits: each closes its connection while the echo is on its way.
	for range 5 {
		if r := runCLI(t, "", "emit", "--tcp", addr, `a={"x":1}`, "b", "c"); r.code != 0 {
			t.Fatalf("emit: exit %d %s", r.code, r.stderr)
		}
	}
	// A peer that resets its connection, an echo unread.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(c, "{\"type\":\"bye\",\"data\":1}\f"); err != nil {
		t.Fatal(err)
	}
	srv.waitFor(`"event":"bye"`)
	// The echo is written before the reset: an echo the reset overtook would
	// rightly be reported unsent.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if echo, err := bufio.NewReader(c).ReadString('\f'); err != nil || !strings.Contains(echo, `"bye"`) {
		t.Fatalf("the echo: %q, %v", echo, err)
	}
	peer := `"peer":"` + c.LocalAddr().String() + `","event":"socket.disconnected"`
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	srv.waitFor(peer)
	srv.interrupt()
	if n := countEvents(t, srv.all.String()); n["error"] != 0 {
		t.Errorf("a peer leaving is printed as an error:\n%s", srv.all.String())
	}
}
