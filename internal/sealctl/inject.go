package sealctl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/seal-dev/seal/internal/inject"
)

// maxManifest bounds what inject -f and check-inject -f read.
const maxManifest = 8 << 20

// injectFlags mirror seal-webhook's injection flags, with its defaults.
type injectFlags struct {
	cfg                                          inject.Config
	pullPolicy, cpuRequest, memRequest, memLimit string
	nsLabels                                     []string
}

func (f *injectFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.cfg.Image, "init-image", "", "seal-init image to inject, as seal-webhook's --init-image")
	fs.StringVar(&f.cfg.Binary, "init-binary", inject.DefaultBinary, "path of seal-init inside --init-image")
	fs.StringVar(&f.cfg.AgentBinary, "agent-binary", inject.DefaultAgentBinary, "path of seal-agent inside --init-image, as seal-webhook's --agent-binary")
	fs.StringVar(&f.pullPolicy, "init-image-pull-policy", "", "policy for --init-image: Always, IfNotPresent or Never (default: Kubernetes' default)")
	fs.StringVar(&f.cpuRequest, "init-cpu-request", inject.DefaultCPURequest, "CPU quantity requested by seal-init")
	fs.StringVar(&f.memRequest, "init-memory-request", inject.DefaultMemoryRequest, "memory quantity requested by seal-init")
	fs.StringVar(&f.memLimit, "init-memory-limit", inject.DefaultMemoryLimit, "memory limit quantity of seal-init")
	fs.StringVar(&f.cfg.TrustDomain, "trust-domain", "", "SPIFFE trust domain of the ROT, as seal-webhook's --trust-domain")
	fs.StringVar(&f.cfg.TokenAudience, "token-audience", inject.DefaultTokenAudience, "audience of the ServiceAccount token mounted into seal-init, as seal-webhook's --token-audience")
	fs.StringVar(&f.cfg.Namespace, "webhook-namespace", "seal-system", "seal-webhook's own namespace (never injected), its --namespace")
	fs.StringVar(&f.cfg.Version, "seal-version", "", "Seal version recorded in seal.dev/status (default dev)")
	fs.StringSliceVar(&f.nsLabels, "namespace-labels", nil, "labels of the namespace, k=v,... (e.g. seal.dev/inject=enabled); offline only")
}

// config validates the flags into a ready inject.Config. Without placeholders, --init-image
// and --trust-domain are required (inject prints them); check-inject only decides, so it fills
// placeholders for what the user did not give.
func (f *injectFlags) config(placeholders bool) (*inject.Config, error) {
	c := f.cfg
	if placeholders {
		if c.Image == "" {
			c.Image = "seal-init"
		}
		if c.TrustDomain == "" {
			c.TrustDomain = "trust-domain.invalid"
		}
	}
	c.PullPolicy = corev1.PullPolicy(f.pullPolicy)
	res, err := inject.ParseResources(f.cpuRequest, f.memRequest, f.memLimit)
	if err != nil {
		return nil, usageError{err}
	}
	c.Resources = res
	if err := c.Validate(); err != nil {
		return nil, usageError{err}
	}
	if _, err := f.namespaceLabels("-"); err != nil {
		return nil, err
	}
	c = c.WithDefaults()
	return &c, nil
}

// namespaceLabels parses --namespace-labels k=v,...
func (f *injectFlags) namespaceLabels(name string) (map[string]string, error) {
	labels := map[string]string{"kubernetes.io/metadata.name": name}
	for _, kv := range f.nsLabels {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--namespace-labels %q is not k=v", kv)
		}
		labels[k] = v
	}
	return labels, nil
}

// object is one document of a manifest and the pod template inside it.
type object struct {
	doc      map[string]any
	kind     string
	name     string
	ns       string
	template map[string]any // the Pod itself, or the pod template of a workload
}

// templatePaths say where each supported kind keeps its pod template.
var templatePaths = map[string][]string{
	"Pod":         nil,
	"Deployment":  {"spec", "template"},
	"StatefulSet": {"spec", "template"},
	"DaemonSet":   {"spec", "template"},
	"ReplicaSet":  {"spec", "template"},
	"Job":         {"spec", "template"},
	"CronJob":     {"spec", "jobTemplate", "spec", "template"},
}

// readManifest reads file ("-" is stdin): one or more YAML or JSON documents. Every document
// must be of a supported kind; nothing is returned on any error.
func (a *app) readManifest(file string) ([]*object, error) {
	var r io.Reader
	if file == "-" {
		r = a.stdin
	} else {
		fh, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer fh.Close()
		r = fh
	}
	b, err := io.ReadAll(io.LimitReader(r, maxManifest+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxManifest {
		return nil, fmt.Errorf("%s: larger than %d MiB", file, maxManifest>>20)
	}
	return parseManifest(file, b)
}

func parseManifest(file string, b []byte) ([]*object, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 4096)
	var objs []*object
	for i := 1; ; i++ {
		var doc map[string]any
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		if len(doc) == 0 {
			continue // an empty document between ---
		}
		o, err := newObject(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: document %d: %w", file, i, err)
		}
		objs = append(objs, o)
	}
	if len(objs) == 0 {
		return nil, fmt.Errorf("%s: no Kubernetes object", file)
	}
	return objs, nil
}

func newObject(doc map[string]any) (*object, error) {
	o := &object{doc: doc}
	o.kind, _ = doc["kind"].(string)
	meta, _ := doc["metadata"].(map[string]any)
	o.name, _ = meta["name"].(string)
	if o.name == "" {
		o.name, _ = meta["generateName"].(string)
	}
	o.ns, _ = meta["namespace"].(string)
	path, ok := templatePaths[o.kind]
	if !ok {
		return nil, fmt.Errorf("kind %q is not a Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job or CronJob", o.kind)
	}
	o.template = doc
	for _, k := range path {
		next, ok := o.template[k].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s %s has no %s", o.kind, o.name, strings.Join(path, "."))
		}
		o.template = next
	}
	return o, nil
}

// pod is the object's pod (or pod template) as a Pod.
func (o *object) pod() (*corev1.Pod, error) {
	b, err := json.Marshal(map[string]any{"metadata": o.template["metadata"], "spec": o.template["spec"]})
	if err != nil {
		return nil, err
	}
	var p corev1.Pod
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s %s: the pod template is not a pod: %w", o.kind, o.name, err)
	}
	return &p, nil
}

// applyPatch applies Mutate's JSON patch to the pod template in place.
func (o *object) applyPatch(patch []byte) error {
	if _, ok := o.template["metadata"].(map[string]any); !ok {
		o.template["metadata"] = map[string]any{}
	}
	doc, err := json.Marshal(o.template)
	if err != nil {
		return err
	}
	p, err := jsonpatch.DecodePatch(patch)
	if err != nil {
		return err
	}
	out, err := p.Apply(doc)
	if err != nil {
		return fmt.Errorf("%s %s: %w", o.kind, o.name, err)
	}
	var tmpl map[string]any
	if err := json.Unmarshal(out, &tmpl); err != nil {
		return err
	}
	clear(o.template)
	for k, v := range tmpl {
		o.template[k] = v
	}
	return nil
}

// namespace is the object's namespace: its own, else flag, else "default". The two must agree.
func (o *object) namespace(flag string) (string, error) {
	switch {
	case o.ns != "" && flag != "" && o.ns != flag:
		return "", usagef("%s %s is in namespace %q, not --namespace %q", o.kind, o.name, o.ns, flag)
	case o.ns != "":
		return o.ns, nil
	case flag != "":
		return flag, nil
	}
	return "default", nil
}

func (a *app) injectCommand() *cobra.Command {
	var (
		f         injectFlags
		file, nsf string
	)
	cmd := &cobra.Command{
		Use:   "inject -f FILE --init-image IMAGE --trust-domain TD",
		Short: "Print Pods and workloads with seal-init injected, as seal-webhook would (like istioctl kube-inject)",
		Long: `inject reads Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets, Jobs and CronJobs
(YAML or JSON, several documents separated by ---; -f - reads stdin) and prints them with their
pod (template) mutated exactly as seal-webhook would mutate the pod: the same decision (the
webhook configuration's selectors, then package inject) and the same patch. The injection
settings are seal-webhook's flags, with its defaults.

The template then carries seal.dev/status, so seal-webhook leaves its pods alone
(already-injected). A pod Seal would not inject is printed unchanged and the reason goes to
stderr; a pod Seal would refuse fails the command and nothing is printed.

Whether a pod is selected depends on its namespace's labels: give them with
--namespace-labels (e.g. seal.dev/inject=enabled), or label the pod template
seal.dev/inject: "true".`,
		Example: `  sealctl inject -f deploy.yaml --init-image ghcr.io/seal-dev/seal-init:v0.1.0 \
    --trust-domain prod.example.org --namespace-labels seal.dev/inject=enabled | kubectl apply -f -`,
		Args: args(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usagef("inject needs -f FILE (or -f - for stdin)")
			}
			cfg, err := f.config(false)
			if err != nil {
				return err
			}
			objs, err := a.readManifest(file)
			if err != nil {
				return err
			}
			var out bytes.Buffer
			for i, o := range objs {
				d, err := f.decide(o, nsf, cfg)
				if err != nil {
					return err
				}
				if d.Refusal != nil {
					return fmt.Errorf("%s %s: refused: %w", o.kind, o.name, d.Refusal)
				}
				if d.Injected() {
					if err := o.applyPatch(d.Result.Patch); err != nil {
						return err
					}
				} else {
					a.hint("%s %s: not injected: %s", o.kind, o.name, explain(d, o.ns).why)
				}
				for _, w := range d.Result.Warnings {
					a.hint("%s %s: warning: %s", o.kind, o.name, w)
				}
				y, err := yaml.Marshal(o.doc)
				if err != nil {
					return err
				}
				if i > 0 {
					out.WriteString("---\n")
				}
				out.Write(y)
			}
			_, err = a.stdout.Write(out.Bytes())
			return err
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "manifest to inject (- for stdin)")
	cmd.Flags().StringVarP(&nsf, "namespace", "n", "", "namespace of objects that name none (default \"default\")")
	f.add(cmd)
	return cmd
}

// decide runs the webhook's decision on one object of a manifest.
func (f *injectFlags) decide(o *object, nsFlag string, cfg *inject.Config) (inject.Decision, error) {
	name, err := o.namespace(nsFlag)
	if err != nil {
		return inject.Decision{}, err
	}
	o.ns = name
	labels, err := f.namespaceLabels(name)
	if err != nil {
		return inject.Decision{}, err
	}
	p, err := o.pod()
	if err != nil {
		return inject.Decision{}, err
	}
	return inject.Check(p, inject.Namespace{Name: name, Labels: labels}, cfg)
}
