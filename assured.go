package nodeipc

import "runtime"

// assuredServerCheck applies the assured profile's transport gates to a
// server: TLS with verified client certificates for network use, no UDP or
// plain TCP, and on Unix a local socket directly inside the secure socket
// root (checked when it starts).
func assuredServerCheck(s *Server) error {
	switch s.network {
	case "udp4", "udp6", "tcp":
		return protoErr(CodeAssuredTransport, "the assured profile refuses "+s.network+": use TLS with client certificates")
	case "unix":
		if !s.cfg.SecureSocketRoot && runtime.GOOS != "windows" {
			return protoErr(CodeAssuredTransport, "the assured profile needs SecureSocketRoot for local sockets")
		}
	}
	return nil
}

// assuredClientCheck refuses plain TCP for an assured client before any
// connection is made; TLS settings are checked when it dials.
func assuredClientCheck(c *Client) error {
	if c.network == "tcp" {
		return protoErr(CodeAssuredTransport, "the assured profile refuses plain TCP: set Config.TLS with a client certificate")
	}
	if c.network == "tls" {
		if _, err := c.cfg.TLS.clientConfig(c.host, true); err != nil {
			return err
		}
	}
	return nil
}
