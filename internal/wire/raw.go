package wire

import (
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf16"
)

// AppendRawValue appends the bytes of a raw-mode emit, as node-ipc's
// Buffer.from(value, encoding): value is data, or event when data is nil. A
// string is converted with encoding (utf8, hex, base64, base64url, ascii,
// latin1/binary, utf16le/ucs2); []byte is sent as is; a slice or array of
// integers is one byte per element. A value the encoding cannot represent is
// an error, never a silent empty write.
func AppendRawValue(dst []byte, event string, data any, encoding string) ([]byte, *Error) {
	var value any = event
	if data != nil {
		value = data
	}
	start := len(dst)
	var err *Error
	switch v := value.(type) {
	case string:
		dst, err = appendEncodedString(dst, v, encoding)
	case []byte:
		dst = append(dst, v...)
	default:
		dst, err = appendByteValues(dst, value)
	}
	if err != nil {
		return dst[:start], err
	}
	if len(dst) == start {
		return dst, errorOf(CodeInvalidRaw, "raw emit of zero bytes")
	}
	return dst, nil
}

func rawErr(format string, args ...any) *Error {
	return errorOf(CodeInvalidRaw, fmt.Sprintf(format, args...))
}

func appendEncodedString(dst []byte, s, encoding string) ([]byte, *Error) {
	switch strings.ToLower(encoding) {
	case "", "utf8", "utf-8":
		return append(dst, s...), nil
	case "hex":
		if len(s)%2 != 0 {
			return dst, rawErr("%d hex digits: want an even number", len(s))
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return dst, rawErr("not valid hex: %v", err)
		}
		return append(dst, b...), nil
	case "base64", "base64url":
		t := strings.TrimRight(s, "=")
		enc := base64.RawStdEncoding
		if strings.ContainsAny(t, "-_") {
			enc = base64.RawURLEncoding
		}
		b, err := enc.DecodeString(t)
		if err != nil {
			return dst, rawErr("not valid base64: %v", err)
		}
		return append(dst, b...), nil
	case "ascii", "latin1", "binary":
		for _, r := range s {
			if r > 0xFF {
				return dst, rawErr("character %q does not fit the %s encoding", r, encoding)
			}
			dst = append(dst, byte(r))
		}
		return dst, nil
	case "utf16le", "utf-16le", "ucs2", "ucs-2":
		for _, u := range utf16.Encode([]rune(s)) {
			dst = append(dst, byte(u), byte(u>>8))
		}
		return dst, nil
	}
	return dst, rawErr("unknown encoding %q", encoding)
}

// appendByteValues accepts a slice or array of integers, each 0..255.
func appendByteValues(dst []byte, value any) ([]byte, *Error) {
	v := reflect.ValueOf(value)
	if v.Kind() != reflect.Slice && v.Kind() != reflect.Array {
		return dst, rawErr("cannot send a %T in raw mode: want a string, []byte or a slice of byte values", value)
	}
	for i := 0; i < v.Len(); i++ {
		e := v.Index(i)
		var n int64
		switch e.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			n = e.Int()
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			if e.Uint() > 255 {
				return dst, rawErr("element %d is %d: a byte is 0 to 255", i, e.Uint())
			}
			n = int64(e.Uint())
		case reflect.Float32, reflect.Float64:
			f := e.Float()
			if f != float64(int64(f)) {
				return dst, rawErr("element %d is %v: a byte is an integer", i, f)
			}
			n = int64(f)
		default:
			return dst, rawErr("element %d is a %s: want integers", i, e.Kind())
		}
		if n < 0 || n > 255 {
			return dst, rawErr("element %d is %d: a byte is 0 to 255", i, n)
		}
		dst = append(dst, byte(n))
	}
	return dst, nil
}
