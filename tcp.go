package nodeipc

import (
	"context"
	"errors"
	"net"
)

// The TCP transport: servers bind host:port (sharing it with other
// processes of the same user when ReusePort is set: a cluster), clients
// dial it from Config.Interface's local address when one is given. TLS
// (tls.go) runs over it; node-ipc's serveNet / connectToNet.

// listenTCP binds a TCP listener, sharing the port with other processes when
// ReusePort is set.
func listenTCP(address string, cfg *Config) (net.Listener, error) {
	lc := net.ListenConfig{}
	if cfg.ReusePort {
		if reusePort == nil {
			return nil, errNoReusePort
		}
		lc.Control = reusePort
	}
	return lc.Listen(context.Background(), "tcp", address)
}

// dialTCP connects to address (host:port), from cfg.Interface's local
// address and port when set (node-ipc's interface option).
func dialTCP(ctx context.Context, address string, cfg *Config) (net.Conn, error) {
	d := net.Dialer{}
	if ia := cfg.Interface; ia.LocalAddress != "" || ia.LocalPort != 0 {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(ia.LocalAddress), Port: ia.LocalPort}
	}
	return d.DialContext(ctx, "tcp", address)
}

var errNoReusePort = errors.New("nodeipc: ReusePort is not supported on this platform")
