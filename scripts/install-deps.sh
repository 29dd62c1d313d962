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
  chromium fonts-dejavu-core
)
# node and npm for the browser side: Debian's packages, unless a node
# with its own npm (e.g. NodeSource's, which conflicts with Debian's npm)
# is already there.
command -v node >/dev/null || pkgs+=(nodejs)
command -v npm >/dev/null || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

# The npm packages of package.json (PKI.js and asn1js for the enrolment
# page, playwright-core and esbuild for the browser tests), installed only
# when node_modules is missing or older than package.json/package-lock.json.
npm_deps() {
  local root stale=0
  root=$(cd "$(dirname "$0")/.." && pwd)
  [ -f "$root/package.json" ] || return 0
  [ -f "$root/node_modules/.package-lock.json" ] || stale=1
  for f in package.json package-lock.json; do
    [ -f "$root/$f" ] && [ "$root/$f" -nt "$root/node_modules/.package-lock.json" ] && stale=1
  done
  [ $stale -eq 1 ] || return 0
  command -v npm >/dev/null || { echo "install-deps: npm is missing" >&2; return 1; }
  echo "install-deps: npm ci (node_modules missing or stale)"
  (cd "$root" && npm ci --no-audit --no-fund --loglevel=error)
}

if [ ${#missing[@]} -eq 0 ]; then
  npm_deps
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
npm_deps
