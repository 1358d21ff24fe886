package agent

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/seal-dev/seal/internal/enroll"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/workloadapi"
)

// x509Identity is the Workload API's view of an identity's files.
func x509Identity(id *enroll.Identity) (*workloadapi.X509Identity, error) {
	fed := map[string][]byte{}
	for name, b := range id.Files {
		if td, ok := strings.CutPrefix(name, enroll.DirBundles+"/"); ok {
			fed[strings.TrimSuffix(td, ".pem")] = b
		}
	}
	return workloadapi.FromPEM(id.SPIFFEID, id.Files[enroll.FileCert], id.Files[enroll.FileKey], id.Files[enroll.FileCA], fed)
}

// podJWT backs the Workload API's JWT calls by the ROT, calling it with the pod's current
// certificate (mTLS).
type podJWT struct {
	rot, rotCA string

	mu     sync.Mutex
	id     *enroll.Identity
	client *rotapi.Client // for id; made on first use
}

func (p *podJWT) set(id *enroll.Identity) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		p.client.HTTP.CloseIdleConnections()
	}
	p.id, p.client = id, nil
}

func (p *podJWT) rotClient() (*rotapi.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client != nil {
		return p.client, nil
	}
	if p.id == nil {
		return nil, workloadapi.ErrNoIdentity
	}
	cert, err := tls.X509KeyPair(p.id.Files[enroll.FileCert], p.id.Files[enroll.FileKey])
	if err != nil {
		return nil, fmt.Errorf("enroll: the pod certificate: %w", err)
	}
	c, err := rotapi.NewClient(p.rot, []byte(p.rotCA), &cert)
	if err != nil {
		return nil, err
	}
	p.client = c
	return c, nil
}

func (p *podJWT) FetchJWTSVID(ctx context.Context, audience []string) (string, error) {
	c, err := p.rotClient()
	if err != nil {
		return "", err
	}
	r, err := c.FetchJWTSVID(ctx, audience)
	if err != nil {
		return "", err
	}
	return r.Token, nil
}

func (p *podJWT) JWTBundles(ctx context.Context) (map[string][]byte, error) {
	c, err := p.rotClient()
	if err != nil {
		return nil, err
	}
	return c.JWTBundles(ctx)
}

// agent serves the Workload API for the sidecar.
type agent struct {
	srv *workloadapi.Server
	jwt *podJWT
	log *slog.Logger
}

// Extension serves the SPIFFE Workload API on o.Socket beside the rotating sidecar: the pod's
// X.509-SVID and bundles from its files, pushed on every renewal; JWT-SVIDs and JWT bundles from
// the ROT, asked with the pod's certificate. It is seal-agent's enroll.Extension.
func Extension(ctx context.Context, e *enroll.Enroller, o enroll.ExtensionOptions) (func(*enroll.Identity), func(), error) {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	path := o.Socket
	l, err := workloadapi.Listen(path, o.GID)
	if err != nil {
		return nil, nil, err
	}
	a := &agent{srv: workloadapi.New(), jwt: &podJWT{rot: e.ROT(), rotCA: e.ROTCA()}, log: log}
	a.srv.JWT = a.jwt
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.srv.Serve(ctx, l); err != nil {
			log.Error("the Workload API stopped", "socket", path, "err", err)
		}
	}()
	log.Info("serving the SPIFFE Workload API", "socket", path)
	return a.update, func() { cancel(); <-done }, nil
}

var _ enroll.Extension = Extension

// update hands a new identity to the Workload API's streams.
func (a *agent) update(id *enroll.Identity) {
	x, err := x509Identity(id)
	if err != nil {
		a.log.Error("the Workload API keeps the previous identity", "err", err)
		return
	}
	a.jwt.set(id)
	a.srv.Update(x)
}
