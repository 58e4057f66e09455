package main

import (
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/spf13/pflag"
)

// endpoint holds the flags that choose a transport and its settings.
type endpoint struct {
	tcp, tls, udp4, udp6 string
	cert, key, ca        []string
	serverName           string
	raw                  bool
	encoding             string
	delimiter            string
	appSpace, root       string
	legacy               bool
	parser               string
	retry                time.Duration
	maxRetries           int
	id                   string // client id

	local string // the positional id or path
}

func (e *endpoint) flags(fs *pflag.FlagSet, client bool) {
	fs.StringVar(&e.tcp, "tcp", "", "TCP endpoint `HOST:PORT` (or :PORT, or PORT)")
	fs.StringVar(&e.tls, "tls", "", "TLS endpoint `HOST:PORT`")
	fs.StringVar(&e.udp4, "udp4", "", "UDP4 endpoint `HOST:PORT`")
	fs.StringVar(&e.udp6, "udp6", "", "UDP6 endpoint `HOST:PORT` (e.g. [::1]:8000)")
	fs.StringSliceVar(&e.cert, "cert", nil, "TLS: PEM certificate `FILE` (node-ipc's public)")
	fs.StringSliceVar(&e.key, "key", nil, "TLS: PEM private key `FILE` (node-ipc's private)")
	fs.StringSliceVar(&e.ca, "ca", nil, "TLS: PEM `FILE` of certificates to trust; on a server, asks clients for a certificate")
	fs.StringVar(&e.serverName, "server-name", "", "TLS: the name the client verifies (default: the host dialled)")
	fs.BoolVar(&e.raw, "raw", false, "raw-buffer mode: no framing, no JSON (node-ipc's rawBuffer)")
	fs.StringVar(&e.encoding, "encoding", nodeipc.DefaultEncoding, "raw mode: how text is turned into bytes (utf8, hex, base64, ascii, latin1, utf16le)")
	fs.StringVar(&e.delimiter, "delimiter", nodeipc.DefaultDelimiter, "frame delimiter, one or more bytes (Go escapes allowed: \\f, \\n, \\x00)")
	fs.StringVar(&e.appSpace, "appspace", nodeipc.DefaultAppSpace, "prefix of local socket names")
	fs.StringVar(&e.root, "socket-root", "", "directory of local sockets (default: node-ipc 14's owner-only root)")
	fs.BoolVar(&e.legacy, "legacy", false, "node-ipc 9/10 settings: the /tmp/ socket root, {} for empty data")
	fs.StringVar(&e.parser, "parser", nodeipc.ParserFast, "profile: fast, guarded or assured")
	if client {
		fs.StringVar(&e.id, "id", "nodeipc-cli", "this client's id")
		fs.DurationVar(&e.retry, "retry", nodeipc.DefaultRetry, "delay between reconnect attempts")
	}
}

// kind returns the network and address chosen, or a usage error.
func (e *endpoint) kind() (network, address string, err error) {
	set := 0
	for _, v := range []string{e.tcp, e.tls, e.udp4, e.udp6, e.local} {
		if v != "" {
			set++
		}
	}
	if set == 0 {
		return "", "", usageErr("give a local id or socket path, or one of --tcp, --tls, --udp4, --udp6")
	}
	if set > 1 {
		return "", "", usageErr("give one endpoint: a local id or path, or one of --tcp, --tls, --udp4, --udp6")
	}
	switch {
	case e.tcp != "":
		network, address = "tcp", e.tcp
	case e.tls != "":
		network, address = "tls", e.tls
	case e.udp4 != "":
		network, address = "udp4", e.udp4
	case e.udp6 != "":
		network, address = "udp6", e.udp6
	default:
		return "unix", e.localPath(), nil
	}
	address, err = hostPort(address, network)
	return network, address, err
}

// localPath turns the positional argument into a socket path: a path as
// given, an id as SocketRoot + AppSpace + id.
func (e *endpoint) localPath() string {
	if isPath(e.local) {
		return e.local
	}
	cfg := e.baseConfig()
	return cfg.LocalPath(e.local)
}

func isPath(s string) bool {
	return strings.ContainsAny(s, `/\`) || strings.HasPrefix(s, ".")
}

// hostPort normalises HOST:PORT, :PORT and PORT.
func hostPort(s, network string) (string, error) {
	if _, err := strconv.Atoi(s); err == nil {
		s = ":" + s
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", usageErr("--%s %q: want HOST:PORT", network, s)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 0 || p > 65535 {
		return "", usageErr("--%s %q: bad port %q (want 0 to 65535)", network, s, port)
	}
	if host == "" {
		host = nodeipc.DefaultNetworkHost
		if network == "udp6" {
			host = "::1"
		}
	}
	return net.JoinHostPort(host, port), nil
}

func (e *endpoint) baseConfig() nodeipc.Config {
	cfg := nodeipc.DefaultConfig()
	if e.legacy {
		cfg = nodeipc.LegacyConfig()
	}
	cfg.AppSpace = e.appSpace
	if e.root != "" {
		cfg.SocketRoot = e.root
		if !strings.HasSuffix(e.root, "/") && !strings.HasSuffix(e.root, `\`) {
			cfg.SocketRoot += string(os.PathSeparator)
		}
	}
	return cfg
}

// config builds the library configuration.
func (e *endpoint) config(network string) (nodeipc.Config, error) {
	cfg := e.baseConfig()
	cfg.Silent = true
	cfg.RawBuffer = e.raw
	cfg.Encoding = e.encoding
	d, err := strconv.Unquote(`"` + strings.ReplaceAll(e.delimiter, `"`, `\"`) + `"`)
	if err != nil {
		return cfg, usageErr("--delimiter %q: %v", e.delimiter, err)
	}
	cfg.Delimiter = d
	cfg.Parser = e.parser
	if e.raw {
		cfg.Parser = nodeipc.ParserRaw
	}
	if e.retry > 0 {
		cfg.Retry = e.retry
	}
	cfg.MaxRetries = e.maxRetries
	if network == "tls" {
		t := &nodeipc.TLSConfig{ServerName: e.serverName, TrustedConnections: e.ca}
		if len(e.cert) > 1 || len(e.key) > 1 {
			return cfg, usageErr("give one --cert and one --key")
		}
		if len(e.cert) == 1 {
			t.Public = e.cert[0]
		}
		if len(e.key) == 1 {
			t.Private = e.key[0]
		}
		cfg.TLS = t
	} else if len(e.cert)+len(e.key)+len(e.ca) > 0 {
		return cfg, usageErr("--cert, --key and --ca go with --tls")
	}
	return cfg, nil
}
