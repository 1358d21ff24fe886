#!/usr/bin/env bash
# Prometheus's promtool and server, v0.316.0 of the github.com/prometheus/prometheus module
# (Prometheus 3.x), built from the Go module proxy (a throwaway module, so none of Prometheus's
# dependencies enter Seal's go.mod) into ~/.cache/seal/tools/promtool-v0.316.0.
# `promtool check rules` / `promtool test rules` check the shipped PrometheusRule
# (internal/observability tests, via testenv.Promtool); `make dashboard-check` runs the server
# (its API; the web UI assets are not in the module) to scrape a running Seal and evaluate every
# Grafana dashboard query.
#
#   hack/test-tools.d/promtool.sh        (make test-tools)
set -euo pipefail
v=v0.316.0
dir=${SEAL_PROMTOOL_DIR:-$HOME/.cache/seal/tools/promtool-$v}
have() { [ -x "$dir/promtool" ] && [ -x "$dir/prometheus" ]; }
if have; then
  echo "promtool: promtool and prometheus $v in $dir"
  exit 0
fi
mkdir -p "$(dirname "$dir")"
exec 9>"$dir.lock"
flock 9 # another make test-tools may be building it: wait, then use its result
if have; then
  echo "promtool: promtool and prometheus $v in $dir"
  exit 0
fi
echo "promtool: building promtool and prometheus $v from the module proxy into $dir (several minutes, once)"
work=$(mktemp -d)
trap 'rm -rf "$work" "$dir.tmp"' EXIT
cd "$work"
go mod init seal.local/promtool >/dev/null 2>&1
go get -tool "github.com/prometheus/prometheus/cmd/promtool@$v" "github.com/prometheus/prometheus/cmd/prometheus@$v" >/dev/null
mkdir -p "$dir.tmp"
CGO_ENABLED=0 go build -trimpath -o "$dir.tmp/" github.com/prometheus/prometheus/cmd/promtool github.com/prometheus/prometheus/cmd/prometheus
rm -rf "$dir"
mv "$dir.tmp" "$dir"
echo "promtool: built $(ls "$dir" | tr '\n' ' ')in $dir"
