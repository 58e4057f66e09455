package wire

import (
	"bytes"
	"strings"
	"testing"
	"unsafe"
)

func TestSplitterDispatchesEveryCompleteFrameAtOnce(t *testing.T) {
	for _, delim := range []string{"\f", "\r\n", "<END>"} {
		sp := NewSplitter([]byte(delim), 0)
		in := "A" + delim + "BB" + delim + "CCC"
		n := copy(sp.Space(), in)
		sp.Advance(n)
		var got []string
		for {
			f, ok, perr := sp.Frame()
			if perr != nil {
				t.Fatal(perr)
			}
			if !ok {
				break
			}
			got = append(got, string(f))
		}
		if strings.Join(got, ",") != "A,BB" {
			t.Fatalf("delim %q: got %q", delim, got)
		}
		// The rest arrives, with the delimiter split across reads.
		rest := "C" + delim[:len(delim)/2]
		n = copy(sp.Space(), rest)
		sp.Advance(n)
		if _, ok, _ := sp.Frame(); ok {
			t.Fatalf("delim %q: frame before its delimiter completed", delim)
		}
		n = copy(sp.Space(), delim[len(delim)/2:])
		sp.Advance(n)
		f, ok, _ := sp.Frame()
		if !ok || string(f) != "CCCC" {
			t.Fatalf("delim %q: got %q %v", delim, f, ok)
		}
	}
}

func TestSplitterGrowsForLargeFramesAndEnforcesTheLimit(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3*ReadBuffer+17)
	sp := NewSplitter([]byte("\f"), 0)
	feed := append(append([]byte{}, big...), '\f')
	var f []byte
	var ok bool
	var perr *Error
	for off := 0; off < len(feed); {
		n := copy(sp.Space(), feed[off:min(off+1000, len(feed))])
		sp.Advance(n)
		off += n
		if f, ok, perr = sp.Frame(); ok || perr != nil {
			break
		}
	}
	if perr != nil || !ok || !bytes.Equal(f, big) || !sp.Owned() {
		t.Fatalf("large frame: ok=%v err=%v len=%d owned=%v", ok, perr, len(f), sp.Owned())
	}

	sp = NewSplitter([]byte("\f"), 100)
	n := copy(sp.Space(), bytes.Repeat([]byte("y"), 101))
	sp.Advance(n)
	if _, _, perr := sp.Frame(); perr == nil || perr.Code != CodeFrameTooLarge {
		t.Fatalf("unfinished frame over the limit: %v", perr)
	}
	sp = NewSplitter([]byte("\f"), 100)
	n = copy(sp.Space(), append(bytes.Repeat([]byte("y"), 100), '\f'))
	sp.Advance(n)
	if f, ok, perr := sp.Frame(); perr != nil || !ok || len(f) != 100 {
		t.Fatalf("frame of exactly the limit: %v %v", ok, perr)
	}
}

// Frames longer than the read buffer, at the real sizes: frames over several
// blocks, delimiters cut by reads at every offset, and the limit reached
// exactly or passed by one byte. What is held never passes the limit, and
// the buffer never grows.
func TestSplitterHoldsLongFramesInBlocks(t *testing.T) {
	const limit = 3*blockSize + 100
	for _, delim := range []string{"\f", "\r\n", "<END>"} {
		for _, size := range []int{ReadBuffer - 1, ReadBuffer + 1, 2*blockSize - 1, limit - len(delim), limit} {
			// Reads of 1000 and 4093 bytes are taken whole: a first frame
			// of the right length ends the j-th read inside the
			// delimiter of the long frame, j bytes before it ends.
			type run struct{ read, j int }
			runs := []run{{ReadBuffer, 0}, {blockSize + 3, 0}}
			for j := 0; j <= len(delim); j++ {
				runs = append(runs, run{1000, j}, run{4093, j})
			}
			for _, r := range runs {
				read := r.read
				frame := bytes.Repeat([]byte{'a'}, size)
				frame[size/2] = 'b'
				next := "{}"
				first := ((read-r.j-len(delim)-size)%read + read) % read
				in := bytes.Repeat([]byte{'c'}, first)
				in = append(append(in, delim...), frame...)
				in = append(append(in, delim...), next+delim...)
				// As node-ipc 14 counts it, the unfinished frame
				// includes the part of its delimiter received.
				cut := r.j > 0 && r.j < len(delim) && size+len(delim)-r.j > limit
				sp := NewSplitter([]byte(delim), limit)
				var got []string
				var perr *Error
				for off := 0; off < len(in) && perr == nil; {
					n := copy(sp.Space(), in[off:min(off+read, len(in))])
					sp.Advance(n)
					off += n
					for perr == nil {
						var f []byte
						var ok bool
						if f, ok, perr = sp.Frame(); !ok {
							break
						}
						got = append(got, string(f))
					}
					if sp.long.size > limit || len(sp.buf) != ReadBuffer {
						t.Fatalf("%d bytes of blocks, a buffer of %d", sp.long.size, len(sp.buf))
					}
				}
				if cut {
					if perr == nil || perr.Code != CodeFrameTooLarge || len(got) != 1 {
						t.Fatalf("delim %q, frame of %d, cut %d bytes before the end of its delimiter: %d frames, %v", delim, size, r.j, len(got), perr)
					}
					continue
				}
				if perr != nil || len(got) != 3 || got[1] != string(frame) || got[2] != next || sp.Buffered() != 0 || sp.long.size != 0 {
					t.Fatalf("delim %q, frame of %d, reads of %d (%d): %d frames, %d bytes held, %v", delim, size, read, r.j, len(got), sp.Buffered(), perr)
				}
			}
		}
		// One byte more is refused, complete or not.
		for _, complete := range []bool{true, false} {
			sp := NewSplitter([]byte(delim), limit)
			in := bytes.Repeat([]byte{'a'}, limit+1)
			if complete {
				in = append(in, delim...)
			}
			var perr *Error
			for off := 0; off < len(in) && perr == nil; {
				n := copy(sp.Space(), in[off:min(off+blockSize, len(in))])
				sp.Advance(n)
				off += n
				_, _, perr = sp.Frame()
			}
			if perr == nil || perr.Code != CodeFrameTooLarge || sp.long.size > limit {
				t.Fatalf("delim %q, complete %v: %v, %d bytes of blocks", delim, complete, perr, sp.long.size)
			}
		}
	}
}

// FuzzSplitter compares the splitter with a model that joins every read to
// what is held and cuts it at each delimiter. shape picks miniature
// configurations, run beside the real one: read buffers of a few bytes,
// blocks of a few bytes and a small limit, so that small inputs take the
// long-frame path (frames over a block, delimiters across reads and what
// went to blocks, the limit reached exactly).
func FuzzSplitter(f *testing.F) {
	f.Add([]byte("{\"type\":\"a\",\"data\":1}\f{\"type\":\"b\"}\f"), []byte("\f"), uint8(7), uint16(0))
	f.Add([]byte("a\r\nb\r\n\r\nc"), []byte("\r\n"), uint8(1), uint16(3<<6|5))
	f.Add([]byte(strings.Repeat("x", 200)+"<END>"+strings.Repeat("y", 200)+"<E"), []byte("<END>"), uint8(16), uint16(2<<6))
	f.Add([]byte(strings.Repeat("z", 96)+"\f"+strings.Repeat("z", 97)+"\f"), []byte("\f"), uint8(40), uint16(12<<11|7<<6|9))
	f.Fuzz(func(t *testing.T, in, delim []byte, chunk uint8, shape uint16) {
		if len(delim) == 0 || len(delim) > 8 {
			return
		}
		// Byte 0 stands for the delimiter, 1 for all of it but its last
		// byte, 2 for a run of 50 bytes: inputs the fuzzer makes then hold
		// delimiters, near misses and long frames.
		var expanded []byte
		for _, b := range in {
			switch b {
			case 0:
				expanded = append(expanded, delim...)
			case 1:
				expanded = append(expanded, delim[:len(delim)-1]...)
			case 2:
				expanded = append(expanded, strings.Repeat("x", 50)...)
			default:
				expanded = append(expanded, b)
			}
		}
		in = expanded
		step := int(chunk%64) + 1
		checkSplitter(t, NewSplitter(delim, 0), in, step)
		for k := range 16 {
			sp := NewSplitter(delim, int(shape>>11)*8) // 0 (none) to 248
			sp.buf = make([]byte, 8*len(delim)+(int(shape&0x3f)+k)%64)
			sp.long.max = 1 + (int(shape>>6&0x1f)+k)%32
			checkSplitter(t, sp, in, (step-1+7*k)%64+1)
		}
	})
}

// checkSplitter feeds in to sp step bytes at a time, as a connection's
// reader does, and compares what it returns with the model.
func checkSplitter(t *testing.T, sp *Splitter, in []byte, step int) {
	t.Helper()
	size := len(sp.buf)
	var held []byte // the model: bytes after the last delimiter
	var gotErr, wantErr bool
	for off := 0; off < len(in) && !gotErr && !wantErr; {
		n := copy(sp.Space(), in[off:min(off+step, len(in))])
		if n == 0 {
			t.Fatalf("no room to read, %d bytes held", sp.Buffered())
		}
		sp.Advance(n)
		held = append(held, in[off:off+n]...)
		off += n
		for !gotErr && !wantErr {
			f, ok, perr := sp.Frame()
			i := bytes.Index(held, sp.delim)
			switch {
			case i >= 0 && sp.limit > 0 && i > sp.limit, i < 0 && sp.limit > 0 && len(held) > sp.limit:
				wantErr = true
			case i >= 0:
				if !ok || !bytes.Equal(f, held[:i]) {
					t.Fatalf("frame %q %v %v, want %q", f, ok, perr, held[:i])
				}
				if sp.Owned() != (len(f) > 0 && !within(f, sp.buf)) {
					t.Fatalf("frame of %d bytes: owned %v", len(f), sp.Owned())
				}
				held = held[i+len(sp.delim):]
				continue
			}
			gotErr = perr != nil
			if perr != nil && perr.Code != CodeFrameTooLarge || ok {
				t.Fatalf("frame %q %v %v, want none", f, ok, perr)
			}
			break
		}
		if gotErr != wantErr {
			t.Fatalf("error %v, want %v (%d bytes held, limit %d)", gotErr, wantErr, len(held), sp.limit)
		}
		if !gotErr && (sp.Buffered() != len(held) || len(sp.buf) != size || sp.limit > 0 && sp.long.size > sp.limit) {
			t.Fatalf("%d bytes held in %d of blocks and a buffer of %d; want %d, a buffer of %d, limit %d", sp.Buffered(), sp.long.size, len(sp.buf), len(held), size, sp.limit)
		}
	}
}

// within reports whether f is a slice of buf's memory.
func within(f, buf []byte) bool {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(buf)))
	p := uintptr(unsafe.Pointer(unsafe.SliceData(f)))
	return p >= start && p < start+uintptr(cap(buf))
}

// Blocks take no more memory than they are allowed, give back every byte
// in order, their last bytes and a cut across blocks included, and never
// keep the tail they were joined with.
func TestBlocksHoldJoinAndCut(t *testing.T) {
	var want []byte
	b := Blocks{max: 8}
	for i := range 40 {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, i%11+1)
		room := b.Need(len(p)) + i%3 // sometimes just what is needed
		if added := b.Append(p, room); added > room {
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
		c := Blocks{max: 8}
		c.Append(want, len(want))
		if got := c.join([]byte("tail"), cut); string(got) != string(want[:len(want)-cut])+"tail" {
			t.Fatalf("cut %d: %q", cut, got)
		}
		if c.n != 0 || c.size != 0 || len(c.list) != 0 {
			t.Fatalf("cut %d: %d bytes held after join", cut, c.n)
		}
	}

	// A tail as large as a block is the caller's: it never goes to the pool.
	tail := make([]byte, 10, blockSize)
	var c Blocks
	c.Append(bytes.Repeat([]byte("x"), 3*blockSize), 3*blockSize)
	c.join(tail, 0)
	for range 8 {
		if p, ok := blockPool.Get().(*[blockSize]byte); ok && unsafe.Pointer(p) == unsafe.Pointer(unsafe.SliceData(tail)) {
			t.Fatal("the tail was pooled as a block")
		}
	}
}

// End finds the delimiter that ends a held frame wherever it is: all in
// the bytes that follow, or begun in the bytes held, and Join returns
// exactly the frame.
func TestBlocksEndAndJoin(t *testing.T) {
	for _, c := range []struct {
		held, p, delim string
		frame, rest    string // rest "-": no delimiter yet
	}{
		{"abc", "de\fgh", "\f", "abcde", "gh"},
		{"abc", "\f", "\f", "abc", ""},
		{"abc", "def", "\f", "", "-"},
		{"ab<E", "ND>x", "<END>", "ab", "x"},
		{"ab<EN", "D>", "<END>", "ab", ""},
		{"a<END", ">", "<END>", "a", ""},
		{"<", "END>", "<END>", "", ""},
		{"ab<EN", "X<END>y", "<END>", "ab<ENX", "y"},
		{"ab\r", "\n\r\n", "\r\n", "ab", "\r\n"},
	} {
		var b Blocks
		b.Append([]byte(c.held), len(c.held))
		n, next, ok := b.End([]byte(c.p), []byte(c.delim))
		if c.rest == "-" {
			if ok {
				t.Errorf("%q + %q: a frame of %d", c.held, c.p, n)
			}
			continue
		}
		if !ok || n != len(c.frame) || c.p[next:] != c.rest {
			t.Errorf("%q + %q: n %d, rest %q, %v; want %q, %q", c.held, c.p, n, c.p[min(next, len(c.p)):], ok, c.frame, c.rest)
			continue
		}
		if got := b.Join([]byte(c.p), n); string(got) != c.frame || b.Len() != 0 || b.Cap() != 0 {
			t.Errorf("%q + %q: joined %q, %d bytes left", c.held, c.p, got, b.Len())
		}
	}
}
