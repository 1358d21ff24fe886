#!/usr/bin/env bash
# Prepares this machine to run a real Kubernetes node in the tests (internal/testing/testenv StartNode):
#   - containerd and runc, installed with apt-get when missing (needs root);
#   - the pause image (a tiny static C program that sleeps in pause() until SIGTERM) as a
#     docker-compatible tarball tagged registry.k8s.io/pause:3.6, cached outside the clone.
#
#   hack/node-tools.sh [DIR]     DIR defaults to $SEAL_NODE_TOOLS or ~/.cache/seal/node
#
# Without root it only says why the node tests will be skipped, and succeeds.
set -euo pipefail

dir=${1:-${SEAL_NODE_TOOLS:-$HOME/.cache/seal/node}}
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" != 0 ]; then
  echo "node-tools: not root: the real-node tests will be skipped (they need root for containerd and the kubelet)"
  exit 0
fi

missing=()
command -v containerd >/dev/null || missing+=(containerd)
command -v ctr >/dev/null || missing+=(containerd)
command -v runc >/dev/null || missing+=(runc)
command -v gcc >/dev/null || missing+=(gcc libc6-dev)
if [ ${#missing[@]} -gt 0 ]; then
  echo "node-tools: installing ${missing[*]} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends containerd runc gcc libc6-dev >/dev/null
fi

pause_tar=$dir/pause.tar
if [ -s "$pause_tar" ]; then
  echo "node-tools: containerd $(containerd --version | awk '{print $3}'), pause image cached in $pause_tar"
  exit 0
fi
mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/pause.c" <<'C'
/* pause: the sandbox container's only process. Sleeps until SIGTERM or SIGINT, reaps zombies. */
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void stop(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }

int main(void) {
  struct sigaction sa = {0};
  sa.sa_handler = stop;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sa.sa_handler = reap;
  sa.sa_flags = SA_NOCLDSTOP;
  sigaction(SIGCHLD, &sa, NULL);
  for (;;) pause();
}
C
gcc -static -Os -s -o "$work/pause" "$work/pause.c"
(cd "$repo" && go run ./hack/images -binary "$work/pause" -name pause -path /pause -root \
  -tag 3.6 -ref registry.k8s.io/pause:3.6 -out "$pause_tar")
echo "node-tools: pause image written to $pause_tar"
