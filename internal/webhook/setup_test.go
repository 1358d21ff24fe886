package webhook

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// TestEveryEndpointIsBounded: an endpoint another feature registers on the manager's webhook
// server (as /pin and /verify do) gets the same body cap and JSON-only check as /inject.
func TestEveryEndpointIsBounded(t *testing.T) {
	other := &admission.Webhook{Handler: admission.HandlerFunc(func(context.Context, admission.Request) admission.Response {
		return admission.Allowed("other")
	})}
	r := start(t, map[string]http.Handler{"/other": other})
	if code, _ := r.post(t, "/other", bytes.Repeat([]byte(" "), 2<<20)); code != http.StatusRequestEntityTooLarge {
		t.Errorf("oversized body: status %d, want 413", code)
	}
	_, ar := r.post(t, "/other", []byte("request:\n  uid: x\n"))
	if ar.Response == nil || ar.Response.Allowed || !strings.Contains(ar.Response.Result.Message, "not a JSON object") {
		t.Errorf("YAML body: response %+v, want a refusal saying the body is not a JSON object", ar.Response)
	}
	if other.LogConstructor == nil {
		t.Error("the endpoint has no fixed review logger")
	}
}

// TestSetupNeedsBoundedServer: Setup refuses a manager whose webhook server does not bound its
// endpoints.
func TestSetupNeedsBoundedServer(t *testing.T) {
	mgr, err := ctrl.NewManager(&rest.Config{Host: "https://127.0.0.1:1"}, ctrl.Options{
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0", Logger: logr.Discard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	err = Setup(mgr, Options{Inject: testInject, Namespaces: testNamespaces, Registry: promRegistry()})
	if err == nil || !strings.Contains(err.Error(), "webhook.NewServer") {
		t.Errorf("Setup = %v, want an error naming webhook.NewServer", err)
	}
}
