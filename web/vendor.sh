#!/usr/bin/env bash
# vendor.sh [OUTDIR]: bundles PKI.js and asn1js from the repository's npm
# dependencies (package.json) into OUTDIR/pki.js (default build/vendor),
# one classic script that defines window.SignetPKI. The bundle is built
# here from node_modules, never committed and never fetched from a CDN.
# Installs node_modules first when it is missing or older than
# package.json / package-lock.json.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${1:-$root/build/vendor}
mkdir -p "$out"

stale=0
[ -d "$root/node_modules/pkijs" ] && [ -x "$root/node_modules/.bin/esbuild" ] || stale=1
for f in package.json package-lock.json; do
	[ -f "$root/$f" ] && [ "$root/$f" -nt "$root/node_modules/.package-lock.json" ] && stale=1
done
if [ $stale -eq 1 ]; then
	cd "$root"
	if [ -f package-lock.json ]; then
		npm ci --no-audit --no-fund --loglevel=error
	else
		npm install --no-audit --no-fund --loglevel=error
	fi
fi

"$root/node_modules/.bin/esbuild" "$here/pki-entry.js" --bundle \
	--format=iife --global-name=SignetPKI --minify --target=es2020 \
	--log-level=warning --outfile="$out/pki.js.tmp"
mv "$out/pki.js.tmp" "$out/pki.js"
