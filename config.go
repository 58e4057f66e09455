package nodeipc

import (
	"crypto/tls"
	"log/slog"
	"os"
	"time"
)

// Defaults, as node-ipc 14 has them unless noted.
const (
	DefaultAppSpace           = "app."
	DefaultNetworkHost        = "127.0.0.1"
	DefaultNetworkPort        = 8000
	DefaultDelimiter          = "\f"
	DefaultEncoding           = "utf8"
	DefaultRetry              = 500 * time.Millisecond
	DefaultMaxConnections     = 100
	DefaultLogDepth           = 5
	DefaultMaxMessageSize     = 1 << 20 // guarded and assured
	DefaultMaxPendingBytes    = 8 << 20
	DefaultMaxEventNameLength = 256
	DefaultMessageTimeout     = 30 * time.Second
	// DefaultMaxOutboxBytes bounds what a client keeps while (re)connecting
	// (nodeipc's own; node-ipc drops such emits).
	DefaultMaxOutboxBytes = 8 << 20
	// DefaultMaxReadBuffer bounds an unfinished frame in every profile, so no
	// peer can make a reader buffer without limit (nodeipc's own).
	DefaultMaxReadBuffer = 64 << 20
	// DefaultFlushTimeout bounds how long Stop and Disconnect wait to write
	// what was accepted before they close (nodeipc's own).
	DefaultFlushTimeout = 5 * time.Second

	// DefaultReadSpin is how long the reader of a busy Unix, TCP or TLS
	// connection polls its socket before it sleeps (not on Windows): a
	// peer's reply within it is read without a wake-up. A poll is a read
	// that does not wait, so one that finds bytes at once costs no more than
	// the read. A connection is busy while its reads wait no longer than
	// this; a quiet one never polls.
	DefaultReadSpin = 50 * time.Microsecond

	// DefaultIdleTimeout and DefaultFirstMessageTimeout are the guarded and
	// assured profiles' limits on silent peers (nodeipc's own): a server
	// closes a connection that sends nothing for DefaultIdleTimeout, or
	// whose first complete message does not come within
	// DefaultFirstMessageTimeout of connecting. The fast and raw profiles
	// leave them off, as node-ipc has none: its clients may connect only to
	// listen.
	DefaultIdleTimeout         = 5 * time.Minute
	DefaultFirstMessageTimeout = 30 * time.Second

	// LegacySocketRoot is node-ipc 9 and 10's socket root.
	LegacySocketRoot = "/tmp/"
	// RetryForever as MaxRetries retries without limit (node-ipc's Infinity).
	RetryForever = -1
)

// Config holds node-ipc's settings with their Go spelling. New fills it with
// node-ipc 14's defaults; a client or server copies it when it is built, so
// later changes affect only endpoints built later (the retry settings of
// the facade's clients excepted: see IPC.Update).
//
// A zero number, duration or string means that setting's default, so a
// Config literal sets only what it changes and a zero Config works. Turning
// a limit or a timer off is said with a negative value: MessageTimeout,
// ReadSpin, IdleTimeout, FirstMessageTimeout, and MaxOutboxBytes (node-ipc's
// drop behaviour). The exceptions keep node-ipc's meaning: MaxRetries 0 is
// no retries (RetryForever, DefaultConfig's, retries without limit), and a
// yes/no switch is what it says: LogInColor, Unlink and SecureSocketRoot,
// on in DefaultConfig as in node-ipc 14, are off in a Config literal that
// does not set them.
type Config struct {
	AppSpace    string // prefix of local endpoint names: SocketRoot + AppSpace + ID
	SocketRoot  string // directory of local endpoints (node-ipc 14's owner-only root by default)
	ID          string // this process's id (default: the host name)
	NetworkHost string // default host for ServeNet and ConnectToNet
	NetworkPort int    // default port for ServeNet and ConnectToNet

	Encoding  string // raw mode: how Emit turns a string into bytes (utf8, hex, ascii, base64, utf16le, latin1)
	RawBuffer bool   // raw mode: no framing, no JSON (node-ipc's rawBuffer; same as Parser "raw")
	Delimiter string // frame delimiter, one or more bytes (default "\f")
	Sync      bool   // client: one emit in flight, the next after an inbound message
	Parser    string // ParserRaw, ParserFast (default), ParserGuarded or ParserAssured
	Codec     Codec  // a custom wire format for stream endpoints, used instead of Parser
	// Legacy writes null, "" and NaN data as {} as node-ipc 9 and 10 do. Use
	// NewLegacy for their socket root too.
	Legacy bool

	Silent      bool                    // Log writes nothing
	LogInColor  bool                    // Log colours rendered values
	LogDepth    int                     // how deep Log renders nested values
	LogPayloads bool                    // the library's own log lines include payloads
	Logger      func(string)            // receives one string per Log call; nil: Slog at Info level
	Slog        *slog.Logger            // structured logging; nil: slog.Default()
	TLS         *TLSConfig              // nil: no TLS; set for TLS servers and clients
	Interface   Interface               // local address for network clients
	Backoff     func(int) time.Duration // optional retry delay per attempt (1, 2, ...); nil: Retry every time

	MaxConnections int           // stream servers refuse connections beyond this many (100)
	Retry          time.Duration // delay between reconnect attempts (500 ms)
	MaxRetries     int           // retries after the first attempt: 0 none, as in node-ipc; RetryForever (DefaultConfig's) for no limit
	StopRetrying   bool          // never reconnect
	Unlink         bool          // remove a stale socket file (never another kind of file) before listening
	ReadableAll    bool          // local endpoints readable by every user
	WritableAll    bool          // local endpoints writable by every user
	// SecureSocketRoot creates SocketRoot 0700 and refuses one that is a
	// symlink or owned by someone else, when a server's path lies inside it.
	SecureSocketRoot bool
	IdentifyPeer     bool // set Socket.ID from a truthy data.id in received messages
	// ReusePort binds TCP and TLS servers with SO_REUSEPORT, so that several
	// processes of one user serve one port (a cluster; not on Windows).
	ReusePort bool

	MaxMessageSize      int           // guarded: largest frame in bytes, without the delimiter
	MaxPendingBytes     int           // bytes queued for writing per connection before Emit refuses
	MaxEventNameLength  int           // guarded: longest event name in UTF-16 code units
	MessageTimeout      time.Duration // guarded: longest wait for the rest of a frame (30 s); negative disables (node-ipc's 0)
	AllowReservedEvents bool          // deliver peer events named like lifecycle events (not in assured)
	AllowedEvents       []string      // assured: the only events accepted and sent
	MaxOutboxBytes      int           // client: bytes kept while not connected (8 MiB); negative drops them with ErrNotConnected, as node-ipc does
	MaxReadBuffer       int           // every profile: largest unfinished frame held (UDP: by all peers together)
	FlushTimeout        time.Duration // how long closing flushes and waits for the peer (5 s)
	DialTimeout         time.Duration // one connection attempt (0: no limit but the OS's), and a server's TLS handshake (0: 10 s)
	ReadSpin            time.Duration // a busy stream connection polls this long before its reader sleeps (50 µs); negative: never
	UDPPeerIdleTimeout  time.Duration // UDP: forget peers silent this long; 0 keeps them (node-ipc)
	// IdleTimeout closes a server's connection that has sent nothing for
	// this long, and FirstMessageTimeout one whose first complete message
	// has not come this long after it connected, each with an error event
	// (ERR_IPC_IDLE_TIMEOUT), so that silent peers cannot hold every
	// MaxConnections slot. 0 means the profile's default: off in fast, raw
	// and custom codecs (node-ipc has neither), DefaultIdleTimeout and
	// DefaultFirstMessageTimeout in guarded and assured. Negative: off.
	IdleTimeout         time.Duration
	FirstMessageTimeout time.Duration
	// MaxRequests bounds the requests (Request) in flight at once per client
	// or server; 0 means DefaultMaxRequests.
	MaxRequests int
	// Acks turns on acknowledged delivery, on a client and its server alike
	// (stream transports, framed JSON): every frame Emit accepts is
	// delivered once and in order across reconnects and across the
	// receiver being restarted, or reported unsent. The sender keeps what
	// is not acknowledged within MaxOutboxBytes (Emit returns
	// ErrOutboxFull past it); Client.Flush waits until all is acknowledged.
	// A client refuses a server that does not acknowledge
	// (ERR_IPC_ACKS_UNSUPPORTED). See PROTOCOL.md.
	Acks bool
	// AckTimeout is how long a client waits for the server's answer to its
	// hello on each connection, and how long a server holds what it emits
	// to a new connection whose client has sent nothing yet (a client with
	// Acks sends its hello first; see Socket.Session); 0 means
	// DefaultAckTimeout.
	AckTimeout time.Duration
	// AckSessionTimeout is how long a server keeps the unacknowledged
	// messages of a client whose connection ended; 0 means
	// DefaultAckSessionTimeout.
	AckSessionTimeout time.Duration
	// AckDelivered makes a server a durable receiver: asked once per client
	// session, the first time the session connects to this process, it
	// returns the last sequence number of that session the program has
	// delivered (recorded with the program's own effects from
	// Message.Session and Message.Seq) and true, or false when it has no
	// record of the session, so that a restarted server does not deliver
	// again what it delivered before it died. nil: the record lives in
	// memory only, and a restarted server may deliver again what it had
	// delivered but not yet acknowledged when it died.
	AckDelivered func(session string) (delivered uint64, known bool)
	// AllowedUIDs, when not empty, is the list of user ids a Unix-socket
	// server accepts, checked with the kernel's peer credentials.
	AllowedUIDs []int
}

// Interface selects the local side of network connections (node-ipc's
// `interface`).
type Interface struct {
	LocalAddress string
	LocalPort    int
}

// TLSConfig is node-ipc's `tls` settings. Files are PEM. A Go program may set
// Config instead of (or on top of) the node-ipc fields.
type TLSConfig struct {
	Private            string   // path of the private key (node-ipc's `private`)
	Public             string   // path of the certificate chain (node-ipc's `public`)
	Key, Cert          []byte   // inline PEM key and certificate (node-ipc's `key`, `cert`)
	CA                 [][]byte // inline PEM certificates to trust (node-ipc's `ca`)
	TrustedConnections []string // paths of certificates to trust, added to CA
	// RequestCert asks clients for a certificate; nil: true when CA or
	// TrustedConnections is set (node-ipc 14).
	RequestCert *bool
	// RejectUnauthorized verifies the peer; nil: true for clients, and for
	// servers that request a certificate (node-ipc 14).
	RejectUnauthorized *bool
	ServerName         string      // name the client verifies; default: the host dialled
	Config             *tls.Config // a Go configuration used as the base, cloned
}

// DefaultConfig returns node-ipc 14's defaults.
func DefaultConfig() Config {
	host := hostname()
	return Config{
		AppSpace:           DefaultAppSpace,
		SocketRoot:         DefaultSocketRoot(),
		ID:                 host,
		NetworkHost:        DefaultNetworkHost,
		NetworkPort:        DefaultNetworkPort,
		Encoding:           DefaultEncoding,
		Delimiter:          DefaultDelimiter,
		Parser:             ParserFast,
		LogInColor:         true,
		LogDepth:           DefaultLogDepth,
		MaxConnections:     DefaultMaxConnections,
		Retry:              DefaultRetry,
		MaxRetries:         RetryForever,
		Unlink:             true,
		SecureSocketRoot:   true,
		MaxMessageSize:     DefaultMaxMessageSize,
		MaxPendingBytes:    DefaultMaxPendingBytes,
		MaxEventNameLength: DefaultMaxEventNameLength,
		MessageTimeout:     DefaultMessageTimeout,
		MaxOutboxBytes:     DefaultMaxOutboxBytes,
		MaxReadBuffer:      DefaultMaxReadBuffer,
		FlushTimeout:       DefaultFlushTimeout,
		ReadSpin:           DefaultReadSpin,
	}
}

// resolveConfig copies cfg (nil: DefaultConfig) with every zero setting
// replaced by its default (see Config). The caller's Config is not changed.
func resolveConfig(cfg *Config) Config {
	if cfg == nil {
		return DefaultConfig()
	}
	c := *cfg
	setString := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	setInt := func(v *int, def int) {
		if *v == 0 {
			*v = def
		}
	}
	setDuration := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setString(&c.AppSpace, DefaultAppSpace)
	setString(&c.SocketRoot, DefaultSocketRoot())
	if c.ID == "" {
		c.ID = hostname()
	}
	setString(&c.NetworkHost, DefaultNetworkHost)
	setInt(&c.NetworkPort, DefaultNetworkPort)
	setString(&c.Encoding, DefaultEncoding)
	setString(&c.Delimiter, DefaultDelimiter)
	setString(&c.Parser, ParserFast)
	setInt(&c.LogDepth, DefaultLogDepth)
	setInt(&c.MaxConnections, DefaultMaxConnections)
	setDuration(&c.Retry, DefaultRetry)
	setInt(&c.MaxMessageSize, DefaultMaxMessageSize)
	setInt(&c.MaxPendingBytes, DefaultMaxPendingBytes)
	setInt(&c.MaxEventNameLength, DefaultMaxEventNameLength)
	setDuration(&c.MessageTimeout, DefaultMessageTimeout)
	setInt(&c.MaxOutboxBytes, DefaultMaxOutboxBytes)
	setInt(&c.MaxReadBuffer, DefaultMaxReadBuffer)
	setDuration(&c.FlushTimeout, DefaultFlushTimeout)
	setDuration(&c.ReadSpin, DefaultReadSpin)
	return c
}

func hostname() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		return "localhost"
	}
	return host
}

// LegacyConfig returns node-ipc 9 and 10's defaults: the /tmp/ socket root
// and legacy data normalisation.
func LegacyConfig() Config {
	c := DefaultConfig()
	c.SocketRoot = LegacySocketRoot
	c.Legacy = true
	return c
}

func (c *Config) slog() *slog.Logger {
	if c.Slog != nil {
		return c.Slog
	}
	return slog.Default()
}
