package route

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestDesiredSpec(t *testing.T) {
	ports := func(p ...corev1.ServicePort) []corev1.ServicePort { return p }
	tests := []struct {
		name        string
		annotations map[string]string
		ports       []corev1.ServicePort
		wantPort    string // "" when spec.port must be absent
		wantErr     string
	}{
		{"first port by name", nil, ports(corev1.ServicePort{Name: "https", Port: 443, TargetPort: intstr.FromInt32(8443)}, corev1.ServicePort{Name: "m", Port: 9}), "https", ""},
		{"unnamed port uses target port", nil, ports(corev1.ServicePort{Port: 443, TargetPort: intstr.FromInt32(8443)}), "8443", ""},
		{"unnamed port without target port", nil, ports(corev1.ServicePort{Port: 443}), "443", ""},
		{"port annotation number", map[string]string{AnnotationPort: "9443"}, ports(corev1.ServicePort{Name: "https", Port: 443}), "9443", ""},
		{"port annotation name", map[string]string{AnnotationPort: "tls"}, ports(corev1.ServicePort{Name: "https", Port: 443}), "tls", ""},
		{"no ports", nil, nil, "", ""},
		{"port out of range", map[string]string{AnnotationPort: "70000"}, nil, "", "not a port number"},
		{"bad port name", map[string]string{AnnotationPort: "not a port!"}, nil, "", "not a port name or number"},
		{"bad host", map[string]string{AnnotationHost: "Bad_Host"}, nil, "", "not a valid host name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ann := map[string]string{AnnotationHost: "payments.apps.example.com"}
			for k, v := range tt.annotations {
				ann[k] = v
			}
			svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "payments", Annotations: ann}, Spec: corev1.ServiceSpec{Ports: tt.ports}}
			spec, err := desiredSpec(svc, ann[AnnotationHost])
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if spec["spec.host"] != "payments.apps.example.com" || spec["spec.to.name"] != "payments" || spec["spec.to.kind"] != "Service" || spec["spec.tls.termination"] != "passthrough" {
				t.Errorf("spec = %v, want host, Service payments, passthrough", spec)
			}
			got, ok := spec["spec.port.targetPort"]
			switch {
			case tt.wantPort == "" && ok:
				t.Errorf("targetPort = %v, want none", got)
			case tt.wantPort != "" && fmt.Sprint(got) != tt.wantPort:
				t.Errorf("targetPort = %v, want %s", got, tt.wantPort)
			}
		})
	}
}
