package rot

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/store"
	"github.com/seal-dev/seal/pkg/sealtls"
)

// secretsState is what GET /v1/secrets reads without the server's lock: the published secrets
// and, per workload, the last document built from them.
type secretsState struct {
	snap atomic.Pointer[map[string]*workloadSecrets] // by workload; replaced, never changed
	docs sync.Map                                    // "workload/peer" -> *secretsDoc

	// verified caches pod certificates verified against the view v: a keep-alive pod polling
	// every 30s should not cost a signature check each time. Bounded by maxVerified.
	verified  sync.Map // sha256 of the leaf -> verifiedCert
	nVerified atomic.Int64
}

// maxVerified bounds the verified-certificate cache (it is emptied when full).
const maxVerified = 100_000

// verifiedCert is a pod certificate of (workload, peer) that verified against the CAs of view
// v, for as long as every certificate of its chain is valid.
type verifiedCert struct {
	v                   *view
	workload, peer      string
	notBefore, notAfter time.Time
}

// workloadSecrets is one workload's published secrets, sorted by name.
type workloadSecrets struct {
	list []*store.Secret
}

// secretsDoc is a built document: valid while the published secrets are still src and the
// clock is in [from, until) (until is the next notBefore or expiresAfter to pass).
type secretsDoc struct {
	src         *workloadSecrets
	from, until time.Time
	body        []byte
	etag        string
}

// errNoPodCert refuses a pod route (GET /v1/secrets, the JWT-SVID routes) without a client
// certificate.
var errNoPodCert = errors.New("rot: this route requires a pod certificate of the workload (mTLS); fix: call it with the pod's /var/run/seal/tls.crt and tls.key")

// podSecrets serves a pod its workload's currently valid secrets, values age-encrypted to the
// workload's data keys. The pod proves its workload with its certificate (mTLS).
func (s *Server) podSecrets(w http.ResponseWriter, r *http.Request) {
	workload, peer, err := s.podWorkload(r)
	if err != nil {
		code := http.StatusForbidden
		if errors.Is(err, errNoPodCert) {
			code = http.StatusUnauthorized
		}
		s.log.Warn("secrets request refused", "remote", r.RemoteAddr, "err", err)
		writeError(w, code, err.Error())
		return
	}
	d, err := s.secretsDoc(workload, peer)
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	h := w.Header()
	h.Set("ETag", d.etag)
	h.Set("Cache-Control", "private, no-cache")
	if etagMatch(r.Header.Get("If-None-Match"), d.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(d.body)
}

// podWorkload returns the workload and peer whose pod certificate the request presents: a leaf with
// client-auth usage that chains to one of that workload's CAs and carries its SPIFFE ID.
func (s *Server) podWorkload(r *http.Request) (workload, peer string, err error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", "", errNoPodCert
	}
	leaf := r.TLS.PeerCertificates[0]
	v := s.v.Load()
	// The parsing and the chain check are cached per certificate and view: a pod polling
	// over a keep-alive connection shows the same certificate every time.
	key := sha256.Sum256(leaf.Raw)
	if e, ok := s.sec.verified.Load(key); ok {
		if e := e.(verifiedCert); e.v == v && s.cfg.Now().Before(e.notAfter) && !s.cfg.Now().Before(e.notBefore) {
			return e.workload, e.peer, nil
		}
	}
	if len(leaf.URIs) != 1 {
		return "", "", errors.New("rot: the client certificate does not carry one SPIFFE ID; fix: use the pod's certificate from /var/run/seal/tls.crt")
	}
	id, err := spiffeid.FromURI(leaf.URIs[0])
	if err != nil {
		return "", "", fmt.Errorf("rot: client certificate: %v; fix: use the pod's certificate from /var/run/seal/tls.crt", err)
	}
	wid, err := sealtls.ParseWorkloadID(id)
	if err != nil {
		return "", "", fmt.Errorf("rot: client certificate %s is not a pod certificate: %v; fix: use the pod's certificate from /var/run/seal/tls.crt", id, err)
	}
	if wid.TrustDomain != v.td {
		return "", "", fmt.Errorf("rot: client certificate %s is of trust domain %s, not %s; fix: ask the ROT of %s", id, wid.TrustDomain.Name(), v.td.Name(), wid.TrustDomain.Name())
	}
	wv, ok := v.workloads[wid.Workload]
	if !ok {
		return "", "", fmt.Errorf("rot: client certificate %s names workload %q, which does not exist; fix: sealctl workload create %s", id, wid.Workload, wid.Workload)
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range wv.cas {
		roots.AddCert(c.Cert)
	}
	for _, c := range r.TLS.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: s.cfg.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return "", "", fmt.Errorf("rot: client certificate %s is not signed by a Workload CA of %q: %v; fix: redeem a fresh certificate (seal-init)", id, wid.Workload, err)
	}
	e := verifiedCert{v: v, workload: wid.Workload, peer: wid.Peer, notBefore: leaf.NotBefore, notAfter: leaf.NotAfter}
	for _, c := range chains[0] {
		if c.NotAfter.Before(e.notAfter) {
			e.notAfter = c.NotAfter
		}
		if c.NotBefore.After(e.notBefore) {
			e.notBefore = c.NotBefore
		}
	}
	if s.sec.nVerified.Add(1) > maxVerified {
		s.sec.verified.Clear()
		s.sec.nVerified.Store(1)
	}
	s.sec.verified.Store(key, e)
	return wid.Workload, wid.Peer, nil
}

// secretsDoc returns the document of a peer of workload at the current time, built once per
// change.
func (s *Server) secretsDoc(workload, peer string) (*secretsDoc, error) {
	now := s.cfg.Now()
	var src *workloadSecrets
	if m := s.sec.snap.Load(); m != nil {
		src = (*m)[workload]
	}
	key := workload + "/" + peer
	if c, ok := s.sec.docs.Load(key); ok {
		d := c.(*secretsDoc)
		if d.src == src && !now.Before(d.from) && now.Before(d.until) {
			return d, nil
		}
	}
	d := &secretsDoc{src: src, from: now, until: now.Add(24 * time.Hour)}
	doc := rotapi.SecretsDocument{Secrets: []rotapi.SecretEntry{}, Algorithm: rotapi.SecretsAlgorithm}
	if src != nil {
		for _, sec := range src.list {
			if sec.NotBefore != nil && now.Before(*sec.NotBefore) && sec.NotBefore.Before(d.until) {
				d.until = *sec.NotBefore
			}
			if sec.ExpiresAfter != nil && !now.After(*sec.ExpiresAfter) && sec.ExpiresAfter.Add(time.Nanosecond).Before(d.until) {
				d.until = sec.ExpiresAfter.Add(time.Nanosecond)
			}
			if len(sec.Peers) > 0 && !slices.Contains(sec.Peers, peer) {
				continue
			}
			if secretState(sec, now) == rotapi.SecretValid {
				doc.Secrets = append(doc.Secrets, entry(sec))
			}
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, fmt.Errorf("rot: encoding secrets: %w", err)
	}
	d.body = append(b, '\n')
	sum := sha256.Sum256(d.body)
	d.etag = `"` + hex.EncodeToString(sum[:16]) + `"`
	s.sec.docs.Store(key, d)
	return d, nil
}

// etagMatch reports whether an If-None-Match header names etag (weak or strong, or *).
func etagMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
