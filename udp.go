package nodeipc

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Largest UDP payloads: 65,535 minus the IP and UDP headers.
const (
	maxDatagram4 = 65507
	maxDatagram6 = 65527
)

// udpServer is a UDP endpoint: it receives from any peer and sends to peers
// by address. Each emit is one datagram holding one frame; a datagram may hold
// several frames; an unfinished frame is kept per peer and completed by that
// peer's next datagram (node-ipc 14), or refused in Legacy mode (node-ipc 9).
// The unfinished frames of all peers together stay within MaxReadBuffer.
//
// Where the platform allows (Linux), the read loop takes every datagram
// waiting, up to a batch, in one system call, and the datagrams emitted
// while it dispatches them (replies, mostly) go out together in one system
// call when the batch is done, as a stream connection flushes once per read,
// or after udpHoldMax if the dispatch takes longer. The reply to a lone
// request (one frame in one datagram) leaves at once. Consecutive datagrams
// of one size to one peer go out as one message the kernel cuts into them
// (UDP_SEGMENT), and the read side takes such runs whole (UDP_GRO), splitting
// them by the size the kernel reports: every datagram is still received as
// itself, and a peer without UDP_GRO (node-ipc) gets them one by one.
// Datagrams leave in the order they were emitted; those that cannot be sent
// are reported as error events.
type udpServer struct {
	s     *Server
	pc    *net.UDPConn
	v6    bool
	max   int
	mu    sync.Mutex
	tab   map[netip.AddrPort]*udpPeer
	list  []*udpPeer // in order of arrival
	swept time.Time
	held  int // memory taken by the unfinished frames of every peer (read loop only)

	batch   *udpBatch  // nil: one datagram per system call
	frames  int        // frames of the current batch dispatched (read loop only)
	sendMu  sync.Mutex // orders sends; guards the fields below and the batch's write side
	holding bool       // the read loop is dispatching a batch: sends wait for its end
	failed  []error    // sends of queued datagrams that failed, for the read loop to report
	hold    holdTimer  // queued datagrams wait at most udpHoldMax
}

// udpHoldMax bounds how long a datagram emitted during the dispatch of a
// batch waits for the batch to end: a slow handler holds back neither the
// replies emitted before it nor the sends of other goroutines for longer.
// A batch normally ends long before; a shorter bound costs throughput, the
// timer waking the process more often.
const udpHoldMax = 2 * time.Millisecond

type udpPeer struct {
	sock    *Socket
	pending wire.Blocks // the peer's unfinished frame
	last    time.Time
}

func startUDP(s *Server) (*udpServer, error) {
	network := s.network
	addr, err := net.ResolveUDPAddr(network, s.address)
	if err != nil {
		return nil, err
	}
	pc, err := net.ListenUDP(network, addr)
	if err != nil {
		return nil, err
	}
	u := &udpServer{s: s, pc: pc, max: maxDatagram4, tab: map[netip.AddrPort]*udpPeer{}}
	if network == "udp6" {
		u.v6, u.max = true, maxDatagram6
	}
	u.batch = newUDPBatch(pc, u.v6)
	u.hold = holdTimer{max: udpHoldMax, fire: u.flushHeld}
	return u, nil
}

func (u *udpServer) readLoop() {
	defer u.s.wg.Done()
	if u.batch != nil {
		u.readBatches()
		return
	}
	buf := make([]byte, 64<<10)
	for {
		n, ap, err := u.pc.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			u.s.publishErr(nil, fmt.Errorf("nodeipc: udp read: %w", err))
			continue
		}
		p := u.peer(ap)
		u.receive(p, buf[:n])
	}
}

// readBatches is the read loop with batched system calls.
func (u *udpServer) readBatches() {
	for {
		n, err := u.batch.read()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			u.s.publishErr(nil, fmt.Errorf("nodeipc: udp read: %w", err))
			continue
		}
		for i := 0; i < n; i++ {
			p, d := u.peer(u.batch.addr(i)), u.batch.data(i)
			size := u.batch.segment(i)
			if i == 0 && (n > 1 || size > 0) {
				u.frames = 1 // sends wait from the first frame on
			}
			if size > 0 {
				// A run of datagrams handed over whole: each is
				// received as it would be alone.
				for ; len(d) > size; d = d[size:] {
					u.receive(p, d[:size])
				}
			}
			u.receive(p, d)
		}
		u.release()
	}
}

// dispatching counts the frames of a batch as they are dispatched, and from
// the second one on makes sends wait for the end of the batch (udpHoldMax at
// most). A batch of several datagrams counts one more: its sends wait from
// the first frame on.
func (u *udpServer) dispatching() {
	if u.batch == nil {
		return
	}
	if u.frames++; u.frames == 2 {
		u.sendMu.Lock()
		u.holding = true
		u.sendMu.Unlock()
	}
}

// release sends what the batch queued, and reports the sends that failed
// since the last release. It runs on the read loop, so error handlers run
// there, in order with the other events.
func (u *udpServer) release() {
	u.frames = 0
	u.sendMu.Lock()
	u.holding = false
	u.flushQueued()
	failed := u.failed
	u.failed = nil
	u.sendMu.Unlock()
	for _, err := range failed {
		u.s.publishErr(nil, err)
	}
}

// flushHeld sends what has waited udpHoldMax for the end of a batch.
func (u *udpServer) flushHeld() {
	u.sendMu.Lock()
	if u.hold.due() {
		u.flushQueued()
	}
	u.sendMu.Unlock()
}

// flushQueued sends the queued datagrams, keeping the failures for the read
// loop to report. The caller holds sendMu.
func (u *udpServer) flushQueued() {
	if u.batch.queued() > 0 {
		u.failed = append(u.failed, u.batch.flush()...)
	}
	u.hold.release()
}

func udpSendErr(ap netip.AddrPort, err error) error {
	return fmt.Errorf("nodeipc: udp send to %s: %w", ap, err)
}

// peer finds or records the peer at ap, and forgets idle ones.
func (u *udpServer) peer(ap netip.AddrPort) *udpPeer {
	now := time.Now()
	u.mu.Lock()
	defer u.mu.Unlock()
	if idle := u.s.cfg.UDPPeerIdleTimeout; idle > 0 && now.Sub(u.swept) > idle/2 {
		u.swept = now
		kept := u.list[:0]
		for _, p := range u.list {
			if now.Sub(p.last) < idle {
				kept = append(kept, p)
			} else {
				delete(u.tab, p.sock.udp)
				u.held -= p.pending.Cap()
			}
		}
		clear(u.list[len(kept):])
		u.list = kept
	}
	p := u.tab[ap]
	if p == nil {
		u.s.seq++
		p = &udpPeer{sock: &Socket{server: u.s, addr: net.UDPAddrFromAddrPort(ap), udp: ap, seq: u.s.seq}}
		u.tab[ap] = p
		u.list = append(u.list, p)
	}
	p.last = now
	return p
}

func (u *udpServer) receive(p *udpPeer, dgram []byte) {
	s := u.s
	r := s.rules
	if r.raw {
		u.dispatching()
		s.deliver(p.sock, nil, dgram, false)
		return
	}
	if r.legacy && !bytes.HasSuffix(dgram, r.delim) {
		s.publishErr(p.sock, protoErr(CodeIncompleteFrame, "a datagram of "+strconv.Itoa(len(dgram))+" bytes does not end with the delimiter (dropped, as node-ipc 9 does)"))
		return
	}
	if p.pending.Len() > 0 {
		var ok bool
		if dgram, ok = u.continueFrame(p, dgram); !ok {
			return
		}
	}
	for {
		i := wire.Index(dgram, r.delim)
		if i < 0 {
			break
		}
		if !u.frame(p, dgram[:i], false) {
			return
		}
		dgram = dgram[i+len(r.delim):]
	}
	if len(dgram) > 0 {
		u.keep(p, dgram)
	}
}

// continueFrame continues the peer's unfinished frame with a datagram. When
// the datagram completes it, the frame is delivered and the rest of the
// datagram returned; otherwise the datagram is held too, or refused. ok is
// false when nothing is left to do with the datagram. The frame is joined
// only when complete, and handed over.
func (u *udpServer) continueFrame(p *udpPeer, dgram []byte) (rest []byte, ok bool) {
	held := &p.pending
	n, next, found := held.End(dgram, u.s.rules.delim)
	if !found {
		u.keep(p, dgram)
		return nil, false
	}
	u.held -= held.Cap()
	if perr := u.s.rules.checkSize(n); perr != nil {
		held.Reset()
		u.s.publishErr(p.sock, perr)
		return nil, false
	}
	return dgram[next:], u.frame(p, held.Join(dgram, n), true)
}

// keep holds bytes of the peer's unfinished frame, or refuses them (and
// drops the frame) when the frame would pass the frame limit, or the
// unfinished frames of every peer together MaxReadBuffer: many peers cannot
// make the server hold more than one could. What is counted is the memory
// the frames take.
func (u *udpServer) keep(p *udpPeer, b []byte) {
	s := u.s
	held := &p.pending
	perr := s.rules.checkSize(held.Len() + len(b))
	if need := held.Need(len(b)); perr == nil && u.held+need > s.cfg.MaxReadBuffer {
		perr = protoErr(CodeFrameTooLarge, "an unfinished frame of "+strconv.Itoa(held.Len()+len(b))+" bytes does not fit: the unfinished frames of UDP peers take "+strconv.Itoa(u.held)+" bytes, and MaxReadBuffer is "+strconv.Itoa(s.cfg.MaxReadBuffer))
	}
	if perr != nil {
		u.held -= held.Cap()
		held.Reset()
		s.publishErr(p.sock, perr)
		return
	}
	room := min(s.cfg.MaxReadBuffer-u.held, s.rules.maxMessageSize-held.Cap())
	u.held += held.Append(b, room)
}

// frame decodes one complete frame from the peer and hands it to the
// server's deliver step, or publishes why it is refused and reports
// whether the rest of the datagram goes on: a UDP peer is never closed, but
// what its datagram holds after a malformed frame is dropped. owned says
// that the frame was joined for this delivery.
func (u *udpServer) frame(p *udpPeer, frame []byte, owned bool) bool {
	s := u.s
	if perr := s.rules.checkSize(len(frame)); perr != nil {
		s.publishErr(p.sock, perr)
		return false
	}
	typ, data, perr, fatal := s.rules.decode(frame)
	if perr != nil {
		s.publishErr(p.sock, perr)
		return !fatal
	}
	u.dispatching()
	s.deliver(p.sock, typ, data, owned)
	return true
}

// emit sends one frame to a peer; a peer without address or port means every
// peer, as in node-ipc.
func (u *udpServer) emit(to *Socket, frame []byte) error {
	ap, err := u.address(to)
	if err != nil {
		return err
	}
	if !ap.IsValid() || ap.Port() == 0 {
		return u.broadcast(frame)
	}
	return u.send(ap, frame)
}

// address is where to is: the address a peer was seen at or UDPPeer was
// given, or the host name given to UDPPeer, looked up now for the server's
// family. The zero AddrPort means no address (every peer, as in node-ipc).
func (u *udpServer) address(to *Socket) (netip.AddrPort, error) {
	if to.host == "" {
		return to.udp, nil
	}
	port := to.addr.(*net.UDPAddr).Port
	if port == 0 {
		return netip.AddrPort{}, nil
	}
	network := "udp4"
	if u.v6 {
		network = "udp6"
	}
	ua, err := net.ResolveUDPAddr(network, net.JoinHostPort(to.host, strconv.Itoa(port)))
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("nodeipc: udp peer %s: %w", to.host, err)
	}
	return ua.AddrPort(), nil
}

// send writes one datagram, or queues it while a batch is being dispatched;
// the read loop reports a queued datagram that could not be sent as an error
// event at the end of the batch.
func (u *udpServer) send(ap netip.AddrPort, frame []byte) error {
	if len(frame) > u.max {
		return protoErr(CodeDatagramTooLarge, "a frame of "+strconv.Itoa(len(frame))+" bytes does not fit one datagram (at most "+strconv.Itoa(u.max)+")")
	}
	if !u.v6 {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	if u.batch == nil {
		return u.write(ap, frame)
	}
	u.sendMu.Lock()
	if !u.holding {
		u.sendMu.Unlock() // nothing is queued
		return u.write(ap, frame)
	}
	defer u.sendMu.Unlock()
	first := u.batch.queued() == 0
	if u.batch.queue(ap, frame) {
		switch {
		case u.batch.full():
			u.flushQueued()
		case first:
			u.hold.hold()
		}
		return nil
	}
	// An address the batch cannot hold goes alone, after what was queued
	// before it.
	u.flushQueued()
	return u.write(ap, frame)
}

func (u *udpServer) write(ap netip.AddrPort, frame []byte) error {
	if _, err := u.pc.WriteToUDPAddrPort(frame, ap); err != nil {
		return udpSendErr(ap, err)
	}
	return nil
}

func (u *udpServer) broadcast(frame []byte) error {
	var errs []error
	for _, p := range u.peers() {
		if err := u.send(p.udp, frame); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (u *udpServer) peers() []*Socket {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]*Socket, len(u.list))
	for i, p := range u.list {
		out[i] = p.sock
	}
	return out
}

func (u *udpServer) close() error {
	u.sendMu.Lock()
	u.hold.stop()
	u.sendMu.Unlock()
	return u.pc.Close()
}
