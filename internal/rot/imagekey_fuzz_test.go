package rot

import (
	"strings"
	"testing"

	"github.com/seal-dev/seal/internal/rotapi"
)

func FuzzDecodeImageKeyRequest(f *testing.F) {
	for _, s := range []string{
		`{"egg":"seal1.x","imageKey":"0123456789abcdef0123456789abcdef"}`,
		`{"egg":"e","imageKey":"0123456789abcdef0123456789abcdef","evidence":{"type":"tpm2","nonce":"AA=="},"token":"t"}`,
		`{"egg":"e","imageKey":"0123456789ABCDEF0123456789abcdef"}`,
		`{"egg":"e","imageKey":"x","extra":1}`,
		`{"egg":"e"}{}`, `[]`, `null`, ``,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		req, err := decodeImageKeyRequest(strings.NewReader(s))
		if err != nil {
			if req != nil {
				t.Fatal("a request returned with an error")
			}
			return
		}
		if req.Egg == "" || !rotapi.ValidImageKeyID(req.ImageKey) {
			t.Fatalf("accepted %+v", req)
		}
	})
}
