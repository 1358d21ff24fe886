package sealctl

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/rotapi"
)

func (a *app) attestationCommand() *cobra.Command {
	cmd := group("attestation", "Register TPM attestation keys and reference values",
		`Attestation-gated redemption: a Workload created with --attest POLICY releases its
certificate and data keys only to a pod whose machine proves, with a TPM 2.0 quote over a fresh
nonce of the ROT, that it runs what the policy allows.

  attestation key     the machines' TPM attestation keys (seal-init attest enroll prints one)
  attestation policy  reference values: the SHA-256 PCR values a quote must carry

See docs/attestation.md.`)
	cmd.Aliases = []string{"attest"}
	keys := group("key", "Add, list and delete registered attestation keys",
		`A registered attestation key (AK) is the public half of a restricted signing key inside a
machine's TPM. Only quotes signed by a registered AK are accepted.`)
	keys.AddCommand(a.attestKeyAdd(), a.attestKeyList(), a.attestDelete("key", rotapi.PathAttestationKey))
	pols := group("policy", "Set, list and delete attestation policies (reference values)",
		`An attestation policy names PCR values (SHA-256 bank) a machine's quote must carry. Workloads
refer to one with "sealctl workload create NAME --attest POLICY".`)
	pols.AddCommand(a.attestPolicySet(), a.attestPolicyList(), a.attestDelete("policy", rotapi.PathAttestationPolicy))
	cmd.AddCommand(keys, pols)
	return cmd
}

func (a *app) attestKeyAdd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "add NAME --ak-pub FILE",
		Short: "Register a machine's TPM attestation key",
		Long: `Register the public attestation key of a machine's TPM. Create it on the machine with
"seal-init attest enroll --tpm /dev/tpmrm0 > node-1.pem" (it persists the key in the TPM and
prints its public half), then register the file here. --ak-pub - reads stdin.`,
		Example: `  sealctl attestation key add node-1 --ak-pub node-1.pem`,
		Args:    args("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if file == "" {
				return usagef("--ak-pub FILE is required (the PEM seal-init attest enroll printed)")
			}
			var b []byte
			var err error
			if file == "-" {
				b, err = io.ReadAll(io.LimitReader(a.stdin, 64<<10))
			} else {
				b, err = os.ReadFile(file)
			}
			if err != nil {
				return fmt.Errorf("reading --ak-pub: %w", err)
			}
			if _, err := attest.ParseAKPub(string(b)); err != nil {
				return usagef("--ak-pub %s: %v", file, err)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.AttestationKey
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.PathAttestationKeys, rotapi.AttestationKey{Name: args[0], AKPub: string(b)}, &out); err != nil {
				return err
			}
			return a.show(out, func(w io.Writer) {
				row(w, "Name:", out.Name)
				row(w, "Fingerprint:", out.Fingerprint)
				row(w, "Created:", when(out.Created))
			})
		},
	}
	cmd.Flags().StringVar(&file, "ak-pub", "", "PEM file of the attestation key's public half (- for stdin)")
	return cmd
}

func (a *app) attestKeyList() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the registered attestation keys",
		Long:    `List the registered attestation keys with the SHA-256 fingerprint of each public key (the one a refusal for an unknown AK names).`,
		Example: `  sealctl attestation key list -o json`,
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var ks []rotapi.AttestationKey
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.PathAttestationKeys, nil, &ks); err != nil {
				return err
			}
			if len(ks) == 0 && a.output == "table" {
				a.hint("No attestation keys yet (register one with: sealctl attestation key add NAME --ak-pub FILE).")
				return nil
			}
			return a.show(ks, func(w io.Writer) {
				row(w, "NAME", "FINGERPRINT (SHA-256)", "CREATED")
				for _, k := range ks {
					row(w, k.Name, k.Fingerprint, when(k.Created))
				}
			})
		},
	}
}

// parsePCRFlags reads --pcr INDEX=HEX values.
func parsePCRFlags(vals []string) (map[string]string, error) {
	out := map[string]string{}
	for _, v := range vals {
		k, h, ok := strings.Cut(v, "=")
		if !ok {
			return nil, usagef("--pcr %q is not INDEX=HEX (e.g. 7=3d45...)", v)
		}
		i, err := attest.ParsePCRIndex(k)
		if err != nil {
			return nil, usagef("--pcr %q: %v", v, err)
		}
		out[strconv.Itoa(i)] = strings.ToLower(strings.TrimPrefix(h, "0x"))
	}
	if _, err := attest.ParsePolicy("", out); err != nil {
		return nil, usagef("%s", strings.TrimPrefix(strings.Replace(err.Error(), `policy "": `, "", 1), "attest: "))
	}
	return out, nil
}

func (a *app) attestPolicySet() *cobra.Command {
	var pcrs []string
	cmd := &cobra.Command{
		Use:   "set NAME --pcr INDEX=HEX...",
		Short: "Create or replace an attestation policy",
		Long: `Create or replace a policy of reference values: each --pcr names a PCR index (0-23) and its
expected SHA-256 bank value (64 hex digits). Read the values of a known-good machine with
"tpm2_pcrread sha256:0,7" or "seal-init attest pcrs --tpm /dev/tpmrm0 --pcr 0,7".`,
		Example: `  sealctl attestation policy set prod --pcr 0=3d458cfe55cc03ea1f443f1562beec8df51c75e14a9fcf9a7234a13f198e7969 --pcr 7=...`,
		Args:    args("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := parsePCRFlags(pcrs)
			if err != nil {
				return err
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.AttestationPolicy
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.PathAttestationPolicies, rotapi.AttestationPolicy{Name: args[0], PCRs: m}, &out); err != nil {
				return err
			}
			return a.showPolicies([]rotapi.AttestationPolicy{out}, out)
		},
	}
	cmd.Flags().StringArrayVar(&pcrs, "pcr", nil, "INDEX=HEX: a PCR and its SHA-256 value; repeat for several")
	return cmd
}

func (a *app) attestPolicyList() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the attestation policies",
		Long:    `List the attestation policies with their PCR indices and reference values.`,
		Example: `  sealctl attestation policy list -o json`,
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var ps []rotapi.AttestationPolicy
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.PathAttestationPolicies, nil, &ps); err != nil {
				return err
			}
			if len(ps) == 0 && a.output == "table" {
				a.hint("No attestation policies yet (create one with: sealctl attestation policy set NAME --pcr INDEX=HEX).")
				return nil
			}
			return a.showPolicies(ps, ps)
		},
	}
}

func (a *app) showPolicies(ps []rotapi.AttestationPolicy, v any) error {
	return a.show(v, func(w io.Writer) {
		row(w, "NAME", "PCR", "SHA-256", "CREATED")
		for _, p := range ps {
			idx := make([]int, 0, len(p.PCRs))
			for k := range p.PCRs {
				i, _ := strconv.Atoi(k)
				idx = append(idx, i)
			}
			sort.Ints(idx)
			for n, i := range idx {
				name, created := p.Name, when(p.Created)
				if n > 0 {
					name, created = "", ""
				}
				row(w, name, strconv.Itoa(i), p.PCRs[strconv.Itoa(i)], created)
			}
		}
	})
}

func (a *app) attestDelete(what, path string) *cobra.Command {
	return &cobra.Command{
		Use:     "delete NAME",
		Aliases: []string{"rm"},
		Short:   "Delete an attestation " + what,
		Long: "Delete an attestation " + what + ". Deleting a key refuses the quotes it signs from then on; deleting a " +
			"policy refuses every redemption of the Workloads that name it (they never fall back to no attestation).",
		Example: "  sealctl attestation " + what + " delete NAME",
		Args:    args("NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			if err := c.do(cmd.Context(), http.MethodDelete, rotapi.Path(path, args[0]), nil, nil); err != nil {
				return err
			}
			return a.show(map[string]any{"name": args[0], "deleted": true}, func(w io.Writer) {
				fmt.Fprintf(w, "attestation %s %q deleted\n", what, args[0])
			})
		},
	}
}
