package sealctl

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/seal-dev/seal/internal/rotapi"
)

// Exit codes of Run.
const (
	ExitOK     = 0
	ExitFailed = 1 // the operation failed: the ROT refused, the network, a file
	ExitUsage  = 2 // bad flag, argument or configuration
)

// usageError marks a mistake in the command line or configuration (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// ExitCode maps an error returned by the root command to the process exit code.
func ExitCode(err error) int {
	if err == nil {
		return ExitOK
	}
	var u usageError
	if errors.As(err, &u) {
		return ExitUsage
	}
	return ExitFailed
}

// explain turns a client error into one line naming what went wrong and, where it helps, what
// to do about it. The original error stays wrapped for errors.Is/As.
func (c *conn) explain(err error) error {
	var (
		se    *rotapi.StatusError
		alert tls.AlertError
		ua    x509.UnknownAuthorityError
		cve   *tls.CertificateVerificationError
		he    x509.HostnameError
		ne    net.Error
		op    *net.OpError
	)
	switch {
	case errors.As(err, &se):
		msg := strings.TrimPrefix(se.Message, "rot: ")
		switch {
		case se.Code == http.StatusUnauthorized || se.Code == http.StatusForbidden:
			return explained(err, "the ROT refused the admin credentials in %s: %d %s", c.adminDir, se.Code, msg)
		case se.Code >= 500:
			return explained(err, "the ROT failed: %d %s", se.Code, msg)
		default:
			return explained(err, "the ROT refused: %d %s", se.Code, msg)
		}
	case errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout():
		return explained(err, "no answer from the ROT at %s within %s (--timeout)", c.base, c.timeout)
	case errors.Is(err, context.Canceled):
		return explained(err, "interrupted")
	case errors.As(err, &alert):
		return explained(err, "the ROT at %s rejected the admin certificate in %s/tls.crt (%v)", c.base, c.adminDir, alert)
	case errors.As(err, &he):
		return explained(err, "the ROT's certificate does not match %s (%v)", c.base, he)
	case errors.As(err, &cve):
		return explained(err, "the server at %s is not the ROT of %s/ca.crt: its certificate does not verify (%v)", c.base, c.adminDir, cve.Err)
	case errors.As(err, &ua):
		return explained(err, "the server at %s is not the ROT of %s/ca.crt: its certificate does not verify (%v)", c.base, c.adminDir, ua)
	case errors.As(err, &op):
		return explained(err, "cannot reach the ROT at %s: %v", c.base, op)
	}
	return err
}

// explainedError is a one-line explanation that still wraps the original error for
// errors.Is/As without repeating its text.
type explainedError struct {
	msg string
	err error
}

func (e *explainedError) Error() string { return e.msg }
func (e *explainedError) Unwrap() error { return e.err }

func explained(err error, format string, a ...any) error {
	return &explainedError{msg: fmt.Sprintf(format, a...), err: err}
}
