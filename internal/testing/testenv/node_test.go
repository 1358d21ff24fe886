package testenv

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/seal-dev/seal/hack/ociimage"
)

// TestNode runs a real pod on the real node, reads its log from podLogsDir, and checks that
// nothing is left behind afterwards: no mount, no process, no directory.
func TestNode(t *testing.T) {
	var dir, sock string
	var containerIDs []string
	t.Run("pod runs", func(t *testing.T) {
		env := Start(t)
		node := env.StartNode(t)
		dir, sock = node.Dir, node.ContainerdAddress

		bin := Binary(t, "./internal/testing/testenv/testdata/hello")
		img, err := ociimage.ImageFromFile(ociimage.Spec{Name: "hello"}, bin)
		if err != nil {
			t.Fatal(err)
		}
		tarball := filepath.Join(t.TempDir(), "hello.tar")
		if err := ociimage.WriteTarball(tarball, "seal.test/hello:v1", img); err != nil {
			t.Fatal(err)
		}
		node.ImportImage(t, tarball)

		ns := env.Namespace(t, nil)
		pod := NodePod(ns, "hello", corev1.Container{
			Name: "hello", Image: "seal.test/hello:v1", Args: []string{"/scratch"},
			Env:          []corev1.EnvVar{{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
		})
		pod.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory}}}}
		ctx := context.Background()
		if err := env.Client.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
		Eventually(t, 3*time.Minute, func() error {
			var p corev1.Pod
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(pod), &p); err != nil {
				return err
			}
			if p.Status.Phase != corev1.PodRunning {
				return fmt.Errorf("pod phase %s: %+v", p.Status.Phase, p.Status.ContainerStatuses)
			}
			containerIDs = containerIDs[:0]
			for _, c := range p.Status.ContainerStatuses {
				containerIDs = append(containerIDs, strings.TrimPrefix(c.ContainerID, "containerd://"))
			}
			return nil
		})
		Eventually(t, time.Minute, func() error {
			got := node.PodLogs(t, ns, "hello", "hello")
			if !strings.Contains(got, "hello from hello\n") || !strings.Contains(got, "wrote /scratch/written") {
				return fmt.Errorf("pod log = %q, want the greeting and the write to the memory volume", got)
			}
			return nil
		})
		for _, id := range containerIDs {
			if cg, _ := filepath.Glob("/sys/fs/cgroup/*/k8s.io/" + id); len(cg) == 0 {
				t.Errorf("no cgroup k8s.io/%s for the running container (the leftover check below would prove nothing)", id)
			}
		}
		if m, _ := mountsUnder(node.RootDir); len(m) == 0 {
			t.Errorf("no mounts under the kubelet's root dir while a pod with a memory volume runs")
		}
	})
	if dir == "" {
		return
	}
	if m, err := mountsUnder(dir); err != nil || len(m) > 0 {
		t.Errorf("mounts left under %s after the test: %v (%v)", dir, m, err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("node directory %s left behind (stat: %v)", dir, err)
	}
	for _, id := range containerIDs {
		if left, _ := filepath.Glob("/sys/fs/cgroup/*/k8s.io/" + id); len(left) > 0 {
			t.Errorf("container cgroups left behind: %v", left)
		}
	}
	if left := processesMentioning(sock); len(left) > 0 {
		t.Errorf("processes left running for %s: %v", sock, left)
	}
}

func processesMentioning(s string) []string {
	var out []string
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.Contains(string(b), s) {
			out = append(out, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

func TestCRILogText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"full lines", "2026-01-01T00:00:00Z stdout F hello\n2026-01-01T00:00:01Z stderr F world\n", "hello\nworld\n"},
		{"partial joined", "t stdout P hel\nt stdout F lo\n", "hello\n"},
		{"empty text", "t stdout F \n", "\n"},
		{"garbage skipped", "nonsense\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := criLogText(tc.in); got != tc.want {
				t.Errorf("criLogText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func FuzzCRILogText(f *testing.F) {
	for _, s := range []string{"2026-01-01T00:00:00Z stdout F hello\n", "t stdout P a\nt stdout F b\n", "", "x y", "a b c d e f\n\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := criLogText(s)
		if len(got) > len(s)+1 {
			t.Errorf("criLogText grew the input: %d bytes from %d", len(got), len(s))
		}
	})
}

func FuzzUnescapeMount(f *testing.F) {
	for _, s := range []string{`/tmp/a\040b`, `/plain`, `\`, `\0`, `\777x`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := unescapeMount(s); len(got) > len(s) {
			t.Errorf("unescapeMount(%q) = %q, longer than its input", s, got)
		}
	})
}

func TestUnescapeMount(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`/tmp/a\040b`, "/tmp/a b"},
		{`/tmp/tab\011x`, "/tmp/tab\tx"},
		{`/plain`, "/plain"},
		{`/trailing\`, `/trailing\`},
	} {
		if got := unescapeMount(tc.in); got != tc.want {
			t.Errorf("unescapeMount(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestContainerdConfig(t *testing.T) {
	def := "root = \"/var/lib/containerd\"\n[grpc]\n  address = \"/run/containerd/containerd.sock\"\n[debug]\n  address = \"\"\n  restrict_oom_score_adj = false\n"
	got, err := containerdConfig(def, map[string]string{"root": "/tmp/n/root", "address": "/tmp/n/c.sock", "restrict_oom_score_adj": "true"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`root = "/tmp/n/root"`, `  address = "/tmp/n/c.sock"`, `  address = ""`, `  restrict_oom_score_adj = true`} {
		if !strings.Contains(got, want+"\n") {
			t.Errorf("config lacks %q:\n%s", want, got)
		}
	}
	if _, err := containerdConfig(def, map[string]string{"sandbox_image": "x"}); err == nil {
		t.Error("a setting absent from the default config was accepted")
	}
}

func TestNodeRequirementsNameTheFix(t *testing.T) {
	t.Setenv("SEAL_NODE_TOOLS", t.TempDir())
	err := NodeRequirements()
	if err == nil {
		t.Fatal("NodeRequirements() = nil without a pause image")
	}
	if want := "make node-tools"; os.Geteuid() == 0 && !strings.Contains(err.Error(), want) {
		t.Errorf("NodeRequirements() = %v, want it to name %q", err, want)
	}
}
