//go:build linux || darwin

package nodeipc_test

import (
	"errors"
	"os"
	"testing"

	"github.com/effeeea0/nodeipc"
)

func TestPeerCredentialsOfALocalPeer(t *testing.T) {
	socks := make(chan *nodeipc.Socket, 1)
	_, addr := startServer(t, "unix", nil, func(s *nodeipc.Server) {
		s.On("connect", func(m *nodeipc.Message) { socks <- m.Socket })
	})
	_, connected := startClient(t, "unix", addr, nil, nil)
	recv(t, connected, "connect")
	cred := recv(t, socks, "server connect").PeerCred()
	if cred == nil {
		t.Fatal("no peer credentials on a Unix socket")
	}
	if cred.UID != os.Getuid() || cred.PID != os.Getpid() {
		t.Fatalf("peer credentials %+v, want uid %d pid %d", *cred, os.Getuid(), os.Getpid())
	}
	if cred.GID < 0 {
		t.Fatalf("peer gid %d", cred.GID)
	}

	// TCP peers have none.
	tcpSocks := make(chan *nodeipc.Socket, 1)
	_, taddr := startServer(t, "tcp", nil, func(s *nodeipc.Server) {
		s.On("connect", func(m *nodeipc.Message) { tcpSocks <- m.Socket })
	})
	_, tconnected := startClient(t, "tcp", taddr, nil, nil)
	recv(t, tconnected, "connect")
	if c := recv(t, tcpSocks, "tcp connect").PeerCred(); c != nil {
		t.Fatalf("TCP peer has credentials %+v", *c)
	}
}

func TestAllowedUIDsRefusesOtherUsers(t *testing.T) {
	// Our own uid is let in.
	cfg := testConfig()
	cfg.AllowedUIDs = []int{os.Getuid()}
	_, addr := startServer(t, "unix", cfg, nil)
	_, connected := startClient(t, "unix", addr, nil, nil)
	recv(t, connected, "connect as an allowed uid")

	// A server that allows only someone else refuses us, says why, and
	// keeps running.
	cfg = testConfig()
	cfg.AllowedUIDs = []int{os.Getuid() + 4242}
	errs := make(chan error, 4)
	conns := make(chan struct{}, 4)
	srv, addr := startServer(t, "unix", cfg, func(s *nodeipc.Server) {
		s.On("error", func(m *nodeipc.Message) { errs <- m.Err })
		s.On("connect", func(*nodeipc.Message) { conns <- struct{}{} })
	})
	for range 2 {
		peer := dialRaw(t, "unix", addr)
		var pe *nodeipc.ProtocolError
		if err := recv(t, errs, "refusal"); !errors.As(err, &pe) || pe.Code != nodeipc.CodePeerNotPermitted {
			t.Fatalf("got %v, want %s", err, nodeipc.CodePeerNotPermitted)
		}
		buf := make([]byte, 1)
		if _, err := peer.Read(buf); err == nil {
			t.Fatal("a refused peer's connection stays open")
		}
		peer.Close()
	}
	select {
	case <-conns:
		t.Fatal("a refused peer got a connect event")
	default:
	}
	if n := len(srv.Sockets()); n != 0 {
		t.Fatalf("%d sockets registered", n)
	}
}
