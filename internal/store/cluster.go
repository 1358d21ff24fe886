package store

import "time"

// DefaultAudience is the audience a Cluster's ServiceAccount tokens carry when the Cluster
// names none: what seal-webhook asks the kubelet for (--token-audience).
const DefaultAudience = "seal-rot"

// Cluster is a Kubernetes cluster whose pods may redeem Eggs of workloads bound to it: the
// issuer of its ServiceAccount tokens and the keys (JWKS) they are signed with.
type Cluster struct {
	Name string `json:"name"`
	// Issuer is the token issuer (the API server's --service-account-issuer), the tokens' iss.
	Issuer string `json:"issuer"`
	// Audience is the aud the tokens must carry (DefaultAudience when empty).
	Audience string `json:"audience,omitempty"`
	// JWKS is the JSON Web Key Set document the tokens are verified with: the one given
	// (kubectl get --raw /openid/v1/jwks), or, with JWKSURL, the last good one fetched.
	JWKS string `json:"jwks,omitempty"`
	// JWKSURL is the https URL the JWKS is fetched and refreshed from; JWKSCA the PEM of the
	// CAs its server certificate chains to (the system roots when empty).
	JWKSURL string `json:"jwksURL,omitempty"`
	JWKSCA  string `json:"jwksCA,omitempty"`
	// LastRefreshed and LastError report the last fetch from JWKSURL.
	LastRefreshed *time.Time `json:"lastRefreshed,omitempty"`
	LastError     string     `json:"lastError,omitempty"`
	Created       time.Time  `json:"created,omitempty"`
}

// Binding lets pods of one cluster, namespace and service account redeem a workload's Eggs.
// ServiceAccount "*" is any service account of the namespace.
type Binding struct {
	Cluster        string `json:"cluster"`
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

// String is CLUSTER/NAMESPACE/SERVICEACCOUNT, the form sealctl takes.
func (b Binding) String() string { return b.Cluster + "/" + b.Namespace + "/" + b.ServiceAccount }
