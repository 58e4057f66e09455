//go:build linux

package nodeipc

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Datagrams per system call: read with recvmmsg, written with sendmmsg.
const (
	udpReadBatch  = 16
	udpWriteBatch = 64
	udpSlot       = 1 << 16     // a read slot holds the largest datagram
	udpQueueBytes = 256 << 10   // a write batch goes out at this size
	udpKeepBytes  = 4 * udpSlot // a larger write buffer is not kept

	// Segmentation offload: a run of datagrams to one address, of one
	// size (the last may be shorter), goes out as one message that the
	// kernel cuts into those datagrams (UDP_SEGMENT), and a receiver that
	// asked for it (UDP_GRO) takes such a run whole and is told the size.
	// A run stays within what every interface's MTU allows per datagram,
	// the kernel's segment count and one IP packet.
	udpSegMax      = 1200
	udpSegCount    = 64
	udpSegTotal    = 65000
	udpSegCtrlSize = 24 // unix.CmsgSpace(2) on 64-bit; checked in newUDPBatch
	udpGROCtrlSize = 24 // unix.CmsgSpace(4)
)

// mmsghdr is the kernel's struct mmsghdr.
type mmsghdr struct {
	hdr unix.Msghdr
	n   uint32
}

// udpBatch moves several datagrams per system call. The read side belongs
// to the read loop, the write side to whoever holds udpServer.sendMu. Read
// slots are allocated once, each large enough for any datagram.
type udpBatch struct {
	rc syscall.RawConn
	v6 bool

	rbuf   []byte
	rmsgs  [udpReadBatch]mmsghdr
	riov   [udpReadBatch]unix.Iovec
	rnames [udpReadBatch]unix.RawSockaddrInet6 // large enough for IPv4 too
	rctrl  [udpReadBatch][udpGROCtrlSize]byte
	gro    bool // the socket hands over runs of datagrams whole (UDP_GRO)
	rn     int
	rerr   error
	readFn func(fd uintptr) bool
	zone   struct { // the last IPv6 zone seen: its name costs a system call
		index uint32
		name  string
		at    time.Time // interfaces come and go: a name is kept a minute
	}

	wdata   []byte
	wspan   [udpWriteBatch][2]int // offset and length in wdata
	waddr   [udpWriteBatch]netip.AddrPort
	wmsgs   [udpWriteBatch]mmsghdr
	wiov    [udpWriteBatch]unix.Iovec
	wnames  [udpWriteBatch]unix.RawSockaddrInet6
	wctrl   [udpWriteBatch][udpSegCtrlSize]byte
	wn      int                // queued
	mfirst  [udpWriteBatch]int // a message's first datagram
	mcount  [udpWriteBatch]int // and how many it carries
	mn      int                // messages built for a flush
	mdone   int                // messages sent (or failed) during a flush
	segOff  bool               // the system refused a segmented message: none are built any more
	werrs   []error
	writeFn func(fd uintptr) bool
}

func newUDPBatch(pc *net.UDPConn, v6 bool) *udpBatch {
	rc, err := pc.SyscallConn()
	if err != nil {
		return nil
	}
	b := &udpBatch{rc: rc, v6: v6, rbuf: make([]byte, udpReadBatch*udpSlot)}
	for i := range b.rmsgs {
		b.riov[i].Base = &b.rbuf[i*udpSlot]
		b.riov[i].SetLen(udpSlot)
		b.rmsgs[i].hdr.Iov = &b.riov[i]
		b.rmsgs[i].hdr.SetIovlen(1)
		b.rmsgs[i].hdr.Name = (*byte)(unsafe.Pointer(&b.rnames[i]))
	}
	b.readFn = b.recv
	b.writeFn = b.send
	if unix.CmsgSpace(2) != udpSegCtrlSize || unix.CmsgSpace(4) != udpGROCtrlSize {
		b.segOff = true // a layout these buffers were not sized for
		return b
	}
	_ = rc.Control(func(fd uintptr) {
		b.gro = unix.SetsockoptInt(int(fd), unix.SOL_UDP, unix.UDP_GRO, 1) == nil
	})
	return b
}

// read waits for datagrams and reads as many as are there, up to
// udpReadBatch; data and addr give each one.
func (b *udpBatch) read() (int, error) {
	b.rn, b.rerr = 0, nil
	if err := b.rc.Read(b.readFn); err != nil {
		return 0, err
	}
	return b.rn, b.rerr
}

func (b *udpBatch) recv(fd uintptr) bool {
	for i := range b.rmsgs {
		m := &b.rmsgs[i].hdr
		m.Namelen = unix.SizeofSockaddrInet6
		m.Flags = 0
		if b.gro {
			m.Control = &b.rctrl[i][0]
			m.SetControllen(udpGROCtrlSize)
		}
	}
	for {
		r, _, errno := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&b.rmsgs[0])), udpReadBatch, 0, 0, 0)
		switch errno {
		case 0:
			b.rn = int(r)
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return false // wait until readable
		default:
			b.rerr = os.NewSyscallError("recvmmsg", errno)
		}
		return true
	}
}

func (b *udpBatch) data(i int) []byte {
	return b.rbuf[i*udpSlot : i*udpSlot+int(b.rmsgs[i].n)]
}

// segment is the size of the datagrams message i holds when the kernel
// handed over a run of them whole (the last may be shorter); 0 when it holds
// one datagram.
func (b *udpBatch) segment(i int) int {
	m := &b.rmsgs[i].hdr
	if !b.gro || int(m.Controllen) < unix.CmsgLen(4) {
		return 0
	}
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b.rctrl[i][0]))
	if h.Level != unix.SOL_UDP || h.Type != unix.UDP_GRO || int(h.Len) < unix.CmsgLen(4) {
		return 0
	}
	size := int(*(*int32)(unsafe.Pointer(&b.rctrl[i][unix.CmsgLen(0)])))
	if size <= 0 || size >= int(b.rmsgs[i].n) {
		return 0
	}
	return size
}

func (b *udpBatch) addr(i int) netip.AddrPort {
	rs := &b.rnames[i]
	switch rs.Family {
	case unix.AF_INET:
		r4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(rs))
		return netip.AddrPortFrom(netip.AddrFrom4(r4.Addr), netPort(&r4.Port))
	case unix.AF_INET6:
		a := netip.AddrFrom16(rs.Addr)
		if rs.Scope_id != 0 {
			if now := time.Now(); b.zone.index != rs.Scope_id || now.Sub(b.zone.at) > time.Minute {
				b.zone.index, b.zone.name, b.zone.at = rs.Scope_id, zoneName(int(rs.Scope_id)), now
			}
			a = a.WithZone(b.zone.name)
		}
		return netip.AddrPortFrom(a, netPort(&rs.Port))
	}
	return netip.AddrPort{}
}

// netPort reads a port stored in network byte order.
func netPort(p *uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(p))
	return uint16(b[0])<<8 | uint16(b[1])
}

func putNetPort(p *uint16, port uint16) {
	b := (*[2]byte)(unsafe.Pointer(p))
	b[0], b[1] = byte(port>>8), byte(port)
}

func zoneName(index int) string {
	if ifi, err := net.InterfaceByIndex(index); err == nil {
		return ifi.Name
	}
	return strconv.Itoa(index)
}

// queue copies one datagram into the write batch. It refuses addresses the
// batch cannot express (a zone, IPv6 on an IPv4 socket); the caller sends
// those alone.
func (b *udpBatch) queue(ap netip.AddrPort, frame []byte) bool {
	a := ap.Addr()
	if a.Zone() != "" || (!b.v6 && !a.Is4()) {
		return false
	}
	b.wspan[b.wn] = [2]int{len(b.wdata), len(frame)}
	b.waddr[b.wn] = ap
	b.wdata = append(b.wdata, frame...)
	b.wn++
	return true
}

func (b *udpBatch) queued() int { return b.wn }

func (b *udpBatch) full() bool { return b.wn == udpWriteBatch || len(b.wdata) >= udpQueueBytes }

// flush sends the queued datagrams and returns the errors of those that
// could not be sent.
func (b *udpBatch) flush() []error {
	if b.wn == 0 {
		return nil
	}
	b.werrs = nil
	b.build(0)
	if err := b.rc.Write(b.writeFn); err != nil {
		for k := b.mdone; k < b.mn; k++ {
			b.failMessage(k, err)
		}
	}
	errs := b.werrs
	b.wn, b.mn, b.werrs = 0, 0, nil
	clear(b.waddr[:])
	if cap(b.wdata) > udpKeepBytes {
		b.wdata = nil
	} else {
		b.wdata = b.wdata[:0]
	}
	return errs
}

// build makes the messages for the queued datagrams from the first on: one
// per datagram, or one per run of them where segmentation is allowed.
func (b *udpBatch) build(first int) {
	b.mn, b.mdone = 0, 0
	for i := first; i < b.wn; {
		j := b.runEnd(i)
		off, size := b.wspan[i][0], b.wspan[i][1]
		n := b.wspan[j-1][0] + b.wspan[j-1][1] - off // a run is contiguous in wdata
		k := b.mn
		b.mfirst[k], b.mcount[k] = i, j-i
		if n > 0 {
			b.wiov[k].Base = &b.wdata[off]
		} else {
			b.wiov[k].Base = nil
		}
		b.wiov[k].SetLen(n)
		m := &b.wmsgs[k].hdr
		m.Iov = &b.wiov[k]
		m.SetIovlen(1)
		m.Name = (*byte)(unsafe.Pointer(&b.wnames[k]))
		a := b.waddr[i].Addr()
		if b.v6 {
			rs := &b.wnames[k]
			*rs = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
			putNetPort(&rs.Port, b.waddr[i].Port())
			m.Namelen = unix.SizeofSockaddrInet6
		} else {
			r4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b.wnames[k]))
			*r4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
			putNetPort(&r4.Port, b.waddr[i].Port())
			m.Namelen = unix.SizeofSockaddrInet4
		}
		if j-i > 1 {
			h := (*unix.Cmsghdr)(unsafe.Pointer(&b.wctrl[k][0]))
			h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
			h.SetLen(unix.CmsgLen(2))
			*(*uint16)(unsafe.Pointer(&b.wctrl[k][unix.CmsgLen(0)])) = uint16(size)
			m.Control = &b.wctrl[k][0]
			m.SetControllen(udpSegCtrlSize)
		} else {
			m.Control = nil
			m.SetControllen(0)
		}
		b.mn++
		i = j
	}
}

// runEnd returns the end of the run of datagrams that can go out as one
// message with datagram i: the same address, the same size (the last may be
// shorter), within the limits of segmentation; i+1 where none can.
func (b *udpBatch) runEnd(i int) int {
	size := b.wspan[i][1]
	if b.segOff || size == 0 || size > udpSegMax {
		return i + 1
	}
	total, j := size, i+1
	for ; j < b.wn && j-i < udpSegCount && b.waddr[j] == b.waddr[i]; j++ {
		n := b.wspan[j][1]
		if n == 0 || n > size || total+n > udpSegTotal {
			break
		}
		total += n
		if n < size {
			return j + 1 // a shorter datagram ends a run
		}
	}
	return j
}

// failMessage reports every datagram of message k as not sent.
func (b *udpBatch) failMessage(k int, err error) {
	for d := b.mfirst[k]; d < b.mfirst[k]+b.mcount[k]; d++ {
		b.werrs = append(b.werrs, udpSendErr(b.waddr[d], err))
	}
}

func (b *udpBatch) send(fd uintptr) bool {
	for b.mdone < b.mn {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.wmsgs[b.mdone])), uintptr(b.mn-b.mdone), 0, 0, 0)
		switch {
		case errno == unix.EINTR:
		case errno == unix.EAGAIN:
			return false // wait until writable
		case errno != 0 && b.mcount[b.mdone] > 1:
			// The system refused a segmented message (an old kernel, a
			// route that cannot segment): its datagrams and the rest go
			// one per message from now on.
			b.segOff = true
			b.build(b.mfirst[b.mdone])
		case errno != 0:
			// The first message failed: report it and go on with the rest.
			b.failMessage(b.mdone, os.NewSyscallError("sendmmsg", errno))
			b.mdone++
		case r == 0:
			b.failMessage(b.mdone, fmt.Errorf("sendmmsg sent nothing"))
			b.mdone++
		default:
			b.mdone += int(r)
		}
	}
	return true
}
