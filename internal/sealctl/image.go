package sealctl

import (
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/spf13/cobra"

	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/sealimage"
)

// EnvCosignPassword is the password of the --sign-key, as cosign reads it.
const EnvCosignPassword = "COSIGN_PASSWORD"

func (a *app) imageCommand() *cobra.Command {
	cmd := group("image", "Seal container images in CI/CD (Egg baked in, optionally encrypted, signed)",
		`Seal an image without a container engine: mint an Egg, append it to the image as a layer,
optionally encrypt the image's layers with a key only the ROT releases to attested nodes, push
the result by digest and sign it with a cosign key.`)
	cmd.AddCommand(a.imageSeal())
	return cmd
}

// imageSealResult is the -o json output of image seal.
type imageSealResult struct {
	Digest    string   `json:"digest"`
	EggID     string   `json:"eggId"`
	Workload  string   `json:"workload"`
	Peer      string   `json:"peer"`
	EggPath   string   `json:"eggPath"`
	Platforms []string `json:"platforms,omitempty"`
	Signed    bool     `json:"signed"`
	Encrypted bool     `json:"encrypted"`
	ImageKey  string   `json:"imageKey,omitempty"`
}

func (a *app) imageSeal() *cobra.Command {
	var (
		workload, peer, eggPath, owner, signKey string
		ttl                                     time.Duration
		encrypt                                 bool
	)
	cmd := &cobra.Command{
		Use:   "seal SRC DST",
		Short: "Bake an Egg into an image, push it by digest, print the digest, and sign it",
		Long: `Mint an Egg for --workload (and --peer) through the ROT and append it to SRC as one more layer:
a file at --egg-path (default /etc/seal/egg), mode 0400, owned by the image's USER (which must
be numeric, "65532" or "65532:65532"; else give --owner UID:GID). Pods then use it with the
annotation seal.dev/egg: image:/etc/seal/egg. No container engine is involved: the image is
read from and written to the registries with go-containerregistry (credentials from
~/.docker/config.json, as docker login and crane write them).

A multi-platform index is sealed per platform (BuildKit attestation manifests, which describe
the unsealed images, are dropped). The result is pushed to DST by digest; DST may be a
repository (pushed by digest only) or repository:tag (tagged too). The digest reference,
DST@sha256:..., and nothing else is printed on stdout, for the next step of the pipeline.

--sign-key signs that digest with a cosign key (cosign generate-key-pair; the password in
COSIGN_PASSWORD) in both formats Seal's image policy accepts: the classic signature tag
(sha256-<hex>.sig) and a sigstore bundle stored as an OCI referrer. Neither is written to a
transparency log: "cosign verify --key cosign.pub --insecure-ignore-tlog DST@sha256:..." checks it.

--encrypt also encrypts every other layer (OCI "+encrypted" media types, ocicrypt) under a fresh
key the ROT keeps for this image and releases only to nodes whose TPM attestation satisfies the
workload's policy (seal-keyprovider, see docs/attestation.md).

The Egg is minted before anything is pushed; if the push fails the Egg id is printed so that
it can be revoked.`,
		Example: `  sealctl image seal registry.example.org/app:1.4 registry.example.org/app-sealed --workload payments --peer api
  COSIGN_PASSWORD=... sealctl image seal ghcr.io/acme/app:$GIT_SHA ghcr.io/acme/app-sealed:$GIT_SHA \
      --workload payments --sign-key cosign.key
  sealctl image seal ghcr.io/acme/app:1.4 ghcr.io/acme/app-sealed --workload payments --encrypt`,
		Args: args("SRC", "DST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if workload == "" {
				return usagef("image seal needs --workload")
			}
			if cmd.Flags().Changed("ttl") && ttl <= 0 {
				return usagef("--ttl must be positive, not %s", ttl)
			}
			var signer signature.SignerVerifier
			if signKey != "" {
				sv, err := sealimage.LoadKey(signKey, []byte(a.getenv(EnvCosignPassword)))
				if err != nil {
					return err
				}
				signer = sv
			}
			c, err := a.connect()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			res := imageSealResult{Workload: workload, EggPath: eggPath, Encrypted: encrypt}
			// The image key first: a workload without attestation policy is refused before an
			// Egg is minted.
			var key rotapi.ImageKey
			if encrypt {
				if err := c.do(ctx, http.MethodPost, rotapi.Path(rotapi.PathImageKeys, workload), rotapi.ImageKeyCreate{}, &key); err != nil {
					return err
				}
				res.ImageKey = key.ID
			}
			req := rotapi.MintRequest{Peer: peer}
			if ttl > 0 {
				req.TTL = duration(ttl)
			}
			var egg rotapi.MintResponse
			if err := c.do(ctx, http.MethodPost, rotapi.Path(rotapi.PathEggs, workload), req, &egg); err != nil {
				return err
			}
			res.EggID, res.Peer = egg.ID, egg.Peer
			var enc sealimage.Encrypter
			if encrypt {
				if enc, err = sealimage.NewEncrypter(key.ID, key.Key, egg.Egg); err != nil {
					return err
				}
			}
			kc := remote.WithAuthFromKeychain(authn.DefaultKeychain)
			out, err := sealimage.Seal(ctx, args[0], args[1], sealimage.Options{
				Egg: egg.Egg, EggPath: eggPath, Owner: owner, Encrypt: enc, Remote: []remote.Option{kc}, Now: a.now,
			})
			if err != nil {
				return fmt.Errorf("%w (the Egg %s minted for it is unused: sealctl egg revoke %s)", err, egg.ID, egg.ID)
			}
			res.Digest, res.Platforms = out.Digest.String(), out.Platforms
			if signer != nil {
				if err := sealimage.Sign(out.Digest, signer, ociremote.WithRemoteOptions(kc, remote.WithContext(ctx))); err != nil {
					return fmt.Errorf("pushed %s but: %w", out.Digest, err)
				}
				res.Signed = true
			}
			if a.output == "json" {
				return a.show(res, nil)
			}
			a.hint("Sealed Egg %s (workload %q peer %q) at %s into %s%s%s%s.", egg.ID, workload, egg.Peer, eggPath, out.Digest,
				platformsNote(out.Platforms), map[bool]string{true: ", layers encrypted under image key " + res.ImageKey, false: ""}[encrypt],
				map[bool]string{true: ", signed", false: ""}[res.Signed])
			_, err = fmt.Fprintln(a.stdout, out.Digest.String())
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&workload, "workload", "", "the workload the Egg enrolls in (required)")
	f.StringVar(&peer, "peer", "", `the peer (role) the Egg enrolls as (default "any")`)
	f.StringVar(&eggPath, "egg-path", sealimage.DefaultEggPath, "where the Egg file is written in the image")
	f.StringVar(&owner, "owner", "", "UID[:GID] owning the Egg file (default: the image's USER, which must then be numeric)")
	f.StringVar(&signKey, "sign-key", "", "a cosign private key (cosign.key) to sign the pushed digest with; password in "+EnvCosignPassword)
	f.DurationVar(&ttl, "ttl", 0, "how long the Egg can be redeemed (default 720h)")
	f.BoolVar(&encrypt, "encrypt", false, "encrypt the image's layers under a fresh key the ROT releases only to attested nodes")
	_ = cmd.MarkFlagFilename("sign-key", "key")
	_ = cmd.RegisterFlagCompletionFunc("workload", func(c *cobra.Command, _ []string, s string) ([]string, cobra.ShellCompDirective) {
		return a.completeWorkload(c, nil, s)
	})
	return cmd
}

func platformsNote(p []string) string {
	if len(p) == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d platforms)", len(p))
}
