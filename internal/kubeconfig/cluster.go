package kubeconfig

import (
	"fmt"
	"strconv"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Target is one cluster reached with administrator credentials: where CSRs are created and
// approved.
type Target struct {
	// Name names the cluster, its context and its user entry in the kubeconfig written.
	Name string
	// Config reaches the API server as someone allowed to create, approve and delete CSRs.
	Config *rest.Config
}

// LoadTargets reads administrator kubeconfigs, kubectl's way: each of files (or, when files
// is empty, $KUBECONFIG or ~/.kube/config) and the given contexts. With one file, every
// context names a cluster (none: its current context); with several files, either no context
// (each file's current context) or one context per file, in the same order.
//
// A target is named after its context; when two contexts have the same name (two clusters
// set up alike) the later ones get "-2", "-3", ... appended.
func LoadTargets(files, contexts []string) ([]Target, error) {
	type pick struct{ file, context string }
	var picks []pick
	switch {
	case len(files) <= 1 && len(contexts) == 0:
		picks = []pick{{file: first(files)}}
	case len(files) <= 1:
		for _, c := range contexts {
			picks = append(picks, pick{file: first(files), context: c})
		}
	case len(contexts) == 0:
		for _, f := range files {
			picks = append(picks, pick{file: f})
		}
	case len(contexts) == len(files):
		for i, f := range files {
			picks = append(picks, pick{file: f, context: contexts[i]})
		}
	default:
		return nil, fmt.Errorf("kubeconfig: %d --context for %d --kubeconfig files: give one context per file, or none (each file's current context)", len(contexts), len(files))
	}
	var out []Target
	seen := map[string]bool{}
	for _, p := range picks {
		rules := clientcmd.NewDefaultClientConfigLoadingRules()
		if p.file != "" {
			rules.ExplicitPath = p.file
		}
		raw, err := rules.Load()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: reading the admin kubeconfig %s: %w", orDefault(p.file), err)
		}
		name := p.context
		if name == "" {
			name = raw.CurrentContext
		}
		if name == "" {
			return nil, fmt.Errorf("kubeconfig: the admin kubeconfig %s has no current context: pass --context", orDefault(p.file))
		}
		if _, ok := raw.Contexts[name]; !ok {
			return nil, fmt.Errorf("kubeconfig: the admin kubeconfig %s has no context %q", orDefault(p.file), name)
		}
		cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, name, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig: context %q of %s: %w", name, orDefault(p.file), err)
		}
		name = unique(seen, name)
		out = append(out, Target{Name: name, Config: cfg})
	}
	return out, nil
}

// unique returns name, or name-2, name-3, ... whichever is not in seen yet, and marks it.
func unique(seen map[string]bool, name string) string {
	n := name
	for i := 2; seen[n]; i++ {
		n = name + "-" + strconv.Itoa(i)
	}
	seen[n] = true
	return n
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

func orDefault(file string) string {
	if file == "" {
		return "($KUBECONFIG or ~/.kube/config)"
	}
	return file
}

// clusterEntry is how the kubeconfig written reaches the cluster of cfg: its server, the CA
// that signs the server's certificate (read into the file) and the TLS server name.
func clusterEntry(cfg *rest.Config) (*clientcmdapi.Cluster, error) {
	c := rest.CopyConfig(cfg)
	if err := rest.LoadTLSFiles(c); err != nil {
		return nil, fmt.Errorf("kubeconfig: reading the cluster CA: %w", err)
	}
	e := clientcmdapi.NewCluster()
	e.Server = c.Host
	e.CertificateAuthorityData = c.CAData
	e.TLSServerName = c.ServerName
	e.InsecureSkipTLSVerify = c.Insecure
	return e, nil
}
