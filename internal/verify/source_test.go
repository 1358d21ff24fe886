package verify_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"

	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/internal/verify"
	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// approvedCache starts a real API server holding n ApprovedImages (digest i at sha256:%064x)
// and an informer cache of them with the digest index, as seal-webhook has.
func approvedCache(t testing.TB, n int) cache.Cache {
	t.Helper()
	env := testenv.Start(t, testenv.Options{NoControllerManager: true})
	ctx := context.Background()
	for i := range n {
		a := &sealv1.ApprovedImage{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("release-%05d", i)},
			Spec: sealv1.ApprovedImageSpec{Image: fmt.Sprintf("registry.example.com/team/app-%d@sha256:%064x", i%7, i)}}
		if err := env.Client.Create(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	c := env.StartCache(t, func(ctx context.Context, c cache.Cache) error { return verify.IndexApproved(ctx, c) }, &sealv1.ApprovedImage{})
	testenv.Eventually(t, 30*time.Second, func() error {
		var l sealv1.ApprovedImageList
		if err := c.List(ctx, &l); err != nil || len(l.Items) != n {
			return fmt.Errorf("cache has %d of %d ApprovedImages (%v)", len(l.Items), n, err)
		}
		return nil
	})
	return c
}

// TestApprovedImageIndexed: through the digest index and by listing everything, a review finds
// the ApprovedImage of its digest, whatever repository spec.image names, and nothing for an
// unknown digest.
func TestApprovedImageIndexed(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real API server")
	}
	c := approvedCache(t, 40)
	for _, indexed := range []bool{true, false} {
		src := verify.ClusterSource{Client: c, Indexed: indexed}
		for _, tc := range []struct{ digest, want string }{
			{fmt.Sprintf("sha256:%064x", 0), "release-00000"},
			{fmt.Sprintf("sha256:%064x", 39), "release-00039"},
			{fmt.Sprintf("sha256:%064x", 40), ""},
			{"", ""},
		} {
			got, err := src.ApprovedImage(context.Background(), tc.digest)
			if err != nil || got != tc.want {
				t.Errorf("indexed %v: ApprovedImage(%q) = %q, %v; want %q", indexed, tc.digest, got, err, tc.want)
			}
		}
	}
}

// BenchmarkApprovedImage is the cost, for one review, of finding an image's ApprovedImage among
// 2,000 in seal-webhook's informer cache: through the digest index, by listing them all
// without a copy, and by listing deep copies as the webhook did before.
func BenchmarkApprovedImage(b *testing.B) {
	const n = 2000
	c := approvedCache(b, n)
	ctx := context.Background()
	digest := fmt.Sprintf("sha256:%064x", n-1)
	for _, bc := range []struct {
		name string
		find func() (string, error)
	}{
		{"index", func() (string, error) {
			return verify.ClusterSource{Client: c, Indexed: true}.ApprovedImage(ctx, digest)
		}},
		{"list-no-copy", func() (string, error) { return verify.ClusterSource{Client: c}.ApprovedImage(ctx, digest) }},
		{"list-deep-copy", func() (string, error) {
			var l sealv1.ApprovedImageList
			if err := c.List(ctx, &l); err != nil {
				return "", err
			}
			for _, a := range l.Items {
				if strings.HasSuffix(a.Spec.Image, "@"+digest) {
					return a.Name, nil
				}
			}
			return "", nil
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got, err := bc.find(); err != nil || got == "" {
					b.Fatalf("got %q, %v", got, err)
				}
			}
		})
	}
}
