package enroll

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seal-dev/seal/internal/podfiles"
)

// Check reports whether dir holds a complete identity at now: tls.crt and tls.key that pair,
// ca.crt with at least one certificate, all from the same generation of the set
// (podfiles.Read), and a leaf certificate valid at now. It returns the leaf, or a *Failure whose
// message says what is missing, mismatched or expired. It uses no network.
func Check(dir string, now time.Time) (*x509.Certificate, error) {
	files, err := podfiles.Read(dir, FileCert, FileKey, FileCA)
	if err != nil {
		return nil, readFailure(dir, err)
	}
	pair, err := tls.X509KeyPair(files[FileCert], files[FileKey])
	if err != nil {
		what := fmt.Sprintf("%s and %s in %s are not a certificate and its key (%s)", FileCert, FileKey, dir, cause(err))
		if strings.Contains(err.Error(), "does not match") {
			what = fmt.Sprintf("%s in %s is not the key of the certificate in %s", FileKey, dir, FileCert)
		}
		return nil, &Failure{Err: err, What: what, Check: "seal-init writes both as one set; run it again (or remove the directory's contents) instead of editing them"}
	}
	leaf := pair.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(pair.Certificate[0]); err != nil {
			return nil, &Failure{Err: err, What: fmt.Sprintf("the certificate in %s/%s cannot be parsed (%s)", dir, FileCert, cause(err))}
		}
	}
	if cas, err := parseCerts(string(files[FileCA])); err != nil || len(cas) == 0 {
		return nil, &Failure{Err: err, What: fmt.Sprintf("%s/%s holds no CA certificate (%s)", dir, FileCA, orEmpty(err)),
			Check: "seal-init writes the Workload CA bundle there; run it again"}
	}
	stamp := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	switch {
	case now.Before(leaf.NotBefore):
		return nil, &Failure{What: fmt.Sprintf("the certificate in %s is not valid before %s (now %s)", dir, stamp(leaf.NotBefore), stamp(now)),
			Check: "check the node's clock"}
	case !now.Before(leaf.NotAfter):
		return nil, &Failure{What: fmt.Sprintf("the certificate in %s expired at %s (now %s)", dir, stamp(leaf.NotAfter), stamp(now)),
			Check: "seal-init --watch renews it before expiry; its log says why it could not"}
	}
	return leaf, nil
}

// readFailure says which file of the set is missing, or that there is no set at all.
func readFailure(dir string, err error) error {
	if _, lerr := os.Lstat(filepath.Join(dir, podfiles.DataDir)); errors.Is(lerr, fs.ErrNotExist) {
		return &Failure{Err: err, What: fmt.Sprintf("no identity files in %s yet", dir),
			Check: "seal-init has not written them; its log says why"}
	}
	var pe *fs.PathError
	if errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe) {
		return &Failure{Err: err, What: fmt.Sprintf("%s is missing from the identity files in %s", filepath.Base(pe.Path), dir),
			Check: "seal-init writes the whole set at once; run it again"}
	}
	return &Failure{Err: err, What: fmt.Sprintf("cannot read the identity files in %s (%s)", dir, cause(err)),
		Check: "run the check as the user of the seal-init container"}
}

// mainCheck runs `seal-init check [--out DIR] [DIR]`: exit 0 when DIR (default --out,
// SEAL_OUT, then /var/run/seal) holds a complete identity valid now, else exit 1 with one line
// saying what is wrong. It is the native sidecar's exec probe.
func mainCheck(args []string, getenv func(string) string, stderr io.Writer, now time.Time) int {
	fs := flag.NewFlagSet("seal-init check", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "", "the `directory` to check")
	usage := func(err error) int {
		fmt.Fprintf(stderr, "seal-init: %v; usage: seal-init check [--out DIR] [DIR] (default $SEAL_OUT or %s)\n", err, DefaultOut)
		return ExitUsage
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(stderr, "seal-init check [DIR]: exit 0 when DIR (default --out, $SEAL_OUT or %s) holds tls.crt and tls.key that pair,\nca.crt, and a certificate valid now; else exit 1 saying what is missing or expired.\n", DefaultOut)
			return ExitOK
		}
		return usage(err)
	}
	dir := *out
	switch rest := fs.Args(); {
	case len(rest) > 1:
		return usage(fmt.Errorf("unexpected argument %q", rest[1]))
	case len(rest) == 1 && *out != "" && rest[0] != *out:
		return usage(fmt.Errorf("give the directory as DIR or --out, not both"))
	case len(rest) == 1:
		dir = rest[0]
	}
	if dir == "" {
		dir = getenv(envName("out"))
	}
	if dir == "" {
		dir = DefaultOut
	}
	leaf, err := Check(dir, now)
	if err != nil {
		fmt.Fprintf(stderr, "seal-init: check: %v\n", err)
		return ExitFailure
	}
	id := leaf.Subject.CommonName
	for _, u := range leaf.URIs {
		if u.Scheme == "spiffe" {
			id = u.String()
		}
	}
	fmt.Fprintf(stderr, "seal-init: check: %s holds %s, valid until %s\n", dir, id, leaf.NotAfter.UTC().Format(time.RFC3339))
	return ExitOK
}
