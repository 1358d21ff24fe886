#!/usr/bin/env bash
# Installs the real parts the tests need besides the control plane and the node: each script in
# hack/test-tools.d/ installs one (swtpm, SoftHSM2, the age CLI, ...) when it is missing and says
# what it has. Scripts need root for apt-get; without root they only say which tests will skip.
#
#   hack/test-tools.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
shopt -s nullglob
for s in "$here"/test-tools.d/*.sh; do
  bash "$s"
done
