package keyprovider

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/rotapi"
)

// ROT gets image keys from a Seal ROT with this node's TPM evidence.
type ROT struct {
	Client *rotapi.Client
	// TPM is the node's TPM (attest.OpenTPM: /dev/tpmrm0 or tcp:HOST:PORT) and AKHandle the
	// persistent handle of its registered attestation key (seal-init attest enroll).
	TPM      string
	AKHandle uint32
	// TokenFile, when set, is read for every request: a Kubernetes ServiceAccount token sent
	// as the request's token, for workloads bound to clusters (pod binding).
	TokenFile string
}

// ImageKey asks the ROT for a challenge for the annotation's Egg, quotes the PCRs it names,
// and asks for the image key with that evidence.
func (r *ROT) ImageKey(ctx context.Context, a *Annotation) ([]byte, error) {
	ch, err := r.Client.Challenge(ctx, a.Egg)
	if err != nil {
		return nil, fmt.Errorf("keyprovider: the ROT at %s refused a challenge for image key %s: %w", r.Client.Base, a.ImageKey, err)
	}
	var ev *rotapi.Evidence
	if len(ch.PCRs) > 0 {
		nonce, err := base64.StdEncoding.DecodeString(ch.Nonce)
		if err != nil || len(nonce) == 0 {
			return nil, fmt.Errorf("keyprovider: the ROT's nonce is not base64")
		}
		t, err := attest.OpenTPM(r.TPM)
		if err != nil {
			return nil, fmt.Errorf("keyprovider: %w", err)
		}
		ev, err = attest.Quote(t, r.AKHandle, nonce, ch.PCRs)
		t.Close()
		if err != nil {
			return nil, fmt.Errorf("keyprovider: %w (enroll the node: seal-init attest enroll, sealctl attestation key add)", err)
		}
	}
	req := &rotapi.ImageKeyRequest{Egg: a.Egg, ImageKey: a.ImageKey, Evidence: ev}
	if r.TokenFile != "" {
		b, err := os.ReadFile(r.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("keyprovider: reading --token-file: %w", err)
		}
		req.Token = strings.TrimSpace(string(b))
	}
	k, err := r.Client.ReleaseImageKey(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("keyprovider: the ROT at %s refused image key %s to this node: %w", r.Client.Base, a.ImageKey, err)
	}
	if k.ID != a.ImageKey || len(k.Key) != rotapi.ImageKeySize {
		return nil, fmt.Errorf("keyprovider: the ROT answered image key %q of %d bytes for %s", k.ID, len(k.Key), a.ImageKey)
	}
	return k.Key, nil
}
