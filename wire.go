package nodeipc

import (
	"encoding/json"
)

// EncodeFrame returns the frame node-ipc 14 writes for event and data with
// the default delimiter: {"type":event,"data":data} followed by "\f". nil
// data is written as {}; a json.RawMessage is written as given.
func EncodeFrame(event string, data any) ([]byte, error) {
	if event == "" {
		return nil, protoErr(CodeInvalidEvent, "event name must be a non-empty string")
	}
	b, err := appendEnvelope(nil, event, data, false)
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
	typ, d, perr := parseEnvelope(frame)
	if perr != nil {
		return "", nil, perr
	}
	if d != nil {
		data = append(json.RawMessage(nil), d...)
	}
	return string(typ), data, nil
}
