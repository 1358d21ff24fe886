package workloadapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// SecurityHeader is the metadata key every Workload API call must carry with the value "true".
const SecurityHeader = "workload.spiffe.io"

// ErrNoIdentity: a fetch arrived before the first identity was handed to Update.
var ErrNoIdentity = errors.New("workloadapi: no identity yet")

// Server serves the Workload API from the identity it was last given. Its zero value serves
// X.509 only; set JWT to serve JWT-SVIDs too. Create it with New.
type Server struct {
	// JWT mints and validates JWT-SVIDs; nil answers the JWT calls with Unimplemented.
	JWT JWTSource

	mu      sync.Mutex
	current *X509Identity
	gen     uint64
	changed chan struct{} // closed and replaced on every Update

	workload.UnimplementedSpiffeWorkloadAPIServer // WIT-SVIDs are not served
}

// New returns a Server with no identity yet.
func New() *Server {
	return &Server{changed: make(chan struct{})}
}

// Update hands the server a new identity; every open X.509 stream sends it.
func (s *Server) Update(id *X509Identity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = id
	s.gen++
	close(s.changed)
	s.changed = make(chan struct{})
}

// snapshot returns the current identity, its generation and a channel closed at the next Update.
func (s *Server) snapshot() (*X509Identity, uint64, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.current, s.gen, s.changed
}

// Listen makes a Unix socket at path (replacing a stale one) that the pod's containers can use:
// mode 0660 owned by group gid when gid is not 0, else 0666, as the files beside it are readable
// by the app containers. The pod is the trust boundary: every container in it is the workload.
func Listen(path string, gid int) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("workloadapi: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("workloadapi: removing stale socket: %w", err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("workloadapi: %w", err)
	}
	mode := os.FileMode(0o666)
	if gid != 0 {
		mode = 0o660
		if err := os.Chown(path, -1, gid); err != nil {
			l.Close()
			return nil, fmt.Errorf("workloadapi: giving the socket to group %d: %w", gid, err)
		}
	}
	if err := os.Chmod(path, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("workloadapi: %w", err)
	}
	return l, nil
}

// Serve answers Workload API calls on l until ctx is done, then stops the streams and returns nil.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	g := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := checkHeader(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := checkHeader(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
		grpc.ConnectionTimeout(10*time.Second),
		grpc.MaxRecvMsgSize(64<<10),
	)
	workload.RegisterSpiffeWorkloadAPIServer(g, s)
	done := make(chan error, 1)
	go func() { done <- g.Serve(l) }()
	select {
	case <-ctx.Done():
		stopped := make(chan struct{})
		go func() { g.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(2 * time.Second):
			g.Stop()
		}
		<-done
		return nil
	case err := <-done:
		return fmt.Errorf("workloadapi: %w", err)
	}
}

func checkHeader(ctx context.Context) error {
	md, _ := metadata.FromIncomingContext(ctx)
	if v := md.Get(SecurityHeader); len(v) != 1 || v[0] != "true" {
		return status.Error(codes.InvalidArgument, "security header missing from request")
	}
	return nil
}
