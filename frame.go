package nodeipc

import (
	"bytes"
	"strconv"
)

// minReadBuffer is the initial read buffer of a connection.
const minReadBuffer = 32 << 10

// splitter cuts a byte stream into delimiter-terminated frames. Bytes are
// read into its buffer with next/advance; frame returns each complete frame
// in order, as a slice of that buffer, valid until the next read. The
// unfinished tail is kept for the next read, and scanning resumes where it
// stopped, so a large frame arriving in many reads costs linear time.
type splitter struct {
	buf     []byte
	start   int // first byte of the unconsumed region
	end     int // end of the bytes read so far
	scanned int // no delimiter starts before this index in buf[start:end]
	delim   []byte
	limit   int // largest unfinished frame allowed, in bytes (0: none)
}

func newSplitter(delim []byte, limit int) *splitter {
	return &splitter{buf: make([]byte, minReadBuffer), delim: delim, limit: limit}
}

// space returns the free tail of the buffer to read into, making room by
// moving the unconsumed bytes to the front or growing the buffer.
func (s *splitter) space() []byte {
	if s.start == s.end {
		s.start, s.end, s.scanned = 0, 0, 0
	}
	if len(s.buf)-s.end < len(s.buf)/4 {
		pending := s.end - s.start
		if s.start > 0 && pending < len(s.buf)/2 {
			copy(s.buf, s.buf[s.start:s.end])
		} else {
			grown := make([]byte, 2*len(s.buf))
			copy(grown, s.buf[s.start:s.end])
			s.buf = grown
		}
		s.scanned -= s.start
		s.start, s.end = 0, pending
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
		if s.end-s.start > s.limit && s.limit > 0 {
			return nil, false, frameTooLarge(s.end-s.start, s.limit, false)
		}
		s.scanned = max(s.start, s.end-len(s.delim)+1)
		return nil, false, nil
	}
	fEnd := s.scanned + idx
	f = s.buf[s.start:fEnd]
	if s.limit > 0 && len(f) > s.limit {
		return nil, false, frameTooLarge(len(f), s.limit, true)
	}
	s.start = fEnd + len(s.delim)
	s.scanned = s.start
	return f, true, nil
}

// buffered reports how many bytes of an unfinished frame are held.
func (s *splitter) buffered() int { return s.end - s.start }

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
