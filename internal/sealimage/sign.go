package sealimage

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	intotov1 "github.com/in-toto/attestation/go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	cbundle "github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"
	"google.golang.org/protobuf/encoding/protojson"
)

// LoadKey reads a cosign private key (cosign generate-key-pair's cosign.key, encrypted with
// password; COSIGN_PASSWORD in CI).
func LoadKey(path string, password []byte) (signature.SignerVerifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sealimage: reading the signing key: %w", err)
	}
	sv, err := cosign.LoadPrivateKey(b, password, nil)
	if err != nil {
		return nil, fmt.Errorf("sealimage: loading the cosign key %s (is COSIGN_PASSWORD right?): %w", path, err)
	}
	return sv, nil
}

// Sign attaches two signatures of d by sv: the legacy cosign signature under the
// "sha256-<hex>.sig" tag (cosign sign) and a sigstore bundle (a DSSE in-toto statement of the
// cosign sign predicate) as an OCI referrer (cosign sign --new-bundle-format). Neither is
// uploaded to a transparency log: verify with --insecure-ignore-tlog, or Seal's key policy.
func Sign(d name.Digest, sv signature.SignerVerifier, opts ...ociremote.Option) error {
	if err := SignLegacy(d, sv, opts...); err != nil {
		return fmt.Errorf("sealimage: signing %s: %w", d, err)
	}
	if err := signBundle(d, sv, opts); err != nil {
		return fmt.Errorf("sealimage: signing %s (bundle): %w", d, err)
	}
	return nil
}

// SignLegacy attaches only the legacy cosign signature of d (the "sha256-<hex>.sig" tag, what
// `cosign sign --key` writes without --new-bundle-format). Releases that also attach legacy
// attestations (`cosign attest`) sign this way: cosign 2.6 reads only bundles once an image
// has OCI referrers.
func SignLegacy(d name.Digest, sv signature.SignerVerifier, opts ...ociremote.Option) error {
	payload, err := (&sigpayload.Cosign{Image: d}).MarshalJSON()
	if err != nil {
		return err
	}
	raw, err := sv.SignMessage(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	sig, err := static.NewSignature(payload, base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		return err
	}
	se, err := ociremote.SignedEntity(d, opts...)
	if err != nil {
		return err
	}
	if se, err = mutate.AttachSignatureToEntity(se, sig); err != nil {
		return err
	}
	return ociremote.WriteSignatures(d.Repository, se, opts...)
}

func signBundle(d name.Digest, sv signature.SignerVerifier, opts []ociremote.Option) error {
	alg, hexDigest, _ := strings.Cut(d.DigestStr(), ":")
	stmt := &intotov1.Statement{
		Type:          intotov1.StatementTypeUri,
		Subject:       []*intotov1.ResourceDescriptor{{Digest: map[string]string{alg: hexDigest}}},
		PredicateType: types.CosignSignPredicateType,
	}
	payload, err := protojson.Marshal(stmt)
	if err != nil {
		return err
	}
	env, err := dsse.WrapSigner(sv, types.IntotoPayloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		return err
	}
	pub, err := sv.PublicKey()
	if err != nil {
		return err
	}
	pubPEM, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return err
	}
	b, err := cbundle.MakeNewBundle(pub, nil, payload, env, pubPEM, nil)
	if err != nil {
		return err
	}
	return ociremote.WriteAttestationNewBundleFormat(d, b, types.CosignSignPredicateType, opts...)
}
