#!/usr/bin/env bash
# Builds the real Kubernetes control-plane (and node) binaries used by the tests from the Go
# module proxy, into a cache outside the clone. Only what is missing is built.
#
#   hack/k8s-tools.sh [DIR]      DIR defaults to $SEAL_K8S_TOOLS or ~/.cache/seal/k8s/v1.36.3
#
# k8s.io/kubernetes cannot be required directly: its go.mod points every k8s.io staging module at
# ./staging/src/... . A throwaway module requires it and replaces each staging module with the
# published v0.<minor>.<patch> tag of the same release.
set -euo pipefail

K8S_VERSION=${K8S_VERSION:-v1.36.3}
STAGING_VERSION=v0.${K8S_VERSION#v1.}
ETCD_VERSION=${ETCD_VERSION:-v3.6.5}
dir=${1:-${SEAL_K8S_TOOLS:-$HOME/.cache/seal/k8s/$K8S_VERSION}}
bins=(etcd kube-apiserver kube-controller-manager kubelet)

missing=()
for b in "${bins[@]}"; do [ -x "$dir/$b" ] || missing+=("$b"); done
if [ ${#missing[@]} -eq 0 ]; then
  echo "k8s-tools: cached in $dir"
  exit 0
fi
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOFLAGS=-mod=mod CGO_ENABLED=0 GOTOOLCHAIN=local

build_k8s() {
  local m="$work/k8s"
  mkdir -p "$m" && cd "$m"
  go mod init seal.dev/k8s-tools >/dev/null 2>&1
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",*/\1/p')
  {
    echo "require k8s.io/kubernetes $K8S_VERSION"
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging' "$gomod" | awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
  } >> go.mod
  printf 'package tools\n\nimport (\n\t_ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n)\n' > tools.go
  go mod tidy >/dev/null 2>&1 || true
  for b in kube-apiserver kube-controller-manager kubelet; do
    [ -x "$dir/$b" ] && continue
    echo "k8s-tools: building $b $K8S_VERSION (several minutes the first time)"
    go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#v1.}" -o "$dir/$b.tmp" "k8s.io/kubernetes/cmd/$b"
    mv "$dir/$b.tmp" "$dir/$b"
  done
}

build_etcd() {
  local m="$work/etcd"
  mkdir -p "$m" && cd "$m"
  go mod init seal.dev/etcd-tools >/dev/null 2>&1
  echo "require go.etcd.io/etcd/server/v3 $ETCD_VERSION" >> go.mod
  printf 'package tools\n\nimport _ "go.etcd.io/etcd/server/v3/etcdmain"\n' > tools.go
  go mod tidy >/dev/null 2>&1 || true
  echo "k8s-tools: building etcd $ETCD_VERSION"
  go build -trimpath -ldflags "-s -w" -o "$dir/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$dir/etcd.tmp" "$dir/etcd"
}

[ -x "$dir/etcd" ] || build_etcd
for b in kube-apiserver kube-controller-manager kubelet; do
  if [ ! -x "$dir/$b" ]; then build_k8s; break; fi
done
echo "k8s-tools: ready in $dir"
