package depcheck
import (
	_ "filippo.io/age"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/authn/kubernetes"
	_ "github.com/sigstore/cosign/v2/pkg/cosign"
	_ "github.com/sigstore/cosign/v2/pkg/oci/remote"
	_ "github.com/spiffe/go-spiffe/v2/federation"
	_ "github.com/spiffe/go-spiffe/v2/bundle/spiffebundle"
	_ "sigs.k8s.io/controller-runtime/pkg/webhook"
	_ "sigs.k8s.io/controller-runtime/pkg/envtest"
	_ "github.com/spf13/cobra"
	_ "github.com/prometheus/client_golang/prometheus"
)
