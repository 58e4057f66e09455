// Package endpoint is the plumbing the examples share: where their "world"
// server listens, how their clients reach it, and how the server is started,
// served and shut down. The stream examples use an Endpoint: a local socket (a
// Unix socket, or a named pipe on Windows), TCP or TLS, as chosen with
// -transport. The UDP examples use a UDP endpoint on the loopback. What each
// example demonstrates, its handlers and what it emits, is in its own
// main.go.
//
// For TLS it makes the certificates at run time (a CA, a server certificate
// for localhost, 127.0.0.1 and ::1, and a client certificate), and
// configures both sides the way node-ipc's TLS examples do, with
// verification always on:
//
//   - the server presents its key and certificate (node-ipc's tls.private and
//     tls.public), and the client trusts the CA that signed it
//     (tls.trustedConnections) and checks the name it dialled;
//   - with -mutual, the server also trusts that CA for clients, so it asks
//     each client for a certificate and refuses one it cannot verify
//     (requestCert and rejectUnauthorized, node-ipc's "most secure"
//     example), and the client presents its own.
package endpoint

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/internal/testcert"
)

// certName names the certificate files in the -certs directory.
const certName = "example"

// Endpoint is where the world server listens and clients connect.
type Endpoint struct {
	Transport string // "local", "tcp" or "tls"
	Path      string // local: the socket path; "": node-ipc's default for the id
	Host      string // tcp, tls
	Port      int    // tcp, tls: 0 lets the server pick a free port
	Certs     string // tls: the directory of the certificate files
	Mutual    bool   // tls: clients present a certificate too
}

// Flags registers -transport, -path, -host, -port, -certs and -mutual on the
// command line flags.
func Flags() *Endpoint {
	e := &Endpoint{}
	flag.StringVar(&e.Transport, "transport", "local", `"local" (a Unix socket, a named pipe on Windows), "tcp" or "tls"`)
	flag.StringVar(&e.Path, "path", "", "local: socket path (default: node-ipc's path for the id world; a unique one with -role both)")
	flag.StringVar(&e.Host, "host", nodeipc.DefaultNetworkHost, "tcp, tls: host to serve on or connect to")
	flag.IntVar(&e.Port, "port", nodeipc.DefaultNetworkPort, "tcp, tls: port (0: the server picks a free one and prints it)")
	flag.StringVar(&e.Certs, "certs", "", "tls: directory of the certificates, the same for server and client; the server makes them (default with -role both: a temporary one)")
	flag.BoolVar(&e.Mutual, "mutual", false, "tls: clients must present a certificate too")
	return e
}

// Setup checks the flags for a role ("server", "both", or a client's) and
// prepares the endpoint: with "both" a local path or a certificate directory
// of its own; a server makes new certificates. The returned function removes
// what Setup made.
func (e *Endpoint) Setup(role string) (cleanup func(), err error) {
	cleanup = func() {}
	switch e.Transport {
	case "local", "tcp":
		if role == "both" && e.Transport == "local" && e.Path == "" {
			// A unique id in the default socket root, so that runs never meet.
			cfg := nodeipc.DefaultConfig()
			e.Path = cfg.LocalPath(fmt.Sprintf("world-%d", os.Getpid()))
		}
		return cleanup, nil
	case "tls":
	default:
		return cleanup, fmt.Errorf("unknown -transport %q: want local, tcp or tls", e.Transport)
	}
	switch {
	case e.Certs == "" && role != "both":
		return cleanup, errors.New("TLS with -role " + role + " needs -certs DIR, the same for server and client")
	case e.Certs == "":
		dir, err := os.MkdirTemp("", "nodeipc-example-certs-")
		if err != nil {
			return cleanup, err
		}
		e.Certs = dir
		cleanup = func() { os.RemoveAll(dir) }
	}
	if role == "server" || role == "both" {
		if err := os.MkdirAll(e.Certs, 0o700); err != nil {
			return cleanup, err
		}
		if _, err := testcert.New(e.Certs, certName); err != nil {
			cleanup()
			return func() {}, err
		}
	}
	return cleanup, nil
}

func (e *Endpoint) file(suffix string) string {
	return filepath.Join(e.Certs, certName+suffix)
}

// Serve sets ipc.Server to a server on the endpoint, not yet started:
// ipc.Serve for a local socket, ipc.ServeNet for TCP, and for TLS the same
// with Config.TLS set.
func (e *Endpoint) Serve(ipc *nodeipc.IPC) error {
	switch e.Transport {
	case "local":
		return ipc.Serve(e.Path, nil)
	case "tls":
		ipc.Config.TLS = &nodeipc.TLSConfig{
			Private: e.file("-server-key.pem"), // node-ipc's tls.private
			Public:  e.file("-server.pem"),     // and tls.public
		}
		if e.Mutual {
			// A CA to verify clients with: the server requests a client
			// certificate and refuses a client without a valid one
			// (RequestCert and RejectUnauthorized default to true then).
			ipc.Config.TLS.TrustedConnections = []string{e.file("-ca.pem")}
		}
	}
	if e.Port == 0 {
		// ServeNet reads port 0 as node-ipc does (its default, 8000);
		// NewServer takes it as any free port. With Config.TLS set, "tcp"
		// serves TLS.
		var err error
		ipc.Server, err = nodeipc.NewServer("tcp", net.JoinHostPort(e.Host, "0"), &ipc.Config)
		return err
	}
	return ipc.ServeNet(e.Host, e.Port, "", nil)
}

// listening describes where a started server listens, for printing. It also
// records the port the server got, so that a client in the same process
// connects to it.
func (e *Endpoint) listening(srv *nodeipc.Server) string {
	switch e.Transport {
	case "local":
		if runtime.GOOS == "windows" {
			return srv.Path() + ", the named pipe " + nodeipc.PipeName(srv.Path())
		}
		return srv.Path()
	case "tls":
		e.Port = srv.Addr().(*net.TCPAddr).Port
		if e.Mutual {
			return srv.Addr().String() + " with mutual TLS"
		}
		return srv.Addr().String() + " with TLS"
	}
	e.Port = srv.Addr().(*net.TCPAddr).Port
	return srv.Addr().String()
}

// ConnectTo registers a client of ipc under id, connected to the endpoint:
// ipc.ConnectTo for a local socket, ipc.ConnectToNet for TCP, and for TLS
// the same with Config.TLS set. onCreate runs before the client connects.
func (e *Endpoint) ConnectTo(ipc *nodeipc.IPC, id string, onCreate func()) error {
	switch e.Transport {
	case "local":
		return ipc.ConnectTo(id, e.Path, onCreate)
	case "tls":
		// Verify the server (node-ipc 14's default rejectUnauthorized:
		// true) against the CA that signed its certificate.
		ipc.Config.TLS = &nodeipc.TLSConfig{TrustedConnections: []string{e.file("-ca.pem")}}
		if e.Mutual {
			ipc.Config.TLS.Private = e.file("-client-key.pem")
			ipc.Config.TLS.Public = e.file("-client.pem")
		}
	}
	return ipc.ConnectToNet(id, e.Host, e.Port, onCreate)
}
