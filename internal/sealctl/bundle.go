package sealctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/seal-dev/seal/internal/rotapi"
)

// maxBundleBytes bounds a bundle file: it must fit, as a JSON string, in one ROT request body.
const maxBundleBytes = rotapi.MaxBodyBytes / 2

func (a *app) bundleCommand() *cobra.Command {
	cmd := group("bundle", "Export, import and list SPIFFE trust bundles",
		`Trust bundles let workloads of two trust domains authenticate each other. A bundle is the
SPIFFE bundle JSON document (the one GET /v1/bundle serves), so bundles from SPIRE or any SPIFFE
implementation import as they are. Use export and import when two ROTs cannot reach each other's
bundle endpoints (air gap, one-way networks).`)
	cmd.Aliases = []string{"bundles"}
	cmd.AddCommand(a.bundleExport(), a.bundleImport(), a.bundleList())
	return cmd
}

func (a *app) bundleExport() *cobra.Command {
	return &cobra.Command{
		Use:   "export > bundle.json",
		Short: "Print this trust domain's SPIFFE bundle on stdout",
		Long: `Print this ROT's trust domain bundle (SPIFFE bundle JSON document with its X.509 authorities)
on stdout. Carry it to the other trust domain and import it there with
"sealctl bundle import --trust-domain THIS_TD bundle.json". Bundles hold only public keys.`,
		Example: `  sealctl bundle export > prod.example.org.json`,
		Args:    args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var doc json.RawMessage
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.PathExport, nil, &doc); err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := json.Indent(&buf, doc, "", "  "); err != nil {
				return fmt.Errorf("the ROT's bundle is not JSON: %w", err)
			}
			buf.WriteByte('\n')
			_, err = a.stdout.Write(buf.Bytes())
			return err
		},
	}
}

func (a *app) bundleImport() *cobra.Command {
	var td, endpoint, profile, endpointID string
	cmd := &cobra.Command{
		Use:   "import --trust-domain TD FILE",
		Short: "Import a foreign trust domain's SPIFFE bundle",
		Long: `Import the SPIFFE bundle document of a foreign trust domain from FILE ("-" reads stdin).
sealctl checks the document locally first (it parses as a SPIFFE bundle, has at least one
X.509 authority, not all of them expired) and then sends it to the ROT, which gives it to the
pods of workloads that federate with TD.

Optionally name the foreign bundle endpoint so the ROT keeps the bundle fresh itself:
--bundle-endpoint-url with --endpoint-profile https_spiffe (and --endpoint-spiffe-id) or
https_web.`,
		Example: `  sealctl bundle import --trust-domain partner.example.org partner.json
  sealctl bundle import --trust-domain partner.example.org partner.json \
    --bundle-endpoint-url https://rot.partner.example.org:8443/v1/bundle \
    --endpoint-profile https_spiffe --endpoint-spiffe-id spiffe://partner.example.org/seal/rot`,
		Args: args("FILE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if td == "" {
				return usagef("bundle import needs --trust-domain TD, the trust domain the bundle belongs to")
			}
			if _, err := spiffeid.TrustDomainFromString(td); err != nil {
				return usagef("--trust-domain %q: %v", td, err)
			}
			fb := rotapi.FederatedBundle{TrustDomain: td, BundleEndpointURL: endpoint, EndpointProfile: profile, EndpointSPIFFEID: endpointID}
			if err := checkEndpoint(&fb); err != nil {
				return err
			}
			data, err := a.readBundleFile(args[0])
			if err != nil {
				return err
			}
			b, err := parseBundle(td, data, a.now())
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			fb.Bundle = string(data)
			c, err := a.connect()
			if err != nil {
				return err
			}
			var out rotapi.FederatedBundle
			if err := c.do(cmd.Context(), http.MethodPost, rotapi.PathBundles, fb, &out); err != nil {
				return err
			}
			if out.TrustDomain == "" {
				out = fb
			}
			return a.show(out, func(w io.Writer) {
				fmt.Fprintf(w, "Imported the bundle of trust domain %q (%d X.509 authorities).\n", td, len(b.X509Authorities()))
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&td, "trust-domain", "", "the trust domain the bundle belongs to (required)")
	f.StringVar(&endpoint, "bundle-endpoint-url", "", "the foreign bundle endpoint the ROT may refresh the bundle from")
	f.StringVar(&profile, "endpoint-profile", "", "bundle endpoint profile: https_spiffe or https_web")
	f.StringVar(&endpointID, "endpoint-spiffe-id", "", "SPIFFE ID of the bundle endpoint server (https_spiffe)")
	_ = cmd.RegisterFlagCompletionFunc("endpoint-profile", cobra.FixedCompletions([]string{"https_spiffe", "https_web"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// checkEndpoint validates the optional bundle endpoint flags together.
func checkEndpoint(fb *rotapi.FederatedBundle) error {
	if fb.BundleEndpointURL == "" {
		if fb.EndpointProfile != "" || fb.EndpointSPIFFEID != "" {
			return usagef("--endpoint-profile and --endpoint-spiffe-id need --bundle-endpoint-url")
		}
		return nil
	}
	if u, err := url.Parse(fb.BundleEndpointURL); err != nil || u.Scheme != "https" || u.Host == "" {
		return usagef("--bundle-endpoint-url %q is not an https:// URL", fb.BundleEndpointURL)
	}
	switch fb.EndpointProfile {
	case "https_web":
		if fb.EndpointSPIFFEID != "" {
			return usagef("--endpoint-spiffe-id is only for --endpoint-profile https_spiffe")
		}
	case "https_spiffe":
		id, err := spiffeid.FromString(fb.EndpointSPIFFEID)
		if err != nil {
			return usagef("--endpoint-profile https_spiffe needs --endpoint-spiffe-id, a SPIFFE ID: %v", err)
		}
		if id.TrustDomain().Name() != fb.TrustDomain {
			return usagef("--endpoint-spiffe-id %s is not in trust domain %q", id, fb.TrustDomain)
		}
	default:
		return usagef("--endpoint-profile must be https_spiffe or https_web, not %q", fb.EndpointProfile)
	}
	return nil
}

// readBundleFile reads a bundle from a file or, for "-", stdin, refusing anything too large.
func (a *app) readBundleFile(name string) ([]byte, error) {
	var r io.Reader
	if name == "-" {
		r = a.stdin
	} else {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxBundleBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxBundleBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes; not a bundle sealctl imports", name, maxBundleBytes)
	}
	return data, nil
}

// parseBundle checks a SPIFFE bundle document for trust domain td: it must parse, hold at least
// one X.509 authority, and not all of them may have expired at now.
func parseBundle(td string, data []byte, now time.Time) (*spiffebundle.Bundle, error) {
	id, err := spiffeid.TrustDomainFromString(td)
	if err != nil {
		return nil, fmt.Errorf("--trust-domain %q: %v", td, err)
	}
	if len(data) > maxBundleBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxBundleBytes)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file, not a SPIFFE bundle document")
	}
	b, err := spiffebundle.Parse(id, data)
	if err != nil {
		return nil, fmt.Errorf("not a SPIFFE bundle document: %v", err)
	}
	auths := b.X509Authorities()
	if len(auths) == 0 {
		return nil, errors.New("no X.509 authorities (keys with \"use\": \"x509-svid\"); Seal needs at least one")
	}
	var latest time.Time
	for _, c := range auths {
		if c.NotAfter.After(latest) {
			latest = c.NotAfter
		}
	}
	if now.After(latest) {
		return nil, fmt.Errorf("every X.509 authority has expired (the last on %s)", when(latest))
	}
	return b, nil
}

func (a *app) bundleList() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the foreign trust domains' bundles the ROT holds",
		Long:    `List the federated trust domains whose bundles the ROT holds: number of X.509 authorities, sequence number, bundle endpoint, last refresh and last error.`,
		Example: `  sealctl bundle list
  sealctl bundle list -o json`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.connect()
			if err != nil {
				return err
			}
			var bs []rotapi.FederatedBundle
			if err := c.do(cmd.Context(), http.MethodGet, rotapi.PathBundles, nil, &bs); err != nil {
				return err
			}
			if bs == nil {
				bs = []rotapi.FederatedBundle{}
			}
			if len(bs) == 0 && a.output == "table" {
				a.hint("No federated trust domains (import one with: sealctl bundle import --trust-domain TD FILE).")
				return nil
			}
			return a.show(bs, func(w io.Writer) {
				row(w, "TRUST DOMAIN", "AUTHORITIES", "SEQUENCE", "ENDPOINT", "LAST REFRESHED", "LAST ERROR")
				for _, x := range bs {
					n := "-"
					if id, err := spiffeid.TrustDomainFromString(x.TrustDomain); err == nil && x.Bundle != "" {
						if b, err := spiffebundle.Parse(id, []byte(x.Bundle)); err == nil {
							n = strconv.Itoa(len(b.X509Authorities()))
						}
					}
					refreshed := "-"
					if x.LastRefreshed != nil {
						refreshed = when(*x.LastRefreshed)
					}
					row(w, x.TrustDomain, n, strconv.FormatUint(x.SequenceNumber, 10), orDash(x.BundleEndpointURL), refreshed, orDash(x.LastError))
				}
			})
		},
	}
}
