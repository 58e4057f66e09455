package nodeipc

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"
)

// defaultHandshakeTimeout bounds a server's TLS handshake with one client
// when DialTimeout is not set.
const defaultHandshakeTimeout = 10 * time.Second

func tlsErr(msg string, err error) error {
	return &ProtocolError{Code: CodeTLSConfiguration, Message: msg, Err: err}
}

func (t *TLSConfig) base() *tls.Config {
	var c *tls.Config
	if t.Config != nil {
		c = t.Config.Clone()
	} else {
		c = &tls.Config{}
	}
	if c.MinVersion < tls.VersionTLS12 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// keyPair loads the key and certificate from Key/Cert or Private/Public.
func (t *TLSConfig) keyPair() (*tls.Certificate, error) {
	key, cert := t.Key, t.Cert
	var err error
	if len(key) == 0 && t.Private != "" {
		if key, err = os.ReadFile(t.Private); err != nil {
			return nil, tlsErr("cannot read the private key", err)
		}
	}
	if len(cert) == 0 && t.Public != "" {
		if cert, err = os.ReadFile(t.Public); err != nil {
			return nil, tlsErr("cannot read the certificate", err)
		}
	}
	if len(key) == 0 && len(cert) == 0 {
		return nil, nil
	}
	if len(key) == 0 || len(cert) == 0 {
		return nil, tlsErr("a key and a certificate are needed together (Private and Public, or Key and Cert)", nil)
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, tlsErr("the key and certificate do not form a pair", err)
	}
	return &pair, nil
}

// pool gathers CA and TrustedConnections; nil when neither is set.
func (t *TLSConfig) pool() (*x509.CertPool, error) {
	if len(t.CA) == 0 && len(t.TrustedConnections) == 0 {
		return nil, nil
	}
	p := x509.NewCertPool()
	add := func(pem []byte, what string) error {
		if !p.AppendCertsFromPEM(pem) {
			return tlsErr("no PEM certificate found in "+what, nil)
		}
		return nil
	}
	for i, pem := range t.CA {
		if err := add(pem, fmt.Sprintf("CA[%d]", i)); err != nil {
			return nil, err
		}
	}
	for _, path := range t.TrustedConnections {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, tlsErr("cannot read a trusted certificate", err)
		}
		if err := add(pem, path); err != nil {
			return nil, err
		}
	}
	return p, nil
}

func boolOr(p *bool, def bool) bool {
	if p == nil {
		return def
	}
	return *p
}

// serverConfig builds the server side: a key and certificate are required;
// with CA or TrustedConnections clients must present a certificate signed by
// them (node-ipc 14's defaults).
func (t *TLSConfig) serverConfig(assured bool) (*tls.Config, error) {
	if t == nil {
		return nil, tlsErr("a TLS server needs Config.TLS", nil)
	}
	c := t.base()
	pair, err := t.keyPair()
	if err != nil {
		return nil, err
	}
	if pair != nil {
		c.Certificates = append([]tls.Certificate{*pair}, c.Certificates...)
	}
	if len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil {
		return nil, tlsErr("a TLS server needs a key and a certificate (Private and Public, Key and Cert, or Config.Certificates)", nil)
	}
	pool, err := t.pool()
	if err != nil {
		return nil, err
	}
	if pool != nil {
		c.ClientCAs = pool
	}
	request := boolOr(t.RequestCert, pool != nil || c.ClientAuth >= tls.VerifyClientCertIfGiven)
	reject := boolOr(t.RejectUnauthorized, request)
	if t.Config == nil || t.RequestCert != nil || t.RejectUnauthorized != nil || pool != nil {
		switch {
		case request && reject:
			c.ClientAuth = tls.RequireAndVerifyClientCert
		case request:
			c.ClientAuth = tls.RequireAnyClientCert
		default:
			c.ClientAuth = tls.NoClientCert
		}
	}
	if assured && (c.ClientCAs == nil || c.ClientAuth != tls.RequireAndVerifyClientCert) {
		return nil, &ProtocolError{Code: CodeAssuredTLS, Message: "the assured profile needs a client CA and verified client certificates (RequestCert and RejectUnauthorized)"}
	}
	return c, nil
}

// clientConfig builds the client side: the server is verified unless
// RejectUnauthorized is false; a key pair, if given, is offered.
func (t *TLSConfig) clientConfig(host string, assured bool) (*tls.Config, error) {
	c := t.base()
	if t.ServerName != "" {
		c.ServerName = t.ServerName
	} else if c.ServerName == "" {
		c.ServerName = host
	}
	pair, err := t.keyPair()
	if err != nil {
		return nil, err
	}
	if pair != nil {
		c.Certificates = append([]tls.Certificate{*pair}, c.Certificates...)
	}
	pool, err := t.pool()
	if err != nil {
		return nil, err
	}
	if pool != nil {
		c.RootCAs = pool
	}
	reject := boolOr(t.RejectUnauthorized, true)
	if !reject {
		c.InsecureSkipVerify = true
	}
	if assured && (len(c.Certificates) == 0 || c.RootCAs == nil || !reject) {
		return nil, &ProtocolError{Code: CodeAssuredTLS, Message: "the assured profile needs a client key and certificate, a CA, and verification on"}
	}
	return c, nil
}

// The TLS transport: TCP (tcp.go) with crypto/tls over it. A server needs
// a key and certificate, and checks client certificates against a CA when
// given one; a client verifies the server. Every TLS connection runs over a
// tlsSock (tlssock.go), which lets an emitting goroutine write directly and
// lets the reader poll, as plain sockets do.

// listenTLS binds a TLS server's TCP listener and returns it with the
// server's TLS configuration, which accepted connections are given with
// serverTLS.
func listenTLS(address string, cfg *Config, assured bool) (net.Listener, *tls.Config, error) {
	tc, err := cfg.TLS.serverConfig(assured)
	if err != nil {
		return nil, nil, err
	}
	ln, err := listenTCP(address, cfg)
	return ln, tc, err
}

// serverTLS makes an accepted connection the server side of a TLS
// connection; its handshake runs on the connection's own goroutine
// (handshake), not in the accept loop.
func serverTLS(nc net.Conn, tc *tls.Config, cfg *Config) *tls.Conn {
	return tls.Server(newTLSSock(nc, cfg.ReadSpin), tc)
}

// dialTLS connects to address over TCP and completes the client's TLS
// handshake, verifying the server as host (or TLSConfig.ServerName).
func dialTLS(ctx context.Context, address, host string, cfg *Config, assured bool) (net.Conn, error) {
	tc, err := cfg.TLS.clientConfig(host, assured)
	if err != nil {
		return nil, err
	}
	nc, err := dialTCP(ctx, address, cfg)
	if err != nil {
		return nil, err
	}
	conn := tls.Client(newTLSSock(nc, cfg.ReadSpin), tc)
	if err := conn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// handshake completes a server-side TLS handshake within the timeout.
func handshake(tc *tls.Conn, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = defaultHandshakeTimeout
	}
	_ = tc.SetDeadline(time.Now().Add(timeout))
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("nodeipc: TLS handshake with %s: %w", addrString(tc.RemoteAddr()), err)
	}
	return tc.SetDeadline(time.Time{})
}
