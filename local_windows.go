//go:build windows

package nodeipc

// The local transport on Windows: a named pipe (go-winio) named as node-ipc
// names it (PipeName), owner-only unless ReadableAll / WritableAll open it.

import (
	"context"
	"fmt"
	"net"

	"github.com/Microsoft/go-winio"
	"github.com/effeeea0/nodeipc/internal/winpipe"
	"golang.org/x/sys/windows"
)

// listenLocal listens on the named pipe node-ipc derives from path. The pipe
// is owner-only (the current user and SYSTEM) unless ReadableAll or
// WritableAll open it to everyone, as node-ipc's options do; the assured
// profile is always owner-only.
func listenLocal(path string, cfg *Config, r *rules) (net.Listener, error) {
	name := PipeName(path)
	sddl, err := pipeSDDL(cfg, r != nil && r.assured)
	if err != nil {
		return nil, err
	}
	ln, err := winpipe.Listen(name, &winio.PipeConfig{
		SecurityDescriptor: sddl,
		InputBufferSize:    64 << 10,
		OutputBufferSize:   64 << 10,
	})
	if err != nil {
		return nil, fmt.Errorf("nodeipc: listen %s: %w", name, err)
	}
	return ln, nil
}

func pipeSDDL(cfg *Config, assured bool) (string, error) {
	tok := windows.GetCurrentProcessToken()
	u, err := tok.GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("nodeipc: reading the current user: %w", err)
	}
	sid := u.User.Sid.String()
	sddl := "D:P(A;;GA;;;" + sid + ")(A;;GA;;;SY)"
	if !assured {
		switch {
		case cfg.ReadableAll && cfg.WritableAll:
			sddl += "(A;;GRGW;;;WD)"
		case cfg.ReadableAll:
			sddl += "(A;;GR;;;WD)"
		case cfg.WritableAll:
			sddl += "(A;;GW;;;WD)"
		}
	}
	return sddl, nil
}

func dialLocal(ctx context.Context, path string) (net.Conn, error) {
	return winio.DialPipeContext(ctx, PipeName(path))
}
