package rotcmd

import (
	"errors"
	"testing"
)

func TestDefaultNamespace(t *testing.T) {
	noFile := func(string) ([]byte, error) { return nil, errors.New("no such file") }
	file := func(ns string) func(string) ([]byte, error) {
		return func(p string) ([]byte, error) {
			if p != serviceAccountNamespace {
				t.Errorf("read %s, want %s", p, serviceAccountNamespace)
			}
			return []byte(ns), nil
		}
	}
	env := func(v string) func(string) string { return func(string) string { return v } }
	tests := []struct {
		name     string
		readFile func(string) ([]byte, error)
		getenv   func(string) string
		want     string
	}{
		{"in a pod: its service account's namespace", file("seal-rot\n"), env("other"), "seal-rot"},
		{"POD_NAMESPACE when no service account", noFile, env("rot-ns"), "rot-ns"},
		{"empty namespace file falls through", file(""), env("rot-ns"), "rot-ns"},
		{"outside a cluster: seal-system", noFile, env(""), "seal-system"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := defaultNamespace(tt.readFile, tt.getenv); got != tt.want {
				t.Errorf("defaultNamespace = %q, want %q", got, tt.want)
			}
		})
	}
}
