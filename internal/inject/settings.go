package inject

import (
	"path"
	"strings"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"k8s.io/apimachinery/pkg/util/validation"
)

// settings are a pod's validated seal.dev annotations.
type settings struct {
	workload, peer string
	rotate         bool
	workloadAPI    bool // seal-agent serves the SPIFFE Workload API (rotate, unless opted out)
	// egg source: exactly one of secretName or imagePath is set.
	eggSource  string
	secretName string
	secretKey  string
	imagePath  string
	federates  []string
	routeHosts []string
	noSecrets  bool // seal.dev/secrets: "false"
	attest     bool // seal.dev/attest: tpm2 (attest.go)
}

const (
	fixName = "use a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters (e.g. payments)"
	fixEgg  = `use "secret:<secret-name>" or "secret:<secret-name>/<key>" (default secret:seal-egg-<workload>/egg), or "image:/absolute/path/in/the/app/image"`
)

// parseSettings validates the seal.dev annotations of a pod that is to be injected.
func parseSettings(ann map[string]string) (settings, error) {
	var s settings
	w, ok := ann[AnnotationWorkload]
	if !ok || w == "" {
		// Only reached for an explicit opt-in: a namespace-selected pod is skipped instead.
		return s, refuse(AnnotationWorkload, w, "is required when the pod opts in with label seal.dev/inject=true",
			"add the annotation seal.dev/workload: <workload-name> to the pod template, or remove the label")
	}
	if msgs := validation.IsDNS1123Label(w); len(msgs) > 0 {
		return s, refuse(AnnotationWorkload, w, "is not a valid workload name", fixName)
	}
	s.workload = w
	s.peer = DefaultPeer
	if p, ok := ann[AnnotationPeer]; ok {
		if msgs := validation.IsDNS1123Label(p); len(msgs) > 0 {
			return s, refuse(AnnotationPeer, p, "is not a valid peer name", fixName+", or remove it for the default peer \"any\"")
		}
		s.peer = p
	}
	switch r := ann[AnnotationRotate]; r {
	case "", "false":
	case "true":
		s.rotate = true
	default:
		return s, refuse(AnnotationRotate, r, "is not a known value", `write "true" (renew the certificate in a native sidecar) or "false"`)
	}
	switch v := ann[AnnotationWorkloadAPI]; {
	case v == "false":
	case v == "" || v == "true":
		s.workloadAPI = s.rotate
		if v == "true" && !s.rotate {
			return s, refuse(AnnotationWorkloadAPI, v, "needs seal.dev/rotate: \"true\"", `the Workload API is served by the rotating sidecar: add seal.dev/rotate: "true", or remove this annotation`)
		}
	default:
		return s, refuse(AnnotationWorkloadAPI, v, "is not a known value", `write "false" (no SPIFFE Workload API socket) or "true"`)
	}
	if err := s.parseEgg(ann); err != nil {
		return s, err
	}
	if err := s.parseSecrets(ann); err != nil {
		return s, err
	}
	if err := s.parseAttest(ann); err != nil {
		return s, err
	}
	var err error
	if s.federates, err = parseList(ann, AnnotationFederatesWith, validTrustDomain,
		"is not a comma list of trust domains", "write trust domain names separated by commas, e.g. partner.example.org,staging.example.org"); err != nil {
		return s, err
	}
	if s.routeHosts, err = parseList(ann, AnnotationRouteHosts, validHost,
		"is not a comma list of hostnames", "write DNS hostnames (no wildcards, ports or schemes) separated by commas, e.g. api.apps.example.org"); err != nil {
		return s, err
	}
	return s, nil
}

func (s *settings) parseEgg(ann map[string]string) error {
	v, ok := ann[AnnotationEgg]
	if !ok || v == "" {
		s.secretName, s.secretKey = "seal-egg-"+s.workload, DefaultEggKey
		s.eggSource = "secret:" + s.secretName + "/" + s.secretKey
		return nil
	}
	switch {
	case strings.HasPrefix(v, "secret:"):
		name, key, hasKey := strings.Cut(strings.TrimPrefix(v, "secret:"), "/")
		if !hasKey {
			key = DefaultEggKey
		}
		if len(validation.IsDNS1123Subdomain(name)) > 0 {
			return refuse(AnnotationEgg, v, "does not name a valid Secret", fixEgg)
		}
		if len(validation.IsConfigMapKey(key)) > 0 {
			return refuse(AnnotationEgg, v, "does not name a valid Secret key", fixEgg)
		}
		s.secretName, s.secretKey = name, key
		s.eggSource = "secret:" + name + "/" + key
	case strings.HasPrefix(v, "image:"):
		p := strings.TrimPrefix(v, "image:")
		if !path.IsAbs(p) || path.Clean(p) != p || p == "/" || strings.ContainsFunc(p, func(r rune) bool { return r < 0x21 || r == 0x7f || r == ',' }) {
			return refuse(AnnotationEgg, v, "is not an absolute, clean file path", fixEgg)
		}
		if p == MountPath || strings.HasPrefix(p, MountPath+"/") {
			return refuse(AnnotationEgg, v, "points inside the seal volume, which hides the image's file", "bake the Egg elsewhere in the image, e.g. image:/etc/seal/egg")
		}
		s.imagePath = p
		s.eggSource = v
	default:
		return refuse(AnnotationEgg, v, "has an unknown source", fixEgg)
	}
	return nil
}

// parseList splits a comma list, refusing empty items, bad items and duplicates.
func parseList(ann map[string]string, key string, valid func(string) bool, problem, fix string) ([]string, error) {
	v, ok := ann[key]
	if !ok || strings.TrimSpace(v) == "" {
		return nil, nil
	}
	parts := strings.Split(v, ",")
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if p == "" || !valid(p) {
			return nil, refuse(key, v, problem, fix)
		}
		for _, o := range out {
			if o == p {
				return nil, refuse(key, v, "names "+p+" twice", fix)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func validTrustDomain(s string) bool {
	_, err := spiffeid.TrustDomainFromString(s)
	return err == nil && !strings.Contains(s, ":")
}

func validHost(s string) bool { return len(validation.IsDNS1123Subdomain(s)) == 0 }
