package imageadmission_test

import (
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/seal-dev/seal/internal/imageadmission"
	"github.com/seal-dev/seal/internal/verify"
)

// New gives the handlers seal-webhook serves at /pin and /verify.
func ExampleNew() {
	var c client.Reader // the manager's cached client in seal-webhook
	v, err := verify.New(verify.Options{
		Policies:  verify.ClusterSource{Client: c},
		Keys:      verify.ClusterSource{Client: c},
		Namespace: "seal-system",
	})
	if err != nil {
		panic(err)
	}
	pin, check := imageadmission.New(c, v, imageadmission.Options{SealNamespace: "seal-system"})
	extra := map[string]http.Handler{
		"/pin":    &webhook.Admission{Handler: pin},
		"/verify": &webhook.Admission{Handler: check},
	}
	_ = extra // webhook.Options.ExtraHandlers
}
