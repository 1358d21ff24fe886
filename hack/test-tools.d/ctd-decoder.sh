#!/usr/bin/env bash
# ctd-decoder, containerd's imgcrypt stream processor (github.com/containerd/imgcrypt/v2), built
# from the Go module proxy in its own throwaway module into ~/.cache/seal/tools/ctd-decoder-v2.0.3.
# The real-node test configures containerd with it and seal-keyprovider to pull images sealed
# with sealctl image seal --encrypt.
#
# ctd-decoder lives in imgcrypt's separate module github.com/containerd/imgcrypt/v2/cmd (v1:
# .../imgcrypt/cmd), which uses a replace directive and which the module proxy does not serve
# (404 on @v/list). Until it does, this script says so and exits 0: the test that needs it,
# TestRealNodeEncryptedImage, skips naming this script (SEAL_CTD_DECODER_DIR may point at a
# ctd-decoder built another way).
#
#   hack/test-tools.d/ctd-decoder.sh        (make test-tools)
set -euo pipefail
v=v2.0.3
dir=${SEAL_CTD_DECODER_DIR:-$HOME/.cache/seal/tools/ctd-decoder-$v}
if [ -x "$dir/ctd-decoder" ]; then
  echo "ctd-decoder: $v in $dir"
  exit 0
fi
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9 # another make test-tools may be building it: wait, then use its result
if [ -x "$dir/ctd-decoder" ]; then
  echo "ctd-decoder: $v in $dir"
  exit 0
fi
echo "ctd-decoder: building imgcrypt's ctd-decoder $v from the module proxy into $dir (a minute or two, once)"
work=$(mktemp -d)
trap 'rm -rf "$work" "$dir.tmp"' EXIT
cd "$work"
go mod init seal.local/ctd-decoder >/dev/null 2>&1
if ! go get -tool "github.com/containerd/imgcrypt/v2/cmd/ctd-decoder@$v" >/dev/null 2>"$work/err"; then
  echo "ctd-decoder: not available: the module proxy does not serve github.com/containerd/imgcrypt/v2/cmd ($(tail -1 "$work/err"))"
  exit 0
fi
mkdir -p "$dir.tmp"
CGO_ENABLED=0 go build -trimpath -o "$dir.tmp/" github.com/containerd/imgcrypt/v2/cmd/ctd-decoder
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "ctd-decoder: built $dir/ctd-decoder"
