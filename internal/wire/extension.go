package wire

import "bytes"

// MaxSafeInteger is JavaScript's Number.MAX_SAFE_INTEGER: ids and sequence
// numbers stay below it, so that a node-ipc peer reads them exactly.
const MaxSafeInteger = 1<<53 - 1

// Fields holds the members of an extension frame's data that nodeipc reads.
// Values are slices of the frame.
type Fields struct {
	ID, Seq, Delivered uint64
	HasID, HasSeq      bool
	Event, Session     []byte // unquoted; nil when absent or not a string
	Peer               []byte
	Data, Error        []byte // raw JSON; nil when absent ("error":null is absent)
	Acks               bool
}

// ParseFields reads the data of an extension frame: a JSON object whose
// members are read by name (rid, seq, delivered, event, session, peer,
// data, error, acks); others are ignored. It reports false when data is
// not an object. Numbers are taken when they are integers from 0 to
// 2^53-1; strings with escapes are unescaped.
func ParseFields(data []byte) (f Fields, ok bool) {
	ok = EachField(data, func(key, val []byte) {
		switch string(key) {
		case "rid":
			f.ID, f.HasID = uintValue(val)
		case "seq":
			f.Seq, f.HasSeq = uintValue(val)
		case "delivered":
			f.Delivered, _ = uintValue(val)
		case "event":
			f.Event = StringValue(val)
		case "session":
			f.Session = StringValue(val)
		case "peer":
			f.Peer = StringValue(val)
		case "data":
			f.Data = val
		case "error":
			if string(val) != "null" { // "error":null is a success
				f.Error = val
			}
		case "acks":
			f.Acks = string(val) == "true"
		}
	})
	return f, ok
}

// EachField calls fn with every member of the JSON object obj, in order,
// and reports whether obj is an object. It expects valid JSON (a received
// frame was validated whole) and stops at the first thing that is not.
func EachField(obj []byte, fn func(key, val []byte)) bool {
	i := SkipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return false
	}
	i = SkipWS(obj, i+1)
	for i < len(obj) && obj[i] == '"' {
		end, esc, ok := ScanString(obj, i)
		if !ok {
			return false
		}
		key := obj[i+1 : end-1]
		if esc {
			key = unescapeKey(obj[i:end])
		}
		i = SkipWS(obj, end)
		if i >= len(obj) || obj[i] != ':' {
			return false
		}
		i = SkipWS(obj, i+1)
		vEnd, ok := ScanValue(obj, i, 1)
		if !ok {
			return false
		}
		fn(key, obj[i:vEnd])
		i = SkipWS(obj, vEnd)
		if i >= len(obj) || obj[i] != ',' {
			break
		}
		i = SkipWS(obj, i+1)
	}
	return true
}

// uintValue reads a JSON number that is an integer from 0 to 2^53-1.
func uintValue(val []byte) (uint64, bool) {
	if len(val) == 0 || len(val) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range val {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	if n > MaxSafeInteger || (len(val) > 1 && val[0] == '0') {
		return 0, false
	}
	return n, true
}

// StringValue returns the contents of a JSON string value, unescaped, or
// nil when val is not a string.
func StringValue(val []byte) []byte {
	if len(val) < 2 || val[0] != '"' {
		return nil
	}
	if bytes.IndexByte(val[1:len(val)-1], '\\') < 0 {
		return val[1 : len(val)-1]
	}
	return unescapeKey(val)
}
