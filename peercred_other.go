//go:build !linux && !darwin

package nodeipc

import "net"

// peerCred is not available on this platform yet.
func peerCred(net.Conn) *PeerCred { return nil }
