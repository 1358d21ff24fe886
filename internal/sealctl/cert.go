package sealctl

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/seal-dev/seal/internal/atomicfile"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/rotapi"
)

func (a *app) certCommand() *cobra.Command {
	var (
		peer, out string
		ttl       time.Duration
	)
	cmd := &cobra.Command{
		Use:   "cert WORKLOAD --out DIR",
		Short: "Issue a certificate for an external client of a workload",
		Long: `Issue an identity for a client outside the cluster (a laptop, a CI job, a service elsewhere)
that talks mTLS to a workload's pods as one of its peers.

sealctl generates an ECDSA P-256 key locally and sends only a certificate request; the key never
leaves this machine. The ROT signs a certificate with the workload's CA, naming
spiffe://TRUST_DOMAIN/workload/WORKLOAD/peer/PEER. sealctl writes DIR/tls.crt (the chain),
DIR/tls.key (mode 0600) and DIR/ca.crt (the workload's CA bundle, to verify the pods), each
replaced atomically; DIR is created (0700) when missing.`,
		Example: `  sealctl cert payments --peer api --out ./payments-client
  curl --cert ./payments-client/tls.crt --key ./payments-client/tls.key \
       --cacert ./payments-client/ca.crt https://api.payments.example.org/`,
		Args:              args("WORKLOAD"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef("cert needs --out DIR, the directory to write tls.crt, tls.key and ca.crt to")
			}
			if peer == "" {
				return usagef("--peer must not be empty")
			}
			req := rotapi.CertRequest{Peer: peer}
			if cmd.Flags().Changed("ttl") {
				if ttl <= 0 {
					return usagef("--ttl must be positive, not %s", ttl)
				}
				req.TTL = duration(ttl)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return fmt.Errorf("generating the key: %w", err)
			}
			csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
				Subject: pkix.Name{CommonName: peer},
			}, key)
			if err != nil {
				return fmt.Errorf("creating the certificate request: %w", err)
			}
			req.CSR = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csr}))
			var resp rotapi.CertResponse
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.Path(rotapi.PathCert, args[0]), req, &resp); err != nil {
				return err
			}
			if err := checkIssued(&resp, key); err != nil {
				return err
			}
			der, err := x509.MarshalPKCS8PrivateKey(key)
			if err != nil {
				return fmt.Errorf("encoding the key: %w", err)
			}
			if err := os.MkdirAll(out, 0o700); err != nil {
				return err
			}
			err = writeFiles(out, []file{
				{"tls.key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600},
				{"tls.crt", []byte(resp.Certificate), 0o644},
				{"ca.crt", []byte(resp.TrustBundle), 0o644},
			})
			if err != nil {
				return err
			}
			return a.show(map[string]any{
				"spiffeID": resp.SPIFFEID, "notAfter": resp.NotAfter, "dir": out,
				"files": []string{"tls.crt", "tls.key", "ca.crt"},
			}, func(w io.Writer) {
				row(w, "SPIFFE ID:", resp.SPIFFEID)
				row(w, "Not after:", when(resp.NotAfter))
				row(w, "Wrote:", filepath.Join(out, "tls.crt")+" "+filepath.Join(out, "tls.key")+" "+filepath.Join(out, "ca.crt"))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&peer, "peer", "any", "the peer (role) of the workload the client acts as")
	f.StringVar(&out, "out", "", "directory to write tls.crt, tls.key and ca.crt to (required)")
	f.DurationVar(&ttl, "ttl", 0, "certificate lifetime (default: the workload's cert TTL)")
	_ = cmd.MarkFlagDirname("out")
	return cmd
}

// checkIssued refuses an answer whose leaf is not for our key or that carries no CA bundle,
// before anything is written.
func checkIssued(resp *rotapi.CertResponse, key *ecdsa.PrivateKey) error {
	block, _ := pem.Decode([]byte(resp.Certificate))
	if block == nil || block.Type != "CERTIFICATE" {
		return errors.New("the ROT answered without a PEM certificate")
	}
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("the ROT's certificate does not parse: %w", err)
	}
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || !pub.Equal(&key.PublicKey) {
		return errors.New("the ROT's certificate is not for the key sealctl generated")
	}
	if b, _ := pem.Decode([]byte(resp.TrustBundle)); b == nil {
		return errors.New("the ROT answered without a CA bundle")
	}
	return nil
}

// file is one file of a set written by writeFiles.
type file struct {
	name string
	data []byte
	mode os.FileMode
}

// writeFiles writes every file to a temporary name in dir first and renames them into place
// only when all were written, so a failure leaves no half-written file.
func writeFiles(dir string, files []file) error {
	pending := make([]*atomicfile.Pending, 0, len(files))
	defer func() {
		for _, p := range pending {
			p.Cleanup()
		}
	}()
	for _, f := range files {
		p, err := atomicfile.Create(filepath.Join(dir, f.name), f.mode)
		if err != nil {
			return fmt.Errorf("writing %s: %w", filepath.Join(dir, f.name), err)
		}
		pending = append(pending, p)
		if _, err := p.Write(f.data); err != nil {
			return err
		}
	}
	for _, p := range pending {
		if err := p.Commit(); err != nil {
			return err
		}
	}
	return nil
}
