#!/usr/bin/env bash
# Installs the Debian packages Signet builds, runs and tests with.
# Idempotent: packages already present are skipped, and apt is asked only
# when something is missing.
set -euo pipefail

pkgs=(
  build-essential pkg-config
  libgnutls28-dev gnutls-bin libtasn1-6-dev libtasn1-bin
  libpq-dev postgresql postgresql-client
  libldap-dev slapd ldap-utils
  libsodium-dev libinih-dev libcmocka-dev
  kore
  bats openssl gpgsm libnss3-tools softhsm2
  python3 python3-aiosmtpd
  nginx-light
  clang libclang-rt-14-dev
  wrk
)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}" >&2
  echo "install-deps: run as root (or with sudo) to install them" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# slapd's postinst would otherwise start a system-wide server; the project
# runs its own throwaway slapd instances and needs none.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
