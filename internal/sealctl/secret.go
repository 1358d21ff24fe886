package sealctl

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/rotapi"
)

func (a *app) secretCommand() *cobra.Command {
	cmd := group("secret", "Manage the secrets delivered to a workload's pods and edges",
		`A workload's secrets are small values (passwords, tokens) the ROT keeps age-encrypted to the
workload's current data key and delivers to its pods: seal-init writes each currently valid
secret to /var/run/seal/secrets/NAME and, as a sidecar (seal.dev/rotate: "true"), keeps the
files up to date. Each secret may have a validity window (--not-before, --expires-after).
Values are never shown again: get and list show metadata only. For an edge node outside the
cluster, "secret export" writes the VSecM-shaped document with the values encrypted to the
edge's age recipient. See docs/secrets.md.`)
	cmd.AddCommand(a.secretPut(), a.secretList(), a.secretGet(), a.secretDelete(), a.secretExport(), a.secretDecrypt())
	return cmd
}

func (a *app) secretPut() *cobra.Command {
	var fromFile, fromLiteral, notBefore, expiresAfter string
	var peers []string
	cmd := &cobra.Command{
		Use:   "put WORKLOAD NAME (--from-file F | --from-literal V)",
		Short: "Create or replace a secret of a workload",
		Long: `Create or replace the secret NAME of a workload. The value (at most 16 KiB) is sent to the ROT
over the admin mTLS connection, which encrypts it to the workload's current data key before
storing it. Pods that watch (seal.dev/rotate: "true") see the new value within their
--secrets-interval (30s by default).

--not-before and --expires-after bound when the secret is delivered: an RFC 3339 time
(2026-12-01T00:00:00Z) or a duration from now (90m, 24h, 720h). --peer limits delivery to
pods of the named peers of the workload (their certificates name the peer).`,
		Example: `  sealctl secret put payments db-password --from-literal 'correct horse'
  sealctl secret put payments tls-pass --from-file ./pass.txt --expires-after 720h
  sealctl secret put payments db-admin --from-file ./admin.txt --peer db
  printf %s "$TOKEN" | sealctl secret put payments api-token --from-file -`,
		Args:              args("WORKLOAD", "NAME"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rotapi.CheckSecretName(args[1]); err != nil {
				return usageError{err}
			}
			put := rotapi.SecretPut{Peers: peers}
			switch {
			case fromFile != "" && fromLiteral != "":
				return usagef("give --from-file or --from-literal, not both")
			case fromLiteral != "":
				put.Value = []byte(fromLiteral)
			case fromFile != "":
				v, err := a.readValue(fromFile)
				if err != nil {
					return err
				}
				put.Value = v
			default:
				return usagef("secret put needs the value: --from-file F (- for stdin) or --from-literal V")
			}
			if len(put.Value) == 0 {
				return usagef("the secret's value is empty")
			}
			now := a.now()
			var err error
			if put.NotBefore, err = parseWhenFlag("--not-before", notBefore, now); err != nil {
				return err
			}
			if put.ExpiresAfter, err = parseWhenFlag("--expires-after", expiresAfter, now); err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			var info rotapi.SecretInfo
			if err := c.do(cmd.Context(), http.MethodPut, rotapi.Path(rotapi.PathAdminSecret, args[0], args[1]), put, &info); err != nil {
				return err
			}
			a.hint("Stored secret %q of workload %q (%d bytes, encrypted to data key %d).", args[1], args[0], len(put.Value), info.DataKeyIndex)
			return a.showSecret(info)
		},
	}
	f := cmd.Flags()
	f.StringVar(&fromFile, "from-file", "", "read the value from this `file` (- for stdin)")
	f.StringVar(&fromLiteral, "from-literal", "", "the `value` itself (it stays in your shell history; prefer --from-file)")
	f.StringVar(&notBefore, "not-before", "", "deliver from this `time` (RFC 3339, or a duration from now)")
	f.StringVar(&expiresAfter, "expires-after", "", "stop delivering after this `time` (RFC 3339, or a duration from now)")
	f.StringSliceVar(&peers, "peer", nil, "deliver only to pods of this `peer` of the workload (repeatable; default every pod)")
	return cmd
}

// readValue reads a secret's value from path (- is stdin), at most the ROT's limit.
func (a *app) readValue(path string) ([]byte, error) {
	var r io.Reader = a.stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("reading the secret's value: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, rotapi.MaxSecretValue+1))
	if err != nil {
		return nil, fmt.Errorf("reading the secret's value: %w", err)
	}
	if len(b) > rotapi.MaxSecretValue {
		return nil, usagef("the value in %s is over the %d-byte limit of a secret", path, rotapi.MaxSecretValue)
	}
	return b, nil
}

// ParseWhen reads a point in time: RFC 3339, or a Go duration from now ("24h", "+90m",
// "-5m").
func ParseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-12-01T00:00:00Z) nor a duration from now (24h)", s)
	}
	t := now.Add(d)
	if d > 0 && !t.After(now) || d < 0 && !t.Before(now) {
		return time.Time{}, fmt.Errorf("duration %q is out of range", s)
	}
	return t.UTC(), nil
}

func parseWhenFlag(flag, s string, now time.Time) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	t, err := ParseWhen(s, now)
	if err != nil {
		return nil, usagef("%s: %v", flag, err)
	}
	return &t, nil
}

func (a *app) secretList() *cobra.Command {
	return &cobra.Command{
		Use:   "list WORKLOAD",
		Short: "List a workload's secrets (metadata, never values)",
		Long: `List a workload's secrets: name, state at the ROT's clock (valid, pending before its
notBefore, expired after its expiresAfter), window, last update and the data key the stored
value is encrypted to. Values are never shown.`,
		Example:           `  sealctl secret list payments`,
		Args:              args("WORKLOAD"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var infos []rotapi.SecretInfo
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.Path(rotapi.PathAdminSecrets, args[0]), nil, &infos); err != nil {
				return err
			}
			return a.show(infos, func(w io.Writer) {
				row(w, "NAME", "STATE", "PEERS", "NOT BEFORE", "EXPIRES AFTER", "UPDATED", "DATA KEY")
				for _, s := range infos {
					peers := "all"
					if len(s.Peers) > 0 {
						peers = list(s.Peers)
					}
					row(w, s.Name, s.State, peers, whenPtr(s.NotBefore), whenPtr(s.ExpiresAfter), when(s.Updated), strconv.Itoa(s.DataKeyIndex))
				}
			})
		},
	}
}

func whenPtr(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return when(*t)
}

func (a *app) showSecret(s rotapi.SecretInfo) error {
	return a.show(s, func(w io.Writer) {
		row(w, "Workload:", s.Workload)
		row(w, "Name:", s.Name)
		row(w, "State:", s.State)
		if len(s.Peers) > 0 {
			row(w, "Peers:", list(s.Peers))
		}
		row(w, "Not before:", whenPtr(s.NotBefore))
		row(w, "Expires after:", whenPtr(s.ExpiresAfter))
		row(w, "Created:", when(s.Created))
		row(w, "Updated:", when(s.Updated))
		row(w, "Data key:", strconv.Itoa(s.DataKeyIndex))
	})
}

func (a *app) secretGet() *cobra.Command {
	return a.secretOne("get", http.MethodGet, "Show a secret's metadata (never its value)",
		`Show a secret's validity window, state (valid, pending, expired), times and the data key its
stored value is encrypted to. The value itself is never shown: pods read it from
/var/run/seal/secrets/NAME, edges from "sealctl secret export".`)
}

func (a *app) secretDelete() *cobra.Command {
	return a.secretOne("delete", http.MethodDelete, "Delete a secret",
		`Delete a secret. Watching pods remove /var/run/seal/secrets/NAME within their --secrets-interval.`)
}

func (a *app) secretOne(verb, method, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:               verb + " WORKLOAD NAME",
		Short:             short,
		Long:              long,
		Example:           "  sealctl secret " + verb + " payments db-password",
		Args:              args("WORKLOAD", "NAME"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var info rotapi.SecretInfo
			if err := c.do(cmd.Context(), method, rotapi.Path(rotapi.PathAdminSecret, args[0], args[1]), nil, &info); err != nil {
				return err
			}
			if method == http.MethodDelete {
				a.hint("Deleted secret %q of workload %q.", args[1], args[0])
			}
			return a.showSecret(info)
		},
	}
}
