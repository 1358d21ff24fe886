package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// CtdDecoderVersion is the imgcrypt version hack/test-tools.d/ctd-decoder.sh builds.
const CtdDecoderVersion = "v2.0.3"

// CtdDecoderPath is where hack/test-tools.d/ctd-decoder.sh puts containerd's imgcrypt stream
// processor: $SEAL_CTD_DECODER_DIR/ctd-decoder or ~/.cache/seal/tools/ctd-decoder-VERSION.
func CtdDecoderPath() string {
	d := os.Getenv("SEAL_CTD_DECODER_DIR")
	if d == "" {
		home, _ := os.UserHomeDir()
		d = filepath.Join(home, ".cache", "seal", "tools", "ctd-decoder-"+CtdDecoderVersion)
	}
	return filepath.Join(d, "ctd-decoder")
}

// CtdDecoder returns the path of ctd-decoder, or skips t saying why: the module proxy does not
// serve imgcrypt's cmd module, so make test-tools may not have it. Unlike other tools it does
// not fail under SEAL_REQUIRE_NODE for that reason.
func CtdDecoder(t testing.TB) string {
	t.Helper()
	p := CtdDecoderPath()
	if _, err := os.Stat(p); err != nil {
		t.Skipf("testenv: %s is missing: hack/test-tools.d/ctd-decoder.sh builds it when the module proxy serves github.com/containerd/imgcrypt/v2/cmd (set SEAL_CTD_DECODER_DIR to a ctd-decoder built otherwise)", p)
	}
	return p
}
