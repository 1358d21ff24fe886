package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/hack/ociimage"
	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/swtpm"
	"github.com/seal-dev/seal/internal/testing/testenv"
	"github.com/seal-dev/seal/internal/verify/verifytest"
)

// nodeDecryption configures the node's containerd the way docs/attestation.md says: its two
// ocicrypt stream processors run "seal-keyprovider decode" with the ROT flags, and the
// loopback registry is reached over plain HTTP.
func nodeDecryption(t *testing.T, env *testenv.Env, keyprovider string, kpArgs []string, registry string) {
	args := append([]string{"decode"}, kpArgs...)
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(a)
	}
	env.NodeContainerdConfig = func(_, cfg string) string {
		cfg = strings.ReplaceAll(cfg, `path = "ctd-decoder"`, "path = "+strconv.Quote(keyprovider))
		cfg = strings.ReplaceAll(cfg, `args = ["--decryption-keys-path", "/etc/containerd/ocicrypt/keys"]`, "args = ["+strings.Join(q, ", ")+"]")
		cfg = strings.ReplaceAll(cfg, `env = ["OCICRYPT_KEYPROVIDER_CONFIG=/etc/containerd/ocicrypt/ocicrypt_keyprovider.conf"]`, "env = []")
		if !strings.Contains(cfg, `"decode"`) {
			t.Errorf("containerd's default config has no ctd-decoder stream processors to point at seal-keyprovider decode:\n%s", cfg)
		}
		return cfg + fmt.Sprintf("\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.%q]\n  endpoint = [%q]\n", registry, "http://"+registry)
	}
}

// TestRealNodeEncryptedImage: an image sealed with sealctl image seal --encrypt, pulled by a
// real kubelet whose containerd decrypts through "seal-keyprovider decode" (its stream processor),
// with a software TPM (swtpm) as the node's TPM. The image of a workload whose policy the node
// satisfies pulls and runs (and its seal-init redeems); the image of a workload whose PCR
// policy the node does not satisfy is refused at the pull, and the pod's waiting message
// carries the provider's reason.
func TestRealNodeEncryptedImage(t *testing.T) {
	tpm := swtpm.Start(t)
	env := testenv.Start(t)
	reg := verifytest.NewRegistry(t)
	r := rottest.Start(t)
	ctx := context.Background()
	caFile := filepath.Join(t.TempDir(), "rot-ca.pem")
	if err := os.WriteFile(caFile, r.CAPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	nodeDecryption(t, env, testenv.Binary(t, "./cmd/keyprovider"), []string{"--rot", r.URL, "--rot-ca", caFile, "--tpm", tpm.Spec()}, reg.Host)
	node := env.StartNode(t)
	injectionWebhook(t, env, r.TrustDomain, func(c *inject.Config) { c.TPM = tpm.Spec() })
	nodeImages(t, node)

	enrollNode(t, r, tpm)
	r.CreateWorkload(t, rotapi.Workload{Name: "vault", Attest: "node-boot"})
	r.CreateWorkload(t, rotapi.Workload{Name: "strict", Attest: "other-boot"})

	// CI: the demo app pushed, then sealed and encrypted per workload by the sealctl binary.
	// Under another name than the demo app nodeImages imports: containerd keys unpacked layers
	// by the plain layers' digests, so an identical layer would never be decrypted here.
	img, err := ociimage.ImageFromFile(ociimage.Spec{Name: "demoapp-sealed", Version: "e2e"}, testenv.Binary(t, "./test/demoapp"))
	if err != nil {
		t.Fatal(err)
	}
	src := reg.Host + "/team/demoapp:e2e"
	srcRef, _ := name.ParseReference(src)
	if err := remote.Write(srcRef, img); err != nil {
		t.Fatal(err)
	}
	sealctl := testenv.Binary(t, "./cmd/sealctl")
	seal := func(workload string) string {
		t.Helper()
		cmd := exec.Command(sealctl, "image", "seal", src, reg.Host+"/team/demoapp-"+workload, "--workload", workload, "--encrypt", "--owner", "65532:65532")
		cmd.Env = append(os.Environ(), "SEAL_ROT="+r.URL, "SEAL_ADMIN="+r.AdminDir)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sealctl image seal for %s: %v (%s)", workload, err, exitStderr(err))
		}
		return strings.TrimSpace(string(out))
	}
	vaultImage, strictImage := seal("vault"), seal("strict")

	// The refusal first: containerd keys unpacked layers by the plain layers' digests, so a
	// node that decrypted the vault image would have these layers (the same demo app) and run
	// the strict image without asking; this order also shows that the vault image's layers
	// come from the decryption (the refused pull left nothing on the node).
	t.Run("a node whose PCRs do not match is refused at the pull with the provider's message", func(t *testing.T) {
		ns := env.Namespace(t, nil)
		pod := testenv.NodePod(ns, "strict", corev1.Container{Name: "app", Image: strictImage, Args: []string{"serve"}})
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		var msg string
		testenv.Eventually(t, 3*time.Minute, func() error {
			var p corev1.Pod
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
				return err
			}
			for _, s := range p.Status.ContainerStatuses {
				if w := s.State.Waiting; w != nil && (w.Reason == "ErrImagePull" || w.Reason == "CreateContainerError") {
					msg = w.Reason + ": " + w.Message
					return nil
				}
				if s.State.Running != nil || s.State.Terminated != nil {
					return fmt.Errorf("the refused image runs")
				}
			}
			// The waiting state turns to ImagePullBackOff between pulls; the kubelet's Failed
			// event keeps the pull's error.
			var evs corev1.EventList
			if err := env.Client.List(ctx, &evs, client.InNamespace(ns)); err != nil {
				return err
			}
			for _, e := range evs.Items {
				if e.InvolvedObject.Name == "strict" && e.Reason == "Failed" && strings.Contains(e.Message, "image") {
					msg = "event Failed: " + e.Message
					return nil
				}
			}
			return fmt.Errorf("no pull refusal yet: %s", testenv.PodStatusSummary([]corev1.Pod{p}))
		})
		if !strings.Contains(msg, "PCR 7 mismatch") {
			t.Errorf("waiting message %q, want the provider's refusal naming PCR 7", msg)
		}
		t.Logf("what kubectl describe pod shows: %s", msg)
		// It retries the pull with back-off, and the simulated TPM serves one client at a time.
		if err := env.Client.Delete(ctx, pod); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("an attesting node pulls, decrypts and runs the encrypted image", func(t *testing.T) {
		ns := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})
		eggSecret(t, env, ns, "egg-vault", r.MintEgg(t, "vault", rotapi.MintRequest{}))
		d := demoDeployment(ns, "vault", 1, "vault", "any", "egg-vault", map[string]string{inject.AnnotationAttest: "tpm2"},
			"serve", "--listen", "127.0.0.1:"+fmt.Sprint(freeLoopbackPort(t)))
		d.Spec.Template.Spec.Containers[0].Image = vaultImage
		if err := env.Client.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		pod := runningPod(t, env, ns, "vault")
		logEventually(t, node, ns, pod.Name, "app", time.Minute, `serving mTLS`)
	})
}

func exitStderr(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}
