package nodeipc

import (
	"bytes"
	"testing"
	"unsafe"
)

// Blocks take no more memory than they are allowed, give back every byte
// in order, their last bytes and a cut across blocks included, and never
// keep the tail they were joined with.
func TestBlocksHoldJoinAndCut(t *testing.T) {
	var want []byte
	b := blocks{max: 8}
	for i := range 40 {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, i%11+1)
		room := b.need(len(p)) + i%3 // sometimes just what is needed
		if added := b.append(p, room); added > room {
			t.Fatalf("added %d bytes of blocks, room %d", added, room)
		}
		want = append(want, p...)
		if b.n != len(want) || b.size < b.n {
			t.Fatalf("%d bytes held in %d, want %d", b.n, b.size, len(want))
		}
		for k := range min(len(want), 20) {
			if got := b.last(k, nil); !bytes.Equal(got, want[len(want)-k:]) {
				t.Fatalf("last %d: %q, want %q", k, got, want[len(want)-k:])
			}
		}
	}
	for _, cut := range []int{0, 1, 7, 8, 9, 30} {
		c := blocks{max: 8}
		c.append(want, len(want))
		if got := c.join([]byte("tail"), cut); string(got) != string(want[:len(want)-cut])+"tail" {
			t.Fatalf("cut %d: %q", cut, got)
		}
		if c.n != 0 || c.size != 0 || len(c.list) != 0 {
			t.Fatalf("cut %d: %d bytes held after join", cut, c.n)
		}
	}

	// A tail as large as a block is the caller's: it never goes to the pool.
	tail := make([]byte, 10, blockSize)
	var c blocks
	c.append(bytes.Repeat([]byte("x"), 3*blockSize), 3*blockSize)
	c.join(tail, 0)
	for range 8 {
		if p, ok := blockPool.Get().(*[blockSize]byte); ok && unsafe.Pointer(p) == unsafe.Pointer(unsafe.SliceData(tail)) {
			t.Fatal("the tail was pooled as a block")
		}
	}
}
