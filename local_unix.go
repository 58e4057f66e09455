//go:build unix

package nodeipc

// The local transport on Unix: a Unix stream socket at a path (node-ipc's
// serve / connectTo), in node-ipc 14's owner-only socket root by default.
// The socket file is never reachable with a wider mode than configured,
// stale sockets are removed (never another kind of file, never a live
// server's), and the peer's credentials are read from the kernel
// (peercred_*.go).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// listenLocal listens on a Unix socket at path: the secure socket root is
// prepared when path lies inside it, a stale socket file is removed (never a
// file of another kind, never the socket of a live server), and the socket
// file is made owner-only unless ReadableAll / WritableAll open it. Outside
// a directory that only this user can enter, the file never exists at path
// with a wider mode than that, whatever the umask: its mode is set before
// bind (Linux), or it is bound aside and moved into place (listenAside).
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
	if runtime.GOOS == "linux" && strings.HasPrefix(path, "@") {
		return nil, listenErr(path, errors.New("abstract socket names are not supported: they have no file whose mode could be set"))
	}
	if most := maxSocketPath(); len(path) > most {
		return nil, listenErr(path, fmt.Errorf("the path is %d bytes long, over the %d bytes a socket path can have", len(path), most))
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
	mode := os.FileMode(0o600)
	if cfg.ReadableAll {
		mode |= 0o044
	}
	if cfg.WritableAll {
		mode |= 0o022
	}
	if !privateDir(filepath.Dir(path)) {
		if modeBeforeBind.Load() {
			ln, err := listenInPlace(path, mode, true)
			if !errors.Is(err, errModeIgnored) {
				return ln, err
			}
			modeBeforeBind.Store(false)
		}
		return listenAside(path, mode)
	}
	// Nobody else can reach into a private directory: the socket is bound
	// in place and then given its mode.
	return listenInPlace(path, mode, false)
}

// modeBeforeBind tells whether a socket's mode can be set before it is
// bound: Linux creates the socket file with the mode of the socket (which
// fchmod sets) less the umask. It turns false for good when a socket
// file shows that this kernel does not.
var modeBeforeBind atomic.Bool

func init() { modeBeforeBind.Store(runtime.GOOS == "linux") }

// errModeIgnored is listenInPlace's answer when the mode set before bind
// did not reach the socket file.
var errModeIgnored = errors.New("the socket file did not get the mode set before bind")

// listenInPlace binds the socket at path and gives the file mode. With
// masked, the mode is set on the socket before bind, so the file is
// created with no more than mode (mode less the umask); when the file
// shows a wider mode (the kernel ignored it), the listener is closed before
// anything was accepted and the error is errModeIgnored; else the listener
// removes the file on Close only while it is still its own (see
// placedListener), as the directory is not private.
func listenInPlace(path string, mode os.FileMode, masked bool) (net.Listener, error) {
	var lc net.ListenConfig
	if masked {
		lc.Control = func(_, _ string, rc syscall.RawConn) error {
			var err error
			if cerr := rc.Control(func(fd uintptr) { err = syscall.Fchmod(int(fd), uint32(mode)) }); cerr != nil {
				return cerr
			}
			if err != nil {
				return fmt.Errorf("%w: %w", errModeIgnored, err)
			}
			return nil
		}
	}
	ln, err := lc.Listen(context.Background(), "unix", path)
	if err != nil {
		return nil, err
	}
	var sock os.FileInfo
	if masked {
		if sock, err = os.Lstat(path); err != nil {
			ln.Close()
			return nil, listenErr(path, err)
		}
		if sock.Mode().Perm()&^mode != 0 {
			ln.Close()
			return nil, errModeIgnored
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, fmt.Errorf("nodeipc: chmod socket: %w", err)
	}
	if sock == nil {
		return ln, nil
	}
	ul := ln.(*net.UnixListener)
	ul.SetUnlinkOnClose(false)
	return &placedListener{UnixListener: ul, addr: &net.UnixAddr{Name: path, Net: "unix"}, sock: sock}, nil
}

// maxSocketPath is the longest path a Unix socket can be bound to here: the
// size of sun_path less its terminating NUL (107 bytes on Linux, 103 on
// macOS and the BSDs).
func maxSocketPath() int { return len(syscall.RawSockaddrUnix{}.Path) - 1 }

// listenErr is the error of a failed listen on path, shaped as the net
// package shapes it ("listen unix PATH: ...").
func listenErr(path string, err error) error {
	return &net.OpError{Op: "listen", Net: "unix", Addr: &net.UnixAddr{Name: path, Net: "unix"}, Err: err}
}

// privateDir reports whether dir is a directory that only this user can
// enter: owned by the effective user, with no permission for group or
// others.
func privateDir(dir string) bool {
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 {
		return false
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}

// listenAside listens at path, in a directory that others can enter, where
// the mode cannot be set before bind (macOS, the BSDs), without a moment at
// which the socket exists at path with a wider mode than mode: the socket
// is bound in a new directory beside path that only this user can enter (a
// bound socket gets the mode the umask leaves), given its mode there,
// linked at path (which fails, as a bind would, when something appeared at
// path meanwhile: nothing is ever replaced), and its temporary name and
// directory are removed.
//
// The kernel keeps the name a socket was bound to: getsockname, and so the
// address a client's connection reports as its remote end, give the
// temporary name. The listener returned reports path as its address.
//
// A directory that others may write to without the sticky bit keeps no
// socket safe (they can rename or remove what is in it): that is not
// guarded against here.
func listenAside(path string, mode os.FileMode) (net.Listener, error) {
	tmpDir, tmpPath, err := asideDir(path)
	if err != nil {
		return nil, err
	}
	defer syscall.Rmdir(tmpDir)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmpPath, Net: "unix"})
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		return nil, listenErr(path, err)
	}
	fail := func(err error) (net.Listener, error) {
		ln.Close() // removes tmpPath
		return nil, listenErr(path, err)
	}
	if err := os.Chmod(tmpPath, mode); err != nil {
		return fail(err)
	}
	sock, err := os.Lstat(tmpPath)
	if err != nil {
		return fail(err)
	}
	if err := os.Link(tmpPath, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			// What a bind at path would have said.
			return fail(os.NewSyscallError("bind", syscall.EADDRINUSE))
		}
		return fail(fmt.Errorf("moving the socket into place: %w", err))
	}
	ln.SetUnlinkOnClose(false)
	if err := os.Remove(tmpPath); err != nil {
		os.Remove(path)
		return fail(err)
	}
	return &placedListener{UnixListener: ln, addr: &net.UnixAddr{Name: path, Net: "unix"}, sock: sock}, nil
}

// asideDir makes a new directory beside path that only this user can enter,
// and returns it with the temporary socket path inside it: the socket keeps
// its name when the temporary path fits the sun_path limit, else it is
// named "s"; a directory too long for either is an error that says so.
func asideDir(path string) (dir, sock string, err error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	parent, base := filepath.Split(path)
	name := []byte(".xxxxxxxx")
	if most := maxSocketPath() - len(name) - 2; len(parent) > most {
		return "", "", listenErr(path, fmt.Errorf("outside a directory that only this user can enter, a socket is first bound at a temporary path beside it, so that it is never reachable before its mode is set; that needs a directory path of at most %d bytes, and %s has %d: use a shorter directory, or one that only this user can enter",
			most, parent, len(parent)))
	}
	for range 100 {
		for i := 1; i < len(name); i++ {
			name[i] = alphabet[rand.IntN(len(alphabet))]
		}
		dir = parent + string(name)
		sock = dir + "/" + base
		if len(sock) > maxSocketPath() {
			sock = dir + "/s"
		}
		err = os.Mkdir(dir, 0o700)
		if err == nil {
			// The umask may have taken the owner's permissions away.
			if err = os.Chmod(dir, 0o700); err != nil {
				syscall.Rmdir(dir)
				break
			}
			return dir, sock, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			break
		}
	}
	return "", "", listenErr(path, fmt.Errorf("making a private directory beside it: %w", err))
}

// placedListener is a listener whose socket file was placed at a path
// outside a private directory (by listenInPlace or listenAside): Addr
// reports the path it serves (not a temporary name the kernel keeps), and
// Close removes the socket file at that path only while it is still the one
// placed there (never a file another server put there since). A listener
// inherited by a cluster worker (sock nil) removes nothing.
type placedListener struct {
	*net.UnixListener
	addr   *net.UnixAddr
	sock   os.FileInfo
	keep   bool // SetUnlinkOnClose(false)
	unlink sync.Once
}

// Addr returns the path the listener serves.
func (l *placedListener) Addr() net.Addr { return l.addr }

// SetUnlinkOnClose sets whether Close removes the socket file (it does
// unless told not to), as net.UnixListener's method does.
func (l *placedListener) SetUnlinkOnClose(unlink bool) { l.keep = !unlink }

// Close removes the socket file (as a net.UnixListener does, before closing,
// so that no other server can take a path whose socket is dead but still
// ours) and stops listening.
func (l *placedListener) Close() error {
	l.unlink.Do(func() {
		if l.sock == nil || l.keep {
			return
		}
		// While the listener is open the file cannot be freed, so its
		// identity cannot belong to another file.
		if fi, err := os.Lstat(l.addr.Name); err == nil && os.SameFile(fi, l.sock) {
			os.Remove(l.addr.Name)
		}
	})
	return l.UnixListener.Close()
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
