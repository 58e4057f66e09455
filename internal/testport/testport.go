// Package testport gives tests a loopback TCP port to listen on later, by
// number (a node-ipc server takes its port as a number, and a server that
// restarts takes the same one again).
//
// A port the system chooses (listening on port 0, then closing) comes from
// the ephemeral range, from which the system also takes the local port of
// every outgoing connection: a test running meanwhile that connects
// anywhere can take it before the server listens on it, which then fails
// with "address already in use". Ports below that range are only ever
// taken by a listener asking for one by number, so Free chooses among them.
package testport

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
)

// lowest is the lowest port Free gives.
const lowest = 20000

// next is the offset of the next port to try, in the process: ports tried
// once are not tried again, so two tests of one process never get the same.
var next atomic.Int64

func init() { next.Store(rand.Int64N(1 << 20)) }

// Free returns a port of 127.0.0.1 on which nothing listens now, below the
// system's ephemeral range.
func Free() (int, error) {
	span := ephemeralLow() - lowest
	for range 200 {
		port := lowest + int(next.Add(1)%int64(span))
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		ln.Close()
		return port, nil
	}
	return 0, errors.New("testport: no free port below the ephemeral range")
}

// ephemeralLow is the start of the ephemeral port range: Linux says it;
// elsewhere it is 49152 by default (Windows, macOS) and Free keeps below
// 32768, Linux's default.
func ephemeralLow() int {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > lowest+1000 {
				low = min(n, low)
			}
		}
	}
	return low
}
