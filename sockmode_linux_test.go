//go:build linux

package nodeipc_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
)

// otherUID is the user (nobody) that tries to reach a fresh server's socket.
const otherUID = 65534

// dialers is how many goroutines of the other user's process dial at once.
const dialers = 2

// startsUnderWatch is how many times the server is started while the other
// user dials.
const startsUnderWatch = 100

func init() {
	workers["dialloop"] = dialLoop
	workers["umaskstarts"] = umaskStarts
}

// dialLoop dials the socket at path over and over (dialers at once) until
// stdin closes, printing "ready" first and then, for each line read from
// stdin, how many dials have succeeded so far.
func dialLoop(path string) int {
	var ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range dialers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if c, err := net.Dial("unix", path); err == nil {
					ok.Add(1)
					c.Close()
				}
			}
		})
	}
	fmt.Println("ready")
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		fmt.Println(ok.Load())
	}
	close(stop)
	wg.Wait()
	return 0
}

// umaskStarts runs with umask 000: it starts and stops a server with the
// default settings at path startsUnderWatch times (arg is way:path, way
// "aside" binding it aside and moving it into place) and prints how many
// connections came from otherUID; then, once a line arrives on stdin, it
// serves path opened to everyone (WritableAll) until otherUID connects, and
// prints "control" and that count (0 when nobody came within 10 s).
func umaskStarts(arg string) int {
	way, path, _ := strings.Cut(arg, ":")
	if way == "aside" {
		nodeipc.SetModeBeforeBind(false)
	}
	syscall.Umask(0)
	var others atomic.Int64
	serve := func(cfg nodeipc.Config, arrived chan<- struct{}) (*nodeipc.Server, error) {
		cfg.Silent = true
		srv, err := nodeipc.NewServer("unix", path, &cfg)
		if err != nil {
			return nil, err
		}
		srv.On("connect", func(m *nodeipc.Message) {
			if c := m.Socket.PeerCred(); c != nil && c.UID == otherUID {
				others.Add(1)
				select {
				case arrived <- struct{}{}:
				default:
				}
			}
		})
		return srv, srv.Start()
	}
	stop := func(srv *nodeipc.Server) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	for range startsUnderWatch {
		// Spread over time, the starts meet the dialer even on a busy
		// machine where it does not run all the time.
		time.Sleep(time.Millisecond)
		srv, err := serve(nodeipc.DefaultConfig(), nil)
		if err != nil {
			fmt.Println("error:", err)
			return 1
		}
		stop(srv)
	}
	fmt.Println(others.Load())

	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return 1
	}
	others.Store(0)
	cfg := nodeipc.DefaultConfig()
	cfg.WritableAll = true
	arrived := make(chan struct{}, 1)
	srv, err := serve(cfg, arrived)
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	select {
	case <-arrived:
	case <-time.After(10 * time.Second):
	}
	stop(srv)
	fmt.Println("control", others.Load())
	return 0
}

// A server started outside a private directory, in a world-writable one,
// by a process whose umask is 000, is never reachable by another user
// before its socket gets the configured mode (0600), whichever way the
// socket is made there (its mode set before bind, or bound aside): another user dialing in a loop through startsUnderWatch
// starts connects not once. A last server opened to everyone (WritableAll)
// shows that the other user does reach the path.
func TestFreshSocketIsNeverReachableByAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the dialer runs as another user (uid 65534)")
	}
	// The other user runs a copy of this test binary from a directory it
	// can read: the build directory is private to us.
	bin := filepath.Join(worldDir(t, 0o755), "nodeipc.test")
	if err := copyFile(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, way := range []string{"mode-before-bind", "aside"} {
		t.Run(way, func(t *testing.T) { testFreshSocketUnreachable(t, bin, way) })
	}
}

func testFreshSocketUnreachable(t *testing.T, bin, way string) {
	dir := worldDir(t, 0o777|os.ModeSticky)
	path := filepath.Join(dir, "fresh.sock")

	dialer := exec.Command(bin, "-test.run=^$")
	dialer.Env = append(os.Environ(), "NODEIPC_TEST_WORKER=dialloop:"+path)
	dialer.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID}}
	dialer.Stderr = os.Stderr
	din, err := dialer.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	dout, err := dialer.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := dialer.Start(); err != nil {
		if errors.Is(err, syscall.EPERM) {
			t.Skip("cannot start a process as uid 65534 here (setuid not permitted):", err)
		}
		t.Fatal(err)
	}
	defer func() {
		din.Close()
		_ = dialer.Wait()
	}()
	dlines := bufio.NewReader(dout)
	dialerLine := func() string {
		line, err := dlines.ReadString('\n')
		if err != nil {
			t.Fatalf("dialer: %v", err)
		}
		return line[:len(line)-1]
	}
	dialed := func() int {
		if _, err := io.WriteString(din, "count\n"); err != nil {
			t.Fatal(err)
		}
		n, err := strconv.Atoi(dialerLine())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if line := dialerLine(); line != "ready" {
		t.Fatalf("dialer: %q", line)
	}

	srv, line := startWorker(t, "umaskstarts:"+way+":"+path, nil, nil)
	accepted, err := strconv.Atoi(line)
	if err != nil {
		t.Fatalf("server: %q", line)
	}
	connected := dialed()

	if _, err := io.WriteString(srv.stdin, "control\n"); err != nil {
		t.Fatal(err)
	}
	control := srv.line(t)
	if n, err := strconv.Atoi(strings.TrimPrefix(control, "control ")); err != nil || n == 0 {
		t.Fatalf("uid %d never reached a socket opened to everyone at %s (%s): this test cannot see anything here", otherUID, path, control)
	}
	t.Logf("uid %d: %d connections (%d accepted) in %d starts; %s with the socket opened to everyone", otherUID, connected, accepted, startsUnderWatch, control)
	if connected != 0 || accepted != 0 {
		t.Fatalf("uid %d connected %d times (the server accepted %d) in %d starts at %s", otherUID, connected, accepted, startsUnderWatch, path)
	}
}

// copyFile copies this test binary to dst with mode perm.
func copyFile(dst string, perm os.FileMode) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(exe)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
