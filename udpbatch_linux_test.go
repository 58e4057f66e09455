//go:build linux

package nodeipc

import (
	"bytes"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Runs of datagrams to one address and of one size (the last may be
// shorter) become one message each; anything else ends a run.
func TestUDPBatchBuildsRuns(t *testing.T) {
	a := netip.MustParseAddrPort("127.0.0.1:1000")
	b := netip.MustParseAddrPort("127.0.0.1:2000")
	type dg struct {
		to   netip.AddrPort
		size int
	}
	many := func(n int, d dg) []dg {
		out := make([]dg, n)
		for i := range out {
			out[i] = d
		}
		return out
	}
	cat := func(parts ...[]dg) []dg {
		var out []dg
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, c := range []struct {
		name   string
		queue  []dg
		counts []int
	}{
		{"one", []dg{{a, 10}}, []int{1}},
		{"equal", many(5, dg{a, 10}), []int{5}},
		{"shorter last", cat(many(3, dg{a, 10}), []dg{{a, 4}, {a, 10}}), []int{4, 1}},
		{"longer breaks", []dg{{a, 10}, {a, 11}, {a, 11}}, []int{1, 2}},
		{"address breaks", []dg{{a, 10}, {a, 10}, {b, 10}, {b, 10}, {a, 10}}, []int{2, 2, 1}},
		{"empty alone", []dg{{a, 10}, {a, 0}, {a, 0}, {a, 10}}, []int{1, 1, 1, 1}},
		{"too large to segment", many(3, dg{a, udpSegMax + 1}), []int{1, 1, 1}},
		{"count limit", many(udpWriteBatch, dg{a, 10}), []int{udpSegCount}},
		{"total limit", many(60, dg{a, udpSegMax}), []int{udpSegTotal / udpSegMax, 60 - udpSegTotal/udpSegMax}},
	} {
		t.Run(c.name, func(t *testing.T) {
			bt := &udpBatch{}
			for _, d := range c.queue {
				if !bt.queue(d.to, bytes.Repeat([]byte("x"), d.size)) {
					t.Fatal("queue refused a datagram")
				}
			}
			bt.build(0)
			got := append([]int(nil), bt.mcount[:bt.mn]...)
			if len(got) != len(c.counts) {
				t.Fatalf("messages carry %v datagrams, want %v", got, c.counts)
			}
			for i := range got {
				if got[i] != c.counts[i] {
					t.Fatalf("messages carry %v datagrams, want %v", got, c.counts)
				}
			}
			bt.segOff = true
			bt.build(0)
			if bt.mn != len(c.queue) {
				t.Fatalf("with segmentation off, %d messages for %d datagrams", bt.mn, len(c.queue))
			}
		})
	}
}

// A run sent as one message reaches a plain socket as the datagrams it was
// made of, and a socket with UDP_GRO as one read holding them all, which the
// batch splits again by the size the kernel reports.
func TestUDPBatchSegmentsAndCoalesces(t *testing.T) {
	listen := func() *net.UDPConn {
		pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		return pc
	}
	sender := newUDPBatch(listen(), false)
	if sender.segOff {
		t.Skip("no segmentation offload on this platform")
	}
	var frames [][]byte
	for i := range 40 {
		frames = append(frames, []byte(`{"type":"n","data":"`+strconv.Itoa(1000+i)+`"}`+"\f"))
	}
	frames = append(frames, []byte(`{"type":"end"}`+"\f"))

	// A plain socket gets each datagram alone.
	plain := listen()
	for _, f := range frames {
		sender.queue(plain.LocalAddr().(*net.UDPAddr).AddrPort(), f)
	}
	if errs := sender.flush(); errs != nil {
		t.Fatal(errs)
	}
	buf := make([]byte, 64<<10)
	_ = plain.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, f := range frames {
		n, err := plain.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], f) {
			t.Fatalf("datagram %d is %q, want %q", i, buf[:n], f)
		}
	}

	// A socket with UDP_GRO gets runs whole, with their size.
	gro := listen()
	reader := newUDPBatch(gro, false)
	if !reader.gro {
		t.Skip("UDP_GRO is not available")
	}
	_ = gro.SetReadDeadline(time.Now().Add(5 * time.Second))
	for _, f := range frames {
		sender.queue(gro.LocalAddr().(*net.UDPAddr).AddrPort(), f)
	}
	if sender.mn != 0 {
		t.Fatal("messages left from the last flush")
	}
	if errs := sender.flush(); errs != nil {
		t.Fatal(errs)
	}
	var got [][]byte
	coalesced := false
	for len(got) < len(frames) {
		n, err := reader.read()
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			d := reader.data(i)
			if size := reader.segment(i); size > 0 {
				coalesced = true
				for ; len(d) > size; d = d[size:] {
					got = append(got, append([]byte(nil), d[:size]...))
				}
			}
			got = append(got, append([]byte(nil), d...))
		}
	}
	if !coalesced {
		t.Fatal("the run arrived as separate datagrams: no coalescing")
	}
	for i := range frames {
		if !bytes.Equal(got[i], frames[i]) {
			t.Fatalf("datagram %d is %q, want %q", i, got[i], frames[i])
		}
	}
}

// A segmented message the system refuses (here: a socket that sends without
// checksums, which segmentation needs) is sent again one datagram per
// message, and segmentation stays off for that socket: nothing is lost.
func TestUDPBatchFallsBackWhenSegmentationIsRefused(t *testing.T) {
	pc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	rc, err := pc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_NO_CHECK, 1) }); err != nil || serr != nil {
		t.Skip("SO_NO_CHECK is not available:", err, serr)
	}
	b := newUDPBatch(pc, false)
	if b.segOff {
		t.Skip("no segmentation offload on this platform")
	}
	dst, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	for i := range 10 {
		b.queue(dst.LocalAddr().(*net.UDPAddr).AddrPort(), []byte("datagram "+strconv.Itoa(i)))
	}
	if errs := b.flush(); errs != nil {
		t.Fatal(errs)
	}
	if !b.segOff {
		t.Fatal("the system took a segmented message from a socket without checksums")
	}
	buf := make([]byte, 1500)
	_ = dst.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i := range 10 {
		n, err := dst.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if want := "datagram " + strconv.Itoa(i); string(buf[:n]) != want {
			t.Fatalf("datagram %d is %q, want %q", i, buf[:n], want)
		}
	}
}
