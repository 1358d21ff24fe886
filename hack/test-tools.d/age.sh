#!/usr/bin/env bash
# The age CLI (Debian package age): the secrets tests decrypt `sealctl secret export` with it,
# as an edge node would.
set -euo pipefail

if command -v age >/dev/null && command -v age-keygen >/dev/null; then
  echo "age: $(age --version 2>/dev/null || echo installed)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "age: not installed and not root: the tests that use the age CLI will be skipped (apt-get install age)"
  exit 0
fi
echo "age: installing with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends age >/dev/null
echo "age: $(age --version 2>/dev/null || echo installed)"
