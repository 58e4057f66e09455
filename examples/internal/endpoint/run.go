package endpoint

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/effeeea0/nodeipc"
	"github.com/effeeea0/nodeipc/examples/internal/cli"
)

// Main is cli.Main for a stream example: it also sets the endpoint up for
// the role before f runs (see Setup), and removes what Setup made after.
func (e *Endpoint) Main(name, role string, roles []string, f func(ctx context.Context) error) {
	cli.Main(name, role, roles, func(ctx context.Context) error {
		cleanup, err := e.Setup(role)
		if err != nil {
			return err
		}
		defer cleanup()
		return f(ctx)
	})
}

// Server is a stream example's started world server. It counts the clients
// that leave, for -clients and for a run with both sides in one process.
type Server struct {
	*nodeipc.Server
	id      string
	allGone chan struct{} // closed once the expected clients have left
}

// Start starts the server that Serve set in ipc.Server and prints where it
// listens ("world: listening on ..."). It also prints "world: a client
// disconnected" as each client leaves (socket.disconnected), and counts
// them: the server is done once `clients` of them have left, or never for
// 0. Handlers registered before Start run before its own.
func (e *Endpoint) Start(ipc *nodeipc.IPC, clients int) (*Server, error) {
	s := &Server{Server: ipc.Server, id: ipc.Config.ID, allGone: make(chan struct{})}
	var gone atomic.Int64
	ipc.Server.On("socket.disconnected", func(*nodeipc.Message) {
		fmt.Println(s.id + ": a client disconnected")
		if gone.Add(1) == int64(clients) {
			close(s.allGone)
		}
	})
	if err := ipc.Server.Start(); err != nil {
		return nil, err
	}
	fmt.Println(s.id+": listening on", e.listening(ipc.Server))
	return s, nil
}

// ServeUntil serves until ctx is done or the expected clients have left,
// and then shuts the server down.
func (s *Server) ServeUntil(ctx context.Context) {
	ServeUntil(ctx, s.Server, s.allGone)
}

// RunClients runs clients in this process, each in its own goroutine,
// against the server, which expects that many. Once they have returned, it
// waits up to timeout for the server to have seen them leave, and then
// shuts the server down. It returns the first client's error, or an error
// saying that the server did not see who (the clients) disconnect.
func (s *Server) RunClients(timeout time.Duration, who string, clients ...func() error) error {
	defer s.Shutdown(context.Background())
	errs := make(chan error, len(clients))
	for _, run := range clients {
		go func() { errs <- run() }()
	}
	for range clients {
		if err := <-errs; err != nil {
			return err
		}
	}
	select {
	case <-s.allGone:
		return nil
	case <-time.After(timeout):
		return errors.New(s.id + " did not see " + who + " disconnect")
	}
}

// ServeUntil serves until ctx is done or done is closed, and then shuts srv
// down: Shutdown stops accepting, flushes, closes every connection and
// waits for the handlers still running.
func ServeUntil(ctx context.Context, srv *nodeipc.Server, done <-chan struct{}) {
	select {
	case <-done:
	case <-ctx.Done():
	}
	_ = srv.Shutdown(context.Background())
}
