package endpoint

import (
	"flag"
	"fmt"
	"net"
	"time"

	"github.com/effeeea0/nodeipc"
)

// UDP is where a UDP example's world server listens, on the loopback. A UDP
// client serves too, on a port of its own, to get answers on.
type UDP struct {
	Network string        // "udp4" or "udp6"
	Port    int           // world's port; 0 lets the server pick a free one
	Resend  time.Duration // client: how long to wait for an answer before sending again
}

// UDPFlags registers -udp, -port and -resend on the command line flags.
func UDPFlags() *UDP {
	u := &UDP{}
	flag.StringVar(&u.Network, "udp", "udp4", "udp4 (on 127.0.0.1) or udp6 (on ::1)")
	flag.IntVar(&u.Port, "port", nodeipc.DefaultNetworkPort, "world's UDP port (server: 0 picks a free one and prints it)")
	flag.DurationVar(&u.Resend, "resend", 500*time.Millisecond, "client: send again after this long without an answer")
	return u
}

// Host is the loopback address of the network: node-ipc's default host is
// IPv4, so udp6 needs one given.
func (u *UDP) Host() string {
	if u.Network == "udp6" {
		return "::1"
	}
	return "127.0.0.1"
}

// Serve sets ipc.Server to a UDP server on Host at port, not yet started:
// ipc.ServeNet, or for port 0 a server on any free port (ServeNet reads
// port 0 as node-ipc does, as its default, 8000).
func (u *UDP) Serve(ipc *nodeipc.IPC, port int) error {
	if port == 0 {
		var err error
		ipc.Server, err = nodeipc.NewServer(u.Network, net.JoinHostPort(u.Host(), "0"), &ipc.Config)
		return err
	}
	return ipc.ServeNet(u.Host(), port, u.Network, nil)
}

// Start starts the server that Serve set in ipc.Server and prints where it
// listens ("world: listening on udp4 ...").
func (u *UDP) Start(ipc *nodeipc.IPC) error {
	if err := ipc.Server.Start(); err != nil {
		return err
	}
	fmt.Println(ipc.Config.ID+": listening on", u.Network, ipc.Server.Addr())
	return nil
}
