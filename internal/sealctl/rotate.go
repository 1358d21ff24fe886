package sealctl

import (
	"crypto/x509"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/rotapi"
)

// adminExpiryWarning is how long before its admin certificate expires sealctl warns.
const adminExpiryWarning = 30 * 24 * time.Hour

// warnAdminExpiry warns on stderr when the admin certificate expires within 30 days (or has).
func (a *app) warnAdminExpiry(cert *x509.Certificate, dir string) {
	left := cert.NotAfter.Sub(a.now())
	switch {
	case left <= 0:
		a.hint("sealctl: warning: the admin certificate in %s expired at %s; fix: seal-rot admin-cert issues new credentials (docs/rot.md)", dir, when(cert.NotAfter))
	case left < adminExpiryWarning:
		a.hint("sealctl: warning: the admin certificate in %s expires at %s (in %d days); fix: seal-rot admin-cert issues new credentials (docs/rot.md)", dir, when(cert.NotAfter), int(left.Hours()/24))
	}
}

func (a *app) rotateCommand() *cobra.Command {
	cmd := group("rotate", "Rotate the ROT CA, a Workload CA, the egg-sealing key or the JWT-SVID key now",
		`The ROT rotates its CAs by itself when a third of their life is left. These commands rotate
now (after a suspected compromise, or to test the procedure). A new Workload CA is first only
published: it goes into every ca.crt and trust bundle at once, while the old one keeps signing
for one certificate TTL of the workload (every pod renews in that time, so all of them trust
the new CA before certificates it signs appear); then it signs every new certificate. --now
makes it sign at once (a compromised key: pods that have not renewed yet refuse new
certificates until they do). The old CA stays in trust bundles until it expires or
"sealctl ca retire" drops it, so certificates it issued keep verifying meanwhile.`)
	cmd.AddCommand(
		a.rotateCall("rot-ca", "Make a new ROT CA and a new Workload CA under it for every workload",
			`Create a new ROT CA and make it current, then give every workload a new Workload CA signed
by it (published now, signing after the workload's certificate TTL, or at once with --now), so
nothing current depends on the old ROT CA. The old ROT CA stays in /v1/bundle until
it expires or is retired: wait until pods have renewed (their certTTL, 24h by default), federated
peers have refreshed, and Eggs minted before the rotation are replaced, then retire it with
"sealctl ca retire FINGERPRINT" (sealctl ca list shows it).`,
			"  sealctl rotate rot-ca", nil, func(_ []string) string { return rotapi.PathRotateROTCA }),
		a.rotateCall("workload-ca WORKLOAD", "Make a new current Workload CA for a workload",
			`Create a new Workload CA for WORKLOAD, signed by the current ROT CA. Pods get both CAs in
ca.crt when they next redeem or renew; the new one starts signing after the workload's
certificate TTL (the CURRENT column shows when), or at once with --now. Retire the old one
with "sealctl ca retire FINGERPRINT" once it no longer signs and pods have renewed.`,
			"  sealctl rotate workload-ca payments", args("WORKLOAD"), func(args []string) string {
				return rotapi.Path(rotapi.PathRotateWorkloadCA, args[0])
			}),
		a.rotateEggKey(),
		a.rotateJWTKey(),
	)
	return cmd
}

func (a *app) rotateCall(use, short, long, example string, pos cobra.PositionalArgs, path func([]string) string) *cobra.Command {
	if pos == nil {
		pos = args()
	}
	var now bool
	cmd := &cobra.Command{
		Use: use, Short: short, Long: long, Example: example + "\n" + example + " --now   # a compromised key", Args: pos,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			p := path(args)
			if now {
				p += "?now=true"
			}
			var out rotapi.RotateResponse
			if err := c.do(cmd.Context(), http.MethodPost, p, nil, &out); err != nil {
				return err
			}
			for _, ca := range out.Created {
				if ca.SignsFrom != nil {
					a.hint("sealctl: the new Workload CA %s of %s is in trust bundles now and starts signing at %s (--now: at once)", ca.Fingerprint[:16], ca.Workload, when(*ca.SignsFrom))
				}
			}
			return a.show(out, func(w io.Writer) { caTable(w, out.Created) })
		},
	}
	cmd.Flags().BoolVar(&now, "now", false, "make new Workload CAs sign at once instead of after the certificate TTL (a compromised key)")
	return cmd
}

func (a *app) rotateEggKey() *cobra.Command {
	return &cobra.Command{
		Use:   "egg-key",
		Short: "Make a new current egg-sealing key",
		Long: `Create a new egg-sealing key and make it current: Eggs minted from now on are sealed with it.
Eggs sealed with older keys still redeem (the keys stay to open them); revoke those Eggs by id
to end them.`,
		Example: "  sealctl rotate egg-key",
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.EggKeyResponse
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.PathRotateEggKey, nil, &out); err != nil {
				return err
			}
			return a.show(out, func(w io.Writer) { row(w, "Egg key:", out.KeyID) })
		},
	}
}

func (a *app) rotateJWTKey() *cobra.Command {
	return &cobra.Command{
		Use:   "jwt-key",
		Short: "Make a new current JWT-SVID signing key",
		Long: `Create a new JWT-SVID signing key (ES256) and make it current: JWT-SVIDs minted from now on
carry its key id. Older keys stay in the trust domain's bundle (/v1/bundle, federated peers)
until they expire, so tokens they signed keep validating. The ROT rotates the key by itself
when a third of its 30-day life is left.`,
		Example: "  sealctl rotate jwt-key",
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.JWTKeyResponse
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.PathRotateJWTKey, nil, &out); err != nil {
				return err
			}
			return a.show(out, func(w io.Writer) { row(w, "JWT key:", out.KeyID) })
		},
	}
}

func (a *app) caCommand() *cobra.Command {
	cmd := group("ca", "List the ROT and Workload CAs, retire an old one",
		`Every CA the ROT holds, with its SHA-256 fingerprint. The current CA of each kind signs new
certificates; older ones are only in trust bundles until they expire or are retired.`)
	list := &cobra.Command{
		Use:   "list",
		Short: "List the ROT CAs and every workload's CAs",
		Long: `List every CA the ROT holds: the ROT CAs and each workload's CAs, with their SHA-256
fingerprints, validity and whether each is current. Pass a fingerprint (or a unique prefix of
12 or more hex digits) to "sealctl ca retire" to drop an old CA from every bundle.`,
		Example: "  sealctl ca list",
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out []rotapi.CA
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.PathCAs, nil, &out); err != nil {
				return err
			}
			return a.show(out, func(w io.Writer) { caTable(w, out) })
		},
	}
	retire := &cobra.Command{
		Use:   "retire FINGERPRINT",
		Short: "Drop an old CA from every bundle before it expires",
		Long: `Retire a CA that is not current (SPIRE's prepare, activate, taint, revoke: "rotate" prepares
and activates, "retire" revokes). The CA leaves /v1/bundle, the trust bundles pods receive and
the ROT's state, so its key signs nothing more; certificates it issued stop verifying once
peers have the new bundle. A retired ROT CA takes the older Workload CAs it signed with it.
FINGERPRINT is the hex SHA-256 from "sealctl ca list" (a unique prefix of 12 or more digits).

Refused: the current CA (rotate first), a ROT CA that signed a current Workload CA (rotate it
first) or your own admin certificate (seal-rot admin-cert issues one from the current ROT CA).
Eggs whose rotCA holds only a retired ROT CA can no longer reach the ROT: mint new ones.`,
		Example: `  sealctl rotate rot-ca
  # ...once pods have renewed and old Eggs are replaced:
  sealctl ca list
  sealctl ca retire 3f1c0e9a77d2`,
		Args: args("FINGERPRINT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.RetireResponse
			if err := c.do(cmd.Context(), http.MethodDelete, rotapi.Path(rotapi.PathCA, strings.ToLower(args[0])), nil, &out); err != nil {
				return err
			}
			return a.show(out, func(w io.Writer) { caTable(w, out.Retired) })
		},
	}
	cmd.AddCommand(list, retire)
	return cmd
}

func caTable(w io.Writer, cas []rotapi.CA) {
	row(w, "KIND", "WORKLOAD", "FINGERPRINT", "NOT AFTER", "CURRENT")
	for _, c := range cas {
		cur := "no"
		switch {
		case c.Current:
			cur = "yes"
		case c.SignsFrom != nil:
			cur = "from " + when(*c.SignsFrom)
		}
		row(w, c.Kind, orDash(c.Workload), c.Fingerprint, when(c.NotAfter), cur)
	}
}
