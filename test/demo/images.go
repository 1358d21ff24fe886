package main

import (
	"context"

	"github.com/sigstore/cosign/v2/pkg/types"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

type images struct {
	signed, unsigned, initImage string
}

func (d *story) startRegistry(ctx context.Context) error {
	d.n.Step("Starting an OCI registry on loopback with a signed and an unsigned image.")
	reg := verifytest.StartRegistry()
	d.h.Cleanup(reg.Close)
	key, err := verifytest.GenerateKey()
	if err != nil {
		return err
	}
	app, err := reg.PushRandom("team/payments", "v1")
	if err != nil {
		return err
	}
	// The sigstore bundle format, stored as an OCI referrer.
	if err := key.WriteBundle(app, types.CosignSignPredicateType); err != nil {
		return err
	}
	initImg, err := reg.PushRandom("seal/seal-init", "demo")
	if err != nil {
		return err
	}
	// The legacy .sig tag format.
	if err := key.WriteLegacySignature(initImg); err != nil {
		return err
	}
	if _, err := reg.PushRandom("team/unsigned", "v1"); err != nil {
		return err
	}
	d.img = &images{
		signed:    reg.Host + "/team/payments:v1",
		unsigned:  reg.Host + "/team/unsigned:v1",
		initImage: reg.Host + "/seal/seal-init:demo",
	}
	d.n.Say("%s   signed with the release key (sigstore bundle)", d.img.signed)
	d.n.Say("%s   signed with the release key (.sig tag)", d.img.initImage)
	d.n.Say("%s  not signed", d.img.unsigned)
	policy := &sealv1.ImagePolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-registry"},
		Spec: sealv1.ImagePolicySpec{
			Images:      []sealv1.ImagePattern{{Glob: reg.Host + "/**"}},
			Authorities: []sealv1.Authority{{Name: "release-key", Key: &sealv1.KeyRef{Data: key.PublicPEM}}},
			Mode:        sealv1.ModeEnforce,
		},
	}
	if err := d.env.Client.Create(ctx, policy); err != nil {
		return err
	}
	d.n.Say("ImagePolicy demo-registry: images %s/** need a signature by the release key (enforce).", reg.Host)
	return nil
}
