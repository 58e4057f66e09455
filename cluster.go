package nodeipc

import (
	"errors"
	"fmt"
	"net"
	"os"
)

// listenerEnv names the environment variable through which ShareListener
// tells a worker process which descriptor holds the shared listener.
const listenerEnv = "NODEIPC_LISTENER_FD"

// listenerPathEnv names the environment variable through which
// ShareListener tells a worker the path a Unix socket listener serves, when
// the socket may have been bound under another name and moved there (see
// listenAside): the kernel reports the name it was bound to.
const listenerPathEnv = "NODEIPC_LISTENER_PATH"

// Listen opens a stream endpoint the way Server.Start does, without serving
// it: network "unix" applies the socket root, stale-socket and permission
// rules to the socket path address (a named pipe on Windows); "tcp" binds
// host:port, with SO_REUSEPORT when cfg.ReusePort is set. cfg nil means
// DefaultConfig.
//
// A cluster primary opens the endpoint once and hands it to its workers with
// ShareListener; each worker serves it with Server.StartListener, as the
// workers of node-ipc's cluster example serve the handle their primary
// shares. The primary keeps its listener open while the workers run and
// closes it at the end, which removes the socket file.
func Listen(network, address string, cfg *Config) (net.Listener, error) {
	c := resolveConfig(cfg)
	switch network {
	case "unix", "local":
		if address == "" {
			return nil, errors.New("nodeipc: Listen needs a socket path")
		}
		r, err := newRules(&c)
		if err != nil {
			return nil, err
		}
		return listenLocal(address, &c, r)
	case "tcp":
		return listenTCP(address, &c)
	}
	return nil, fmt.Errorf("nodeipc: Listen: unknown network %q (want unix or tcp)", network)
}

// InheritedListener returns the listener a primary process shared with this
// one through ShareListener, or ErrNoInheritedListener. It takes the
// descriptor once: later calls return ErrNoInheritedListener.
func InheritedListener() (net.Listener, error) {
	v, ok := os.LookupEnv(listenerEnv)
	if !ok || v == "" {
		return nil, ErrNoInheritedListener
	}
	path := os.Getenv(listenerPathEnv)
	os.Unsetenv(listenerEnv)
	os.Unsetenv(listenerPathEnv)
	return inheritListener(v, path)
}
