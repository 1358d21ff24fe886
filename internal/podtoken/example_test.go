package podtoken_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/seal-dev/seal/internal/podtoken"
	"github.com/seal-dev/seal/internal/store"
)

// A cluster's JWKS (kubectl get --raw /openid/v1/jwks), a workload bound to one namespace and
// service account, and a pod's projected token checked against both.
func ExampleVerifier_Verify() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader) // the cluster's signing key
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Use: "sig"}}})
	v, _ := podtoken.NewVerifier([]podtoken.Cluster{{Name: "prod-eu", Issuer: "https://kubernetes.default.svc", JWKS: string(jwks)}})
	bindings := []store.Binding{{Cluster: "prod-eu", Namespace: "payments", ServiceAccount: "api"}}

	now := time.Now()
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	token := func(ns string) string {
		t, _ := jwt.Signed(signer).Claims(map[string]any{
			"iss": "https://kubernetes.default.svc", "aud": []string{"seal-rot"}, "sub": "system:serviceaccount:" + ns + ":api",
			"exp": now.Add(10 * time.Minute).Unix(), "nbf": now.Unix(),
			"kubernetes.io": map[string]any{"namespace": ns, "serviceaccount": map[string]string{"name": "api"},
				"pod": map[string]string{"name": "api-0", "uid": "0b5c"}},
		}).Serialize()
		return t
	}

	pod, err := v.Verify(token("payments"), bindings, now)
	fmt.Println(pod.Namespace, pod.ServiceAccount, pod.Name, err)
	_, err = v.Verify(token("default"), bindings, now)
	fmt.Println(errors.Is(err, podtoken.ErrNotBound))
	_, err = v.Verify("", bindings, now)
	fmt.Println(errors.Is(err, podtoken.ErrNoToken))
	// Output:
	// payments api api-0 <nil>
	// true
	// true
}
