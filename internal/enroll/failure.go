package enroll

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"

	"github.com/seal-dev/seal/internal/rotapi"
)

// Failure is why seal-init could not do its job, as one line: what failed and what to check.
// It never carries key material or the Egg.
type Failure struct {
	// What failed, with its short cause.
	What string
	// Check is what the operator should look at or do.
	Check string
	// Err is the underlying error, for errors.Is/As; it is not part of the message.
	Err error
}

func (f *Failure) Error() string {
	if f.Check == "" {
		return f.What
	}
	return f.What + ": " + f.Check
}

func (f *Failure) Unwrap() error { return f.Err }

// maxCause bounds the length of a cause in a message.
const maxCause = 200

// cause returns the short, single-line reason at the bottom of err: "connection refused",
// "403 Forbidden: egg revoked", "x509: certificate signed by unknown authority".
func cause(err error) string {
	var (
		se   *rotapi.StatusError
		dns  *net.DNSError
		ua   x509.UnknownAuthorityError
		he   x509.HostnameError
		ci   x509.CertificateInvalidError
		errn syscall.Errno
		s    string
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		s = fmt.Sprintf("%d %s", se.Code, http.StatusText(se.Code))
		if m := strings.TrimSpace(se.Message); m != "" {
			s += ": " + m
		}
	case errors.As(err, &dns):
		s = dns.Error()
	case errors.As(err, &ua):
		s = ua.Error()
	case errors.As(err, &he):
		s = he.Error()
	case errors.As(err, &ci):
		s = ci.Error()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		s = "timed out"
	case errors.Is(err, context.Canceled):
		s = "canceled"
	case errors.As(err, &errn):
		s = errn.Error()
	default:
		for {
			next := errors.Unwrap(err)
			if next == nil {
				break
			}
			err = next
		}
		s = err.Error()
	}
	return oneLine(s)
}

// oneLine folds s onto one line of at most maxCause bytes.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxCause {
		s = s[:maxCause] + "..."
	}
	return s
}

// permanent reports whether retrying err cannot help: the ROT refused the request (4xx), or its
// certificate does not verify against the Egg's rotCA, or its answer is unusable.
func permanent(err error) bool {
	var (
		cv  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		bad *badAnswer
	)
	return rotapi.IsPermanent(err) || errors.As(err, &cv) || errors.As(err, &ua) ||
		errors.As(err, &he) || errors.As(err, &bad)
}

// badAnswer is a ROT answer seal-init cannot use.
type badAnswer struct{ msg string }

func (e *badAnswer) Error() string { return "enroll: unusable answer from the ROT: " + e.msg }

// redeemFailure explains a redemption that failed for good: refused, or never answered in time.
func redeemFailure(rot string, err error, attempts int, waited string) *Failure {
	if f := tokenFailure(rot, err); f != nil {
		return f
	}
	c := cause(err)
	var (
		se  *rotapi.StatusError
		bad *badAnswer
	)
	switch {
	case errors.As(err, &se) && se.Code == http.StatusForbidden && strings.Contains(se.Message, "attestation"):
		return &Failure{Err: err, What: fmt.Sprintf("the ROT at %s refused this machine's attestation (%s)", rot, c),
			Check: "see docs/attestation.md; the ROT's message names the failed check and its fix"}
	case errors.As(err, &se) && (se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden || se.Code == http.StatusGone):
		return &Failure{Err: err,
			What:  fmt.Sprintf("the ROT at %s refused the Egg (%s)", rot, c),
			Check: "the Egg is expired, revoked or from another ROT; mint a new one with `sealctl egg mint WORKLOAD --peer PEER`"}
	case errors.As(err, &se) && se.Code == http.StatusNotFound:
		return &Failure{Err: err,
			What:  fmt.Sprintf("the ROT at %s does not know this Egg's workload (%s)", rot, c),
			Check: "check `sealctl workload list`, then mint a new Egg with `sealctl egg mint WORKLOAD --peer PEER`"}
	case errors.As(err, &se) && !se.Temporary():
		return &Failure{Err: err,
			What:  fmt.Sprintf("the ROT at %s rejected the request (%s)", rot, c),
			Check: "check --hostname and --federates-with against the Workload's routeHosts and federatesWith, and the Egg"}
	case errors.As(err, &bad):
		return &Failure{Err: err,
			What:  fmt.Sprintf("the ROT at %s answered with something unusable (%s)", rot, bad.msg),
			Check: "check the seal-rot version and logs"}
	case permanent(err):
		return &Failure{Err: err,
			What:  fmt.Sprintf("the ROT at %s is not the one the Egg trusts (%s)", rot, c),
			Check: "the Egg's rotCA does not match the ROT's serving certificate; mint a new Egg from this ROT or check seal-rot --external-url"}
	case errors.As(err, &se):
		return &Failure{Err: err,
			What:  fmt.Sprintf("the ROT at %s kept failing for %s (%d attempts, last: %s)", rot, waited, attempts, c),
			Check: "check the seal-rot logs and readiness"}
	default:
		return &Failure{Err: err,
			What:  fmt.Sprintf("the ROT at %s was not reachable for %s (%d attempts, last: %s)", rot, waited, attempts, c),
			Check: "check that seal-rot is running and reachable from this pod at the Egg's rot URL, or raise --timeout"}
	}
}
