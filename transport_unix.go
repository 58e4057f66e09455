//go:build !windows

package nodeipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// listenLocal listens on a Unix socket at path: the secure socket root is
// prepared when path lies inside it, a stale socket file is removed (never a
// file of another kind, never the socket of a live server), and the socket
// file is made owner-only unless ReadableAll / WritableAll open it.
func listenLocal(path string, cfg *Config, r *rules) (net.Listener, error) {
	if cfg.SecureSocketRoot && cfg.SocketRoot != "" && insideDir(path, cfg.SocketRoot) {
		if err := secureSocketRoot(cfg.SocketRoot); err != nil {
			return nil, err
		}
	}
	if r != nil && r.assured {
		if !cfg.SecureSocketRoot || filepath.Clean(filepath.Dir(path)) != filepath.Clean(cfg.SocketRoot) {
			return nil, protoErr(CodeAssuredTransport, "the assured profile serves local sockets only directly inside the secure socket root "+cfg.SocketRoot)
		}
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&fs.ModeSocket == 0 {
			return nil, protoErr(CodeUnlinkNotSocket, path+" exists and is not a socket; it was left in place")
		}
		if cfg.Unlink {
			if live(path) {
				return nil, fmt.Errorf("nodeipc: listen unix %s: %w (a live server answers there)", path, syscall.EADDRINUSE)
			}
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("nodeipc: removing stale socket: %w", err)
			}
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	mode := os.FileMode(0o600)
	if cfg.ReadableAll {
		mode |= 0o044
	}
	if cfg.WritableAll {
		mode |= 0o022
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("nodeipc: chmod socket: %w", err)
	}
	return ln, nil
}

// live reports whether a server accepts connections at the socket path.
func live(path string) bool {
	c, err := net.DialTimeout("unix", path, 200*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func dialLocal(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

func insideDir(path, dir string) bool {
	d := filepath.Clean(dir) + string(filepath.Separator)
	return strings.HasPrefix(filepath.Clean(path), d)
}

// secureSocketRoot creates root 0700 and checks that it is a directory (not
// a symlink) owned by this user, taking group and other permissions away.
func secureSocketRoot(root string) error {
	root = filepath.Clean(root)
	if err := os.MkdirAll(root, 0o700); err != nil {
		return &ProtocolError{Code: CodeSocketRoot, Message: "cannot create socket root " + root, Err: err}
	}
	fi, err := os.Lstat(root)
	if err != nil {
		return &ProtocolError{Code: CodeSocketRoot, Message: "cannot inspect socket root " + root, Err: err}
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return protoErr(CodeSocketRoot, "socket root "+root+" is a symlink")
	}
	if !fi.IsDir() {
		return protoErr(CodeSocketRoot, "socket root "+root+" is not a directory")
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return protoErr(CodeSocketRoot, fmt.Sprintf("socket root %s is owned by uid %d, not by this user (%d)", root, st.Uid, os.Getuid()))
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(root, fi.Mode().Perm()&0o700); err != nil {
			return &ProtocolError{Code: CodeSocketRoot, Message: "cannot make socket root " + root + " owner-only", Err: err}
		}
	}
	return nil
}
