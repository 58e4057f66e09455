package nodeipc

import (
	"encoding/json"

	"github.com/effeeea0/nodeipc/internal/wire"
)

// EncodeFrame returns the frame node-ipc 14 writes for event and data with
// the default delimiter: {"type":event,"data":data} followed by "\f". nil
// data is written as {}; a json.RawMessage is written as given.
func EncodeFrame(event string, data any) ([]byte, error) {
	if event == "" {
		return nil, protoErr(CodeInvalidEvent, "event name must be a non-empty string")
	}
	b, err := wire.AppendEnvelope(nil, event, data, false, appendValue)
	if err != nil {
		return nil, err
	}
	return append(b, DefaultDelimiter...), nil
}

// ParseFrame decodes one frame without its delimiter, as a fast-profile
// reader does: the event name and the raw JSON of data (nil when absent), or
// a *ProtocolError saying what is wrong. It is what tools that watch node-ipc
// traffic need; it never panics, whatever the input.
func ParseFrame(frame []byte) (event string, data json.RawMessage, err error) {
	typ, d, werr := wire.ParseEnvelope(frame)
	if werr != nil {
		return "", nil, wireErr(werr)
	}
	if d != nil {
		data = append(json.RawMessage(nil), d...)
	}
	return string(typ), data, nil
}

// appendData appends data as the data of a frame (wire.AppendData), values
// of types the wire does not know through appendValue.
func appendData(dst []byte, data any, legacy bool) ([]byte, error) {
	return wire.AppendData(dst, data, legacy, appendValue)
}

// appendValue writes the data wire.AppendData leaves to this package: a
// *Message's data as it came (nil: omitted), and values of every other type
// through the per-type encoder (encodevalue.go), or encoding/json where
// that encoder declines.
func appendValue(dst []byte, data any, legacy bool) ([]byte, error) {
	if m, ok := data.(*Message); ok {
		if m == nil {
			return append(dst, wire.EmptyObject...), nil
		}
		return wire.AppendRaw(dst, m.Data, legacy)
	}
	start := len(dst)
	if out, ok := appendFast(dst, data); ok {
		if legacy && wire.LegacyEmpty(out[start:]) {
			return append(out[:start], wire.EmptyObject...), nil
		}
		return out, nil
	}
	return wire.AppendMarshaled(dst[:start], data, legacy)
}
