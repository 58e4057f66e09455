package nodeipc

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
