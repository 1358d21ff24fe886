package verify

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	sealv1 "github.com/seal-dev/seal/pkg/apis/seal/v1alpha1"
)

// StaticPolicies is a fixed set of policies (from a file, or built in a test).
type StaticPolicies struct {
	Policies []sealv1.ImagePolicy
	Approved []sealv1.ApprovedImage
}

func (s *StaticPolicies) ImagePolicies(context.Context) ([]sealv1.ImagePolicy, error) {
	return s.Policies, nil
}

func (s *StaticPolicies) ApprovedImage(_ context.Context, digest string) (string, error) {
	for _, a := range s.Approved {
		if ApprovedDigest(&a) == digest {
			return a.Name, nil
		}
	}
	return "", nil
}

// ApprovedDigestField is the cache index of ApprovedImages by the digest of spec.image
// (IndexApproved registers it): a review finds the ApprovedImage of its image in one lookup
// instead of copying every ApprovedImage out of the cache.
const ApprovedDigestField = "seal.dev/approved-digest"

// ApprovedDigest is the digest (sha256:…) spec.image ends in, or "". The CRD (and
// ReadPolicies) make spec.image end in @sha256:…: the digest is the content approved.
func ApprovedDigest(a *sealv1.ApprovedImage) string {
	if i := strings.LastIndexByte(a.Spec.Image, '@'); i >= 0 {
		return a.Spec.Image[i+1:]
	}
	return ""
}

// IndexApproved registers ApprovedDigestField on a cache (a manager's GetFieldIndexer()); call
// it before the cache starts, and set ClusterSource.Indexed.
func IndexApproved(ctx context.Context, fi client.FieldIndexer) error {
	return fi.IndexField(ctx, &sealv1.ApprovedImage{}, ApprovedDigestField, func(o client.Object) []string {
		if d := ApprovedDigest(o.(*sealv1.ApprovedImage)); d != "" {
			return []string{d}
		}
		return nil
	})
}

// maxPolicyFile bounds what ReadPolicies reads.
const maxPolicyFile = 8 << 20

// ReadPolicies reads ImagePolicy and ApprovedImage documents from multi-document YAML (or JSON).
// Other kinds are an error, so a typo does not silently drop a policy.
func ReadPolicies(r io.Reader) (*StaticPolicies, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPolicyFile+1))
	if err != nil {
		return nil, fmt.Errorf("verify: reading policies: %w", err)
	}
	if len(data) > maxPolicyFile {
		return nil, fmt.Errorf("verify: policy file larger than %d bytes", maxPolicyFile)
	}
	out := &StaticPolicies{}
	rd := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for n := 1; ; n++ {
		doc, err := rd.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("verify: policy document %d: %w", n, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return nil, fmt.Errorf("verify: policy document %d: %w", n, err)
		}
		if head.Kind == "" && head.APIVersion == "" {
			continue // comments only
		}
		if head.APIVersion != sealv1.GroupVersion.String() {
			return nil, fmt.Errorf("verify: policy document %d: apiVersion %q, want %s", n, head.APIVersion, sealv1.GroupVersion)
		}
		switch head.Kind {
		case "ImagePolicy":
			var p sealv1.ImagePolicy
			if err := yaml.UnmarshalStrict(doc, &p); err != nil {
				return nil, fmt.Errorf("verify: ImagePolicy (document %d): %w", n, err)
			}
			if err := CheckPolicy(&p); err != nil {
				return nil, err
			}
			out.Policies = append(out.Policies, p)
		case "ApprovedImage":
			var a sealv1.ApprovedImage
			if err := yaml.UnmarshalStrict(doc, &a); err != nil {
				return nil, fmt.Errorf("verify: ApprovedImage (document %d): %w", n, err)
			}
			if _, ok, err := PinnedDigest(a.Spec.Image); err != nil || !ok {
				return nil, fmt.Errorf("verify: ApprovedImage %q: spec.image %q must carry an @sha256: digest", a.Name, a.Spec.Image)
			}
			out.Approved = append(out.Approved, a)
		default:
			return nil, fmt.Errorf("verify: policy document %d: kind %q, want ImagePolicy or ApprovedImage", n, head.Kind)
		}
	}
	return out, nil
}

// CheckFile decides on image offline from a file of ImagePolicy/ApprovedImage documents, as
// the admission webhook would in a namespace without labels. Registry credentials come from the
// local Docker config. Keys in Secrets cannot be read offline (those authorities fail).
func CheckFile(ctx context.Context, image, policyFile string) (Decision, error) {
	f, err := os.Open(policyFile)
	if err != nil {
		return Decision{}, fmt.Errorf("verify: %w", err)
	}
	defer f.Close()
	pols, err := ReadPolicies(f)
	if err != nil {
		return Decision{}, err
	}
	v, err := New(Options{Policies: pols, CacheTTL: -1})
	if err != nil {
		return Decision{}, err
	}
	return v.Verify(ctx, Request{Image: image, Keychain: authn.DefaultKeychain}), nil
}

// ClusterSource reads policies and secretRef keys through a controller-runtime client (usually
// the manager's cached client).
type ClusterSource struct {
	Client client.Reader
	// Indexed says Client is a cache with IndexApproved registered: an ApprovedImage is found
	// by its digest. Without it every ApprovedImage is listed and compared. Either way a cache
	// hands out its objects without a deep copy (the verifier only reads them).
	Indexed bool
}

func (c ClusterSource) ImagePolicies(ctx context.Context) ([]sealv1.ImagePolicy, error) {
	var l sealv1.ImagePolicyList
	if err := c.Client.List(ctx, &l, client.UnsafeDisableDeepCopy); err != nil {
		return nil, err
	}
	return l.Items, nil
}

func (c ClusterSource) ApprovedImage(ctx context.Context, digest string) (string, error) {
	var l sealv1.ApprovedImageList
	opts := []client.ListOption{client.UnsafeDisableDeepCopy}
	if c.Indexed {
		opts = append(opts, client.MatchingFields{ApprovedDigestField: digest})
	}
	if err := c.Client.List(ctx, &l, opts...); err != nil {
		return "", err
	}
	for i := range l.Items {
		if ApprovedDigest(&l.Items[i]) == digest {
			return l.Items[i].Name, nil
		}
	}
	return "", nil
}

func (c ClusterSource) PublicKey(ctx context.Context, namespace, name, key string) ([]byte, error) {
	var s corev1.Secret
	if err := c.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s); err != nil {
		return nil, err
	}
	b, ok := s.Data[key]
	if !ok {
		return nil, fmt.Errorf("no key %q in the Secret", key)
	}
	return b, nil
}
