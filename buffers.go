package nodeipc

import (
	"bytes"
	"sync"
)

// blockSize is the largest block of a long unfinished frame.
const blockSize = 64 << 10

// blockPool keeps the blocks of frames just joined for the next long frames,
// of any connection: a stream of long frames then reuses a few blocks rather
// than taking fresh memory for every frame.
var blockPool sync.Pool

// blocks holds the bytes of a long unfinished frame as they arrive. Each byte
// is copied in once and never moved until the frame is complete and joined
// into one slice of its exact size; growing it leaves no garbage behind, and
// it occupies what it holds plus at most one partly filled block. Blocks
// start at the size of the first bytes held and double with the frame up to
// blockSize, so a short remainder costs about its own size.
type blocks struct {
	list [][]byte
	n    int // bytes held
	size int // capacity of the blocks: the memory they occupy
	max  int // the largest block; 0: blockSize
}

// need reports how much capacity appending n bytes adds at least.
func (b *blocks) need(n int) int {
	if k := len(b.list); k > 0 {
		last := b.list[k-1]
		n -= cap(last) - len(last)
	}
	return max(n, 0)
}

// append copies p in, adding at most room bytes of capacity when room is at
// least need(len(p)), and reports the capacity it added.
func (b *blocks) append(p []byte, room int) int {
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

// last copies the last k bytes held (k at most n) to dst and returns it.
func (b *blocks) last(k int, dst []byte) []byte {
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
func (b *blocks) join(tail []byte, cut int) []byte {
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
	b.reset()
	return f
}

// reset drops what b holds, its full-size blocks to be used again.
func (b *blocks) reset() {
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

// appendWithin appends p to dst, growing dst's capacity at most to limit (or
// to what it must hold, when more), not by the half or double that append
// may add: a queue bounded in length is then bounded in memory too.
func appendWithin(dst, p []byte, limit int) []byte {
	if n := len(dst) + len(p); n > cap(dst) {
		grown := make([]byte, len(dst), max(min(2*cap(dst), limit), n))
		copy(grown, dst)
		dst = grown
	}
	return append(dst, p...)
}
