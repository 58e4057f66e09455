package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"
)

// result is what a client prints at the end of a pass.
type result struct {
	Count     int     `json:"count"` // measured round trips completed
	Lost      int     `json:"lost"`  // measured requests without a reply (UDP)
	Sent      int     `json:"sent"`  // rates: requests sent in the window
	ElapsedNS int64   `json:"elapsed_ns"`
	RTTPerSec float64 `json:"rtt_per_sec"`
	P50us     float64 `json:"p50_us"`
	P99us     float64 `json:"p99_us"`
	CPUus     int64   `json:"cpu_us"` // the client's CPU time over the measured requests
}

// peerStats is what a server prints when asked for "stats".
type peerStats struct {
	Ev         string `json:"ev"`
	CPUus      int64  `json:"cpu_us"`
	RSSKiB     int64  `json:"rss_kib"`
	Goroutines int    `json:"goroutines"` // Go servers
}

// answerWait bounds how long the run waits for a peer's answer on stdout.
const answerWait = 30 * time.Second

// server is a running server process.
type server struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	stats chan peerStats
	ended chan struct{} // its stdout closed
}

// endpoint returns the address settings of a pass over transport, and a
// function that removes what they needed.
func (b *bench) endpoint(transport string) (map[string]any, func(), error) {
	opts := map[string]any{"transport": transport, "lib": 14}
	cleanup := func() {}
	switch {
	case transport == "unix":
		dir, err := os.MkdirTemp("", "nb")
		if err != nil {
			return nil, nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		opts["path"] = filepath.Join(dir, "b.sock")
	case datagram(transport):
		port, cport := freePort(transport), freePort(transport)
		for i := 0; cport == port && i < 10; i++ {
			cport = freePort(transport)
		}
		opts["host"], opts["port"], opts["cport"] = "127.0.0.1", port, cport
		opts["timeout_ms"] = max(1, b.udpTimeout.Milliseconds())
		if b.dropEvery > 0 {
			opts["drop_every"] = b.dropEvery
		}
	default:
		opts["host"], opts["port"] = "127.0.0.1", freePort("tcp")
	}
	if transport == "tls" {
		opts["tls"] = b.tls
	}
	return opts, cleanup, nil
}

// startServer starts a server process of side and waits until it listens.
func (b *bench) startServer(ctx context.Context, side string, opts map[string]any) (*server, error) {
	opts = maps.Clone(opts)
	opts["role"] = "server"
	cmd := b.command(ctx, side, opts)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, stdin: stdin, stats: make(chan peerStats, 1), ended: make(chan struct{})}
	r := bufio.NewReader(out)
	line, err := r.ReadString('\n')
	go func() {
		defer close(s.ended)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			var st peerStats
			if json.Unmarshal(sc.Bytes(), &st) == nil && st.Ev == "stats" {
				s.stats <- st
			}
		}
	}()
	if err != nil || !containsEv(line, "ready") {
		_ = cmd.Process.Kill()
		<-s.ended
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s server did not start (%q, %v)", side, line, err)
	}
	return s, nil
}

func containsEv(line, ev string) bool {
	var v struct{ Ev string }
	return json.Unmarshal([]byte(line), &v) == nil && v.Ev == ev
}

// sample asks the server for its CPU time and memory now.
func (s *server) sample() (peerStats, error) {
	if _, err := io.WriteString(s.stdin, "stats\n"); err != nil {
		return peerStats{}, fmt.Errorf("asking the server for its figures: %w", err)
	}
	select {
	case st := <-s.stats:
		return st, nil
	case <-s.ended:
		return peerStats{}, errors.New("the server ended before giving its figures")
	case <-time.After(answerWait):
		return peerStats{}, errors.New("the server did not give its figures")
	}
}

// stop closes the server's stdin, which ends it, and returns its usage; a
// server that does not end is killed, and that is an error.
func (s *server) stop() (use, error) {
	s.stdin.Close()
	var err error
	select {
	case <-s.ended:
	case <-time.After(answerWait):
		_ = s.cmd.Process.Kill()
		<-s.ended
		err = errors.New("the server did not end when asked")
	}
	if werr := s.cmd.Wait(); werr != nil && err == nil {
		err = fmt.Errorf("server: %w", werr)
	}
	return usage(s.cmd.ProcessState), err
}

// runClient runs a client process of side to its end, handing on each line
// it prints (with its "ev") and a way to close its stdin, and returns its
// usage. An error from on kills the client.
func (b *bench) runClient(ctx context.Context, side string, opts map[string]any,
	on func(ev string, line []byte, closeStdin func()) error) (use, error) {
	cmd := b.command(ctx, side, maps.Clone(opts))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return use{}, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return use{}, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return use{}, err
	}
	closeStdin := func() { stdin.Close() }
	var first error
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if first != nil {
			continue
		}
		var v struct{ Ev string }
		if json.Unmarshal(sc.Bytes(), &v) != nil {
			continue
		}
		if err := on(v.Ev, sc.Bytes(), closeStdin); err != nil {
			first = err
			_ = cmd.Process.Kill()
		}
	}
	stdin.Close()
	werr := cmd.Wait()
	if first != nil {
		return use{}, first
	}
	if werr != nil {
		return use{}, fmt.Errorf("%s client: %w", side, werr)
	}
	return usage(cmd.ProcessState), nil
}

func (b *bench) command(ctx context.Context, side string, opts map[string]any) *exec.Cmd {
	var args []string
	if side == "node" {
		j, _ := json.Marshal(opts)
		args = []string{"node", filepath.Join(b.node, "bench.mjs"), string(j)}
	} else {
		opts = maps.Clone(opts)
		opts["impl"] = side
		j, _ := json.Marshal(opts)
		args = []string{b.self, "peer", string(j)}
	}
	if b.taskset != "" {
		args = append([]string{b.taskset, "-c", pinCPU(opts["role"])}, args...)
	}
	c := exec.CommandContext(ctx, args[0], args[1:]...)
	if side == "node" {
		c.Dir = b.node
	}
	return c
}

type use struct{ cpu, rss float64 } // whole-process CPU seconds, peak RSS MiB

func usage(ps *os.ProcessState) use {
	if ps == nil {
		return use{}
	}
	u := use{cpu: (ps.UserTime() + ps.SystemTime()).Seconds()}
	u.rss = peakRSS(ps)
	return u
}

// freePort returns a port free on 127.0.0.1 for network ("tcp" for TCP and
// TLS, or a UDP network) a moment ago.
func freePort(network string) int {
	if datagram(network) {
		if pc, err := net.ListenPacket(network, "127.0.0.1:0"); err == nil {
			defer pc.Close()
			return pc.LocalAddr().(*net.UDPAddr).Port
		}
	} else if l, err := net.Listen("tcp", "127.0.0.1:0"); err == nil {
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}
	return 18000 + os.Getpid()%1000
}

// busyLoop is the background load: one goroutine spinning on one thread,
// which keeps one core busy, until stdin closes.
func busyLoop() {
	runtime.GOMAXPROCS(1)
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	fmt.Println(`{"ev":"ready"}`)
	// A step of a linear congruential generator per turn: nothing but CPU.
	var x uint64
	for {
		x = x*6364136223846793005 + 1442695040888963407
		if x == 0 {
			fmt.Fprint(io.Discard, x)
		}
	}
}
