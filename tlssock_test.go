package nodeipc

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"testing"
)

// chunkConn is a socket that delivers a byte stream in the given pieces, one
// per read, then EOF, and counts the reads.
type chunkConn struct {
	net.Conn
	chunks [][]byte
	reads  int
}

func (c *chunkConn) Read(p []byte) (int, error) {
	c.reads++
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if n == len(c.chunks[0]) {
		c.chunks = c.chunks[1:]
	} else {
		c.chunks[0] = c.chunks[0][n:]
	}
	return n, nil
}

// records makes a stream of n TLS-shaped records (header with a body
// length, then the body) and returns it with each record's end offset.
func records(rng *rand.Rand, n int) ([]byte, []int) {
	var stream []byte
	var ends []int
	for i := range n {
		size := rng.IntN(3000)
		if i%7 == 0 {
			size = rng.IntN(20000) // larger than a read buffer of crypto/tls's first reads
		}
		stream = append(stream, 23, 3, 3, byte(size>>8), byte(size))
		for j := range size {
			stream = append(stream, byte(i+j))
		}
		ends = append(ends, len(stream))
	}
	return stream, ends
}

// Under a TLS connection the socket hands on one record at a time, whatever
// pieces the bytes arrive in and whatever buffers the reader offers, so
// that the records after it stay visible: recordReady is true exactly when
// the next record can be read without waiting for the socket.
func TestTLSSockHandsOnOneRecordAtATime(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		stream, ends := records(rng, 1+rng.IntN(40))
		var chunks [][]byte
		for rest := stream; len(rest) > 0; {
			n := min(len(rest), 1+rng.IntN(max(1, []int{3, 200, 9000, 70000}[rng.IntN(4)])))
			chunks = append(chunks, rest[:n])
			rest = rest[n:]
		}
		cc := &chunkConn{chunks: chunks}
		s := &tlsSock{Conn: cc}
		var got []byte
		arrived := 0 // bytes the socket has delivered so far
		for {
			ready := s.recordReady()
			readsBefore := cc.reads
			buf := make([]byte, 1+rng.IntN(20000))
			n, err := s.Read(buf)
			if cc.reads > readsBefore {
				if ready {
					t.Fatalf("seed %d: a record was reported ready but the socket was read", seed)
				}
				arrived = len(stream) - remaining(cc.chunks)
			}
			start := len(got)
			got = append(got, buf[:n]...)
			// No read crosses the end of a record.
			for _, e := range ends {
				if e > start && e < len(got) {
					t.Fatalf("seed %d: a read of bytes %d..%d crosses the end of a record at %d", seed, start, len(got), e)
				}
			}
			// recordReady now is the truth: the rest of the record being
			// read, or the next one, lies wholly in what arrived.
			want := len(got) < len(stream) && nextEnd(ends, len(got)) <= arrived
			if r := s.recordReady(); r != want {
				t.Fatalf("seed %d: at byte %d of %d (%d arrived) recordReady is %v", seed, len(got), len(stream), arrived, r)
			}
			if err != nil {
				if err != io.EOF {
					t.Fatal(err)
				}
				break
			}
		}
		if !bytes.Equal(got, stream) {
			t.Fatalf("seed %d: the stream came out changed (%d bytes of %d)", seed, len(got), len(stream))
		}
	}
}

func remaining(chunks [][]byte) int {
	n := 0
	for _, c := range chunks {
		n += len(c)
	}
	return n
}

// nextEnd is the end of the record holding byte at (or the stream's end).
func nextEnd(ends []int, at int) int {
	for _, e := range ends {
		if e > at {
			return e
		}
	}
	return ends[len(ends)-1]
}

// A read error that cuts a record's header hands on the bytes that came,
// then the error; records are no longer followed.
func TestTLSSockErrorInAHeader(t *testing.T) {
	s := &tlsSock{Conn: &chunkConn{chunks: [][]byte{{23, 3, 3, 0, 2, 'h', 'i', 23, 3}}}}
	buf := make([]byte, 100)
	n, err := s.Read(buf)
	if err != nil || string(buf[:n]) != "\x17\x03\x03\x00\x02hi" {
		t.Fatalf("first record: %q, %v", buf[:n], err)
	}
	if s.recordReady() {
		t.Fatal("two bytes of a header are not a record")
	}
	n, err = s.Read(buf)
	if err != nil || !bytes.Equal(buf[:n], []byte{23, 3}) {
		t.Fatalf("the cut header: %v, %v", buf[:n], err)
	}
	if n, err = s.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after the cut header: %d, %v", n, err)
	}
}

// Bytes left by direct writes count as unwritten until the socket takes
// them, also while flush is writing them, so that MaxPendingBytes bounds
// them however long the peer does not read.
func TestTLSSockCountsWhatFlushIsWriting(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s, ok := newTLSSock(nc, 0).(*tlsSock)
	if !ok {
		t.Skip("no direct writes on this platform")
	}
	defer s.Close()
	// The peer does not read: direct writes fill the socket, then rest.
	chunk := make([]byte, 64<<10)
	s.setDirect(true)
	for s.unwritten() == 0 {
		if _, err := s.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	left := s.setDirect(false)
	flushed := make(chan error, 1)
	go func() { flushed <- s.flush() }()
	// flush takes rest and blocks writing it; the bytes still count.
	for range 50 {
		if got := s.unwritten(); got < left {
			t.Fatalf("while flush writes, %d bytes count as unwritten; %d were left", got, left)
		}
		select {
		case err := <-flushed:
			t.Fatalf("flush returned (%v) though the peer reads nothing", err)
		default:
		}
		runtime.Gosched()
	}
	// Once the peer reads everything, nothing is left.
	go func() { _, _ = io.Copy(io.Discard, peer) }()
	if err := <-flushed; err != nil {
		t.Fatal(err)
	}
	if got := s.unwritten(); got != 0 {
		t.Fatalf("%d bytes unwritten after flush", got)
	}
}
