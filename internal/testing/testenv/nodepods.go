package testenv

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// PodStatusSummary is one line per pod of what `kubectl get pods` would say about its
// containers: "[name Phase seal-init:terminated(0 Completed) app:running] ...".
func PodStatusSummary(pods []corev1.Pod) string {
	var b strings.Builder
	for _, p := range pods {
		fmt.Fprintf(&b, "[%s %s", p.Name, p.Status.Phase)
		for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
			switch {
			case s.State.Waiting != nil:
				fmt.Fprintf(&b, " %s:waiting(%s %s)", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message)
			case s.State.Terminated != nil:
				fmt.Fprintf(&b, " %s:terminated(%d %s)", s.Name, s.State.Terminated.ExitCode, s.State.Terminated.Reason)
			case s.State.Running != nil:
				fmt.Fprintf(&b, " %s:running", s.Name)
			}
		}
		b.WriteString("] ")
	}
	return strings.TrimSpace(b.String())
}

// WaitLog waits until the log of a container of the node (Logs) matches re, and returns the
// log. It fails after timeout, or when ctx ends, with the log so far.
func (n *Node) WaitLog(ctx context.Context, namespace, pod, container string, re *regexp.Regexp, timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		got := n.Logs(namespace, pod, container)
		if re.MatchString(got) {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("testenv: the log of %s/%s/%s does not match %q after %s:\n%s", namespace, pod, container, re, timeout, got)
		}
		select {
		case <-ctx.Done():
			return got, fmt.Errorf("testenv: waiting for the log of %s/%s/%s: %w", namespace, pod, container, ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}
