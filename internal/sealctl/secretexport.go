package sealctl

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/atomicfile"
	"github.com/seal-dev/seal/internal/rotapi"
)

func (a *app) secretExport() *cobra.Command {
	var recipient string
	cmd := &cobra.Command{
		Use:   "export WORKLOAD --recipient AGE_RECIPIENT > secrets.json",
		Short: "Write a workload's secrets for an edge, encrypted to its age recipient",
		Long: `Write the workload's secrets that have not expired as a VSecM-shaped JSON document
({"secrets":[{"name","value","created","updated","notBefore","expiresAfter"}],"algorithm":"age"}),
each value an ASCII-armored age file encrypted to the edge's X25519 recipient. The edge
decrypts a value with its identity and the age CLI, or the whole document with
"sealctl secret decrypt". Secrets not yet valid are included with their window.`,
		Example: `  age-keygen -o edge-key.txt        # on the edge; prints its public key age1...
  sealctl secret export payments --recipient age1... > secrets.json
  jq -r '.secrets[] | select(.name=="db-password") | .value' secrets.json | age -d -i edge-key.txt`,
		Args:              args("WORKLOAD"),
		ValidArgsFunction: a.completeWorkload,
		RunE: func(cmd *cobra.Command, args []string) error {
			if recipient == "" {
				return usagef("secret export needs --recipient AGE_RECIPIENT (the edge's public key, age1...)")
			}
			if _, err := age.ParseX25519Recipient(recipient); err != nil {
				return usagef("--recipient %q is not an age X25519 recipient (age1...): %v", recipient, err)
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			var doc rotapi.SecretsDocument
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.Path(rotapi.PathSecretsExport, args[0]), rotapi.ExportRequest{Recipient: recipient}, &doc); err != nil {
				return err
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(doc); err != nil {
				return err
			}
			a.hint("Exported %d secret(s) of workload %q for %s.", len(doc.Secrets), args[0], recipient)
			return nil
		},
	}
	cmd.Flags().StringVar(&recipient, "recipient", "", "the edge's age X25519 `recipient` (age1...)")
	return cmd
}

func (a *app) secretDecrypt() *cobra.Command {
	var identity, name, out string
	var all bool
	cmd := &cobra.Command{
		Use:   "decrypt --identity FILE [--name NAME | --out DIR] < secrets.json",
		Short: "Decrypt a secrets document with an age identity (no ROT needed)",
		Long: `Read a secrets document (from "sealctl secret export", or GET /v1/secrets) on stdin and decrypt
its values with the age identities in --identity (an age-keygen file, or a pod's keys.txt).
Only secrets valid now are decrypted unless --all is given. Without --name or --out it
prints a JSON object {NAME: VALUE}; --name prints one value as it is; --out writes each to
DIR/NAME (0400, atomically). It does not talk to the ROT.`,
		Example: `  sealctl secret decrypt --identity edge-key.txt < secrets.json
  sealctl secret decrypt --identity edge-key.txt --name db-password < secrets.json
  sealctl secret decrypt --identity edge-key.txt --out /run/secrets < secrets.json`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if identity == "" {
				return usagef("secret decrypt needs --identity FILE (age identities, e.g. from age-keygen)")
			}
			if name != "" && out != "" {
				return usagef("give --name or --out, not both")
			}
			f, err := os.Open(identity)
			if err != nil {
				return fmt.Errorf("reading --identity: %w", err)
			}
			ids, err := age.ParseIdentities(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("--identity %s: %w", identity, err)
			}
			raw, err := io.ReadAll(io.LimitReader(a.stdin, rotapi.MaxSecretsDocument+1))
			if err != nil {
				return fmt.Errorf("reading the document on stdin: %w", err)
			}
			doc, err := rotapi.ParseSecretsDocument(raw)
			if err != nil {
				return err
			}
			vals, order, err := decryptDocument(doc, ids, a.now(), all)
			if err != nil {
				return err
			}
			switch {
			case name != "":
				v, ok := vals[name]
				if !ok {
					return fmt.Errorf("the document has no secret %q valid now (names: %s; --all includes pending and expired ones)", name, list(order))
				}
				_, err := a.stdout.Write(v)
				return err
			case out != "":
				if err := os.MkdirAll(out, 0o700); err != nil {
					return err
				}
				for _, n := range order {
					if err := atomicfile.WriteFile(filepath.Join(out, n), vals[n], 0o400); err != nil {
						return err
					}
				}
				a.hint("Wrote %d secret(s) to %s.", len(order), out)
				return nil
			}
			m := map[string]string{}
			for _, n := range order {
				if !utf8.Valid(vals[n]) {
					return fmt.Errorf("secret %q is not UTF-8 text; write it with --name %s or --out DIR", n, n)
				}
				m[n] = string(vals[n])
			}
			enc := json.NewEncoder(a.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(m)
		},
	}
	f := cmd.Flags()
	f.StringVar(&identity, "identity", "", "age identity `file` (age-keygen output or a pod's keys.txt)")
	f.StringVar(&name, "name", "", "print only this secret's value, as it is")
	f.StringVar(&out, "out", "", "write each secret to `DIR`/NAME")
	f.BoolVar(&all, "all", false, "also decrypt secrets outside their validity window")
	return cmd
}

// decryptDocument decrypts the values of doc valid at now (every one with all).
func decryptDocument(doc *rotapi.SecretsDocument, ids []age.Identity, now time.Time, all bool) (map[string][]byte, []string, error) {
	vals := map[string][]byte{}
	var order []string
	for _, e := range doc.Secrets {
		if !all && !e.ValidAt(now) {
			continue
		}
		r, err := age.Decrypt(armor.NewReader(strings.NewReader(e.Value)), ids...)
		if err != nil {
			return nil, nil, fmt.Errorf("secret %q does not decrypt with the given identity: %w", e.Name, err)
		}
		v, err := io.ReadAll(io.LimitReader(r, rotapi.MaxSecretValue+1))
		if err != nil {
			return nil, nil, fmt.Errorf("secret %q: %w", e.Name, err)
		}
		vals[e.Name] = v
		order = append(order, e.Name)
	}
	return vals, order, nil
}
