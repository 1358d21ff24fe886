package main

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/seal-dev/seal/internal/verify/verifytest"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

type images struct {
	signed, unsigned, initImage string
}

func (d *story) startRegistry(ctx context.Context) error {
	d.n.Step("Starting an OCI registry on loopback with a signed and an unsigned image.")
	reg := verifytest.NewRegistry(d.h)
	key := verifytest.NewKey(d.h)
	app := reg.Push(d.h, "team/payments", "v1")
	key.SignBundle(d.h, app) // the sigstore bundle format, stored as an OCI referrer
	initImg := reg.Push(d.h, "seal/seal-init", "demo")
	key.SignLegacy(d.h, initImg) // the legacy .sig tag format
	reg.Push(d.h, "team/unsigned", "v1")
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
