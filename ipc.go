package nodeipc

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// IPC is one independent node-ipc instance (node-ipc's `new IPC()`): its own
// Config, its own clients (Of) and its own Server.
type IPC struct {
	// Config is read when a server or client is built; set it first. The
	// retry settings are the exception: see Update.
	Config Config
	// Server is the server built by the last Serve or ServeNet call.
	Server *Server

	mu sync.Mutex
	of map[string]*Client
}

// New returns an instance with node-ipc 14's defaults.
func New() *IPC { return &IPC{Config: DefaultConfig(), of: map[string]*Client{}} }

// NewLegacy returns an instance with node-ipc 9 and 10's defaults (the /tmp/
// socket root, null and "" data sent as {}), for old apps on their default
// paths.
func NewLegacy() *IPC { return &IPC{Config: LegacyConfig(), of: map[string]*Client{}} }

// Serve sets Server to a local server (a Unix socket, or a named pipe on
// Windows) at path, by default SocketRoot + AppSpace + ID. It only
// configures; Server.Start binds. onStart, if not nil, runs on start. A
// configuration error is returned here and again by Start.
func (ipc *IPC) Serve(path string, onStart func()) error {
	cfg := ipc.Config
	if path == "" {
		path = cfg.LocalPath(cfg.ID)
	}
	ipc.Server = newServer("unix", path, &cfg, onStart)
	return ipc.Server.initErr
}

// ServeNet sets Server to a network server: TCP (TLS when Config.TLS is set),
// or UDP when udpType is "udp4" or "udp6" (any case). Empty host and zero
// port mean NetworkHost and NetworkPort, as in node-ipc; udp4 on ::1 binds
// 127.0.0.1. For an ephemeral port use NewServer with port 0.
func (ipc *IPC) ServeNet(host string, port int, udpType string, onStart func()) error {
	cfg := ipc.Config
	if host == "" {
		host = cfg.NetworkHost
	}
	if port == 0 {
		port = cfg.NetworkPort
	}
	network := "tcp"
	switch t := strings.ToLower(udpType); t {
	case "":
	case "udp4", "udp6":
		network = t
		if t == "udp4" && host == "::1" {
			host = "127.0.0.1"
		}
	default:
		err := fmt.Errorf("nodeipc: unknown UDP type %q (want udp4 or udp6)", udpType)
		ipc.Server = newServer("tcp", "", &cfg, onStart)
		ipc.Server.initErr = err
		return err
	}
	ipc.Server = newServer(network, net.JoinHostPort(host, strconv.Itoa(port)), &cfg, onStart)
	return ipc.Server.initErr
}

// ConnectTo registers a client under id, connected to the local endpoint at
// path (by default SocketRoot + AppSpace + id), calls onCreate (where Of(id)
// returns the client, so handlers are in place before any event), then
// starts connecting.
// If a live client is registered under id already, it only calls onCreate.
func (ipc *IPC) ConnectTo(id, path string, onCreate func()) error {
	if path == "" {
		path = ipc.Config.LocalPath(id)
	}
	return ipc.connect(id, "unix", path, onCreate)
}

// ConnectToNet registers a client under id, connected to host:port over TCP
// (TLS when Config.TLS is set). Empty host and zero port mean NetworkHost and
// NetworkPort.
func (ipc *IPC) ConnectToNet(id, host string, port int, onCreate func()) error {
	if host == "" {
		host = ipc.Config.NetworkHost
	}
	if port == 0 {
		port = ipc.Config.NetworkPort
	}
	if port < 0 || port > 65535 {
		return fmt.Errorf("nodeipc: bad port %d: want 1 to 65535", port)
	}
	return ipc.connect(id, "tcp", net.JoinHostPort(host, strconv.Itoa(port)), onCreate)
}

func (ipc *IPC) connect(id, network, address string, onCreate func()) error {
	if id == "" {
		return errors.New("nodeipc: ConnectTo needs a client id")
	}
	ipc.mu.Lock()
	if ipc.of == nil {
		ipc.of = map[string]*Client{}
	}
	if old := ipc.of[id]; old != nil && !old.Destroyed() {
		ipc.mu.Unlock()
		if onCreate != nil {
			onCreate()
		}
		return nil
	}
	cfg := ipc.Config
	c, err := newClient(id, network, address, &cfg)
	if err != nil {
		ipc.mu.Unlock()
		return err
	}
	c.live = ipc
	ipc.of[id] = c
	ipc.mu.Unlock()
	// The callback registers handlers before the first event can fire, as
	// node-ipc's synchronous callback does.
	if onCreate != nil {
		onCreate()
	}
	c.Connect()
	return nil
}

// Of returns the client registered under id, or nil.
func (ipc *IPC) Of(id string) *Client {
	ipc.mu.Lock()
	defer ipc.mu.Unlock()
	return ipc.of[id]
}

// Disconnect disconnects the client registered under id (flushing what it
// accepted) and removes it from Of. An unknown id is ignored.
func (ipc *IPC) Disconnect(id string) {
	ipc.mu.Lock()
	c := ipc.of[id]
	delete(ipc.of, id)
	ipc.mu.Unlock()
	if c != nil {
		c.Disconnect()
	}
}

// Update changes Config under the instance's lock. Clients built by
// ConnectTo and ConnectToNet read Retry, MaxRetries and StopRetrying from
// Config at each reconnect decision, as node-ipc reads ipc.config, so a
// change made after connecting applies from their next decision; from any
// goroutine other than the handlers of a single client, make such changes
// through Update. Other settings are read when a client or server is built.
func (ipc *IPC) Update(f func(*Config)) {
	ipc.mu.Lock()
	defer ipc.mu.Unlock()
	f(&ipc.Config)
}

// Log writes its arguments through Config's logger, as node-ipc's log does.
func (ipc *IPC) Log(args ...any) { ipc.Config.Log(args...) }
