//go:build unix

// Command cluster is the Go twin of node-ipc's cluster example: a primary
// process opens one local socket and starts worker processes that all serve
// it, so each client is answered by whichever worker the kernel hands it to.
// With -tcp the workers instead share a TCP port through SO_REUSEPORT.
//
//	go run ./examples/cluster                      # 2 workers, 8 clients, one socket
//	go run ./examples/cluster -workers 4 -clients 20
//	go run ./examples/cluster -tcp 127.0.0.1:8000  # workers share a TCP port
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc"
)

var (
	role    = flag.String("role", "primary", "primary, or worker (started by the primary)")
	path    = flag.String("path", "", "socket path (default: the socket root + app.cluster-world)")
	tcpAddr = flag.String("tcp", "", "share this TCP host:port with SO_REUSEPORT instead of a socket")
	workers = flag.Int("workers", 2, "worker processes")
	clients = flag.Int("clients", 8, "clients to connect")
)

func main() {
	flag.Parse()
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	if *path == "" {
		*path = cfg.LocalPath("cluster-world")
	}
	var err error
	if *role == "worker" {
		err = worker(cfg)
	} else {
		err = primary(cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, *role+":", err)
		os.Exit(1)
	}
}

// worker serves the endpoint and answers every hello with its process id,
// until the primary closes its stdin.
func worker(cfg nodeipc.Config) error {
	cfg.Unlink = false // a worker never removes the shared socket
	var srv *nodeipc.Server
	var err error
	if *tcpAddr != "" {
		cfg.ReusePort = true
		if srv, err = nodeipc.NewServer("tcp", *tcpAddr, &cfg); err == nil {
			err = srv.Start()
		}
	} else {
		var ln net.Listener
		if ln, err = nodeipc.InheritedListener(); err == nil {
			if srv, err = nodeipc.NewServer("unix", *path, &cfg); err == nil {
				err = srv.StartListener(ln)
			}
		}
	}
	if err != nil {
		return err
	}
	srv.On("hello", func(m *nodeipc.Message) {
		_ = srv.Emit(m.Socket, "hi", map[string]int{"worker": os.Getpid()})
	})
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	return srv.Stop()
}

func primary(cfg nodeipc.Config) error {
	network, addr := "unix", *path
	var ln net.Listener
	if *tcpAddr != "" {
		network, addr = "tcp", *tcpAddr
	} else {
		// The primary opens the socket once (removing a stale one) and
		// shares it; it keeps it open while the workers run and closes it
		// at the end, which removes the socket file.
		var err error
		if ln, err = nodeipc.Listen("unix", addr, &cfg); err != nil {
			return err
		}
		defer ln.Close()
	}
	var stops []io.Closer
	var waits []*exec.Cmd
	defer func() {
		for _, s := range stops {
			s.Close()
		}
		for _, c := range waits {
			_ = c.Wait()
		}
	}()
	for range *workers {
		args := []string{"-role", "worker", "-path", *path}
		if *tcpAddr != "" {
			args = append(args, "-tcp", *tcpAddr)
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Stderr = os.Stderr
		if ln != nil {
			if err := nodeipc.ShareListener(cmd, ln); err != nil {
				return err
			}
		}
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			return err
		}
		for _, f := range cmd.ExtraFiles {
			f.Close()
		}
		stops, waits = append(stops, stdin), append(waits, cmd)
		if line, _ := bufio.NewReader(stdout).ReadString('\n'); strings.TrimSpace(line) != "ready" {
			return fmt.Errorf("worker did not start: %q", line)
		}
		fmt.Printf("worker %d serves %s %s\n", cmd.Process.Pid, network, addr)
	}

	// The clients connect at once, each says hello and prints who answered.
	ipc := nodeipc.New()
	ipc.Config = cfg
	var mu sync.Mutex
	answered := map[int]int{}
	var wg sync.WaitGroup
	errs := make(chan error, *clients)
	for i := range *clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprintf("client%d", i)
			got := make(chan int, 1)
			connect := func() {
				c := ipc.Of(id)
				c.On("connect", func(*nodeipc.Message) { _ = c.Emit("hello", map[string]string{"id": id}) })
				c.On("hi", func(m *nodeipc.Message) {
					var v struct{ Worker int }
					_ = m.Decode(&v)
					got <- v.Worker
				})
			}
			var err error
			if network == "tcp" {
				host, port, _ := net.SplitHostPort(addr)
				var p int
				fmt.Sscan(port, &p)
				err = ipc.ConnectToNet(id, host, p, connect)
			} else {
				err = ipc.ConnectTo(id, addr, connect)
			}
			if err != nil {
				errs <- err
				return
			}
			defer ipc.Disconnect(id)
			select {
			case pid := <-got:
				mu.Lock()
				answered[pid]++
				mu.Unlock()
				fmt.Printf("%s answered by worker %d\n", id, pid)
			case <-time.After(10 * time.Second):
				errs <- fmt.Errorf("%s: no answer", id)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	var pids []int
	for pid := range answered {
		pids = append(pids, pid)
	}
	sort.Ints(pids)
	fmt.Printf("%d clients answered by %d workers %v\n", *clients, len(pids), pids)
	return nil
}
