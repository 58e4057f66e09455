package main

import (
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/spf13/cobra"
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
	maxMessage           byteSize
	maxPending           byteSize
	allow                []string

	local string // the positional id or path
}

// encodings are the raw-mode encodings, as node-ipc (Node's Buffer) names
// them; the library also takes utf-8, utf-16le and ucs-2.
var encodings = []string{"utf8", "hex", "base64", "base64url", "ascii", "latin1", "binary", "utf16le", "ucs2"}

// parsers are the library's profiles.
var parsers = []string{nodeipc.ParserRaw, nodeipc.ParserFast, nodeipc.ParserGuarded, nodeipc.ParserAssured}

func (e *endpoint) flags(cmd *cobra.Command, client bool) {
	fs := cmd.Flags()
	fs.StringVar(&e.tcp, "tcp", "", "TCP endpoint `HOST:PORT` (or :PORT, or PORT)")
	fs.StringVar(&e.tls, "tls", "", "TLS endpoint `HOST:PORT`")
	fs.StringVar(&e.udp4, "udp4", "", "UDP4 endpoint `HOST:PORT`")
	fs.StringVar(&e.udp6, "udp6", "", "UDP6 endpoint `HOST:PORT` (e.g. [::1]:8000)")
	fs.StringSliceVar(&e.cert, "cert", nil, "TLS: PEM certificate `FILE` (node-ipc's public)")
	fs.StringSliceVar(&e.key, "key", nil, "TLS: PEM private key `FILE` (node-ipc's private)")
	fs.StringSliceVar(&e.ca, "ca", nil, "TLS: PEM `FILE` of certificates to trust; on a server, asks clients for a certificate")
	fs.StringVar(&e.serverName, "server-name", "", "TLS: the name the client verifies (default: the host dialled)")
	fs.BoolVar(&e.raw, "raw", false, "raw-buffer mode: no framing, no JSON (node-ipc's rawBuffer)")
	fs.StringVar(&e.encoding, "encoding", nodeipc.DefaultEncoding, "raw mode: how text is turned into bytes ("+strings.Join(encodings, ", ")+")")
	fs.StringVar(&e.delimiter, "delimiter", nodeipc.DefaultDelimiter, "frame delimiter, one or more bytes (Go escapes allowed: \\f, \\n, \\x00)")
	fs.StringVar(&e.appSpace, "appspace", nodeipc.DefaultAppSpace, "prefix of local socket names")
	fs.StringVar(&e.root, "socket-root", "", "directory of local sockets (default: node-ipc 14's owner-only root)")
	fs.BoolVar(&e.legacy, "legacy", false, "node-ipc 9/10 settings: the /tmp/ socket root, {} for empty data")
	fs.StringVar(&e.parser, "parser", nodeipc.ParserFast, "profile: raw (same as --raw), fast, guarded (limits) or assured (limits, --allow, mutual TLS)")
	fs.StringSliceVar(&e.allow, "allow", nil, "the only `EVENTS` accepted and sent (comma-separated; needed by --parser assured)")
	fs.Var(&e.maxMessage, "max-message", "largest frame received, and with --parser guarded or assured sent, e.g. 16MiB (default 64MiB; 1MiB guarded or assured)")
	fs.Var(&e.maxPending, "max-pending", "bytes waiting to be written, or held until connected, before an event is refused, e.g. 64MiB (default 8MiB)")
	completeWords(cmd, "encoding", encodings)
	completeWords(cmd, "parser", parsers)
	if client {
		fs.StringVar(&e.id, "id", "nodeipc-cli", "this client's id")
		fs.DurationVar(&e.retry, "retry", nodeipc.DefaultRetry, "delay between reconnect attempts")
	}
}

// completeWords offers words as the values of a flag in shell completion.
func completeWords(cmd *cobra.Command, flag string, words []string) {
	_ = cmd.RegisterFlagCompletionFunc(flag, func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return words, cobra.ShellCompDirectiveNoFileComp
	})
}

// oneOf checks a flag's value against its valid words (case-insensitive).
func oneOf(flag, value string, valid []string, aliases ...string) error {
	for _, w := range append(valid, aliases...) {
		if strings.EqualFold(value, w) {
			return nil
		}
	}
	last := len(valid) - 1
	return usageErr("--%s %q: want %s or %s", flag, value, strings.Join(valid[:last], ", "), valid[last])
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
	if err := oneOf("encoding", e.encoding, encodings, "utf-8", "utf-16le", "ucs-2"); err != nil {
		return cfg, err
	}
	cfg.Encoding = e.encoding
	if err := oneOf("parser", e.parser, parsers); err != nil {
		return cfg, err
	}
	cfg.Parser = strings.ToLower(e.parser)
	if cfg.Parser == nodeipc.ParserRaw {
		e.raw = true
	}
	cfg.RawBuffer = e.raw
	if e.raw {
		cfg.Parser = nodeipc.ParserRaw
	}
	d, err := unescape(e.delimiter)
	if err != nil {
		return cfg, err
	}
	if d == "" && !e.raw {
		return cfg, usageErr("--delimiter is empty: give one or more bytes (default \\f)")
	}
	cfg.Delimiter = d
	cfg.AllowedEvents = e.allow
	if cfg.Parser == nodeipc.ParserAssured && len(e.allow) == 0 {
		return cfg, usageErr("--parser assured needs --allow with the events it accepts and sends")
	}
	if e.maxMessage > 0 {
		cfg.MaxMessageSize = int(e.maxMessage)
		cfg.MaxReadBuffer = int(e.maxMessage)
	}
	if e.maxPending > 0 {
		cfg.MaxPendingBytes = int(e.maxPending)
		cfg.MaxOutboxBytes = int(e.maxPending)
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
		if len(e.cert) != len(e.key) {
			return cfg, usageErr("--cert and --key go together: give both or neither")
		}
		if len(e.cert) == 1 {
			t.Public = e.cert[0]
		}
		if len(e.key) == 1 {
			t.Private = e.key[0]
		}
		cfg.TLS = t
	} else if len(e.cert)+len(e.key)+len(e.ca) > 0 || e.serverName != "" {
		return cfg, usageErr("--cert, --key, --ca and --server-name go with --tls")
	}
	return cfg, nil
}

// unescape reads a flag value with Go escapes (\f, \n, \x00).
func unescape(s string) (string, error) {
	d, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`)
	if err != nil {
		return "", usageErr("--delimiter %q: not a valid Go escape (such as \\f, \\n or \\x00)", s)
	}
	return d, nil
}
