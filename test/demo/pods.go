package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/inject"
)

const (
	namespace = "shop"
	workload  = "payments"
	peer      = "api"
)

func (d *story) enroll(ctx context.Context) error {
	d.n.Step("Creating the Workload %q at the ROT and minting an Egg for its peer %q.", workload, peer)
	if _, err := d.sealctl(ctx, nil, "workload", "create", workload, "--peer", peer, "--peer", "web"); err != nil {
		return err
	}
	egg, err := d.sealctl(ctx, nil, "egg", "mint", workload, "--peer", peer, "--ttl", "1h")
	if err != nil {
		return err
	}
	d.n.Say("Egg: %s… (%d bytes; it tells pods where the ROT is and which CA to trust)", egg[:24], len(egg))

	d.n.Step("Labelling namespace %s for injection and storing the Egg in a Secret.", namespace)
	d.sh("kubectl", "create", "namespace", namespace, "&&", "kubectl", "label", "namespace", namespace, "seal.dev/inject=enabled")
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace, Labels: map[string]string{"seal.dev/inject": "enabled"}}}
	if err := d.env.Client.Create(ctx, ns); err != nil {
		return err
	}
	d.sh("kubectl", "-n", namespace, "create", "secret", "generic", "seal-egg-"+workload, "--from-file=egg=egg.txt")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "seal-egg-" + workload},
		Data: map[string][]byte{"egg": []byte(egg)}}
	if err := d.env.Client.Create(ctx, secret); err != nil {
		return err
	}
	return d.waitForWebhook(ctx)
}

// waitForWebhook returns once the API server calls seal-webhook: a dry-run pod with a bad
// annotation is refused with the webhook's message.
func (d *story) waitForWebhook(ctx context.Context) error {
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, GenerateName: "probe-",
			Annotations: map[string]string{inject.AnnotationWorkload: workload, inject.AnnotationRotate: "maybe"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: d.img.signed}}},
	}
	return waitFor(ctx, 30*time.Second, func() error {
		err := d.env.Client.Create(ctx, probe.DeepCopy(), client.DryRunAll)
		if err != nil && strings.Contains(err.Error(), inject.AnnotationRotate) {
			return nil
		}
		return fmt.Errorf("demo: the API server does not call seal-webhook yet (%v)", err)
	})
}

func (d *story) deployment(name, image string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels,
					Annotations: map[string]string{inject.AnnotationWorkload: workload, inject.AnnotationPeer: peer}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
			},
		},
	}
}

func (d *story) deploy(ctx context.Context) error {
	d.n.Step("Applying a Deployment of 2 replicas with seal.dev/workload=%s and seal.dev/peer=%s.", workload, peer)
	if err := d.env.Client.Create(ctx, d.deployment(workload, d.img.signed, 2)); err != nil {
		return fmt.Errorf("demo: the signed Deployment was refused: %w", err)
	}
	var pods corev1.PodList
	err := waitFor(ctx, time.Minute, func() error {
		if err := d.env.Client.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabels{"app": workload}); err != nil {
			return err
		}
		if len(pods.Items) != 2 {
			return fmt.Errorf("demo: %d pods of %d after a minute", len(pods.Items), 2)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Slice(pods.Items, func(i, j int) bool { return pods.Items[i].Name < pods.Items[j].Name })
	d.pods = pods.Items
	p := pods.Items[0]
	d.n.Say("The ReplicaSet controller created %s and %s; seal-webhook added to each:", pods.Items[0].Name, pods.Items[1].Name)
	for _, v := range p.Spec.Volumes {
		if v.EmptyDir != nil && v.EmptyDir.Medium == corev1.StorageMediumMemory {
			d.n.Say("  volume %s: memory-backed emptyDir", v.Name)
		}
	}
	for _, c := range p.Spec.InitContainers {
		d.n.Say("  init container %s: %s", c.Name, c.Image)
		d.n.Say("    %s", strings.Join(append(c.Command, c.Args...), " "))
	}
	for _, c := range p.Spec.Containers {
		d.n.Say("  container %s: image pinned to %s", c.Name, c.Image)
		for _, m := range c.VolumeMounts {
			d.n.Say("    mounts %s at %s (read-only: %v)", m.Name, m.MountPath, m.ReadOnly)
		}
		var env []string
		for _, e := range c.Env {
			if strings.HasPrefix(e.Name, "SEAL_") {
				env = append(env, e.Name+"="+e.Value)
			}
		}
		d.n.Say("    env %s", strings.Join(env, " "))
	}
	d.n.Say("  annotation %s: %s", inject.AnnotationStatus, p.Annotations[inject.AnnotationStatus])
	d.n.Done("seal-webhook injected seal-init, the memory volume, mounts and SEAL_* env, and pinned images to digests")
	return nil
}

func (d *story) refuseUnsigned(ctx context.Context) error {
	d.n.Step("Applying a Deployment whose image is not signed.")
	err := d.env.Client.Create(ctx, d.deployment("unsigned", d.img.unsigned, 1))
	if err == nil {
		return fmt.Errorf("demo: the API server accepted a Deployment of the unsigned image %s", d.img.unsigned)
	}
	d.n.Say("kubectl apply answers: %v", err)
	d.n.Done("an unsigned image was refused at apply time, with the reason")
	return nil
}

// redeem runs each pod's injected seal-init as the kubelet would: its command line and env,
// with the Egg Secret resolved and the memory volume a local directory.
func (d *story) redeem(ctx context.Context) error {
	d.n.Step("Running the injected seal-init of both pods, as the kubelet would.")
	for i := range d.pods {
		out, err := d.runInit(ctx, &d.pods[i])
		if err != nil {
			return err
		}
		d.podDirs = append(d.podDirs, out)
		entries, _ := os.ReadDir(out)
		var names []string
		for _, e := range entries {
			if !strings.HasPrefix(e.Name(), "..") {
				names = append(names, e.Name())
			}
		}
		d.n.Say("%s: %s", d.pods[i].Name, strings.Join(names, " "))
	}
	d.n.Done("seal-init redeemed the Egg at seal-rot for both pods: tls.crt, tls.key, ca.crt, keys.txt")
	return nil
}

func (d *story) runInit(ctx context.Context, pod *corev1.Pod) (string, error) {
	var c *corev1.Container
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == inject.InitContainerName {
			c = &pod.Spec.InitContainers[i]
		}
	}
	if c == nil {
		return "", fmt.Errorf("demo: pod %s has no %s init container", pod.Name, inject.InitContainerName)
	}
	out := filepath.Join(d.dir, "pods", pod.Name)
	if err := os.MkdirAll(out, 0o700); err != nil {
		return "", err
	}
	environ := []string{}
	for _, e := range c.Env {
		v := e.Value
		if ref := e.ValueFrom; ref != nil && ref.SecretKeyRef != nil {
			var s corev1.Secret
			if err := d.env.Client.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: ref.SecretKeyRef.Name}, &s); err != nil {
				return "", err
			}
			v = string(s.Data[ref.SecretKeyRef.Key])
		}
		environ = append(environ, e.Name+"="+v)
	}
	var args []string
	for _, a := range append(c.Command[1:], c.Args...) {
		args = append(args, strings.ReplaceAll(a, inject.MountPath, out))
	}
	for i, kv := range environ {
		environ[i] = strings.ReplaceAll(kv, inject.MountPath, out)
	}
	cctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, filepath.Join(d.bin, "seal-init"), args...)
	cmd.Env = environ
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("demo: seal-init for pod %s: %v\n%s", pod.Name, err, b)
	}
	return out, nil
}
