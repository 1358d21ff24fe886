package kubeconfig

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/seal-dev/seal/internal/store"
)

// Extension is the name of the user-entry extension where the kubeconfig remembers how each
// certificate was asked for, so that Renew asks the same way.
const Extension = "seal.dev/kubeconfig"

// meta is the Extension's content.
type meta struct {
	Signer     string `json:"signer"`
	TTLSeconds int64  `json:"ttlSeconds"`
}

// authInfoName is the user entry of user in cluster.
func authInfoName(user, cluster string) string { return user + "@" + cluster }

// add puts cluster, user and context entries named after the target into cfg.
func add(cfg *clientcmdapi.Config, name, user string, cluster *clientcmdapi.Cluster, cert, key []byte, m meta) {
	cfg.Clusters[name] = cluster
	ai := clientcmdapi.NewAuthInfo()
	ai.ClientCertificateData = cert
	ai.ClientKeyData = key
	raw, _ := json.Marshal(m) // a struct of a string and an int: cannot fail
	ai.Extensions[Extension] = &runtime.Unknown{Raw: raw, ContentType: runtime.ContentTypeJSON}
	cfg.AuthInfos[authInfoName(user, name)] = ai
	c := clientcmdapi.NewContext()
	c.Cluster = name
	c.AuthInfo = authInfoName(user, name)
	cfg.Contexts[name] = c
}

// metaOf reads the Extension of ai; ok is false when there is none or it does not parse.
func metaOf(ai *clientcmdapi.AuthInfo) (meta, bool) {
	var m meta
	u, ok := ai.Extensions[Extension].(*runtime.Unknown)
	if !ok || json.Unmarshal(u.Raw, &m) != nil {
		return meta{}, false
	}
	return m, true
}

// WriteFile writes cfg to path with mode 0600, atomically: a reader sees the old file or the
// new one, never a part (the file holds a private key).
func WriteFile(path string, cfg *clientcmdapi.Config) error {
	b, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig: encoding: %w", err)
	}
	if err := store.WriteFileAtomic(path, b, 0o600); err != nil {
		return fmt.Errorf("kubeconfig: writing %s: %w", path, err)
	}
	return nil
}

// Context is what one context of a kubeconfig grants: who, in which groups, where, until when.
type Context struct {
	Name      string    `json:"name"`
	Current   bool      `json:"current,omitempty"`
	Cluster   string    `json:"cluster"`
	Server    string    `json:"server"`
	User      string    `json:"user"`
	Groups    []string  `json:"groups"`
	Issuer    string    `json:"issuer,omitempty"`
	NotBefore time.Time `json:"notBefore"`
	NotAfter  time.Time `json:"notAfter"`
	Signer    string    `json:"signer,omitempty"`
	// Problem says why the context has no usable client certificate ("" when it has one).
	Problem string `json:"problem,omitempty"`
}

// Inspect parses a kubeconfig and describes each context's client certificate, sorted by
// context name. Contexts that do not carry an inline client certificate are listed with a
// Problem rather than failing the whole file.
func Inspect(data []byte) ([]Context, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig: not a kubeconfig: %w", err)
	}
	return describe(cfg), nil
}

func describe(cfg *clientcmdapi.Config) []Context {
	names := make([]string, 0, len(cfg.Contexts))
	for n := range cfg.Contexts {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]Context, 0, len(names))
	for _, n := range names {
		c := cfg.Contexts[n]
		d := Context{Name: n, Current: n == cfg.CurrentContext, Groups: []string{}}
		if c == nil {
			d.Problem = "empty context"
			out = append(out, d)
			continue
		}
		d.Cluster = c.Cluster
		if cl := cfg.Clusters[c.Cluster]; cl != nil {
			d.Server = cl.Server
		}
		ai := cfg.AuthInfos[c.AuthInfo]
		switch {
		case ai == nil:
			d.Problem = fmt.Sprintf("no user entry %q", c.AuthInfo)
		case len(ai.ClientCertificateData) == 0:
			d.Problem = "no inline client certificate (client-certificate-data)"
		default:
			if m, ok := metaOf(ai); ok {
				d.Signer = m.Signer
			}
			cert, err := leaf(ai.ClientCertificateData)
			if err != nil {
				d.Problem = err.Error()
				break
			}
			d.User = cert.Subject.CommonName
			d.Groups = append(d.Groups, cert.Subject.Organization...)
			sort.Strings(d.Groups) // DER orders a SET by encoding, not as given
			d.Issuer = cert.Issuer.CommonName
			d.NotBefore, d.NotAfter = cert.NotBefore.UTC(), cert.NotAfter.UTC()
		}
		out = append(out, d)
	}
	return out
}

// leaf parses the first certificate of a PEM bundle.
func leaf(certPEM []byte) (*x509.Certificate, error) {
	for rest := certPEM; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, errors.New("no PEM certificate in client-certificate-data")
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		return c, nil
	}
}

// sameServer compares API server URLs the way people write them (case, trailing slash).
func sameServer(a, b string) bool {
	norm := func(s string) string { return strings.TrimRight(strings.ToLower(s), "/") }
	return norm(a) == norm(b)
}
