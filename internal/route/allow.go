package route

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/inject"
)

// LabelRoutes on a Namespace ("enabled") lets its Services ask for passthrough Routes. A
// namespace labelled seal.dev/inject=enabled may, too.
const LabelRoutes = "seal.dev/routes"

// Reasons of the Warning Events a refused Service gets.
const (
	ReasonNamespaceNotOptedIn = "NamespaceNotOptedIn"
	ReasonHostNotAllowed      = "HostNotAllowed"
)

// ErrBadHostPattern: an entry of the host allow-list is not a host name pattern.
var ErrBadHostPattern = errors.New("route: bad host pattern")

// workloadListGVK is read as unstructured, so the controller needs no seal.dev scheme and
// runs where the CRDs are not installed (then only the allow-list counts).
var workloadListGVK = schema.GroupVersionKind{Group: "seal.dev", Version: "v1alpha1", Kind: "WorkloadList"}

// HostPatterns is an allow-list of passthrough-route hosts (seal-webhook
// --route-hosts-allowed). A pattern is a host name whose labels may hold the globs * (any run
// of characters) and ? (one character); a glob never crosses a dot, so "*.apps.example.com"
// allows "pay.apps.example.com" but not "a.b.apps.example.com" or "apps.example.com".
type HostPatterns []string

// ParseHostPatterns checks and lower-cases a list of host patterns; empty entries are
// skipped (a trailing comma in a flag).
func ParseHostPatterns(list []string) (HostPatterns, error) {
	var out HostPatterns
	for _, p := range list {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if err := checkPattern(p); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

func checkPattern(p string) error {
	fix := "; fix: write a host name whose labels may use * and ?, e.g. *.apps.example.com"
	if len(p) > validation.DNS1123SubdomainMaxLength {
		return fmt.Errorf("%w: %q is longer than %d characters%s", ErrBadHostPattern, p, validation.DNS1123SubdomainMaxLength, fix)
	}
	for _, label := range strings.Split(p, ".") {
		if label == "" {
			return fmt.Errorf("%w: %q has an empty label%s", ErrBadHostPattern, p, fix)
		}
		// With the globs replaced by a letter, a label must be a DNS label.
		plain := strings.NewReplacer("*", "a", "?", "a").Replace(label)
		if errs := validation.IsDNS1123Label(plain); len(errs) > 0 {
			return fmt.Errorf("%w: %q: label %q: %s%s", ErrBadHostPattern, p, label, strings.Join(errs, "; "), fix)
		}
	}
	if p == "*" || strings.Trim(p, "*?.") == "" {
		return fmt.Errorf("%w: %q allows every host%s", ErrBadHostPattern, p, fix)
	}
	return nil
}

// Match reports whether host is allowed by one of the patterns.
func (ps HostPatterns) Match(host string) bool {
	host = strings.ToLower(host)
	hl := strings.Split(host, ".")
	for _, p := range ps {
		pl := strings.Split(p, ".")
		if len(pl) != len(hl) {
			continue
		}
		ok := true
		for i := range pl {
			if m, err := path.Match(pl[i], hl[i]); err != nil || !m {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// refusal says why svc may not have a Route for host ("" reason when it may). A Service may
// when its namespace opts in (seal.dev/routes=enabled or seal.dev/inject=enabled) and the host
// is in the allow-list or in the routeHosts of some Workload. An invalid host is let through
// here: desiredSpec reports it.
func (r *Reconciler) refusal(ctx context.Context, svc *corev1.Service, host string) (reason, note string, err error) {
	var ns corev1.Namespace
	if err := r.Client.Get(ctx, client.ObjectKey{Name: svc.Namespace}, &ns); err != nil {
		return "", "", fmt.Errorf("route: getting Namespace %s: %w", svc.Namespace, err)
	}
	if ns.Labels[LabelRoutes] != "enabled" && ns.Labels[inject.LabelInject] != inject.NamespaceEnabled {
		return ReasonNamespaceNotOptedIn, fmt.Sprintf("namespace %s does not opt in to passthrough Routes; not creating a Route for %s; fix: kubectl label namespace %s %s=enabled",
			svc.Namespace, host, svc.Namespace, LabelRoutes), nil
	}
	if len(validation.IsDNS1123Subdomain(host)) > 0 || r.HostsAllowed.Match(host) {
		return "", "", nil
	}
	ok, err := r.workloadAllows(ctx, host)
	if err != nil || ok {
		return "", "", err
	}
	return ReasonHostNotAllowed, fmt.Sprintf("host %s is in no Workload's routeHosts and not in seal-webhook --route-hosts-allowed; not creating a Route; fix: add it to the routeHosts of the Workload whose pods serve it (sealctl workload create ... --route-host %s), or to --route-hosts-allowed", host, host), nil
}

// workloadAllows reports whether some Workload lists host in spec.routeHosts.
func (r *Reconciler) workloadAllows(ctx context.Context, host string) (bool, error) {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(workloadListGVK)
	if err := r.Client.List(ctx, list); err != nil {
		if meta.IsNoMatchError(err) {
			return false, nil // no seal.dev CRDs here: only the allow-list counts
		}
		return false, fmt.Errorf("route: listing Workloads for their routeHosts: %w", err)
	}
	for _, w := range list.Items {
		hosts, _, _ := unstructured.NestedStringSlice(w.Object, "spec", "routeHosts")
		for _, h := range hosts {
			if strings.EqualFold(h, host) {
				return true, nil
			}
		}
	}
	return false, nil
}
