package nodeipc

import (
	"bytes"
	"math"
	"strconv"
)

// minReadBuffer is the read buffer of a connection.
const minReadBuffer = 32 << 10

// splitter cuts a byte stream into delimiter-terminated frames. Bytes are
// read into its buffer with space/advance; frame returns each complete frame
// in order. A frame that fits the buffer is returned as a slice of it, valid
// until the next read. A frame too long for the buffer is moved out of it a
// buffer's worth at a time, into blocks (each byte copied once), and joined
// into one slice of its own when its delimiter arrives. Scanning resumes
// where it stopped, so a large frame arriving in many reads costs linear
// time, and what is held never exceeds the limit plus one buffer.
type splitter struct {
	buf     []byte
	start   int // first byte of the unconsumed region
	end     int // end of the bytes read so far
	scanned int // no delimiter starts before this index in buf[start:end]
	delim   []byte
	limit   int    // largest unfinished frame allowed, in bytes (0: none)
	long    blocks // the head of a frame too long for buf; its rest is buf[:end] (start is 0)
	joined  bool   // the last frame returned was joined from long: it belongs to the caller
}

func newSplitter(delim []byte, limit int) *splitter {
	// The buffer keeps the last len(delim)-1 bytes of a long frame, where a
	// delimiter may begin: they must leave room for reads.
	return &splitter{buf: make([]byte, max(minReadBuffer, 8*len(delim))), delim: delim, limit: limit}
}

// space returns the free tail of the buffer to read into, making room by
// moving the unconsumed bytes to the front, or by moving the head of a long
// unfinished frame to blocks. Call it only once frame has reported that no
// complete frame is left: only bytes frame has scanned are moved to blocks.
func (s *splitter) space() []byte {
	if s.start == s.end {
		s.start, s.end, s.scanned = 0, 0, 0
	}
	if len(s.buf)-s.end < len(s.buf)/4 {
		if pending := s.end - s.start; s.long.n == 0 && pending < len(s.buf)/2 {
			copy(s.buf, s.buf[s.start:s.end])
			s.scanned -= s.start
			s.start, s.end = 0, pending
		} else {
			// Bytes before scanned cannot begin a delimiter: they go to
			// blocks, bounded by the limit, which frame has checked.
			room := math.MaxInt
			if s.limit > 0 {
				room = s.limit - s.long.size
			}
			s.long.append(s.buf[s.start:s.scanned], room)
			s.end = copy(s.buf, s.buf[s.scanned:s.end])
			s.start, s.scanned = 0, 0
		}
	}
	return s.buf[s.end:]
}

// advance records that n bytes were read into the slice space returned.
func (s *splitter) advance(n int) { s.end += n }

// frame returns the next complete frame, without its delimiter, or ok false
// when the buffer holds no complete frame. It reports a frame (complete or
// not) longer than limit as an error.
func (s *splitter) frame() (f []byte, ok bool, perr *ProtocolError) {
	region := s.buf[s.scanned:s.end]
	var idx int
	if len(s.delim) == 1 {
		idx = bytes.IndexByte(region, s.delim[0])
	} else {
		idx = bytes.Index(region, s.delim)
	}
	if idx < 0 {
		if n := s.long.n + s.end - s.start; n > s.limit && s.limit > 0 {
			return nil, false, frameTooLarge(n, s.limit, false)
		}
		s.scanned = max(s.start, s.end-len(s.delim)+1)
		return nil, false, nil
	}
	fEnd := s.scanned + idx
	f = s.buf[s.start:fEnd]
	s.joined = s.long.n > 0
	if n := s.long.n + len(f); s.limit > 0 && n > s.limit {
		return nil, false, frameTooLarge(n, s.limit, true)
	}
	if s.joined {
		f = s.long.join(f, 0)
	}
	s.start = fEnd + len(s.delim)
	s.scanned = s.start
	return f, true, nil
}

// owned reports whether the last frame returned is the caller's to keep:
// joined from blocks rather than a slice of the buffer.
func (s *splitter) owned() bool { return s.joined }

// buffered reports how many bytes of an unfinished frame are held.
func (s *splitter) buffered() int { return s.long.n + s.end - s.start }

func frameTooLarge(n, limit int, complete bool) *ProtocolError {
	what := "an unfinished frame of "
	if complete {
		what = "a frame of "
	}
	return protoErr(CodeFrameTooLarge, what+strconv.Itoa(n)+" bytes is over the limit of "+strconv.Itoa(limit)+" bytes")
}

func indexDelim(b, delim []byte) int {
	if len(delim) == 1 {
		return bytes.IndexByte(b, delim[0])
	}
	return bytes.Index(b, delim)
}
