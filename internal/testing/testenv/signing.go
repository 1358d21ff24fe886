package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// signingCA is a cluster signing CA that the API server trusts for client certificates
// (--client-ca-file) and kube-controller-manager signs CSRs with
// (--cluster-signing-cert-file/--cluster-signing-key-file), as in a kubeadm cluster. It is
// also the envtest authenticator: the test users' certificates come from it.
type signingCA struct {
	cert     *x509.Certificate
	key      *ecdsa.PrivateKey
	certPEM  []byte
	certFile string
	keyFile  string
	caFile   string // the API server's --client-ca-file
}

// newSigningCA creates the CA and writes its certificate and key into dir.
func newSigningCA(dir string) (*signingCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testenv: signing CA key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "testenv-cluster-signing-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("testenv: signing CA: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("testenv: signing CA key: %w", err)
	}
	ca := &signingCA{cert: cert, key: key,
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		certFile: filepath.Join(dir, "cluster-signing-ca.crt"),
		keyFile:  filepath.Join(dir, "cluster-signing-ca.key"),
	}
	if err := os.WriteFile(ca.certFile, ca.certPEM, 0o600); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	if err := os.WriteFile(ca.keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	return ca, nil
}

// Configure points the API server's --client-ca-file at the CA (envtest.Authn).
func (ca *signingCA) Configure(workDir string, args *envtest.Arguments) error {
	ca.caFile = filepath.Join(workDir, "client-ca.crt")
	args.Set("client-ca-file", ca.caFile)
	return nil
}

// Start writes the --client-ca-file (envtest.Authn).
func (ca *signingCA) Start() error {
	if err := os.WriteFile(ca.caFile, ca.certPEM, 0o600); err != nil {
		return fmt.Errorf("testenv: %w", err)
	}
	return nil
}

// AddUser gives user a client certificate from the CA (envtest.Authn).
func (ca *signingCA) AddUser(user envtest.User, base *rest.Config) (*rest.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	now := time.Now()
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: user.Name, Organization: user.Groups},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca.cert, key.Public(), ca.key)
	if err != nil {
		return nil, fmt.Errorf("testenv: client certificate for %s: %w", user.Name, err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("testenv: %w", err)
	}
	cfg := rest.CopyConfig(base)
	cfg.CertData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cfg.KeyData = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
	return cfg, nil
}

// Stop is a no-op: the files live in the test's directory (envtest.Authn).
func (ca *signingCA) Stop() error { return nil }
