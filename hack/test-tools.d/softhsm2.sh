#!/usr/bin/env bash
# SoftHSM2, a PKCS#11 token in software, for the key-custody tests (--key-provider pkcs11):
# installs Debian's softhsm2 (softhsm2-util and libsofthsm2.so) with apt-get when missing.
# The tests initialise their own token per test under a temporary SOFTHSM2_CONF; nothing here
# touches a system token. The pkcs11 provider is built with cgo, so gcc is installed too.
set -euo pipefail

have() { command -v softhsm2-util >/dev/null && command -v gcc >/dev/null; }
if ! have; then
  if [ "$(id -u)" != 0 ]; then
    echo "softhsm2: not installed and not root: the PKCS#11 key-custody tests will be skipped"
    exit 0
  fi
  echo "softhsm2: installing softhsm2 gcc libc6-dev with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends softhsm2 gcc libc6-dev >/dev/null
fi
lib=$(ls /usr/lib/softhsm/libsofthsm2.so /usr/lib/*/softhsm/libsofthsm2.so 2>/dev/null | head -1 || true)
echo "softhsm2: $(softhsm2-util --version 2>/dev/null || echo unknown) module ${lib:-not found}"
