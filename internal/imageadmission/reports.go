package imageadmission

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The PolicyReport Seal writes in each namespace (wgpolicyk8s.io/v1alpha2, read by Kyverno's
// Policy Reporter and kubectl get polr).
const (
	ReportName   = "seal-image-policy"
	ReportSource = "seal"
)

// PolicyReportGVK is the kind of the reports.
var PolicyReportGVK = schema.GroupVersionKind{Group: "wgpolicyk8s.io", Version: "v1alpha2", Kind: "PolicyReport"}

// ReportsOptions configure Reports.
type ReportsOptions struct {
	Client client.Client
	// Interval between writes of the changed reports; default 10s.
	Interval time.Duration
	// MaxResults bounds the results of one report (the newest are kept); default 500.
	MaxResults int
	// Retention drops admission results older than this; default 24h. Scan results stay until
	// the next scan of their namespace replaces them.
	Retention time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
}

// Reports keeps one PolicyReport per namespace with the warn-mode and denied images admission
// met and what the scan of running pods found. Several replicas write the same reports: each
// merges its results into what is there (by object, container, image and policy).
type Reports struct {
	o       ReportsOptions
	mu      sync.Mutex
	pending map[string]map[string]map[string]any // namespace → key → result
	scanned map[string]time.Time                 // namespaces whose scan finished, and when it began
}

// NewReports makes Reports; run them with Start (a manager Runnable).
func NewReports(o ReportsOptions) *Reports {
	if o.Interval <= 0 {
		o.Interval = 10 * time.Second
	}
	if o.MaxResults <= 0 {
		o.MaxResults = 500
	}
	if o.Retention <= 0 {
		o.Retention = 24 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Reports{o: o, pending: map[string]map[string]map[string]any{}, scanned: map[string]time.Time{}}
}

// add turns a finding into a report result.
func (r *Reports) add(f Finding) {
	d := f.Decision
	result, severity := "pass", ""
	switch {
	case !d.Allowed:
		result, severity = "fail", "high"
	case d.Warning:
		result, severity = "warn", "medium"
	}
	policy := d.DecidingPolicy()
	if policy == "" {
		policy = "no-matching-policy"
	}
	origin := "admission"
	if f.Scan {
		origin = "scan"
	}
	mode := string(d.Mode)
	if mode == "" {
		mode = "none"
	}
	props := map[string]any{"image": f.Image, "container": f.Container, "mode": mode, "origin": origin, "reason": d.Reason.Label()}
	if d.Digest != "" {
		props["digest"] = d.Digest
	}
	msg := d.Message
	if origin == "admission" && !d.Allowed {
		msg = "denied at admission: " + msg
	}
	obj := f.Object
	if obj.Name == "" && f.Owner != nil { // a pod being created by its controller has no name yet
		obj = *f.Owner
	}
	res := map[string]any{
		"policy": policy, "rule": "verify-image", "result": result, "message": trim(msg),
		"source": ReportSource, "category": "Image Verification", "scored": true,
		"timestamp":  map[string]any{"seconds": f.At.Unix(), "nanos": int64(0)},
		"properties": props,
		"resources": []any{map[string]any{"apiVersion": obj.APIVersion, "kind": obj.Kind,
			"name": obj.Name, "namespace": obj.Namespace, "uid": string(obj.UID)}},
	}
	if severity != "" {
		res["severity"] = severity
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ns := f.Object.Namespace
	if r.pending[ns] == nil {
		r.pending[ns] = map[string]map[string]any{}
	}
	r.pending[ns][resultKey(res)] = res
}

// scanDone marks ns as scanned: at the next write its older scan results go.
func (r *Reports) scanDone(ns string, began time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.scanned[ns] = began
	if r.pending[ns] == nil {
		r.pending[ns] = map[string]map[string]any{}
	}
}

func resultKey(res map[string]any) string {
	props, _ := res["properties"].(map[string]any)
	var kind, name string
	if rs, ok := res["resources"].([]any); ok && len(rs) > 0 {
		if o, ok := rs[0].(map[string]any); ok {
			kind, _ = o["kind"].(string)
			name, _ = o["name"].(string)
		}
	}
	return fmt.Sprint(kind, "/", name, "/", props["container"], "/", props["image"], "/", res["policy"])
}

// Start writes the changed reports every Interval until ctx ends.
func (r *Reports) Start(ctx context.Context) error {
	t := time.NewTicker(r.o.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := r.Flush(ctx); err != nil {
				r.o.Logger.Info("policy reports not written (retrying)", "error", err)
			}
		}
	}
}

// NeedLeaderElection is false: every replica merges what it saw.
func (r *Reports) NeedLeaderElection() bool { return false }

// Flush writes the reports of the namespaces with new results now.
func (r *Reports) Flush(ctx context.Context) error {
	r.mu.Lock()
	pending, scanned := r.pending, r.scanned
	r.pending, r.scanned = map[string]map[string]map[string]any{}, map[string]time.Time{}
	r.mu.Unlock()
	var first error
	for ns, results := range pending {
		if err := r.write(ctx, ns, results, scanned); err != nil {
			if first == nil {
				first = err
			}
			r.mu.Lock() // keep them for the next try, unless newer ones came
			if r.pending[ns] == nil {
				r.pending[ns] = map[string]map[string]any{}
			}
			for k, v := range results {
				if _, ok := r.pending[ns][k]; !ok {
					r.pending[ns][k] = v
				}
			}
			if t, ok := scanned[ns]; ok {
				if _, newer := r.scanned[ns]; !newer {
					r.scanned[ns] = t
				}
			}
			r.mu.Unlock()
		}
	}
	return first
}

func (r *Reports) write(ctx context.Context, ns string, results map[string]map[string]any, scanned map[string]time.Time) error {
	scanBegan, wasScanned := scanned[ns]
	now := r.o.Now()
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		rep := &unstructured.Unstructured{}
		rep.SetGroupVersionKind(PolicyReportGVK)
		err := r.o.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: ReportName}, rep)
		exists := err == nil
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("imageadmission: reading PolicyReport %s/%s: %w (is the wgpolicyk8s.io CRD installed? policyReports.installCRD)", ns, ReportName, err)
		}
		merged := map[string]map[string]any{}
		old, _, _ := unstructured.NestedSlice(rep.Object, "results")
		for _, o := range old {
			res, ok := o.(map[string]any)
			if !ok {
				continue
			}
			props, _ := res["properties"].(map[string]any)
			at := resultTime(res)
			if props["origin"] == "scan" && wasScanned && at.Before(scanBegan.Truncate(time.Second)) {
				continue // the scan that just ended no longer finds it
			}
			if props["origin"] != "scan" && now.Sub(at) > r.o.Retention {
				continue
			}
			merged[resultKey(res)] = res
		}
		for k, v := range results {
			merged[k] = v
		}
		list := make([]map[string]any, 0, len(merged))
		for _, v := range merged {
			list = append(list, v)
		}
		sort.Slice(list, func(i, j int) bool {
			ti, tj := resultTime(list[i]), resultTime(list[j])
			if !ti.Equal(tj) {
				return ti.After(tj)
			}
			return resultKey(list[i]) < resultKey(list[j])
		})
		if len(list) > r.o.MaxResults {
			list = list[:r.o.MaxResults]
		}
		summary := map[string]any{"pass": int64(0), "fail": int64(0), "warn": int64(0), "error": int64(0), "skip": int64(0)}
		out := make([]any, len(list))
		for i, v := range list {
			out[i] = v
			if s, ok := v["result"].(string); ok {
				summary[s] = summary[s].(int64) + 1
			}
		}
		rep.SetGroupVersionKind(PolicyReportGVK)
		rep.SetNamespace(ns)
		rep.SetName(ReportName)
		labels := rep.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels["app.kubernetes.io/managed-by"] = ReportSource
		rep.SetLabels(labels)
		rep.Object["results"] = out
		rep.Object["summary"] = summary
		rep.Object["scope"] = map[string]any{"apiVersion": "v1", "kind": "Namespace", "name": ns}
		if exists {
			return r.o.Client.Update(ctx, rep)
		}
		if err := r.o.Client.Create(ctx, rep); err != nil {
			if apierrors.IsAlreadyExists(err) {
				return apierrors.NewConflict(schema.GroupResource{Group: PolicyReportGVK.Group, Resource: "policyreports"}, ReportName, err)
			}
			return fmt.Errorf("imageadmission: writing PolicyReport %s/%s: %w", ns, ReportName, err)
		}
		return nil
	})
}

func resultTime(res map[string]any) time.Time {
	ts, _ := res["timestamp"].(map[string]any)
	switch s := ts["seconds"].(type) {
	case int64:
		return time.Unix(s, 0)
	case float64:
		return time.Unix(int64(s), 0)
	case string:
		n, _ := strconv.ParseInt(s, 10, 64)
		return time.Unix(n, 0)
	}
	return time.Time{}
}
