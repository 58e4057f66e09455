//go:build unix

package nodeipc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/effeeea0/nodeipc"
	"golang.org/x/sys/unix"
)

func init() {
	workers["local"] = func(string) int { return clusterWorker("") }
	workers["tcp"] = clusterWorker
}

// clusterWorker serves "who" with its process id and "where" with its
// listener's address, until stdin closes: on
// the listener its primary shared (NODEIPC_TEST_WORKER=local, tcpAddr empty)
// or on TCP port tcpAddr shared with SO_REUSEPORT
// (NODEIPC_TEST_WORKER=tcp:host:port).
func clusterWorker(tcpAddr string) int {
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	cfg.Unlink = false // workers never remove the shared socket (node-ipc's cluster example)
	var srv *nodeipc.Server
	var err error
	if tcpAddr != "" {
		cfg.ReusePort = true
		if srv, err = nodeipc.NewServer("tcp", tcpAddr, &cfg); err == nil {
			err = srv.Start()
		}
	} else {
		var ln net.Listener
		if ln, err = nodeipc.InheritedListener(); err == nil {
			if srv, err = nodeipc.NewServer("unix", ln.Addr().String(), &cfg); err == nil {
				err = srv.StartListener(ln)
			}
		}
	}
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	srv.On("who", func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, "pid", os.Getpid()) })
	srv.On("where", func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, "addr", srv.Addr().String()) })
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
	return 0
}

// startWorkers starts n worker processes of this test binary and waits
// until each serves. ln, when not nil, is shared with each.
func startWorkers(t *testing.T, n int, mode string, ln net.Listener) []*worker {
	t.Helper()
	var ws []*worker
	for range n {
		w, line := startWorker(t, mode, nil, func(cmd *exec.Cmd) {
			if ln != nil {
				if err := nodeipc.ShareListener(cmd, ln); err != nil {
					t.Fatal(err)
				}
			}
		})
		for _, f := range w.cmd.ExtraFiles {
			f.Close() // the worker has its copy
		}
		if line != "ready" {
			t.Fatalf("worker: %q", line)
		}
		ws = append(ws, w)
	}
	return ws
}

// whoClient is a client that asks which process serves it.
type whoClient struct {
	c    *nodeipc.Client
	pids chan int
}

func newWhoClient(t *testing.T, network, addr string) *whoClient {
	w := &whoClient{pids: make(chan int, 16)}
	cfg := testConfig()
	w.c, _ = startClient(t, network, addr, cfg, func(c *nodeipc.Client) {
		c.On("pid", func(m *nodeipc.Message) {
			var pid int
			_ = m.Decode(&pid)
			w.pids <- pid
		})
	})
	return w
}

// ask returns the pid of the process that answers, or 0 if none does in
// time.
func (w *whoClient) ask(t *testing.T, wait time.Duration) int {
	t.Helper()
	if err := w.c.Emit("who", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case pid := <-w.pids:
		return pid
	case <-time.After(wait):
		return 0
	}
}

// clientsOnEveryWorker connects clients until each worker process answers
// at least one of them, and returns a client per pid.
func clientsOnEveryWorker(t *testing.T, network, addr string, ws []*worker) map[int]*whoClient {
	t.Helper()
	byPid := map[int]*whoClient{}
	for i := 0; i < 200 && len(byPid) < len(ws); i++ {
		c := newWhoClient(t, network, addr)
		pid := c.ask(t, 10*time.Second)
		if pid == 0 {
			t.Fatal("no worker answered")
		}
		if byPid[pid] == nil {
			byPid[pid] = c
		}
	}
	for _, w := range ws {
		if byPid[w.cmd.Process.Pid] == nil {
			t.Fatalf("worker %d answered no client; answers came from %v", w.cmd.Process.Pid, keys(byPid))
		}
	}
	return byPid
}

func keys(m map[int]*whoClient) []int {
	var out []int
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestClusterWorkersServeOneSocketPath(t *testing.T) {
	path := tempRoot(t) + "cluster.sock"
	// A stale socket from an earlier run: the primary removes it.
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	cfg := testConfig()
	ln, err := nodeipc.Listen("unix", path, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ws := startWorkers(t, 2, "local", ln)
	byPid := clientsOnEveryWorker(t, "unix", path, ws)

	// A worker killed mid-stream: its clients reconnect and are answered
	// by the other; the other's clients see nothing.
	victim := ws[0]
	survivor := ws[1].cmd.Process.Pid
	orphan, steady := byPid[victim.cmd.Process.Pid], byPid[survivor]
	var mu sync.Mutex
	disconnects := 0
	steady.c.On("disconnect", func(*nodeipc.Message) { mu.Lock(); disconnects++; mu.Unlock() })
	if err := victim.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var pid int
	for deadline := time.Now().Add(10 * time.Second); pid != survivor && time.Now().Before(deadline); {
		pid = orphan.ask(t, 500*time.Millisecond)
	}
	if pid != survivor {
		t.Fatalf("the orphaned client was not answered by worker %d", survivor)
	}
	if pid := steady.ask(t, 5*time.Second); pid != survivor {
		t.Fatalf("steady client answered by %d", pid)
	}
	mu.Lock()
	defer mu.Unlock()
	if disconnects != 0 {
		t.Fatalf("the surviving worker's client saw %d disconnects", disconnects)
	}
}

// A socket outside a private directory, made either way there (its mode set
// before bind, or bound aside and moved into place), shared with a worker,
// serves there, and the worker's listener reports the path, not a name the
// socket was bound to.
func TestClusterWorkerServesASocketOutsideAPrivateDirectory(t *testing.T) {
	for _, d := range socketWays[1:] {
		t.Run(d.name, func(t *testing.T) {
			d.use(t)
			path := filepath.Join(worldDir(t, d.perm), "cluster.sock")
			ln, err := nodeipc.Listen("unix", path, testConfig())
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			startWorkers(t, 1, "local", ln)
			addrs := make(chan string, 1)
			c, connected := startClient(t, "unix", path, testConfig(), func(c *nodeipc.Client) {
				c.On("addr", func(m *nodeipc.Message) {
					var a string
					_ = m.Decode(&a)
					addrs <- a
				})
			})
			recv(t, connected, "connect")
			if err := c.Emit("where", nil); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, addrs, "the worker's address"); got != path {
				t.Fatalf("the worker's listener reports %q, want %q", got, path)
			}
		})
	}
}

func TestClusterWorkersShareATCPPortWithReusePort(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := probe.Addr().String()
	probe.Close()
	ws := startWorkers(t, 2, "tcp:"+addr, nil)
	clientsOnEveryWorker(t, "tcp", addr, ws)

	// A server without ReusePort cannot take the port.
	srv, err := nodeipc.NewServer("tcp", addr, testConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); !errors.Is(err, syscall.EADDRINUSE) {
		srv.Stop()
		t.Fatalf("start on a port the cluster holds: %v", err)
	}
}

// Sharing a listener leaves the socket, which every process shares, in
// non-blocking mode: a worker already serving it must never be left blocked
// in accept, where stopping its server could not wake it.
func TestShareListenerKeepsTheSocketNonBlocking(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if network == "unix" {
				addr = tempRoot(t) + "share.sock"
			}
			ln, err := net.Listen(network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			if err := nodeipc.ShareListener(cmd, ln); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Run(); err != nil {
				t.Fatal(err)
			}
			for _, f := range cmd.ExtraFiles {
				f.Close()
			}
			rc, err := ln.(syscall.Conn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var flags int
			if err := rc.Control(func(fd uintptr) { flags, err = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil {
				t.Fatal(err)
			}
			if err != nil {
				t.Fatal(err)
			}
			if flags&unix.O_NONBLOCK == 0 {
				t.Fatal("the shared socket was left in blocking mode")
			}
		})
	}
}
