#!/usr/bin/env bash
# Runs every fuzz target of the module for the given time each (default 10s).
#   hack/fuzz.sh [TIME]
# Targets are found with `go test -list`; a failure stops the run with the crasher's path.
set -euo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."
found=0
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    found=1
    echo "fuzz: $pkg $target for $fuzztime"
    go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
  done
done
[ "$found" = 1 ] || { echo "fuzz: no fuzz targets found"; exit 1; }
