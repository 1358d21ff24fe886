#!/usr/bin/env bash
# The cosign CLI, v2.6.5 (the version of the cosign library Seal's go.mod uses), built from the Go
# module proxy in its own throwaway module (none of the CLI's dependencies enter Seal's go.mod)
# into ~/.cache/seal/tools/cosign-v2.6.5. Tests check that what Seal signs verifies with
# `cosign verify` as a user would run it (sealctl image seal, make images).
#
#   hack/test-tools.d/cosign.sh        (make test-tools)
set -euo pipefail
v=v2.6.5
dir=${SEAL_COSIGN_DIR:-$HOME/.cache/seal/tools/cosign-$v}
if [ -x "$dir/cosign" ]; then
  echo "cosign: $v in $dir"
  exit 0
fi
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9 # another make test-tools may be building it: wait, then use its result
if [ -x "$dir/cosign" ]; then
  echo "cosign: $v in $dir"
  exit 0
fi
echo "cosign: building the cosign CLI $v from the module proxy into $dir (a few minutes, once)"
work=$(mktemp -d)
trap 'rm -rf "$work" "$dir.tmp"' EXIT
cd "$work"
go mod init seal.local/cosign >/dev/null 2>&1
go get -tool "github.com/sigstore/cosign/v2/cmd/cosign@$v" >/dev/null
mkdir -p "$dir.tmp"
CGO_ENABLED=0 go build -trimpath -o "$dir.tmp/" github.com/sigstore/cosign/v2/cmd/cosign
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "cosign: built $dir/cosign"
