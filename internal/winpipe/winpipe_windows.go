//go:build windows

// Package winpipe listens on Windows named pipes through go-winio, with the
// one adjustment the Wine test environment needs.
package winpipe

import (
	"context"
	"net"
	"time"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// Listen is winio.ListenPipe. Under Wine only, it then connects to the pipe
// once and closes that connection: go-winio creates a first placeholder pipe
// instance that Windows keeps closed to clients, but Wine hands the first
// client to it, and that client's connection is never accepted. Taking the
// placeholder with a throwaway connection makes the next clients reach
// Accept. On Windows itself nothing changes.
func Listen(name string, cfg *winio.PipeConfig) (net.Listener, error) {
	ln, err := winio.ListenPipe(name, cfg)
	if err != nil || !wine {
		return ln, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if c, err := winio.DialPipeContext(ctx, name); err == nil {
		c.Close()
	}
	return ln, nil
}

// wine reports whether this Windows program runs under Wine.
var wine = func() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}()
