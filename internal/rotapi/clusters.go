package rotapi

import (
	"fmt"
	"strings"
	"time"
)

// Pod binding paths (admin API).
const (
	PathClusters = "/v1/admin/clusters"                  // GET list
	PathCluster  = "/v1/admin/clusters/{name}"           // GET, PUT create or replace, DELETE
	PathBindings = "/v1/admin/workloads/{name}/bindings" // POST bind and unbind
)

// Cluster is a Kubernetes cluster whose pods may redeem Eggs of workloads bound to it.
type Cluster struct {
	Name string `json:"name"`
	// Issuer is the cluster's ServiceAccount token issuer (the tokens' iss).
	Issuer string `json:"issuer"`
	// Audience the tokens must carry; default seal-rot.
	Audience string `json:"audience,omitempty"`
	// JWKS is the key set document (kubectl get --raw /openid/v1/jwks); with JWKSURL, the
	// last good one fetched (read-only).
	JWKS string `json:"jwks,omitempty"`
	// JWKSURL is where the ROT fetches and refreshes the JWKS; JWKSCA the PEM of the CAs its
	// server certificate chains to (system roots when empty).
	JWKSURL string `json:"jwksURL,omitempty"`
	JWKSCA  string `json:"jwksCA,omitempty"`
	// Read-only fields.
	Keys          int        `json:"keys"` // signing keys in use
	LastRefreshed *time.Time `json:"lastRefreshed,omitempty"`
	LastError     string     `json:"lastError,omitempty"`
	Created       time.Time  `json:"created,omitempty"`
	BoundBy       []string   `json:"boundBy,omitempty"` // workloads with a binding to it
}

// Binding lets pods of a cluster, namespace and service account ("*": any) redeem a
// workload's Eggs.
type Binding struct {
	Cluster        string `json:"cluster"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

// String is CLUSTER/NAMESPACE/SERVICEACCOUNT.
func (b Binding) String() string { return b.Cluster + "/" + b.Namespace + "/" + b.ServiceAccount }

// ParseBinding parses CLUSTER/NAMESPACE/SERVICEACCOUNT (SERVICEACCOUNT may be *).
func ParseBinding(s string) (Binding, error) {
	p := strings.Split(s, "/")
	if len(p) != 3 || p[0] == "" || p[1] == "" || p[2] == "" {
		return Binding{}, fmt.Errorf("rotapi: binding %q must be CLUSTER/NAMESPACE/SERVICEACCOUNT (SERVICEACCOUNT may be *)", s)
	}
	return Binding{Cluster: p[0], Namespace: p[1], ServiceAccount: p[2]}, nil
}

// BindRequest is the body of POST .../bindings: bindings to add and to remove.
type BindRequest struct {
	Bind   []Binding `json:"bind,omitempty"`
	Unbind []Binding `json:"unbind,omitempty"`
}
