package wire

import (
	"bytes"
	"math"
	"strconv"
	"sync"
)

// ReadBuffer is the read buffer of a splitter: what a connection reads into.
const ReadBuffer = 32 << 10

// Splitter cuts a byte stream into delimiter-terminated frames. Bytes are
// read into its buffer with Space/Advance; Frame returns each complete frame
// in order. A frame that fits the buffer is returned as a slice of it, valid
// until the next read. A frame too long for the buffer is moved out of it a
// buffer's worth at a time, into blocks (each byte copied once), and joined
// into one slice of its own when its delimiter arrives. Scanning resumes
// where it stopped, so a large frame arriving in many reads costs linear
// time, and what is held never exceeds the limit plus one buffer.
type Splitter struct {
	buf     []byte
	start   int // first byte of the unconsumed region
	end     int // end of the bytes read so far
	scanned int // no delimiter starts before this index in buf[start:end]
	delim   []byte
	limit   int    // largest unfinished frame allowed, in bytes (0: none)
	long    Blocks // the head of a frame too long for buf; its rest is buf[:end] (start is 0)
	joined  bool   // the last frame returned was joined from long: it belongs to the caller
}

// NewSplitter returns a splitter for frames ended by delim, refusing frames
// longer than limit bytes (0: no limit).
func NewSplitter(delim []byte, limit int) *Splitter {
	// The buffer keeps the last len(delim)-1 bytes of a long frame, where a
	// delimiter may begin: they must leave room for reads.
	return &Splitter{buf: make([]byte, max(ReadBuffer, 8*len(delim))), delim: delim, limit: limit}
}

// Space returns the free tail of the buffer to read into, making room by
// moving the unconsumed bytes to the front, or by moving the head of a long
// unfinished frame to blocks. Call it only once Frame has reported that no
// complete frame is left: only bytes Frame has scanned are moved to blocks.
func (s *Splitter) Space() []byte {
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
			// blocks, bounded by the limit, which Frame has checked.
			room := math.MaxInt
			if s.limit > 0 {
				room = s.limit - s.long.size
			}
			s.long.Append(s.buf[s.start:s.scanned], room)
			s.end = copy(s.buf, s.buf[s.scanned:s.end])
			s.start, s.scanned = 0, 0
		}
	}
	return s.buf[s.end:]
}

// Advance records that n bytes were read into the slice Space returned.
func (s *Splitter) Advance(n int) { s.end += n }

// Frame returns the next complete frame, without its delimiter, or ok false
// when the buffer holds no complete frame. It reports a frame (complete or
// not) longer than the limit as an error.
func (s *Splitter) Frame() (f []byte, ok bool, err *Error) {
	idx := Index(s.buf[s.scanned:s.end], s.delim)
	if idx < 0 {
		if n := s.long.n + s.end - s.start; n > s.limit && s.limit > 0 {
			return nil, false, FrameTooLarge(n, s.limit, false)
		}
		s.scanned = max(s.start, s.end-len(s.delim)+1)
		return nil, false, nil
	}
	fEnd := s.scanned + idx
	f = s.buf[s.start:fEnd]
	s.joined = s.long.n > 0
	if n := s.long.n + len(f); s.limit > 0 && n > s.limit {
		return nil, false, FrameTooLarge(n, s.limit, true)
	}
	if s.joined {
		f = s.long.join(f, 0)
	}
	s.start = fEnd + len(s.delim)
	s.scanned = s.start
	return f, true, nil
}

// Owned reports whether the last frame returned is the caller's to keep:
// joined from blocks rather than a slice of the buffer.
func (s *Splitter) Owned() bool { return s.joined }

// Buffered reports how many bytes of an unfinished frame are held.
func (s *Splitter) Buffered() int { return s.long.n + s.end - s.start }

// FrameTooLarge is the error for a frame of n bytes over limit: complete
// (its delimiter came), or unfinished.
func FrameTooLarge(n, limit int, complete bool) *Error {
	what := "an unfinished frame of "
	if complete {
		what = "a frame of "
	}
	return errorOf(CodeFrameTooLarge, what+strconv.Itoa(n)+" bytes is over the limit of "+strconv.Itoa(limit)+" bytes")
}

// Index returns the index of the first delimiter in b, or -1.
func Index(b, delim []byte) int {
	if len(delim) == 1 {
		return bytes.IndexByte(b, delim[0])
	}
	return bytes.Index(b, delim)
}

// Count returns the number of complete frames in b: the delimiters it holds.
func Count(b, delim []byte) int {
	n := 0
	for i := 0; ; {
		j := Index(b[i:], delim)
		if j < 0 {
			return n
		}
		n++
		i += j + len(delim)
	}
}

// blockSize is the largest block of a long unfinished frame.
const blockSize = 64 << 10

// blockPool keeps the blocks of frames just joined for the next long frames,
// of any connection: a stream of long frames then reuses a few blocks rather
// than taking fresh memory for every frame.
var blockPool sync.Pool

// Blocks holds the bytes of a long unfinished frame as they arrive. Each byte
// is copied in once and never moved until the frame is complete and joined
// into one slice of its exact size; growing it leaves no garbage behind, and
// it occupies what it holds plus at most one partly filled block. Blocks
// start at the size of the first bytes held and double with the frame up to
// 64 KiB, so a short remainder costs about its own size. The zero Blocks
// holds nothing.
type Blocks struct {
	list [][]byte
	n    int // bytes held
	size int // capacity of the blocks: the memory they occupy
	max  int // the largest block; 0: blockSize
}

// Len reports the bytes held.
func (b *Blocks) Len() int { return b.n }

// Cap reports the memory the blocks occupy.
func (b *Blocks) Cap() int { return b.size }

// Need reports how much capacity appending n bytes adds at least.
func (b *Blocks) Need(n int) int {
	if k := len(b.list); k > 0 {
		last := b.list[k-1]
		n -= cap(last) - len(last)
	}
	return max(n, 0)
}

// Append copies p in, adding at most room bytes of capacity when room is at
// least Need(len(p)), and reports the capacity it added.
func (b *Blocks) Append(p []byte, room int) int {
	added, largest := 0, b.max
	if largest == 0 {
		largest = blockSize
	}
	for len(p) > 0 {
		if k := len(b.list); k > 0 {
			last := b.list[k-1]
			if c := copy(last[len(last):cap(last)], p); c > 0 {
				b.list[k-1] = last[:len(last)+c]
				b.n += c
				p = p[c:]
				continue
			}
		}
		size := min(max(len(p), b.n), largest, max(room-added, len(p)))
		var blk []byte
		if size == blockSize {
			if pooled, ok := blockPool.Get().(*[blockSize]byte); ok {
				blk = pooled[:0]
			}
		}
		if blk == nil {
			blk = make([]byte, 0, size)
		}
		b.list = append(b.list, blk)
		b.size += size
		added += size
	}
	return added
}

// End finds where the frame held ends when p follows what is held, which
// holds no delimiter: n, the frame's length in bytes (held and from p), and
// next, the index in p after its delimiter. ok is false when the delimiter
// is not there yet. The search covers where a delimiter could begin in the
// last bytes held, and p, so that a frame arriving in many pieces costs
// linear time.
func (b *Blocks) End(p, delim []byte) (n, next int, ok bool) {
	if k := min(len(delim)-1, b.n); k > 0 {
		var scratch [32]byte
		edge := append(b.last(k, scratch[:0]), p[:min(len(p), len(delim)-1)]...)
		if j := Index(edge, delim); j >= 0 && j < k {
			// A delimiter that began in the held bytes.
			return b.n - (k - j), len(delim) - (k - j), true
		}
	}
	if i := Index(p, delim); i >= 0 {
		return b.n + i, i + len(delim), true
	}
	return 0, 0, false
}

// Join returns the first n bytes of what is held followed by p, in one new
// slice of that exact size, and empties b.
func (b *Blocks) Join(p []byte, n int) []byte {
	if n <= b.n {
		return b.join(nil, b.n-n)
	}
	return b.join(p[:n-b.n], 0)
}

// last copies the last k bytes held (k at most n) to dst and returns it.
func (b *Blocks) last(k int, dst []byte) []byte {
	if cap(dst) < k {
		dst = make([]byte, k)
	}
	dst = dst[:k]
	for i := len(b.list) - 1; k > 0; i-- {
		c := min(k, len(b.list[i]))
		copy(dst[k-c:k], b.list[i][len(b.list[i])-c:])
		k -= c
	}
	return dst
}

// join returns the bytes held but their last cut bytes, followed by tail, in
// one new slice of that exact size, and empties b.
func (b *Blocks) join(tail []byte, cut int) []byte {
	for cut > 0 {
		k := len(b.list) - 1
		c := min(cut, len(b.list[k]))
		if c == len(b.list[k]) {
			b.list[k] = nil
			b.list = b.list[:k]
		} else {
			b.list[k] = b.list[k][:len(b.list[k])-c]
		}
		cut -= c
	}
	b.list = append(b.list, tail)
	f := bytes.Join(b.list, nil) // not zeroed first: every byte is written once
	b.list[len(b.list)-1] = nil  // tail is the caller's, never a block
	b.list = b.list[:len(b.list)-1]
	b.Reset()
	return f
}

// Reset drops what b holds, its full-size blocks to be used again.
func (b *Blocks) Reset() {
	for _, blk := range b.list {
		if cap(blk) == blockSize {
			blockPool.Put((*[blockSize]byte)(blk[:blockSize]))
		}
	}
	clear(b.list)
	if cap(b.list) > 64 {
		b.list = nil
	} else {
		b.list = b.list[:0]
	}
	b.n, b.size = 0, 0
}
