#!/usr/bin/env bats
# The administrator's CLI against a real private PostgreSQL: setup, issue,
# list, show, export, audit, and refusal of bad input without side effects.

load lib

setup_file() {
	export H=$(new_home cli)
	export SUB=$(new_home sub)
	export CH=$(new_home chains)
	export HD=$(new_home heads)	# set up by its test
	export W="$BATS_FILE_TMPDIR"
	sg "$H" setup --cn "Test Mail CA" >"$W/setup.out"
}

teardown_file() {
	local d
	stop_home "$H"
	[ -f "$W/secretenv" ] && stop_home "$(cat "$W/secretenv")"
	# the private-parent test, if it failed midway
	if [ -f "$W/orphan" ]; then
		d=$(cat "$W/orphan")
		runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl" \
		    -D "$d/data" stop -m fast >/dev/null 2>&1
		rm -rf "$d"
	fi
	if [ -f "$W/private" ]; then
		stop_home "$(cat "$W/private")/home"
		d=$(readlink "$(cat "$W/private")/home/pg") && rm -rf "$d"
		rm -rf "$(cat "$W/private")"
	fi
	stop_home "${SUB:-}"
	stop_home "${CH:-}"
	stop_home "${HD:-}"
}

count_certs() { psql_home "$H" "SELECT count(*) FROM certificates"; }
count_audit() { psql_home "$H" "SELECT count(*) FROM audit_log"; }

@test "setup makes a P-384 root CA and prints its real fingerprint" {
	run openssl x509 -in "$H/ca.pem" -noout -text
	[ "$status" -eq 0 ]
	[[ "$output" == *"CA:TRUE"* ]]
	[[ "$output" == *"Certificate Sign, CRL Sign"* ]]
	[[ "$output" == *"NIST CURVE: P-384"* ]]
	[[ "$output" == *"Subject: CN = Test Mail CA"* ]]
	fp=$(openssl x509 -in "$H/ca.pem" -noout -fingerprint -sha256 | cut -d= -f2)
	grep -qF "$fp" "$W/setup.out"
	run openssl verify -x509_strict -CAfile "$H/ca.pem" "$H/ca.pem"
	[ "$output" = "$H/ca.pem: OK" ]
}

@test "the CA key is encrypted PKCS#8 and its passphrase file is private" {
	grep -q "BEGIN ENCRYPTED PRIVATE KEY" "$H/ca.key"
	! grep -q "BEGIN PRIVATE KEY" "$H/ca.key" || false
	[ "$(stat -c %a "$H/ca.key")" = 600 ]
	[ "$(stat -c %a "$H/ca.pass")" = 600 ]
	run openssl pkey -in "$H/ca.key" -passin "file:$H/ca.pass" -noout
	[ "$status" -eq 0 ]
}

@test "the private PostgreSQL listens on a unix socket only" {
	ci=$(sg "$H" db conninfo)
	[[ "$ci" == host=/* ]]
	run psql_home "$H" "SHOW listen_addresses"
	[ "$output" = "" ]
}

@test "setup refuses an instance that is already set up" {
	run sg "$H" setup
	[ "$status" -ne 0 ]
	[[ "$output" == *"already set up"* ]]
}

@test "a home postgres cannot reach keeps its cluster outside; removed without stop, a new setup there will not adopt that database" {
	[ "$(id -u)" = 0 ] || skip "needs root: only then does the cluster run as postgres, who cannot traverse a 0700 parent"
	P=$(mktemp -d /tmp/signet-private.XXXXXX)	# mode 0700
	echo "$P" >"$W/private"
	PH="$P/home"
	sg "$PH" setup --cn "Private CA" >/dev/null
	link=$(readlink "$PH/pg")
	[[ "$link" == /var/tmp/signet-pg-* ]]
	echo "$link" >"$W/orphan"
	[ -f "$link/data/PG_VERSION" ]
	rm -rf "$PH"		# no stop: the server runs on
	run sg "$PH" setup --cn "Another CA"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$link holds the database of an earlier instance at $PH, removed without \`signet stop\`"* ]]
	[ ! -e "$PH/signet.conf" ]
	[ ! -e "$PH/ca.key" ]
	# the earlier database is as it was: its one CA
	creates() { psql -X -q -A -t "host=$link/run dbname=signet user=signet" \
	    -c "SELECT string_agg(subject, ',') FROM audit_log WHERE action = 'ca.create'"; }
	[ "$(creates)" = "CN=Private CA" ]
	# stopped and removed as the message says, setup goes ahead afresh
	runuser -u postgres -- "$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_ctl" \
	    -D "$link/data" stop -m fast >/dev/null
	rm -rf "$link" "$W/orphan"
	sg "$PH" setup --cn "Another CA" >/dev/null
	[ "$(readlink "$PH/pg")" = "$link" ]
	[ "$(creates)" = "CN=Another CA" ]
	stop_home "$PH"
	rm -rf "$link" "$P" "$W/private"
}

@test "secret_env: the CA passphrase from the environment; unset, a clear refusal; the database's processes never see it" {
	E=$(new_home secretenv)
	echo "$E" >"$W/secretenv"
	sg "$E" setup --cn "Env CA" >/dev/null
	pass=$(cat "$E/ca.pass")
	# the passphrase moves from its file to the environment
	sed -i 's/^secret_file = .*/secret_env = SIGNET_TEST_CA_SECRET/' "$E/signet.conf"
	grep -qx 'secret_env = SIGNET_TEST_CA_SECRET' "$E/signet.conf"
	rm "$E/ca.pass"
	make_csr ecdsa-p256 "$W/env.csr"
	run sg "$E" issue --csr "$W/env.csr" --email envy@example.com --profile signing --out "$W/env.pem"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"no secret: give a secret file or set the environment variable SIGNET_TEST_CA_SECRET"* ]]
	[ "$(psql_home "$E" "SELECT count(*) FROM certificates")" = 0 ]
	# the database is down, so the command that has the passphrase starts it
	sg "$E" stop >/dev/null
	SIGNET_TEST_CA_SECRET="$pass" "$SIGNET" --home "$E" issue --csr "$W/env.csr" \
	    --email envy@example.com --profile signing --out "$W/env.pem" >/dev/null
	openssl verify -x509_strict -purpose smimesign -CAfile "$E/ca.pem" "$W/env.pem"
	pm=$(head -1 "$E/pg/data/postmaster.pid")
	[ -r "/proc/$pm/environ" ]
	for p in "$pm" $(pgrep -P "$pm"); do
		if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -q '^SIGNET_TEST_CA_SECRET='; then
			echo "process $p ($(cat "/proc/$p/comm")) holds the CA passphrase" >&2
			return 1
		fi
	done
	stop_home "$E"
	rm -f "$W/secretenv"
}

@test "migrate twice is a no-op" {
	run sg "$H" migrate
	[ "$status" -eq 0 ]
	[[ "$output" == "applied 0 migrations"* ]]
}

@test "issue takes subject and SAN from the arguments, never from the CSR" {
	make_csr ecdsa-p256 "$W/evil.csr" "/CN=ceo@example.com/emailAddress=ceo@example.com/O=Evil"
	run sg "$H" issue --csr "$W/evil.csr" --email alice@example.com --profile signing --out "$W/alice.pem"
	[ "$status" -eq 0 ]
	[[ "$output" == "issued "*" for alice@example.com (signing, ecdsa-p256)" ]]
	run openssl x509 -in "$W/alice.pem" -noout -subject -ext subjectAltName
	[[ "$output" == *"subject=CN = alice@example.com, emailAddress = alice@example.com"* ]]
	[[ "$output" == *"email:alice@example.com"* ]]
	[[ "$output" != *ceo* ]]
	[[ "$output" != *Evil* ]]
}

@test "an issued signing certificate verifies strictly for S/MIME signing" {
	run openssl verify -x509_strict -purpose smimesign -CAfile "$H/ca.pem" "$W/alice.pem"
	[ "$output" = "$W/alice.pem: OK" ]
}

@test "list and show report the certificate as valid" {
	serial=$(openssl x509 -in "$W/alice.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)
	run sg "$H" list
	[[ "$output" == *"$serial  signing     ecdsa-p256  valid"*"alice@example.com"* ]]
	run sg "$H" show "$serial"
	[ "$status" -eq 0 ]
	[[ "$output" == *"mailbox:      alice@example.com"* ]]
	[[ "$output" == *"status:       valid"* ]]
	fp=$(openssl x509 -in "$W/alice.pem" -noout -fingerprint -sha256 | cut -d= -f2)
	[[ "$output" == *"sha256:       $fp"* ]]
	run sg "$H" show --email ALICE@example.com
	[[ "$output" == *"serial:       $serial"* ]]
	run sg "$H" show 00ff00ff
	[ "$status" -ne 0 ]
	[[ "$output" == *"no certificate with serial 00ff00ff"* ]]
}

# A trigger stands in for a serial already in use: the server answers the
# first N inserts the way the primary key would (sequences are not rolled
# back, so the count survives the failed attempts).
serial_taken_for() {
	psql_home "$H" "CREATE SEQUENCE IF NOT EXISTS t_taken;
	  SELECT setval('t_taken', 1, false);
	  CREATE OR REPLACE FUNCTION t_taken() RETURNS trigger
	  LANGUAGE plpgsql AS \$\$ BEGIN
	    IF nextval('t_taken') <= $1 THEN
	      RAISE unique_violation USING CONSTRAINT = 'certificates_pkey',
	        MESSAGE = 'duplicate key value violates unique constraint';
	    END IF;
	    RETURN NEW;
	  END \$\$;
	  CREATE OR REPLACE TRIGGER t_taken BEFORE INSERT ON certificates
	    FOR EACH ROW EXECUTE FUNCTION t_taken()" >/dev/null
}
serial_taken_off() {
	psql_home "$H" "DROP TRIGGER t_taken ON certificates;
	  DROP FUNCTION t_taken(); DROP SEQUENCE t_taken" >/dev/null
}
count_jobs() { psql_home "$H" "SELECT count(*) FROM publish_jobs"; }

# issue_taken N NAME: `signet issue` for NAME@example.com (run: status,
# output) while the first N serials drawn are taken; sets tries (the
# draws made) and c0, a0, j0 (certificates, audit records and publish
# jobs before)
issue_taken() {
	make_csr ecdsa-p256 "$W/$2.csr"
	c0=$(count_certs); a0=$(count_audit); j0=$(count_jobs)
	serial_taken_for "$1"
	run sg "$H" issue --csr "$W/$2.csr" --email "$2@example.com" --profile signing --out "$W/$2.pem"
	tries=$(psql_home "$H" "SELECT last_value FROM t_taken")
	serial_taken_off
}
# stored N: N more certificates, audit records and publish jobs than before
stored() {
	[ "$(count_certs)" = $((c0 + $1)) ] && [ "$(count_audit)" = $((a0 + $1)) ] &&
	    [ "$(count_jobs)" = $((j0 + $1)) ]
}

@test "a serial already taken is drawn again: one certificate, one audit record, one publish job" {
	issue_taken 1 taken
	[ "$status" -eq 0 ]
	[ "$tries" = 2 ]
	stored 1
	serial=$(openssl x509 -in "$W/taken.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)
	# the record and the job name the serial that was used
	[ "$(psql_home "$H" "SELECT count(*) FROM audit_log
	    WHERE action = 'cert.issue' AND detail LIKE 'serial=$serial %'")" = 1 ]
	[ "$(psql_home "$H" "SELECT count(*) FROM publish_jobs
	    WHERE kind = 'cert.issue' AND ref = '$serial'")" = 1 ]
	run sg "$H" audit verify
	[ "$status" -eq 0 ]
}

@test "a serial that stays taken fails after four draws and stores nothing" {
	issue_taken 100 taken2
	[ "$status" -ne 0 ]
	[[ "$output" == *"could not draw an unused serial number"* ]]
	[ "$tries" = 4 ]
	[ ! -e "$W/taken2.pem" ]
	stored 0
}

@test "export writes PEM, DER and a PKCS#7 chain that openssl and certtool read" {
	serial=$(openssl x509 -in "$W/alice.pem" -noout -serial | cut -d= -f2)
	sg "$H" export "$serial" --format pem --out "$W/x.pem"
	cmp "$W/x.pem" "$W/alice.pem"
	sg "$H" export "$serial" --format der --out "$W/x.der"
	openssl x509 -in "$W/alice.pem" -outform DER | cmp - "$W/x.der"
	sg "$H" export "$serial" --format p7c --out "$W/x.p7c"
	run openssl pkcs7 -inform DER -in "$W/x.p7c" -print_certs -noout
	[[ "$output" == *"subject=CN = alice@example.com"* ]]
	[[ "$output" == *"subject=CN = Test Mail CA"* ]]
	run openssl asn1parse -inform DER -in "$W/x.p7c"
	[[ "$output" == *"pkcs7-signedData"* ]]
	[[ "$output" == *"pkcs7-data"* ]]
	run certtool --p7-info --inder --infile "$W/x.p7c"
	[[ "$output" == *"Number of certificates: 2"* ]]
}

@test "server-made key arrives as a modern PKCS#12 (AES-256, SHA-256 MAC)" {
	umask 077; echo "correct horse battery" >"$W/pw"
	run sg "$H" issue --generate --key-type ecdsa-p256 --email bob@example.com --profile dual --p12 "$W/bob.p12" --p12-password-file "$W/pw" --out "$W/bob.pem"
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$W/bob.p12")" = 600 ]
	run openssl pkcs12 -in "$W/bob.p12" -passin "file:$W/pw" -info -noout
	[[ "$output" == *"MAC: sha256"* ]]
	[[ "$output" == *"AES-256-CBC"* ]]
	openssl pkcs12 -in "$W/bob.p12" -passin "file:$W/pw" -nodes -nocerts -out "$W/bob.key" 2>/dev/null
	[ "$(openssl pkey -in "$W/bob.key" -pubout)" = "$(openssl x509 -in "$W/bob.pem" -pubkey -noout)" ]
	run openssl x509 -in "$W/bob.pem" -noout -ext keyUsage
	[[ "$output" == *"Digital Signature, Key Agreement"* ]]
}

@test "server-made RSA key in the compatible PKCS#12 (3DES, SHA-1 MAC)" {
	run sg "$H" issue --generate --key-type rsa-3072 --email carol@example.com --profile encryption --p12 "$W/carol.p12" --p12-password-file "$W/pw" --p12-format compatible --out "$W/carol.pem"
	[ "$status" -eq 0 ]
	run openssl pkcs12 -legacy -in "$W/carol.p12" -passin "file:$W/pw" -info -noout
	[[ "$output" == *"MAC: sha1"* ]]
	[[ "$output" == *"3-KeyTripleDES"* ]]
	run openssl x509 -in "$W/carol.pem" -noout -ext keyUsage
	[[ "$output" == *"Key Encipherment"* ]]
	[[ "$output" != *"Digital Signature"* ]]
}

@test "a group- or world-readable PKCS#12 password file is refused" {
	echo secret >"$W/pw-open"; chmod 644 "$W/pw-open"
	before=$(count_certs)
	run sg "$H" issue --generate --email dave@example.com --profile dual --p12 "$W/dave.p12" --p12-password-file "$W/pw-open"
	[ "$status" -ne 0 ]
	[ ! -e "$W/dave.p12" ]
	[ "$(count_certs)" = "$before" ]
}

@test "a mailbox outside the allowed domains is refused and nothing changes" {
	make_csr ecdsa-p256 "$W/ok.csr"
	before=$(count_certs); abefore=$(count_audit)
	run sg "$H" issue --csr "$W/ok.csr" --email mallory@evil.test --profile signing --out "$W/m.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *"mailboxes in example.com only"* ]]
	[ "$(count_certs)" = "$before" ]
	[ "$(count_audit)" = "$abefore" ]
}

@test "bad arguments get clear messages: days, profile, mailbox, name" {
	run sg "$H" issue --csr "$W/ok.csr" --email alice@example.com --profile signing --days 826 --out "$W/x.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *"at most 825 days"* ]]
	run sg "$H" issue --csr "$W/ok.csr" --email alice@example.com --profile bogus --out "$W/x.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *bogus* ]]
	run sg "$H" issue --csr "$W/ok.csr" --email "a..b@example.com" --profile signing --out "$W/x.pem"
	[ "$status" -ne 0 ]
	run sg "$H" issue --csr "$W/ok.csr" --email alice@example.com --profile signing --name "$(printf 'Eve\033[2J')" --out "$W/eve.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *"--name: a control character"* ]]
	run sg "$H" issue --csr "$W/ok.csr" --email alice@example.com --profile signing --name "$(printf 'Eve \377')" --out "$W/eve.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *"--name: not UTF-8"* ]]
	[ ! -e "$W/eve.pem" ]
	run sg "$H" issue --csr "$W/ok.csr" --profile signing --out "$W/x.pem"
	[ "$status" -eq 2 ]
	[[ "$output" == *usage:* ]]
}

@test "every malformed or hostile CSR is refused with its reason and changes nothing" {
	bash "$ROOT/tests/data/make-bad-csrs.sh" "$W/corpus" >/dev/null 2>&1
	n=0
	before=$(count_certs); abefore=$(count_audit)
	while IFS=$'\t' read -r file want; do
		[ -n "$file" ] || continue
		run sg "$H" issue --csr "$W/corpus/$file" --email alice@example.com --profile signing --out "$W/bad.pem"
		if [ "$status" -eq 0 ] || [[ "$output" != *"$want"* ]]; then
			echo "$file: status $status, wanted '$want', got: $output"
			return 1
		fi
		n=$((n + 1))
	done <"$W/corpus/EXPECT"
	[ "$n" -ge 20 ]
	[ ! -e "$W/bad.pem" ]
	[ "$(count_certs)" = "$before" ]
	[ "$(count_audit)" = "$abefore" ]
}

@test "issue --batch: 130 certificates in three sets, each with its row, audit record and publish job" {
	local d="$W/batch" i
	mkdir -p "$d/csrs" "$d/out"
	for i in $(seq 1 130); do
		make_csr ecdsa-p256 "$d/csrs/u$i.csr" "/CN=evil$i@example.com"
	done
	# a comment, a blank line, CRLF endings, tabs, names with spaces and
	# UTF-8, paths found from the list's directory
	{
		printf '# new starters, November\n\n'
		for i in $(seq 1 130); do
			printf 'csrs/u%d.csr\tbatch%d@example.com  %s   Jürgen Nummer %d \r\n' \
			    "$i" "$i" "$([ $((i % 2)) -eq 0 ] && echo signing || echo encryption)" "$i"
		done
	} >"$d/list.txt"
	before=$(count_certs); abefore=$(count_audit)
	jbefore=$(psql_home "$H" "SELECT count(*) FROM publish_jobs")
	cd /
	run sg "$H" issue --batch "$d/list.txt" --out-dir "$d/out"
	[ "$status" -eq 0 ]
	[ "$(grep -c '^issued [0-9a-f]* for batch[0-9]*@example.com ' <<<"$output")" -eq 130 ]
	[[ "$output" == *"issued "*" for batch7@example.com (encryption, ecdsa-p256) to $d/out/u7.pem"* ]]
	[[ "$output" == *"130 certificates issued"* ]]
	[ "$(count_certs)" -eq $((before + 130)) ]
	[ "$(count_audit)" -eq $((abefore + 130)) ]
	[ "$(psql_home "$H" "SELECT count(*) FROM publish_jobs")" -eq $((jbefore + 130)) ]
	[ "$(psql_home "$H" "SELECT count(*) FROM audit_log WHERE action = 'cert.issue' AND subject LIKE 'batch%@example.com'")" -eq 130 ]
	# every file is the certificate for its own line's mailbox and profile
	[ "$(ls "$d/out" | wc -l)" -eq 130 ]
	run openssl verify -x509_strict -purpose smimesign -CAfile "$H/ca.pem" "$d/out/u2.pem" "$d/out/u130.pem"
	[ "$(grep -c ': OK$' <<<"$output")" -eq 2 ]
	run openssl x509 -in "$d/out/u99.pem" -noout -subject -ext subjectAltName,keyUsage
	[[ "$output" == *"subject=CN = batch99@example.com, emailAddress = batch99@example.com"* ]]
	[[ "$output" == *"email:batch99@example.com"* ]]
	[[ "$output" == *"Key Agreement"* ]]
	[[ "$output" != *evil* ]]
	for i in 1 64 65 128 129 130; do
		pub=$(openssl req -in "$d/csrs/u$i.csr" -noout -pubkey)
		[ "$(openssl x509 -in "$d/out/u$i.pem" -noout -pubkey)" = "$pub" ]
	done
	run sg "$H" show --email batch42@example.com
	[[ "$output" == *"name:         Jürgen Nummer 42"* ]]
	[[ "$output" == *"profile:      signing"* ]]
	run sg "$H" audit verify
	[ "$status" -eq 0 ]
}

@test "issue --batch: a set the database refuses stops the batch; the sets before it stay issued and written, nothing after" {
	local d="$W/batch" i
	mkdir -p "$d/out2"
	# the 130 requests of the test above; line 71 (the second set's
	# seventh) for a mailbox the database will refuse
	for i in $(seq 1 130); do
		if [ "$i" -eq 71 ]; then m=refused; else m=again$i; fi
		printf 'csrs/u%d.csr %s@example.com signing\n' "$i" "$m"
	done >"$d/list2.txt"
	psql_home "$H" "CREATE OR REPLACE FUNCTION t_refuse() RETURNS trigger
	  LANGUAGE plpgsql AS \$\$ BEGIN
	    IF NEW.email = 'refused@example.com' THEN
	      RAISE EXCEPTION 'refused for the test';
	    END IF;
	    RETURN NEW;
	  END \$\$;
	  CREATE OR REPLACE TRIGGER t_refuse BEFORE INSERT ON certificates
	    FOR EACH ROW EXECUTE FUNCTION t_refuse()" >/dev/null
	before=$(count_certs); abefore=$(count_audit); jbefore=$(count_jobs)
	run sg "$H" issue --batch "$d/list2.txt" --out-dir "$d/out2"
	psql_home "$H" "DROP TRIGGER t_refuse ON certificates; DROP FUNCTION t_refuse()" >/dev/null
	[ "$status" -eq 1 ]
	[[ "$output" == *"refused for the test"* ]]
	[[ "$output" == *"; nothing from line 65 on was issued (64 certificates before it were)"* ]]
	[ "$(grep -c '^issued ' <<<"$output")" -eq 64 ]
	[ "$(count_certs)" -eq $((before + 64)) ]
	[ "$(count_audit)" -eq $((abefore + 64)) ]
	[ "$(count_jobs)" -eq $((jbefore + 64)) ]
	[ "$(psql_home "$H" "SELECT count(*) FROM certificates WHERE email ~ '^again([1-9]|[1-5][0-9]|6[0-4])@'")" -eq 64 ]
	[ "$(ls "$d/out2" | wc -l)" -eq 64 ]
	[ -f "$d/out2/u64.pem" ] && [ ! -e "$d/out2/u65.pem" ]
	run sg "$H" audit verify
	[ "$status" -eq 0 ]
}

@test "issue --batch --resume: the rest of a stopped list is issued; a lost file is written again, not issued twice; a foreign file is a fault" {
	local d="$W/batch" f
	# the list and the 64 files the test above left (line 65 on not issued)
	[ "$(ls "$d/out2" | wc -l)" -eq 64 ]
	before=$(count_certs); abefore=$(count_audit); jbefore=$(count_jobs)
	# without --resume, an earlier run's files are faults
	run sg "$H" issue --batch "$d/list2.txt" --out-dir "$d/out2"
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 1: $d/out2/u1.pem is there already (--resume skips what an earlier run issued)"* ]]
	[[ "$output" == *"64 faults; nothing was issued"* ]]
	# files that are not their line's certificate: another line's, junk
	cp "$d/out2/u20.pem" "$d/out2/u22.pem" "$W/"
	cp "$d/out2/u21.pem" "$d/out2/u20.pem"
	echo junk >"$d/out2/u22.pem"
	run sg "$H" issue --batch "$d/list2.txt" --out-dir "$d/out2" --resume
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 20: $d/out2/u20.pem is there already, and is not a valid certificate of this CA for this line's key, mailbox and profile"* ]]
	[[ "$output" == *"line 22: $d/out2/u22.pem is there already and holds no certificate"* ]]
	[[ "$output" == *"2 faults; nothing was issued"* ]]
	[ "$(count_certs)" -eq "$before" ] && [ "$(count_audit)" -eq "$abefore" ]
	cp "$W/u20.pem" "$W/u22.pem" "$d/out2/"
	# line 10's file lost, as a crash between a commit and its files would
	serial10=$(psql_home "$H" "SELECT serial FROM certificates WHERE email = 'again10@example.com'")
	rm "$d/out2/u10.pem"
	run sg "$H" issue --batch "$d/list2.txt" --out-dir "$d/out2" --resume
	[ "$status" -eq 0 ]
	[[ "$output" == *"written again $serial10 for again10@example.com (signing) to $d/out2/u10.pem"* ]]
	[ "$(grep -c '^issued ' <<<"$output")" -eq 66 ]
	[[ "$output" != *"issued "*" for again10@example.com "* ]]
	[[ "$output" == *"66 certificates issued; 64 issued by an earlier run (1 of them written again)"* ]]
	[ "$(count_certs)" -eq $((before + 66)) ]
	[ "$(count_audit)" -eq $((abefore + 66)) ]
	[ "$(count_jobs)" -eq $((jbefore + 66)) ]
	[ "$(psql_home "$H" "SELECT count(*) FROM certificates WHERE email ~ '^(again[0-9]+|refused)@example.com$'")" -eq 130 ]
	[ "$(ls "$d/out2" | wc -l)" -eq 130 ]
	[ "$(openssl x509 -in "$d/out2/u10.pem" -noout -serial | cut -d= -f2 | tr A-F a-f | sed 's/^0*//')" = "${serial10#"${serial10%%[!0]*}"}" ]
	pub=$(openssl req -in "$d/csrs/u71.csr" -noout -pubkey)
	[ "$(openssl x509 -in "$d/out2/u71.pem" -noout -pubkey)" = "$pub" ]
	[[ "$(openssl x509 -in "$d/out2/u71.pem" -noout -ext subjectAltName)" == *"email:refused@example.com"* ]]
	# once more: nothing left to do, and nothing changes
	run sg "$H" issue --batch "$d/list2.txt" --out-dir "$d/out2" --resume
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 certificates issued; 130 issued by an earlier run (0 of them written again)"* ]]
	[ "$(count_certs)" -eq $((before + 66)) ]
	# a revoked certificate's file is a fault, not an earlier run's work
	serial5=$(psql_home "$H" "SELECT serial FROM certificates WHERE email = 'again5@example.com'")
	run sg "$H" revoke "$serial5" --reason superseded
	[ "$status" -eq 0 ]
	run sg "$H" issue --batch "$d/list2.txt" --out-dir "$d/out2" --resume
	[ "$status" -eq 1 ]
	[[ "$output" == *"line 5: $d/out2/u5.pem is there already, and is not a valid certificate"* ]]
	[[ "$output" == *"1 fault; nothing was issued"* ]]
	run sg "$H" issue --email a@example.com --profile signing --csr "$d/csrs/u1.csr" --out "$W/r.pem" --resume
	[ "$status" -ne 0 ]
	[[ "$output" == *"--resume goes with --batch LIST"* ]]
	run sg "$H" audit verify
	[ "$status" -eq 0 ]
}

@test "issue --batch --resume over more lines than one lookup takes (1,000): every line is found in its own chunk" {
	local d="$W/bigbatch" i
	mkdir -p "$d/c" "$d/out"
	make_csr ecdsa-p256 "$d/one.csr"
	# one key for 1,100 mailboxes: each line its own key, mailbox and profile
	for i in $(seq 1 1100); do
		cp "$d/one.csr" "$d/c/k$i.csr"
		echo "c/k$i.csr big$i@example.com signing"
	done >"$d/list.txt"
	run sg "$H" issue --batch "$d/list.txt" --out-dir "$d/out"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1100 certificates issued"* ]]
	before=$(count_certs)
	# lines 1000 and 1001 lost on either side of the first chunk's end,
	# line 1050's file not a certificate
	rm "$d/out/k1000.pem" "$d/out/k1001.pem"
	cp "$d/out/k1050.pem" "$W/k1050.pem"
	echo junk >"$d/out/k1050.pem"
	run sg "$H" issue --batch "$d/list.txt" --out-dir "$d/out" --resume
	[ "$status" -eq 1 ]
	[ "$(grep -o 'line [0-9]*:' <<<"$output" | tr '\n' ' ')" = "line 1050: " ]
	cp "$W/k1050.pem" "$d/out/k1050.pem"
	run sg "$H" issue --batch "$d/list.txt" --out-dir "$d/out" --resume
	[ "$status" -eq 0 ]
	[ "$(grep -c '^written again ' <<<"$output")" -eq 2 ]
	[[ "$output" == *" for big1000@example.com (signing) to $d/out/k1000.pem"* ]]
	[[ "$output" == *" for big1001@example.com (signing) to $d/out/k1001.pem"* ]]
	[[ "$output" == *"0 certificates issued; 1100 issued by an earlier run (2 of them written again)"* ]]
	[ "$(count_certs)" -eq "$before" ]
	for i in 1000 1001; do
		[[ "$(openssl x509 -in "$d/out/k$i.pem" -noout -ext subjectAltName)" == *"email:big$i@example.com"* ]]
	done
}

@test "issue --batch: every faulty line is named in order, and nothing is issued" {
	local d="$W/badbatch"
	mkdir -p "$d/csrs/b" "$d/out"
	bash "$ROOT/tests/data/make-bad-csrs.sh" "$W/corpus" >/dev/null 2>&1
	for i in 1 2 3 4 5 6; do make_csr ecdsa-p256 "$d/csrs/ok$i.csr"; done
	cp "$d/csrs/ok1.csr" "$d/csrs/twice.csr"
	cp "$d/csrs/ok2.csr" "$d/csrs/b/twice.csr"
	: >"$d/out/taken.pem"
	cp "$d/csrs/ok3.csr" "$d/csrs/taken.csr"
	cp "$d/csrs/ok6.csr" "$d/csrs/ok6b.csr"
	rsa1024=$(awk -F'\t' '$2 ~ /1024 bits/ { print $1; exit }' "$W/corpus/EXPECT")
	[ -n "$rsa1024" ]
	cat >"$d/list.txt" <<-EOF
	csrs/ok1.csr a@example.com bogus
	csrs/ok2.csr a@evil.test signing
	csrs/ok3.csr b@example.com
	csrs/none.csr c@example.com signing
	$W/corpus/$rsa1024 d@example.com signing
	csrs/twice.csr f@example.com signing
	csrs/b/twice.csr g@example.com signing
	csrs/taken.csr h@example.com signing
	csrs/ok4.csr i@example.com signing Bad$(printf '\001')Name
	csrs/ok5.csr j@example.com signing $(printf '\303\050')
	csrs/ok6.csr k@example.com encryption A Good Line
	csrs/ok6b.csr k@example.com encryption The Same Again
	EOF
	before=$(count_certs); abefore=$(count_audit)
	run sg "$H" issue --batch "$d/list.txt" --out-dir "$d/out"
	[ "$status" -eq 1 ]
	expect=(
	    "line 1: unknown certificate profile \"bogus\""
	    "line 2: a@evil.test: this CA certifies mailboxes in example.com only"
	    "line 3: want CSR-FILE MAILBOX PROFILE [NAME]"
	    "line 4: $d/csrs/none.csr: No such file or directory"
	    "line 5: $W/corpus/$rsa1024: certificate request refused: RSA key of 1024 bits is too small"
	    "line 7: $d/out/twice.pem is written by line 6 too"
	    "line 8: $d/out/taken.pem is there already"
	    "line 9: a control character"
	    "line 10: name: not UTF-8"
	    "line 12: the same key, mailbox and profile as line 11; one certificate each"
	    "10 faults; nothing was issued")
	# each named, in the order of the list
	got=$(grep -o 'line [0-9]*:' <<<"$output" | tr '\n' ' ')
	[ "$got" = "line 1: line 2: line 3: line 4: line 5: line 7: line 8: line 9: line 10: line 12: " ]
	for x in "${expect[@]}"; do
		[[ "$output" == *"$x"* ]] || { echo "missing: $x"; echo "$output"; return 1; }
	done
	[ "$(count_certs)" = "$before" ]
	[ "$(count_audit)" = "$abefore" ]
	[ "$(ls "$d/out")" = taken.pem ]
}

@test "issue --batch: options that do not belong, an empty, binary or overlong list, a missing directory" {
	local d="$W/optbatch"
	mkdir -p "$d/out"
	printf '# nothing yet\n\n' >"$d/empty.txt"
	printf 'a.csr a@example.com signing\n\0\n' >"$d/nul.txt"
	awk 'BEGIN { for (i = 0; i <= 100000; i++) printf "r%d.csr r%d@example.com signing\n", i, i }' >"$d/long.txt"
	while IFS='|' read -r args want; do
		# shellcheck disable=SC2086
		run sg "$H" issue $args
		[ "$status" -eq 1 ] && [[ "$output" == *"$want"* ]] ||
		    { echo "$args: status $status: $output"; return 1; }
	done <<-EOF
	--batch $d/empty.txt|--batch LIST and --out-dir DIR go together
	--out-dir $d/out|--batch LIST and --out-dir DIR go together
	--batch $d/empty.txt --out-dir $d/out --email a@example.com|of the other options only --days
	--batch $d/empty.txt --out-dir $d/out --csr x.csr|of the other options only --days
	--batch $d/empty.txt --out-dir $d/out --days 900|at most 825 days
	--batch $d/empty.txt --out-dir $d/nowhere|--out-dir $d/nowhere: not a directory
	--batch $d/empty.txt --out-dir $d/out|$d/empty.txt: no certificates listed
	--batch $d/missing.txt --out-dir $d/out|$d/missing.txt: No such file or directory
	--batch $d/nul.txt --out-dir $d/out|$d/nul.txt: a NUL byte: not a text file
	--batch $d/long.txt --out-dir $d/out|$d/long.txt: more than 100000 certificates; split the list
	EOF
	[ -z "$(ls "$d/out")" ]
}

@test "the audit chain verifies, and an altered record is named" {
	run sg "$H" audit verify
	[ "$status" -eq 0 ]
	[[ "$output" == "audit chain whole: "*" records" ]]
	# the database itself refuses to rewrite history
	run psql_home "$H" "UPDATE audit_log SET actor = 'x' WHERE seq = 2"
	[[ "$output" == *"append-only"* ]]
	# an attacker with the superuser can still tamper; verify catches it
	psql_home "$H" "ALTER TABLE audit_log DISABLE TRIGGER USER; UPDATE audit_log SET detail = 'forged' WHERE seq = 2; ALTER TABLE audit_log ENABLE TRIGGER USER"
	run sg "$H" audit verify
	[ "$status" -ne 0 ]
	[[ "$output" == *"broken at record 2"* ]]
}

@test "writers at once use separate audit chains, and a deleted record is named" {
	sg "$CH" setup --cn "Chains CA" --key ecdsa-p256 >/dev/null
	ci=$(sg "$CH" db conninfo)
	# two waves of six transactions that overlap: each holds its chain
	# until it commits (25 records in 8 chains: one has 4 or more)
	for wave in a b; do
		for i in 1 2 3 4 5 6; do
			psql -X -q "$ci" -v ON_ERROR_STOP=1 -c "BEGIN" \
			    -c "SELECT audit_append('test:$wave$i', 'test.step', 'a', '1')" \
			    -c "SELECT pg_sleep(0.5)" \
			    -c "SELECT audit_append('test:$wave$i', 'test.step', 'b', '2')" \
			    -c "COMMIT" >/dev/null &
		done
		wait
	done
	[ "$(psql_home "$CH" "SELECT count(DISTINCT chain) FROM audit_log WHERE actor LIKE 'test:%'")" -ge 2 ]
	# a transaction's records stay together in one chain
	[ "$(psql_home "$CH" "SELECT count(*) FROM (SELECT actor FROM audit_log WHERE actor LIKE 'test:%' GROUP BY actor HAVING count(DISTINCT chain) = 1) t")" = 12 ]
	run sg "$CH" audit verify
	[ "$status" -eq 0 ]
	[ "$output" = "audit chain whole: $(psql_home "$CH" "SELECT count(*) FROM audit_log") records" ]
	# take a record out of the middle of a chain
	read -r c mid next < <(psql_home "$CH" "SELECT chain, seq, nxt FROM (SELECT chain, seq, lead(seq) OVER w AS nxt, row_number() OVER w AS rn FROM audit_log WINDOW w AS (PARTITION BY chain ORDER BY seq)) t WHERE rn > 1 AND nxt IS NOT NULL ORDER BY chain, seq LIMIT 1" | tr '|' ' ')
	[ -n "$next" ]
	psql_home "$CH" "ALTER TABLE audit_log DISABLE TRIGGER USER; DELETE FROM audit_log WHERE seq = $mid; ALTER TABLE audit_log ENABLE TRIGGER USER"
	run sg "$CH" audit verify
	[ "$status" -ne 0 ]
	[[ "$output" == *"audit chain $c broken at record $next: it does not follow"* ]]
}

@test "audit verify --heads: a chain cut back at its end is named; a bad heads file changes nothing" {
	sg "$HD" setup --cn "Heads CA" --key ecdsa-p256 >/dev/null
	hf="$W/heads"
	run sg "$HD" audit verify --heads "$hf"
	[ "$status" -eq 0 ]
	[[ "$output" == *"no heads were recorded before; heads recorded in $hf" ]]
	[ "$(stat -c %a "$hf")" = 600 ]
	[ "$(head -1 "$hf")" = "signet audit heads 1" ]
	# one line per chain in use, naming its last record
	read -r c seq < <(psql_home "$HD" "SELECT chain, max(seq) FROM audit_log GROUP BY chain ORDER BY chain LIMIT 1" | tr '|' ' ')
	grep -q "^$c $seq [0-9a-f]\{64\}$" "$hf"
	# more records: the old heads are still there, the file moves on
	make_csr ecdsa-p256 "$W/h.csr"
	sg "$HD" issue --csr "$W/h.csr" --email heads@example.com --profile signing --out "$W/h.pem" >/dev/null
	run sg "$HD" audit verify --heads "$hf"
	[ "$status" -eq 0 ]
	[[ "$output" == *"no chain cut back since the last verify"* ]]
	cp "$hf" "$W/heads.good"
	# cut the last record off the chain of the newest record
	read -r c last < <(psql_home "$HD" "SELECT chain, seq FROM audit_log ORDER BY seq DESC LIMIT 1" | tr '|' ' ')
	psql_home "$HD" "ALTER TABLE audit_log DISABLE TRIGGER USER; DELETE FROM audit_log WHERE seq = $last; ALTER TABLE audit_log ENABLE TRIGGER USER"
	# the walk alone cannot see it
	run sg "$HD" audit verify
	[ "$status" -eq 0 ]
	run sg "$HD" audit verify --heads "$hf"
	[ "$status" -ne 0 ]
	[[ "$output" == *"audit chain $c was cut back: record $last, its last record when $hf was written, is gone"* ]]
	# a failed verify leaves the file as it was
	cmp "$hf" "$W/heads.good"
	# a malformed file is refused with its line and left as it is
	printf 'signet audit heads 1\n9 12 %064d\n' 0 >"$W/bad-heads"
	run sg "$HD" audit verify --heads "$W/bad-heads"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$W/bad-heads line 2: expected \"CHAIN SEQ HASH\""* ]]
	[ "$(cat "$W/bad-heads")" = "$(printf 'signet audit heads 1\n9 12 %064d' 0)" ]
	printf 'something else\n' >"$W/bad-heads"
	run sg "$HD" audit verify --heads "$W/bad-heads"
	[ "$status" -ne 0 ]
	[[ "$output" == *"line 1: not a file of audit heads"* ]]
}

@test "a bad config value is refused with its line" {
	h=$(new_home badconf); mkdir -p "$h"
	printf '[ca]\nkey = ca.key\n[profile]\nmax_days = 900\n' >"$h/signet.conf"
	run sg "$h" list
	[ "$status" -ne 0 ]
	[[ "$output" == *"signet.conf line 4: [profile] max_days"* ]]
	# a misspelt section would be ignored whole: refused instead
	printf '[ca]\nkey = ca.key\n[revocaton]\ncrl_next_days = 3\n' >"$h/signet.conf"
	run sg "$h" list
	[ "$status" -ne 0 ]
	[[ "$output" == *"signet.conf line 4: [revocaton] crl_next_days: not a section Signet reads"* ]]
	rm -rf "$h"
}

@test "stop stops the database, and the next command starts it again" {
	run sg "$H" stop
	[ "$status" -eq 0 ]
	run sg "$H" db status
	[ "$output" = stopped ]
	run sg "$H" list
	[ "$status" -eq 0 ]
	[[ "$output" == *alice@example.com* ]]
}

@test "subordinate: CSR for an external root, install-ca checks EKU and key" {
	run sg "$SUB" setup --subordinate --cn "Signet Sub CA" --key ecdsa-p256
	[ "$status" -eq 0 ]
	[ -f "$SUB/ca.csr" ]
	[ ! -f "$SUB/ca.pem" ]
	openssl req -verify -noout -in "$SUB/ca.csr"
	# an external root made with openssl
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes \
		-keyout "$W/root.key" -subj "/CN=External Root" -days 30 \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign,cRLSign -out "$W/root.pem" 2>/dev/null
	printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign,digitalSignature\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' >"$W/noeku.ext"
	cp "$W/noeku.ext" "$W/sub.ext"; echo "extendedKeyUsage=emailProtection" >>"$W/sub.ext"
	openssl x509 -req -in "$SUB/ca.csr" -CA "$W/root.pem" -CAkey "$W/root.key" -CAcreateserial -days 20 -extfile "$W/noeku.ext" -out "$W/sub-noeku.pem" 2>/dev/null
	openssl x509 -req -in "$SUB/ca.csr" -CA "$W/root.pem" -CAkey "$W/root.key" -CAcreateserial -days 20 -extfile "$W/sub.ext" -out "$W/sub.pem" 2>/dev/null
	run sg "$SUB" install-ca "$W/sub-noeku.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *emailProtection* ]]
	run sg "$SUB" install-ca "$W/root.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *"does not match"* ]]
	run sg "$SUB" issue --csr "$W/ok.csr" --email alice@example.com --profile signing --out "$W/x.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *"install-ca"* ]]
	run sg "$SUB" install-ca "$W/sub.pem"
	[ "$status" -eq 0 ]
	# the root gave the sub-CA 20 days: a year-long leaf would outlive it
	run sg "$SUB" issue --csr "$W/ok.csr" --email alice@example.com --profile signing --out "$W/subleaf.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *"CA certificate"* ]]
	run sg "$SUB" issue --csr "$W/ok.csr" --email alice@example.com --profile signing --days 10 --out "$W/subleaf.pem"
	[ "$status" -eq 0 ]
	run openssl verify -x509_strict -purpose smimesign -CAfile "$W/root.pem" -untrusted "$SUB/ca.pem" "$W/subleaf.pem"
	[ "$output" = "$W/subleaf.pem: OK" ]
	run sg "$SUB" audit verify
	[ "$status" -eq 0 ]
}
