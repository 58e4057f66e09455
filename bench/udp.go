package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc"
)

// Over UDP a client is itself an endpoint: it sends each request as one
// datagram to the server's address and receives the reply at its own. A
// datagram can be lost, so a request without a reply within the timeout is
// counted lost and its slot goes to the next request: a pass always ends.

// sweepEvery is how often a UDP client looks for lost requests, as a
// fraction of the timeout.
const sweepEvery = 10

// stallAfter is how many timeouts without a single reply end a pass with an
// error: the server is gone, not dropping the odd datagram.
const stallAfter = 10

func stalled(o peerOpts) error {
	return fmt.Errorf("no reply from %s for %v", o.address(), stallAfter*o.timeout())
}

// goUDPClient is a nodeipc UDP endpoint keeping o.Inflight requests in
// flight to the server.
func goUDPClient(o peerOpts) error {
	cfg := o.config()
	// Any free port: unlike node-ipc, nodeipc binds port 0 as asked.
	end, err := nodeipc.NewServer(o.Transport, net.JoinHostPort(o.Host, "0"), &cfg)
	if err != nil {
		return err
	}
	to := nodeipc.UDPPeer(o.Host, o.Port)
	meth := o.method()
	st := newStats(o)
	var mu sync.Mutex // st, next and meth: replies and the sweep
	next := 0
	done := make(chan error, 1)
	finish := func(err error) {
		select {
		case done <- err:
		default:
		}
	}
	send := func() {
		st.stamp(next)
		if err := end.Emit(to, event, meth.request(next)); err != nil {
			finish(err)
		}
		next++
	}
	end.On(event, func(m *nodeipc.Message) {
		seq, err := meth.replySeq(m)
		if err != nil {
			return // a garbled datagram: its request ends as lost
		}
		mu.Lock()
		defer mu.Unlock()
		if !st.got(seq) {
			return
		}
		if st.complete() {
			finish(nil)
		} else if next < st.total {
			send()
		}
	})
	if err := end.Start(); err != nil {
		return err
	}
	defer end.Stop()
	timeout := o.timeout()
	tick := time.NewTicker(timeout / sweepEvery)
	defer tick.Stop()
	mu.Lock()
	st.begin()
	for i := 0; i < o.Inflight && next < st.total; i++ {
		send()
	}
	mu.Unlock()
	for {
		select {
		case err := <-done:
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			st.print()
			return nil
		case now := <-tick.C:
			mu.Lock()
			if st.sinceReply(now) > stallAfter*timeout {
				mu.Unlock()
				return stalled(o)
			}
			for n := st.expire(next, now.Add(-timeout)); n > 0 && next < st.total; n-- {
				send()
			}
			if st.complete() {
				finish(nil)
			}
			mu.Unlock()
		}
	}
}

func udpAddr(o peerOpts, port int) (netip.AddrPort, error) {
	return netip.ParseAddrPort(net.JoinHostPort(o.Host, strconv.Itoa(port)))
}

// rawUDPServer sends every datagram back to its sender, one system call
// each way; with o.DropEvery set, it drops every nth one instead.
func rawUDPServer(o peerOpts) error {
	ap, err := udpAddr(o, o.Port)
	if err != nil {
		return err
	}
	pc, err := net.ListenUDP(o.Transport, net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return err
	}
	ready()
	go func() { control(o); pc.Close() }()
	buf := make([]byte, 64<<10)
	for seen := 1; ; seen++ {
		n, from, err := pc.ReadFromUDPAddrPort(buf)
		if errors.Is(err, net.ErrClosed) {
			return nil
		}
		if err == nil && (o.DropEvery == 0 || seen%o.DropEvery != 0) {
			_, _ = pc.WriteToUDPAddrPort(buf[:n], from)
		}
	}
}

// rawUDPClient sends the same 101-byte frames, one per datagram, and reads
// the sequence number of each reply without JSON.
func rawUDPClient(o peerOpts) error {
	to, err := udpAddr(o, o.Port)
	if err != nil {
		return err
	}
	local, err := udpAddr(o, 0)
	if err != nil {
		return err
	}
	pc, err := net.ListenUDP(o.Transport, net.UDPAddrFromAddrPort(local))
	if err != nil {
		return err
	}
	defer pc.Close()
	st := newStats(o)
	next := 0
	var out []byte
	send := func() error {
		st.stamp(next)
		out = frame(out[:0], next)
		next++
		_, err := pc.WriteToUDPAddrPort(out, to)
		return err
	}
	st.begin()
	for next < o.Inflight && next < st.total {
		if err := send(); err != nil {
			return err
		}
	}
	timeout := o.timeout()
	sweep := time.Now().Add(timeout / sweepEvery)
	if err := pc.SetReadDeadline(sweep); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for {
		n, _, err := pc.ReadFromUDPAddrPort(buf)
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		freed := 0
		if err == nil && st.got(frameSeq(buf[:n])) {
			freed = 1
		}
		if now := time.Now(); !now.Before(sweep) {
			if st.sinceReply(now) > stallAfter*timeout {
				return stalled(o)
			}
			freed += st.expire(next, now.Add(-timeout))
			sweep = now.Add(timeout / sweepEvery)
			if err := pc.SetReadDeadline(sweep); err != nil {
				return err
			}
		}
		if st.complete() {
			st.print()
			return nil
		}
		for ; freed > 0 && next < st.total; freed-- {
			if err := send(); err != nil {
				return err
			}
		}
	}
}
