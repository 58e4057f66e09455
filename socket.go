package nodeipc

import (
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
)

// Socket is one peer of a server: an accepted stream connection, or a UDP
// peer address. Handlers receive it as Message.Socket and pass it back to
// Server.Emit. For UDP, UDPPeer makes one from an address.
type Socket struct {
	conn   *conn                         // stream peers
	server *Server                       // the server that accepted it
	addr   net.Addr                      // the peer's address
	udp    netip.AddrPort                // UDP: the peer's address (as seen, or given to UDPPeer)
	host   string                        // UDPPeer given a host name: looked up on each Emit
	cred   *PeerCred                     // Unix socket peers, when the platform reports it
	id     atomic.Value                  // string set by IdentifyPeer or SetID
	seq    uint64                        // order of acceptance
	ses    atomic.Pointer[serverSession] // the client's session, with acknowledged delivery
	early  earlyQueue                    // with acknowledged delivery: emits before the client's first frame
}

// PeerCred is the identity of a local (Unix socket) peer as the kernel
// reports it when the connection is made: SO_PEERCRED on Linux,
// LOCAL_PEERCRED and LOCAL_PEERPID on macOS (GID is the first group there).
// A value the platform does not report is -1.
type PeerCred struct {
	UID, GID, PID int
}

// UDPPeer returns a Socket addressing a UDP peer, for Server.Emit on a UDP
// server (node-ipc's {address, port} target). host is an IP address or a
// name such as "localhost", looked up on each Emit for the server's family
// (as Node's dgram does); a name that does not resolve is an error from
// Emit. As in node-ipc, an empty host or a zero port means every peer seen.
func UDPPeer(host string, port int) *Socket {
	if a, err := netip.ParseAddr(host); err == nil && port >= 0 && port <= 0xffff {
		ap := netip.AddrPortFrom(a, uint16(port))
		return &Socket{addr: net.UDPAddrFromAddrPort(ap), udp: ap}
	}
	// A name, or a port out of range: Emit looks it up, and says what is
	// wrong with it.
	return &Socket{addr: &net.UDPAddr{Port: port}, host: host}
}

// ID returns the peer's declared id (IdentifyPeer), or "".
func (s *Socket) ID() string {
	if v, ok := s.id.Load().(string); ok {
		return v
	}
	return ""
}

// SetID sets the id reported for this peer, for instance after an
// application-level handshake.
func (s *Socket) SetID(id string) { s.id.Store(id) }

// RemoteAddr returns the peer's address.
func (s *Socket) RemoteAddr() net.Addr {
	if s.addr != nil {
		return s.addr
	}
	if s.conn != nil {
		return s.conn.nc.RemoteAddr()
	}
	return nil
}

// PeerCred returns the kernel's credentials of a Unix socket peer, or nil
// where the transport or platform has none.
func (s *Socket) PeerCred() *PeerCred { return s.cred }

// Queued returns the bytes waiting to be written to this peer (0 for UDP).
func (s *Socket) Queued() int {
	if s.conn == nil {
		return 0
	}
	return s.conn.queued()
}

// Close closes a stream peer's connection gracefully, as Server.Stop closes
// each: what is queued for it is written and what it sends until it closes
// is still delivered, within FlushTimeout. UDP peers have no connection;
// Close does nothing for them.
func (s *Socket) Close() error {
	if s.conn != nil {
		s.conn.close(true)
	}
	return nil
}

// Abort closes a stream peer's connection at once, dropping what is queued.
func (s *Socket) Abort() {
	if s.conn != nil {
		s.conn.close(false)
	}
}

// String describes the peer for logs: its id if set, else its address
// where that tells peers apart (TCP, TLS), else its number on the server
// ("socket#3": Unix sockets and pipes, whose peers share one address).
func (s *Socket) String() string {
	if id := s.ID(); id != "" {
		return id
	}
	if a := s.RemoteAddr(); a != nil && a.String() != "" && a.String() != "@" && (s.conn == nil || !sameAddr(a, s.conn.nc.LocalAddr())) {
		return a.String()
	}
	return "socket#" + strconv.FormatUint(s.seq, 10)
}

// sameAddr reports whether a and b are the same address: a pipe's two ends
// both give the pipe's name.
func sameAddr(a, b net.Addr) bool { return b != nil && a.String() == b.String() }

// Session returns the session of the client on this socket for
// acknowledged delivery (Config.Acks), once its hello has been answered; ""
// before, or without acknowledgements. A server with Acks holds its emits
// to a new connection until the client's first frame says which it is (a
// client with Acks sends its hello first): they join the session's
// acknowledged stream, or go out as plain frames to a client that sent
// something else or nothing within AckTimeout.
func (s *Socket) Session() string {
	if ss := s.ses.Load(); ss != nil {
		return ss.recv.session // set when the session is made, never changed
	}
	return ""
}
