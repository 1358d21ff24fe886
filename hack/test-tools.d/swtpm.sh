#!/usr/bin/env bash
# swtpm: a software TPM 2.0 (libtpms) the attestation tests start in socket mode on loopback TCP
# (internal/attest, internal/rot, test/e2e). tpm2-tools is for checking by hand (tpm2_pcrread).
set -euo pipefail
if command -v swtpm >/dev/null && command -v swtpm_setup >/dev/null; then
  echo "swtpm: $(swtpm --version | head -1)"
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "swtpm: not installed and not root: the TPM attestation tests will be skipped"
  exit 0
fi
echo "swtpm: installing swtpm swtpm-tools tpm2-tools with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends swtpm swtpm-tools tpm2-tools >/dev/null
echo "swtpm: $(swtpm --version | head -1)"
