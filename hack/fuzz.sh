#!/usr/bin/env bash
# Runs every fuzz target of the module for the given time each (default 10s), to the end: a
# target that fails does not stop the others. Prints one line per target and a summary, and
# exits 1 when any target failed (its output is kept in the log named on its line).
#   hack/fuzz.sh [TIME]
set -uo pipefail
fuzztime=${1:-10s}
cd "$(dirname "$0")/.."
logs=$(mktemp -d "${TMPDIR:-/tmp}/seal-fuzz.XXXXXX")
found=0 passed=0 failed=()
for pkg in $(go list ./...); do
  for target in $(go test -list '^Fuzz' "$pkg" 2>/dev/null | grep '^Fuzz' || true); do
    found=$((found + 1))
    log="$logs/$(basename "$pkg")-$target.log"
    start=$(date +%s)
    if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" >"$log" 2>&1; then
      passed=$((passed + 1))
      echo "fuzz: ok     $pkg $target ($(( $(date +%s) - start ))s)"
    else
      failed+=("$pkg $target")
      crasher=$(grep -o 'testdata/fuzz/[^ ]*' "$log" | head -1)
      if [ -n "$crasher" ]; then why="crasher $crasher (kept as a seed: commit it with the fix)"
      elif grep -q 'context deadline exceeded' "$log"; then why="did not finish within $fuzztime (the engine's baseline run or a slow input hit the deadline)"
      else why="see the log"; fi
      echo "fuzz: FAIL   $pkg $target: $why; log $log"
    fi
  done
done
[ "$found" -gt 0 ] || { echo "fuzz: no fuzz targets found"; exit 1; }
echo "fuzz: $passed passed, ${#failed[@]} failed"
for f in "${failed[@]}"; do echo "fuzz: failed: $f"; done
[ "${#failed[@]}" -eq 0 ]
