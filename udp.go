package nodeipc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"
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
type udpServer struct {
	s     *Server
	pc    *net.UDPConn
	max   int
	mu    sync.Mutex
	tab   map[netip.AddrPort]*udpPeer
	list  []*udpPeer // in order of arrival
	swept time.Time
	held  int // bytes of unfinished frames held for every peer (read loop only)
}

type udpPeer struct {
	sock    *Socket
	pending []byte
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
		u.max = maxDatagram6
	}
	return u, nil
}

func (u *udpServer) readLoop() {
	defer u.s.wg.Done()
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
				delete(u.tab, p.sock.addr.(*net.UDPAddr).AddrPort())
				u.held -= len(p.pending)
			}
		}
		clear(u.list[len(kept):])
		u.list = kept
	}
	p := u.tab[ap]
	if p == nil {
		u.s.seq++
		p = &udpPeer{sock: &Socket{server: u.s, addr: net.UDPAddrFromAddrPort(ap), seq: u.s.seq}}
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
		s.events.emit(&Message{Type: "data", Data: append(json.RawMessage(nil), dgram...), Socket: p.sock})
		return
	}
	if r.legacy && !bytes.HasSuffix(dgram, r.delim) {
		s.publishErr(p.sock, protoErr(CodeIncompleteFrame, "a datagram of "+strconv.Itoa(len(dgram))+" bytes does not end with the delimiter (dropped, as node-ipc 9 does)"))
		return
	}
	// The peer's unfinished frame, if any, is continued by this datagram.
	// It holds no delimiter, so the search starts where one could end in
	// the new bytes: a frame arriving in many datagrams costs linear time.
	data, from := dgram, 0
	held := len(p.pending)
	if held > 0 {
		data = append(p.pending, dgram...)
		from = max(0, held-len(r.delim)+1)
		p.pending = nil
		u.held -= held
	}
	whole := len(data)
	for {
		i := indexDelim(data[from:], r.delim)
		if i < 0 {
			break
		}
		frame := data[:from+i]
		data = data[from+i+len(r.delim):]
		from = 0
		perr := u.check(frame)
		var typ, body []byte
		if perr == nil {
			typ, body, perr = parseEnvelope(frame)
		}
		if perr == nil {
			perr = r.checkName(typ, true)
		}
		if perr != nil {
			// A UDP peer is never closed: its buffer is reset.
			s.publishErr(p.sock, perr)
			return
		}
		if s.cfg.IdentifyPeer {
			identify(p.sock, body)
		}
		s.events.dispatch(typ, body, p.sock)
	}
	if len(data) == 0 {
		return
	}
	if perr := u.check(data); perr != nil {
		s.publishErr(p.sock, perr)
		return
	}
	// Every peer's unfinished frames together stay within MaxReadBuffer, so
	// that many peers cannot make the server hold more than one could.
	if u.held+len(data) > s.cfg.MaxReadBuffer {
		s.publishErr(p.sock, protoErr(CodeFrameTooLarge, "an unfinished frame of "+strconv.Itoa(len(data))+" bytes does not fit: UDP peers hold "+strconv.Itoa(u.held)+" bytes of unfinished frames, and MaxReadBuffer is "+strconv.Itoa(s.cfg.MaxReadBuffer)))
		return
	}
	if held > 0 && len(data) == whole {
		p.pending = data // the joined buffer is ours: kept, not copied
	} else {
		p.pending = append([]byte(nil), data...) // a tail of this datagram
	}
	u.held += len(data)
}

func (u *udpServer) check(frame []byte) *ProtocolError {
	if lim := u.s.rules.maxMessageSize; lim > 0 && len(frame) > lim {
		return frameTooLarge(len(frame), lim, true)
	}
	return nil
}

// emit sends one frame to a peer; a peer without address or port means every
// peer, as in node-ipc.
func (u *udpServer) emit(to *Socket, frame []byte) error {
	ua, _ := to.RemoteAddr().(*net.UDPAddr)
	if ua == nil || ua.IP == nil || ua.Port == 0 {
		return u.broadcast(frame)
	}
	return u.send(ua, frame)
}

func (u *udpServer) send(ua *net.UDPAddr, frame []byte) error {
	if len(frame) > u.max {
		return protoErr(CodeDatagramTooLarge, "a frame of "+strconv.Itoa(len(frame))+" bytes does not fit one datagram (at most "+strconv.Itoa(u.max)+")")
	}
	if _, err := u.pc.WriteToUDP(frame, ua); err != nil {
		return fmt.Errorf("nodeipc: udp send to %s: %w", ua, err)
	}
	return nil
}

func (u *udpServer) broadcast(frame []byte) error {
	var errs []error
	for _, p := range u.peers() {
		if err := u.send(p.addr.(*net.UDPAddr), frame); err != nil {
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

func (u *udpServer) close() error { return u.pc.Close() }
