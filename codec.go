package nodeipc

import (
	"encoding/json"
	"fmt"
	"unsafe"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// Codec is a custom wire format for stream connections (node-ipc 14's custom
// parser contract). Set Config.Codec to use one instead of a profile; the
// same Codec value is shared by every connection of the endpoint, so it must
// be safe for concurrent use and keep per-connection state only in the
// remainder it returns.
type Codec interface {
	// Encode returns the bytes written for one event.
	Encode(event string, data any) ([]byte, error)
	// Read is given what the previous call returned as the remainder and the
	// bytes just read. It calls receive once per complete message, in order,
	// and returns the bytes to keep for the next call. An error closes the
	// connection and is published as an error event; return a
	// *ProtocolError to give it a code.
	Read(remainder, chunk []byte, receive func(event string, data json.RawMessage)) ([]byte, error)
}

// readCodec runs a custom codec over the connection. The remainder is
// bounded by MaxReadBuffer (MaxMessageSize in the guarded profiles), and a
// panic inside the codec ends this connection with an error instead of the
// process.
func (c *conn) readCodec(deliver deliverFunc, refuse func(*ProtocolError)) (err error) {
	buf := make([]byte, codecRead)
	kept := remainder{max: c.r.maxMessageSize + len(buf)}
	var rest []byte
	receive := func(event string, data json.RawMessage) {
		if c.aborted.Load() {
			return
		}
		c.sawMessage()
		// Lifecycle and prototype names are refused from a codec too,
		// that message alone.
		if perr, _ := c.r.checkIncoming([]byte(event)); perr != nil {
			refuse(perr)
			return
		}
		deliver([]byte(event), data, false)
	}
	for {
		n, rerr := c.read(buf)
		if n > 0 {
			rest, err = callCodec(c.r.codec, kept.room(rest, n), buf[:n], receive)
			if err != nil {
				return err
			}
			if len(rest) > c.r.maxMessageSize {
				return wireErr(wire.FrameTooLarge(len(rest), c.r.maxMessageSize, false))
			}
			rest = kept.keep(rest)
		}
		if rerr != nil {
			return c.readEnd(rerr, len(rest))
		}
	}
}

// codecRead is the read buffer of a connection with a custom codec.
const codecRead = 64 << 10

// remainder holds a codec's remainder between reads, in one buffer of the
// connection that grows at most to max (the limit plus one read). The codec
// is given the remainder with room for the read after it, so that a codec
// that appends the read to the remainder does so in place.
type remainder struct {
	buf []byte // len(buf) == cap(buf)
	max int
}

// room returns rest (empty, or a slice of r.buf), moved or grown so that n
// bytes fit after it in r.buf.
func (r *remainder) room(rest []byte, n int) []byte {
	off := 0
	if len(rest) > 0 {
		off = int(uintptr(unsafe.Pointer(unsafe.SliceData(rest))) - uintptr(unsafe.Pointer(unsafe.SliceData(r.buf))))
	}
	if off+len(rest)+n <= len(r.buf) {
		return r.buf[off : off+len(rest)]
	}
	if len(rest)+n <= len(r.buf) && (off >= len(rest) || len(r.buf) >= r.max) {
		// Moving the remainder costs no more than the bytes consumed
		// before it, or the buffer may grow no more.
		return r.buf[:copy(r.buf, rest)]
	}
	grown := make([]byte, max(min(2*len(r.buf), r.max), len(rest)+n))
	rest = grown[:copy(grown, rest)]
	r.buf = grown
	return rest
}

// keep returns the codec's remainder as a slice of r.buf, copied there
// unless it is one already: a slice of the read buffer would be overwritten
// by the next read, and memory of the codec's own may be of any size.
func (r *remainder) keep(rest []byte) []byte {
	switch {
	case len(rest) == 0:
		if len(r.buf) > 4*codecRead {
			r.buf = nil // a long remainder is done: its buffer goes too
		}
		return nil
	case overlaps(rest, r.buf):
		return rest
	case len(rest) > len(r.buf):
		r.buf = make([]byte, max(min(2*len(r.buf), r.max), len(rest)))
	}
	return r.buf[:copy(r.buf, rest)]
}

func callCodec(codec Codec, rest, chunk []byte, receive func(string, json.RawMessage)) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("nodeipc: the custom codec panicked: %v", p)
		}
	}()
	return codec.Read(rest, chunk, receive)
}

// overlaps reports whether a and b share memory.
func overlaps(a, b []byte) bool {
	return len(a) > 0 && len(b) > 0 &&
		uintptr(unsafe.Pointer(&a[0])) <= uintptr(unsafe.Pointer(&b[len(b)-1])) &&
		uintptr(unsafe.Pointer(&b[0])) <= uintptr(unsafe.Pointer(&a[len(a)-1]))
}

// encode appends what Emit writes for event and data under the endpoint's
// rules: raw bytes, a custom codec's output, or a frame.
func (r *rules) encode(dst []byte, event string, data any, encoding string) ([]byte, error) {
	switch {
	case r.raw:
		out, werr := wire.AppendRawValue(dst, event, data, encoding)
		if werr != nil {
			return out, wireErr(werr)
		}
		return out, nil
	case r.codec != nil:
		b, err := r.codec.Encode(event, data)
		if err != nil {
			return dst, err
		}
		return append(dst, b...), nil
	}
	return r.encodeFrame(dst, event, data)
}
