package ociimage

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign/attestation"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"

	"github.com/seal-dev/seal/internal/sealimage"
)

// LoadSigner reads a cosign private key (`cosign generate-key-pair`'s cosign.key, encrypted
// with the password in $COSIGN_PASSWORD, as the cosign CLI reads it).
func LoadSigner(path string) (signature.SignerVerifier, error) {
	return sealimage.LoadKey(path, []byte(os.Getenv("COSIGN_PASSWORD")))
}

// Sign attaches to the image d what `cosign sign --key` and `cosign attest --key --type
// spdxjson` attach without a transparency log: a signature of d under the `sha256-<hex>.sig`
// tag and, when sbom is not empty, a signed in-toto statement whose predicate is that SPDX
// document under the `.att` tag. `cosign verify --key cosign.pub --insecure-ignore-tlog` and
// `cosign verify-attestation --type spdxjson ...` check them, as does Seal's own verification.
func Sign(ctx context.Context, d name.Digest, sv signature.SignerVerifier, sbom []byte, opts ...remote.Option) error {
	ro := ociremote.WithRemoteOptions(append([]remote.Option{remote.WithContext(ctx)}, opts...)...)
	if err := sealimage.SignLegacy(d, sv, ro); err != nil {
		return fmt.Errorf("ociimage: signing %s: %w", d, err)
	}
	if len(sbom) == 0 {
		return nil
	}
	return attest(d, sv, sbom, ro)
}

// attest attaches sbom as a signed spdxjson attestation of d.
func attest(d name.Digest, sv signature.SignerVerifier, sbom []byte, ro ociremote.Option) error {
	_, hexDigest, _ := strings.Cut(d.DigestStr(), ":")
	stmt, err := attestation.GenerateStatement(attestation.GenerateOpts{
		Predicate: bytes.NewReader(sbom), Type: "spdxjson", Digest: hexDigest, Repo: d.Repository.String(),
	})
	if err != nil {
		return fmt.Errorf("ociimage: sbom statement for %s: %w", d, err)
	}
	payload, err := json.Marshal(stmt)
	if err != nil {
		return fmt.Errorf("ociimage: sbom statement for %s: %w", d, err)
	}
	env, err := dsse.WrapSigner(sv, types.IntotoPayloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("ociimage: signing the sbom of %s: %w", d, err)
	}
	att, err := static.NewAttestation(env, static.WithLayerMediaType(types.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": SPDXPredicateType}))
	if err != nil {
		return fmt.Errorf("ociimage: sbom attestation for %s: %w", d, err)
	}
	se, err := mutate.AttachAttestationToEntity(ociremote.SignedUnknown(d, ro), att)
	if err != nil {
		return fmt.Errorf("ociimage: sbom attestation for %s: %w", d, err)
	}
	if err := ociremote.WriteAttestations(d.Repository, se, ro); err != nil {
		return fmt.Errorf("ociimage: pushing the sbom attestation of %s: %w", d, err)
	}
	return nil
}
