package wire

import "unicode/utf8"

// Wildcard is the event name node-ipc's dispatcher gives the handlers of
// every event: an event sent under it would reach them twice.
const Wildcard = "*"

// Reserved reports whether name is one of node-ipc's lifecycle events,
// which a peer may not send. A switch rather than a map: every frame, both
// ways, is checked, and the compiled switch rejects most names on their
// length without hashing them.
func Reserved(name []byte) bool {
	switch string(name) {
	case "start", "connect", "disconnect", "destroy", "close",
		"socket.disconnected", "error", "data":
		return true
	}
	return false
}

// Prototype reports whether name is one of Object.prototype's names, which
// would confuse a node-ipc peer's event registry.
func Prototype(name []byte) bool {
	switch string(name) {
	case "constructor", "__defineGetter__", "__defineSetter__", "hasOwnProperty",
		"__lookupGetter__", "__lookupSetter__", "isPrototypeOf", "propertyIsEnumerable",
		"toString", "valueOf", "__proto__", "toLocaleString":
		return true
	}
	return false
}

// UTF16Len counts the UTF-16 code units of s, as JavaScript's length does.
func UTF16Len(s []byte) int {
	n := 0
	for len(s) > 0 {
		r, size := utf8.DecodeRune(s)
		s = s[size:]
		n++
		if r > 0xFFFF {
			n++
		}
	}
	return n
}
