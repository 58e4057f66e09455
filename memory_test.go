//go:build linux

package nodeipc_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/effeeea0/nodeipc"
)

// The memory a server can be made to hold (the README's "Bounded memory"):
// per stream connection, its frame limit (MaxReadBuffer; MaxMessageSize in
// guarded and assured) plus twice MaxPendingBytes plus memOverhead; for a
// UDP server, MaxReadBuffer for all peers together.
const (
	memConns    = 20
	memFrame    = 4 << 20 // the frame limit of the stream cases
	memPending  = 1 << 20 // MaxPendingBytes
	memUDP      = 16 << 20
	memUDPPeers = 8
	memOverhead = 64 << 10 // per connection: read buffer, goroutines, state
	memSlack    = 0.25     // how far the measure may be from the formula
	memDatagram = 60000
)

func init() { workers["memory"] = memoryWorker }

// goHeld is the memory the Go runtime holds from the system and has not
// returned: what the process's resident size owes to Go, garbage not yet
// collected included, and the race detector's own memory not.
func goHeld() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64() - s[1].Value.Uint64())
}

// memoryWorker serves one case (fast, guarded or udp) and answers on stdin:
// "fill" emits to every connection without reading until its queue is full
// and answers the sockets filled; "measure" answers how much goHeld grew
// since the server started, and the error events published.
func memoryWorker(profile string) int {
	cfg := nodeipc.DefaultConfig()
	cfg.Silent = true
	cfg.FlushTimeout = 100 * time.Millisecond
	cfg.MaxPendingBytes = memPending
	network, address := "unix", ""
	switch profile {
	case "fast":
		cfg.MaxReadBuffer = memFrame
	case "guarded":
		cfg.Parser = nodeipc.ParserGuarded
		cfg.MaxMessageSize = memFrame // MaxReadBuffer stays at its default, larger
	case "udp":
		cfg.MaxReadBuffer = memUDP
		network, address = "udp4", "127.0.0.1:0"
	}
	dir, err := os.MkdirTemp("", "nipc")
	if err != nil {
		fmt.Println(err)
		return 1
	}
	defer os.RemoveAll(dir)
	cfg.SocketRoot = dir + "/"
	if address == "" {
		address = dir + "/m.sock"
	}
	srv, err := nodeipc.NewServer(network, address, &cfg)
	if err != nil {
		fmt.Println(err)
		return 1
	}
	var errs atomic.Int32
	srv.On("error", func(*nodeipc.Message) { errs.Add(1) })
	srv.On("ping", func(m *nodeipc.Message) { _ = srv.Emit(m.Socket, "pong", 1) })
	if err := srv.Start(); err != nil {
		fmt.Println(err)
		return 1
	}
	defer srv.Stop()
	runtime.GC()
	base := goHeld()
	if network == "udp4" {
		address = srv.Addr().String()
	}
	fmt.Println(address)
	data := json.RawMessage(`"` + strings.Repeat("y", 16<<10) + `"`)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "fill":
			filled := 0
			for _, s := range srv.Sockets() {
				// guarded closes a connection whose queue overflows:
				// stop short of it.
				for profile != "guarded" || s.Queued()+len(data)+64 <= memPending {
					if err := srv.Emit(s, "b", data); err != nil {
						break
					}
				}
				filled++
			}
			fmt.Println(filled)
		case "measure":
			fmt.Println(goHeld()-base, errs.Load())
		}
	}
	return 0
}

// Hostile peers make a server hold at most what the README's formula says,
// and about that much: stream connections that each send one frame up to
// just under the limit and never read while the server emits to them until
// their queue is full, and UDP peers that fill the shared cap with
// unfinished frames. The server runs in a worker process, which measures
// the memory Go holds for it.
func TestHostilePeersMemoryMatchesTheFormula(t *testing.T) {
	for _, profile := range []string{"fast", "guarded", "udp"} {
		t.Run(profile, func(t *testing.T) {
			w, addr := startWorker(t, "memory:"+profile, nil, nil)
			var want int64
			if profile == "udp" {
				fillUDP(t, addr)
				want = memUDP
			} else {
				fillStreams(t, w, addr)
				want = memConns * (memFrame + 2*memPending + memOverhead)
			}
			f := strings.Fields(w.request(t, "measure"))
			if len(f) != 2 {
				t.Fatalf("worker: %q", f)
			}
			got, _ := strconv.ParseInt(f[0], 10, 64)
			t.Logf("the server grew by %.1f MiB; the formula says %.1f MiB; %s error events", float64(got)/(1<<20), float64(want)/(1<<20), f[1])
			if f[1] != "0" {
				t.Fatalf("%s error events: the peers went over a limit", f[1])
			}
			if r := float64(got) / float64(want); r < 1-memSlack || r > 1+memSlack {
				t.Fatalf("the server grew by %.2f times the formula", r)
			}
		})
	}
}

// fillStreams connects memConns peers to the server at addr, sends on each
// a frame just under memFrame that never ends, waits until the server has
// read it all, and has the worker fill every connection's queue.
func fillStreams(t *testing.T, w *worker, addr string) {
	prefix := []byte(`{"type":"a","data":"`)
	body := []byte(strings.Repeat("x", 64<<10))
	for range memConns {
		c, err := net.Dial("unix", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write(prefix); err != nil {
			t.Fatal(err)
		}
		for sent := len(prefix); sent < memFrame-1024; {
			n, err := c.Write(body[:min(len(body), memFrame-1024-sent)])
			if err != nil {
				t.Fatal(err)
			}
			sent += n
		}
		// The server has read everything once the socket holds nothing
		// it has not taken.
		rc, err := c.(*net.UnixConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(30 * time.Second); ; {
			var queued int
			var qerr error
			if err := rc.Control(func(fd uintptr) { queued, qerr = unix.IoctlGetInt(int(fd), unix.TIOCOUTQ) }); err != nil || qerr != nil {
				t.Fatal(err, qerr)
			}
			if queued == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the server left %d bytes unread", queued)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if n := w.request(t, "fill"); n != strconv.Itoa(memConns) {
		t.Fatalf("%s connections filled, want %d", n, memConns)
	}
}

// fillUDP has memUDPPeers peers each send an unfinished frame of an equal
// share of memUDP (less a block), in datagrams, a few at a time: after each
// few, a ping answered by the server says it has taken them, so that none is
// lost to a full socket buffer.
func fillUDP(t *testing.T, addr string) {
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	dial := func() *net.UDPConn {
		c, err := net.DialUDP("udp4", nil, ua)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	ctl := dial()
	ping := func() {
		if _, err := ctl.Write([]byte(`{"type":"ping"}` + "\f")); err != nil {
			t.Fatal(err)
		}
		_ = ctl.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := ctl.Read(make([]byte, 64)); err != nil {
			t.Fatalf("no answer to a ping: %v", err)
		}
	}
	share := memUDP/memUDPPeers - 64<<10
	dgram := []byte(`{"type":"a","data":"` + strings.Repeat("x", memDatagram))
	for range memUDPPeers {
		c := dial()
		for sent, k := 0, 0; sent < share; k++ {
			d := dgram[:min(memDatagram, share-sent)]
			if sent > 0 {
				d = dgram[len(dgram)-len(d):]
			}
			if _, err := c.Write(d); err != nil {
				t.Fatal(err)
			}
			sent += len(d)
			if k%2 == 1 {
				ping()
			}
		}
	}
	ping()
}
