package nodeipc

import (
	"crypto/tls"
	"net"
	"sync"
	"time"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// tlsSock is the socket under a TLS connection, where non-blocking writes
// are possible (a plain TCP socket; not on Windows). It lets an emitting
// goroutine encrypt and write a frame itself, as a plain socket's direct
// writes do, instead of waking the writer goroutine for every batch: while
// the connection marks a write as direct, Write never blocks. What the socket
// does not take at once is kept, in order, and written by the next blocking
// Write or by flush, which the connection's writer goroutine calls.
//
// crypto/tls serialises its writes to the socket (its output lock), so Write
// never runs twice at once; flush may run beside a Write and takes wmu for
// the socket, as every blocking write does.
type tlsSock struct {
	net.Conn
	dw   *directWriter
	spin *spinner    // polls the socket before a read sleeps; or nil
	wait *readWaiter // waits for the socket to be readable; or nil

	// Reads: what one read from the socket brought is handed to crypto/tls
	// a record at a time, so that records beyond the one being decrypted
	// stay here, where recordReady sees them. Only the connection's reader
	// reads.
	in        []byte // read from the socket, not yet handed on
	inBuf     []byte // in's storage
	recLeft   int    // bytes of the current record still to hand on; 0 at a record's start
	untracked bool   // a read error cut a header: records are not followed any more

	wmu sync.Mutex // held while writing to the socket

	mu       sync.Mutex
	direct   bool   // writes must not block
	rest     []byte // ciphertext not yet written, before anything else
	flushing int    // bytes of an earlier rest that flush is writing now
	spare    []byte // the buffer of a flushed rest, reused
}

// newTLSSock wraps nc for a TLS connection; it returns nc itself where
// direct writes are not supported. Reads poll the socket for up to spin
// while the connection is busy (see spinner).
func newTLSSock(nc net.Conn, spin time.Duration) net.Conn {
	dw := newDirectWriter(nc)
	if dw == nil {
		return nc
	}
	return &tlsSock{Conn: nc, dw: dw, spin: newSpinner(nc, spin), wait: newReadWaiter(nc)}
}

// readSocket reads from the socket, waiting for bytes (see readWith).
func (s *tlsSock) readSocket(p []byte) (int, error) { return s.wait.readWith(p, s.Conn.Read) }

// Close closes the socket.
func (s *tlsSock) Close() error {
	s.spin.stop()
	return s.Conn.Close()
}

// tlsRecordHeader is the size of a TLS record's header; its last two bytes
// are the length of the record's body.
const tlsRecordHeader = 5

func (s *tlsSock) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for len(s.in) == 0 || !s.untracked && s.recLeft == 0 && len(s.in) < tlsRecordHeader {
		// Nothing buffered, or not a whole header: crypto/tls asks for a
		// header at least, so waiting for the socket here waits for nothing
		// it could have had.
		if s.inBuf == nil {
			s.inBuf = make([]byte, tlsReadBuffer)
		}
		have := copy(s.inBuf, s.in)
		n, err := s.spin.read(s.inBuf[have:], s.readSocket)
		s.in = s.inBuf[:have+n]
		if err != nil {
			if len(s.in) == 0 {
				return 0, err
			}
			// Hand on a partial header; the error comes again with the
			// next read. Records are no longer followed.
			s.untracked = true
			break
		}
	}
	n := len(s.in)
	if !s.untracked {
		if s.recLeft == 0 {
			s.recLeft = tlsRecordSize(s.in)
		}
		n = min(n, s.recLeft)
	}
	n = copy(p, s.in[:n])
	s.in = s.in[n:]
	if !s.untracked {
		s.recLeft -= n
	}
	return n, nil
}

// tlsRecordSize is the size of the record whose header begins b.
func tlsRecordSize(b []byte) int { return tlsRecordHeader + (int(b[3])<<8 | int(b[4])) }

// A TLS record carries at most tlsMaxPlaintext bytes of data and adds at
// most tlsMaxOverhead: its header, and a nonce, tag, MAC and padding by the
// cipher suite (about 22 to 29 bytes for the AEAD suites, more for CBC).
const (
	tlsMaxPlaintext = 16 << 10
	tlsMaxOverhead  = 128
)

// tlsReadBuffer is the size of a read from the socket under TLS: two
// records of the largest size.
const tlsReadBuffer = 2 * (tlsMaxPlaintext + tlsMaxOverhead)

// recordReady reports whether a whole record is buffered, so that the next
// read of the TLS connection returns without waiting for the socket. Only the
// connection's reader calls it.
func (s *tlsSock) recordReady() bool {
	switch {
	case s.untracked:
		return false
	case s.recLeft > 0:
		return len(s.in) >= s.recLeft
	case len(s.in) < tlsRecordHeader:
		return false
	}
	return len(s.in) >= tlsRecordSize(s.in)
}

// tlsSockOf returns a TLS connection and the tlsSock under it, or nils when
// nc is not a TLS connection over a tlsSock.
func tlsSockOf(nc net.Conn) (*tls.Conn, *tlsSock) {
	if tc, ok := nc.(*tls.Conn); ok {
		if ts, ok := tc.NetConn().(*tlsSock); ok {
			return tc, ts
		}
	}
	return nil, nil
}

func (s *tlsSock) Write(b []byte) (int, error) {
	s.mu.Lock()
	if s.direct {
		n := len(b)
		if len(s.rest) == 0 && s.wmu.TryLock() {
			b = b[s.dw.try(b):]
			s.wmu.Unlock()
		}
		s.rest = append(s.rest, b...)
		s.mu.Unlock()
		return n, nil
	}
	s.mu.Unlock()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.flushLocked(); err != nil {
		return 0, err
	}
	return s.Conn.Write(b)
}

// setDirect marks the writes from now on as direct (on) or blocking (off).
// Turning it off reports how many bytes are left for flush to write.
func (s *tlsSock) setDirect(on bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.direct = on
	return len(s.rest)
}

// unwritten reports the bytes that direct writes left and the socket has
// not yet taken: those waiting for flush and those it is writing.
func (s *tlsSock) unwritten() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.rest) + s.flushing
}

// flush writes what direct writes left, blocking until the socket takes it.
func (s *tlsSock) flush() error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return s.flushLocked()
}

func (s *tlsSock) flushLocked() error {
	for {
		s.mu.Lock()
		rest := s.rest
		s.rest, s.spare = s.spare[:0], nil
		s.flushing = len(rest)
		s.mu.Unlock()
		if len(rest) == 0 {
			return nil
		}
		_, err := s.Conn.Write(rest)
		s.mu.Lock()
		s.flushing = 0
		if cap(rest) <= 4*wire.ReadBuffer {
			s.spare = rest[:0]
		}
		s.mu.Unlock()
		if err != nil {
			return err
		}
	}
}
