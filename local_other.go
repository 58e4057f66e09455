//go:build !unix && !windows

package nodeipc

import (
	"context"
	"net"
)

// The local transport on a platform with neither Unix sockets nor named
// pipes (js/wasm, wasip1, plan9): not supported.

func listenLocal(string, *Config, *rules) (net.Listener, error) { return nil, ErrUnsupportedPlatform }

func dialLocal(context.Context, string) (net.Conn, error) { return nil, ErrUnsupportedPlatform }
