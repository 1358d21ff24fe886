package keyprovider

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const testID = "0123456789abcdef0123456789abcdef"

func testKey() []byte { return bytes.Repeat([]byte{7}, 32) }

// unwrapInput is the request ocicrypt writes for a keyunwrap.
func unwrapInput(t testing.TB, annotation []byte) []byte {
	b, err := json.Marshal(map[string]any{"op": "keyunwrap", "keyunwrapparams": map[string]any{
		"dc": map[string]any{"Parameters": map[string]any{}}, "annotation": annotation}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type fixedKey []byte

func (k fixedKey) ImageKey(context.Context, *Annotation) ([]byte, error) { return k, nil }

func TestServe(t *testing.T) {
	ann, err := Wrap(testKey(), testID, "seal1.egg", []byte(`{"symkey":"k"}`), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := Serve(context.Background(), bytes.NewReader(unwrapInput(t, ann)), &out, fixedKey(testKey())); err != nil {
		t.Fatal(err)
	}
	var o Output
	if err := json.Unmarshal(out.Bytes(), &o); err != nil || string(o.KeyUnwrapResults.OptsData) != `{"symkey":"k"}` {
		t.Fatalf("output %s (%v), want the wrapped options", out.String(), err)
	}
	other := bytes.Repeat([]byte{8}, 32)
	if err := Serve(context.Background(), bytes.NewReader(unwrapInput(t, ann)), &out, fixedKey(other)); !errors.Is(err, ErrKey) {
		t.Errorf("another key: %v, want ErrKey", err)
	}
	// The sealed options are bound to the key id: the same ciphertext under another id fails.
	a, _ := ParseAnnotation(ann)
	a.ImageKey = strings.Repeat("f", 32)
	if _, err := a.Open(testKey()); !errors.Is(err, ErrKey) {
		t.Errorf("moved to another id: %v, want ErrKey", err)
	}
}

func TestParseInputRefusals(t *testing.T) {
	good, _ := Wrap(testKey(), testID, "e", []byte("x"), rand.Reader)
	for _, tt := range []struct{ name, in, want string }{
		{"not json", "{", "not the keyprovider protocol's JSON"},
		{"keywrap", `{"op":"keywrap"}`, "only unwraps"},
		{"other op", `{"op":"x"}`, `op "x"`},
		{"no annotation", `{"op":"keyunwrap"}`, "not a Seal key annotation"},
		{"jwe annotation", string(unwrapInput(t, []byte(`{"protected":"x"}`))), "not a Seal key annotation"},
		{"too big", `{"op":"keyunwrap","x":"` + strings.Repeat("a", maxInput) + `"}`, "over"},
		{"good", string(unwrapInput(t, good)), ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseInput(strings.NewReader(tt.in))
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("ParseInput: %v, want %q", err, tt.want)
			}
		})
	}
}

func FuzzParseInput(f *testing.F) {
	good, _ := Wrap(testKey(), testID, "seal1.egg", []byte("opts"), rand.Reader)
	f.Add(unwrapInput(f, good))
	f.Add(good)
	f.Add([]byte(`{"op":"keyunwrap","keyunwrapparams":{"annotation":"e30="}}`))
	f.Add([]byte(`{"op":"keywrap","keywrapparams":{"ec":null,"optsdata":"AA=="}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseInput(bytes.NewReader(b))
		if err == nil && (!ValidID(a.ImageKey) || a.Egg == "" || len(a.Nonce) != 12) {
			t.Fatalf("accepted %+v", a)
		}
		if a2, err := ParseAnnotation(b); err == nil {
			_, _ = a2.Open(testKey())
		}
	})
}
