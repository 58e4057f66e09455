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
	wn      int // queued
	wdone   int // sent (or failed) during a flush
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
		b.rmsgs[i].hdr.Namelen = unix.SizeofSockaddrInet6
		b.rmsgs[i].hdr.Flags = 0
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
	for i := 0; i < b.wn; i++ {
		off, n := b.wspan[i][0], b.wspan[i][1]
		if n > 0 {
			b.wiov[i].Base = &b.wdata[off]
		} else {
			b.wiov[i].Base = nil
		}
		b.wiov[i].SetLen(n)
		m := &b.wmsgs[i].hdr
		m.Iov = &b.wiov[i]
		m.SetIovlen(1)
		m.Name = (*byte)(unsafe.Pointer(&b.wnames[i]))
		a := b.waddr[i].Addr()
		if b.v6 {
			rs := &b.wnames[i]
			*rs = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16()}
			putNetPort(&rs.Port, b.waddr[i].Port())
			m.Namelen = unix.SizeofSockaddrInet6
		} else {
			r4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(&b.wnames[i]))
			*r4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
			putNetPort(&r4.Port, b.waddr[i].Port())
			m.Namelen = unix.SizeofSockaddrInet4
		}
	}
	b.wdone, b.werrs = 0, nil
	if err := b.rc.Write(b.writeFn); err != nil {
		for ; b.wdone < b.wn; b.wdone++ {
			b.werrs = append(b.werrs, udpSendErr(b.waddr[b.wdone], err))
		}
	}
	errs := b.werrs
	b.wn, b.werrs = 0, nil
	clear(b.waddr[:])
	if cap(b.wdata) > udpKeepBytes {
		b.wdata = nil
	} else {
		b.wdata = b.wdata[:0]
	}
	return errs
}

func (b *udpBatch) send(fd uintptr) bool {
	for b.wdone < b.wn {
		r, _, errno := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&b.wmsgs[b.wdone])), uintptr(b.wn-b.wdone), 0, 0, 0)
		switch {
		case errno == unix.EINTR:
		case errno == unix.EAGAIN:
			return false // wait until writable
		case errno != 0:
			// The first datagram failed: report it and go on with the rest.
			b.werrs = append(b.werrs, udpSendErr(b.waddr[b.wdone], os.NewSyscallError("sendmmsg", errno)))
			b.wdone++
		case r == 0:
			b.werrs = append(b.werrs, udpSendErr(b.waddr[b.wdone], fmt.Errorf("sendmmsg sent nothing")))
			b.wdone++
		default:
			b.wdone += int(r)
		}
	}
	return true
}
