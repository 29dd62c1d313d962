#!/usr/bin/env bats
# Browser end-to-end: brings up the whole stack once (web_lib.bash), then
# runs each test of tests/browser/enrol.test.mjs in Debian's Chromium
# through playwright-core under `node --test`, one bats test per node test
# so tests/run.sh counts them one by one.

load ../integration/lib
load ../integration/web_lib

setup_file() {
	bash "$WEB_ROOT/web/vendor.sh" >/dev/null
	web_setup_full
}
teardown_file() { web_teardown_full; }

node_test() {
	cd "$WEB_ROOT"
	node --test --test-reporter=tap --test-name-pattern="$1" \
	    tests/browser/enrol.test.mjs
}

@test "alice creates a P-256 key in her browser and saves a PKCS#12 that signs" {
	node_test "alice creates a P-256 key"
}

@test "bob creates an RSA-3072 key in his browser" {
	node_test "bob creates an RSA-3072 key"
}

@test "alice uploads her own CSR file and signs with the certificate she downloads" {
	node_test "alice uploads her own CSR"
}

@test "bob has the server make his key and downloads it as PKCS#12 once" {
	node_test "bob has the server make his key"
}

@test "carol's browser request pends; an officer approves; carol saves her PKCS#12" {
	node_test "carol's browser request pends"
}

@test "public pages: the CA certificate and a colleague lookup" {
	node_test "public pages"
}

@test "alice revokes her own certificate from her home page after confirming" {
	node_test "alice revokes her own certificate"
}
