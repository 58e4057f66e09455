package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the test holds the controlling side (what
// it writes there is typed on the terminal; what the process writes to the
// terminal is read there) and gives the terminal side to a process. Typed
// text is not echoed back.
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	fd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	ptm = os.NewFile(uintptr(fd), "/dev/ptmx")
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlocking the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("naming the pseudo-terminal: %v", err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	tio, err := unix.IoctlGetTermios(int(pts.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(int(pts.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	return ptm, pts
}

// linesOf sends each line read from r.
func linesOf(r io.Reader) <-chan string {
	ch := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	return ch
}

func expectLine(t *testing.T, what string, ch <-chan string, s string) string {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case l, ok := <-ch:
			if !ok {
				t.Fatalf("%s ended before %q", what, s)
			}
			if strings.Contains(l, s) {
				return l
			}
		case <-deadline:
			t.Fatalf("no %q on %s within 15s", s, what)
		}
	}
}

func TestConnectOnATerminalGoesOnAfterAMistake(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "app.typed")
	srv := startBackground(t, "serve", sock, "--echo", "--json")
	srv.waitFor("listening")

	ptm, pts := openPTY(t)
	cmd := exec.Command(bin, "connect", sock, "--json")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Stdin = pts
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	out, errs := linesOf(stdout), linesOf(stderr)
	expectLine(t, "stdout", out, `"event":"connect"`)

	io.WriteString(ptm, "ping {\"n\":1}\n")
	if l := expectLine(t, "stdout", out, `"event":"ping"`); !strings.Contains(l, `"data":{"n":1}`) {
		t.Errorf("echo %s", l)
	}
	io.WriteString(ptm, "ping {oops\n")
	if l := expectLine(t, "stderr", errs, "line 2"); !strings.Contains(l, "not JSON") {
		t.Errorf("the mistake is reported as %q", l)
	}
	io.WriteString(ptm, "{\"type\":\"after\",\"data\":3}\n")
	expectLine(t, "stdout", out, `"event":"after"`)

	io.WriteString(ptm, "\x04") // Ctrl-D: the end of input
	for range out {
	}
	for range errs {
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("connect after Ctrl-D: %v", err)
	}
	srv.interrupt()
}

func TestColourOnlyOnATerminalThatTakesIt(t *testing.T) {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TERM=") && !strings.HasPrefix(kv, "NO_COLOR=") {
			env = append(env, kv)
		}
	}
	for _, c := range []struct {
		env    []string
		colour bool
	}{
		{[]string{"TERM=xterm-256color"}, true},
		{[]string{"TERM=dumb"}, false},
		{[]string{"TERM=xterm-256color", "NO_COLOR=1"}, false},
	} {
		ptm, pts := openPTY(t)
		cmd := exec.Command(bin, "demo", "--socket-root", t.TempDir())
		cmd.Env = append(env, c.env...)
		cmd.Stdout = pts
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pts.Close()
		var out bytes.Buffer
		io.Copy(&out, ptm) // until the terminal's last user is gone (EIO)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("demo with %v: %v %s", c.env, err, errb.String())
		}
		if !strings.Contains(out.String(), "stopped") {
			t.Fatalf("demo with %v printed %q", c.env, out.String())
		}
		if got := strings.Contains(out.String(), "\x1b["); got != c.colour {
			t.Errorf("with %v on a terminal: colour %v, want %v", c.env, got, c.colour)
		}
	}
}

func TestConnectStoppedWhileWaitingCountsWhatItHeld(t *testing.T) {
	ptm, pts := openPTY(t)
	cmd := exec.Command(bin, "connect", filepath.Join(t.TempDir(), "app.nobody"), "--retry", "10ms")
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	cmd.Stdin = pts
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pts.Close()
	out, errs := linesOf(stdout), linesOf(stderr)
	expectLine(t, "stdout", out, "waiting for")
	// The mistake on line 2 is reported once line 1 is held.
	io.WriteString(ptm, "ping\nping {\n")
	expectLine(t, "stderr", errs, "line 2 not sent")
	cmd.Process.Signal(unix.SIGTERM)
	for range out {
	}
	last := ""
	for l := range errs {
		last = l
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != exitTerminated || last != "nodeipc: terminated; 1 frame not sent" {
		t.Errorf("after SIGTERM: exit %d, stderr %q", code, last)
	}
}
