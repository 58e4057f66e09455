package nodeipc

import (
	"encoding/json"
	"fmt"
	"unsafe"
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
func (c *conn) readCodec(deliver func(typ, data []byte), refuse func(*ProtocolError)) (err error) {
	buf := make([]byte, 64<<10)
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
		deliver([]byte(event), data)
	}
	for {
		n, rerr := c.read(buf)
		if n > 0 {
			rest, err = callCodec(c.r.codec, rest, buf[:n], receive)
			if err != nil {
				return err
			}
			if len(rest) > 0 && overlaps(rest[:cap(rest)], buf) {
				// The next read reuses buf: keep a copy. Only a remainder
				// in buf is copied (at most one read's bytes), so a frame
				// arriving in many reads costs linear time.
				rest = append([]byte(nil), rest...)
			}
			if len(rest) > c.r.maxMessageSize {
				return frameTooLarge(len(rest), c.r.maxMessageSize, false)
			}
		}
		if rerr != nil {
			return c.readEnd(rerr, len(rest))
		}
	}
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
		return appendRawValue(dst, event, data, encoding)
	case r.codec != nil:
		b, err := r.codec.Encode(event, data)
		if err != nil {
			return dst, err
		}
		return append(dst, b...), nil
	}
	return r.encodeFrame(dst, event, data)
}
