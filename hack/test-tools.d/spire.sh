#!/usr/bin/env bash
# SPIRE's server and agent, v1.13.3, built from the Go module proxy (its own throwaway module, so
# none of SPIRE's dependencies enter Seal's go.mod) into ~/.cache/seal/tools/spire-v1.13.3. The
# federation test (test/e2e TestSPIREFederation) and the Workload API test use them.
#
#   hack/test-tools.d/spire.sh        (make test-tools)
set -euo pipefail
v=v1.13.3
dir=${SEAL_SPIRE_DIR:-$HOME/.cache/seal/tools/spire-$v}
if [ -x "$dir/spire-server" ] && [ -x "$dir/spire-agent" ]; then
  echo "spire: spire-server and spire-agent $v in $dir"
  exit 0
fi
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9 # another make test-tools may be building it: wait, then use its result
if [ -x "$dir/spire-server" ] && [ -x "$dir/spire-agent" ]; then
  echo "spire: spire-server and spire-agent $v in $dir"
  exit 0
fi
echo "spire: building spire-server and spire-agent $v from the module proxy into $dir (several minutes, once)"
work=$(mktemp -d)
trap 'rm -rf "$work" "$dir.tmp"' EXIT
cd "$work"
go mod init seal.local/spire >/dev/null 2>&1
go get -tool "github.com/spiffe/spire/cmd/spire-server@$v" "github.com/spiffe/spire/cmd/spire-agent@$v" >/dev/null
mkdir -p "$dir.tmp"
CGO_ENABLED=1 go build -trimpath -o "$dir.tmp/" github.com/spiffe/spire/cmd/spire-server github.com/spiffe/spire/cmd/spire-agent
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "spire: built $(ls "$dir" | tr '\n' ' ')in $dir"
