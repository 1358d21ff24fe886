package e2e

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/internal/attest"
	"github.com/seal-dev/seal/internal/inject"
	"github.com/seal-dev/seal/internal/rot/rottest"
	"github.com/seal-dev/seal/internal/rotapi"
	"github.com/seal-dev/seal/internal/testing/swtpm"
	"github.com/seal-dev/seal/internal/testing/testenv"
)

// TestRealNodeAttestation: pods annotated seal.dev/attest: tpm2 on a real kubelet. The node's
// TPM is a real software TPM (swtpm) on loopback TCP, which the host-network pods' seal-init
// reaches as the webhook tells it (seal-webhook --tpm tcp:...). A pod of a Workload whose
// policy matches the TPM's PCRs redeems and runs; one whose policy does not stays in Init, and
// its termination message names the PCR.
func TestRealNodeAttestation(t *testing.T) {
	tpm := swtpm.Start(t)
	env := testenv.Start(t)
	node := env.StartNode(t)
	r := rottest.Start(t)
	injectionWebhook(t, env, r.TrustDomain, func(c *inject.Config) { c.TPM = tpm.Spec() })
	nodeImages(t, node)
	ctx := context.Background()
	ns := env.Namespace(t, map[string]string{inject.LabelInject: inject.NamespaceEnabled})

	enrollNode(t, r, tpm)
	r.CreateWorkload(t, rotapi.Workload{Name: "vault", Attest: "node-boot"})
	r.CreateWorkload(t, rotapi.Workload{Name: "strict", Attest: "other-boot"})
	eggSecret(t, env, ns, "egg-vault", r.MintEgg(t, "vault", rotapi.MintRequest{}))
	eggSecret(t, env, ns, "egg-strict", r.MintEgg(t, "strict", rotapi.MintRequest{}))

	attestAnn := map[string]string{inject.AnnotationAttest: "tpm2"}
	listen := "127.0.0.1:" + fmt.Sprint(freeLoopbackPort(t))
	for _, d := range []struct{ name, workload, egg string }{{"vault", "vault", "egg-vault"}, {"strict", "strict", "egg-strict"}} {
		if err := env.Client.Create(ctx, demoDeployment(ns, d.name, 1, d.workload, "any", d.egg, attestAnn, "serve", "--listen", listen)); err != nil {
			t.Fatal(err)
		}
		listen = "127.0.0.1:" + fmt.Sprint(freeLoopbackPort(t))
	}

	t.Run("an attested pod redeems and runs", func(t *testing.T) {
		pod := runningPod(t, env, ns, "vault")
		for _, c := range pod.Spec.InitContainers {
			if c.Name == inject.InitContainerName && !strings.Contains(strings.Join(c.Args, " "), "--attest tpm2 --tpm "+tpm.Spec()) {
				t.Errorf("seal-init args %q, want --attest tpm2 --tpm %s", c.Args, tpm.Spec())
			}
		}
		logEventually(t, node, ns, pod.Name, inject.InitContainerName, time.Minute, `msg="wrote identity" .*spiffeID=`+
			regexp.QuoteMeta("spiffe://"+r.TrustDomain+"/workload/vault/peer/any"))
	})

	t.Run("a pod whose PCRs do not match the policy stays in Init with the message", func(t *testing.T) {
		var msg string
		testenv.Eventually(t, 3*time.Minute, func() error {
			var pods corev1.PodList
			if err := env.Client.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabels{"app": "strict"}); err != nil {
				return err
			}
			for _, p := range pods.Items {
				for _, s := range p.Status.InitContainerStatuses {
					term := s.State.Terminated
					if term == nil {
						term = s.LastTerminationState.Terminated
					}
					if s.Name == inject.InitContainerName && term != nil && term.ExitCode != 0 {
						if p.Status.Phase != corev1.PodPending {
							return fmt.Errorf("pod %s phase %s, want Pending", p.Name, p.Status.Phase)
						}
						msg = term.Message
						return nil
					}
				}
			}
			return fmt.Errorf("no failed seal-init yet: %s", testenv.PodStatusSummary(pods.Items))
		})
		if !strings.Contains(msg, "PCR 7 mismatch") {
			t.Errorf("seal-init's termination message %q, want it to name PCR 7", msg)
		}
		t.Logf("what kubectl describe pod shows: %s", msg)
	})
}

// enrollNode enrolls the TPM as node-1 of the ROT: its AK registered, and two attestation
// policies: node-boot, its PCR 0 and 7 as they are (the node satisfies it), and other-boot,
// another PCR 7 (it does not).
func enrollNode(t *testing.T, r *rottest.ROT, tpm *swtpm.TPM) {
	t.Helper()
	tp, err := attest.OpenTPM(tpm.Spec())
	if err != nil {
		t.Fatal(err)
	}
	ak, _, err := attest.EnrollAK(tp, attest.DefaultAKHandle)
	if err != nil {
		tp.Close()
		t.Fatal(err)
	}
	pcrs, err := attest.ReadPCRs(tp, []int{0, 7})
	tp.Close() // swtpm serves one client at a time: the pods' seal-init come next
	if err != nil {
		t.Fatal(err)
	}
	do := func(path string, in any) {
		if err := r.Admin.Do(context.Background(), http.MethodPost, path, in, nil); err != nil {
			t.Fatal(err)
		}
	}
	do(rotapi.PathAttestationKeys, rotapi.AttestationKey{Name: "node-1", AKPub: ak})
	do(rotapi.PathAttestationPolicies, rotapi.AttestationPolicy{Name: "node-boot", PCRs: map[string]string{
		"0": hex.EncodeToString(pcrs[0]), "7": hex.EncodeToString(pcrs[7])}})
	do(rotapi.PathAttestationPolicies, rotapi.AttestationPolicy{Name: "other-boot", PCRs: map[string]string{
		"0": hex.EncodeToString(pcrs[0]), "7": strings.Repeat("11", 32)}})
}
