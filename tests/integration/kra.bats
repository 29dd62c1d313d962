#!/usr/bin/env bats
# Key recovery, the whole story (issue 7): a 2-of-3 KRA ceremony, a dual
# enrolment with an escrowed RSA encryption key, mail encrypted to it, the
# key "lost", recovered by two agents, and the old mail read again with
# openssl cms and NSS cmsutil. Then the refusals, a rotation, and the audit.

load lib

setup_file() {
	export H=$(new_home kra)
	export W="$BATS_FILE_TMPDIR"
	sg "$H" setup --cn "KRA Test CA" >/dev/null
	# NSS 3.87 cannot decrypt ECDH envelopes: an RSA encryption key
	sed -i 's/^server_key_type.*/server_key_type = rsa-3072/' "$H/signet.conf"
	printf '\n[kra]\nenabled = yes\npwhash = interactive\ngrace_days = 30\n' >>"$H/signet.conf"
	for a in ann ben cat; do
		echo "$a correct horse battery" >"$W/$a.pw"
		chmod 600 "$W/$a.pw"
	done
	echo "employee pickup pw" >"$W/emp.pw"
	chmod 600 "$W/emp.pw"
	sg "$H" kra init --agents 3 --threshold 2 \
	    --agent ann --passphrase-file "$W/ann.pw" \
	    --agent ben --passphrase-file "$W/ben.pw" \
	    --agent cat --passphrase-file "$W/cat.pw" >"$W/init.out"
	make_csr ecdsa-p256 "$W/sig.csr" "/CN=Erik"
	sg "$H" enroll --email erik@example.com --requester erik \
	    --signing-csr "$W/sig.csr" --p12-password-file "$W/emp.pw" \
	    >"$W/enroll.out"
	sg "$H" ca-serve --once >/dev/null 2>&1
	# request ids from "submitted signing request N and encryption request M"
	export SIGREQ=$(awk '{print $4}' "$W/enroll.out")
	export ENCREQ=$(awk '{print $8}' "$W/enroll.out")
}

teardown_file() {
	stop_home "$H"
}

q() { psql_home "$H" "$1"; }
enc_serial() { q "SELECT serial FROM requests WHERE id = $ENCREQ"; }
sig_serial() { q "SELECT serial FROM requests WHERE id = $SIGREQ"; }
# decrypt P12 PASSFILE: the message as openssl cms reads it with that key
decrypt() {
	openssl pkcs12 -in "$1" -passin "file:$2" -nocerts -nodes -out "$W/k.pem" 2>/dev/null &&
	    openssl cms -decrypt -in "$W/msg.p7m" -inkey "$W/k.pem" >"$W/k.out"
	local rc=$?
	# text was canonicalised to CRLF before encryption (RFC 8551 3.1.1)
	tr -d '\r' <"$W/k.out"
	rm -f "$W/k.pem"
	return $rc
}

@test "the ceremony stores a public key and three sealed shares, no secret" {
	grep -q "split 2 of 3" "$W/init.out"
	run sg "$H" kra status
	[[ "$output" == *"threshold: 2 of 3 agents"* ]]
	[[ "$output" == *"agents: ann, ben, cat"* ]]
	[ "$(q "SELECT count(*) FROM kra_shares")" = 3 ]
	[ "$(q "SELECT string_agg(role, ',') FROM operators WHERE name IN ('ann','ben','cat')")" = "recovery-agent,recovery-agent,recovery-agent" ]
	# a share is 33 octets sealed (48 more); an agent key 32 boxed (24+16)
	[ "$(q "SELECT DISTINCT length(sealed_share) FROM kra_shares")" = 81 ]
	[ "$(q "SELECT DISTINCT length(sealed_sk) FROM kra_agents")" = 72 ]
}

@test "kra init refuses counts that are not numbers, before anything else" {
	for bad in "--agents 3x" "--agents -1" "--threshold two" "--threshold 256" "--threshold ''"; do
		eval "set -- $bad"
		run sg "$H" kra init "$1" "$2" --agent ann --passphrase-file "$W/ann.pw"
		echo "$bad: $output"
		[ "$status" -ne 0 ]
		[[ "$output" == *"$1 \"$2\": not a number from 1 to 255"* ]]
	done
	[ "$(q "SELECT count(*) FROM kra_keys")" = 1 ]
}

@test "[kra] settings are checked: a bad value is refused with its line, never read as no" {
	cp "$H/signet.conf" "$W/signet.conf.saved"
	while IFS='|' read -r setting says; do
		# [kra] is the file's last section: written afresh each time,
		# the setting under test last (and once)
		sed -i '/^\[kra\]$/,$d' "$H/signet.conf"
		{
			echo '[kra]'
			printf 'enabled = yes\npwhash = interactive\n' | grep -v "^${setting%% *} "
			echo "$setting"
		} >>"$H/signet.conf"
		line=$(wc -l <"$H/signet.conf")
		run sg "$H" kra status
		cp "$W/signet.conf.saved" "$H/signet.conf"
		echo "$setting: $output"
		[ "$status" -ne 0 ]
		[[ "$output" == *"signet.conf line $line: [kra] $says"* ]]
	done <<'CASES'
enabled = 1x|enabled: must be yes or no
officer_fetch = sometimes|officer_fetch: must be yes or no
grace_days = -1|grace_days: must be a number of days from 0 to 36500
window_hours = 0|window_hours: must be a number of hours from 1 to 2160
pwhash = fast|pwhash: must be interactive, moderate or sensitive
p12_format = pfx|p12_format: must be modern or compatible
enable = yes|enable: unknown setting
CASES
	# the spellings of yes that the other sections take turn it on here too
	sed -i '/^\[kra\]$/,$d' "$H/signet.conf"
	printf '[kra]\nenabled = on\npwhash = interactive\n' >>"$H/signet.conf"
	run sg "$H" kra status
	cp "$W/signet.conf.saved" "$H/signet.conf"
	[ "$status" -eq 0 ]
	[[ "$output" == *"threshold: 2 of 3 agents"* ]]
}

@test "a dual enrolment issues a signing and an escrowed encryption certificate" {
	[ "$(q "SELECT state FROM requests WHERE id IN ($SIGREQ, $ENCREQ) ORDER BY id")" = "issued
issued" ]
	[ "$(q "SELECT count(*) FROM key_escrow WHERE serial = '$(enc_serial)'")" = 1 ]
	[ "$(q "SELECT count(*) FROM key_escrow WHERE serial = '$(sig_serial)'")" = 0 ]
	# escrow kept until the certificate expires + [kra] grace_days (30
	# here, setup_file; 365 by default)
	[ "$(q "SELECT k.expires_at = c.not_after + interval '30 days' FROM key_escrow k JOIN certificates c USING (serial)")" = t ]
}

@test "pickup writes the encryption PKCS#12 once and deletes the key" {
	sg "$H" pickup "$ENCREQ" --p12 "$W/erik.p12" --p12-password-file "$W/emp.pw"
	openssl pkcs12 -in "$W/erik.p12" -passin "file:$W/emp.pw" -nokeys -clcerts >"$W/enc.pem" 2>/dev/null
	run openssl x509 -in "$W/enc.pem" -noout -ext keyUsage
	[[ "$output" == *"Key Encipherment"* ]]
	[[ "$output" != *"Digital Signature"* ]]
	[ "$(q "SELECT key_pickup IS NULL FROM requests WHERE id = $ENCREQ")" = t ]
	run sg "$H" pickup "$ENCREQ" --p12 "$W/again.p12" --p12-password-file "$W/emp.pw"
	[ "$status" -ne 0 ]
	[[ "$output" == *"picked up already"* ]]
	# mail encrypted to the published certificate, then the key is lost
	echo "quarterly figures, confidential" >"$W/msg.txt"
	openssl cms -encrypt -aes256 -in "$W/msg.txt" -out "$W/msg.p7m" "$W/enc.pem"
	run decrypt "$W/erik.p12" "$W/emp.pw"
	[ "$output" = "quarterly figures, confidential" ]
	rm "$W/erik.p12"
}

@test "one approval recovers nothing; the same agent twice and a wrong passphrase are refused" {
	run sg "$H" kra open "$(enc_serial)" --reason "   "
	[ "$status" -ne 0 ]
	[[ "$output" == *"needs a reason"* ]]
	run sg "$H" kra open "$(enc_serial)" --reason "laptop stolen"
	[ "$status" -eq 0 ]
	id=$(echo "$output" | awk '{print $2}')
	echo "$id" >"$W/rec1"
	run sg "$H" kra open "$(enc_serial)" --reason "again"
	[[ "$output" == *"already has a recovery in progress"* ]]
	run sg "$H" kra approve "$id" --agent ann --passphrase-file "$W/ann.pw"
	[ "$status" -eq 0 ]
	[[ "$output" == *"more agents must approve"* ]]
	[ "$(q "SELECT count(*) FROM recovered")" = 0 ]
	run sg "$H" kra fetch "$id" --p12 "$W/none.p12" --one-time-password-file "$W/ann.pw"
	[ "$status" -ne 0 ]
	[ ! -e "$W/none.p12" ]
	run sg "$H" kra approve "$id" --agent ann --passphrase-file "$W/ann.pw"
	[ "$status" -ne 0 ]
	[[ "$output" == *"ann has already approved"* ]]
	echo "not bens passphrase" >"$W/bad.pw"; chmod 600 "$W/bad.pw"
	run sg "$H" kra approve "$id" --agent ben --passphrase-file "$W/bad.pw" --one-time-password-file "$W/otp-bad"
	[ "$status" -ne 0 ]
	[[ "$output" == *"wrong passphrase for agent ben"* ]]
	[ ! -e "$W/otp-bad" ]
	[ "$(q "SELECT approvals FROM recoveries WHERE id = $id")" = 1 ]
	[ "$(q "SELECT count(*) FROM recovery_approvals WHERE recovery_id = $id")" = 1 ]
	# a passphrase file others may read is refused
	chmod 644 "$W/bad.pw"
	run sg "$H" kra approve "$id" --agent ben --passphrase-file "$W/bad.pw"
	[ "$status" -ne 0 ]
}

@test "the second agent recovers the key: it decrypts the old mail in openssl and NSS" {
	id=$(cat "$W/rec1")
	run sg "$H" kra approve "$id" --agent ben --passphrase-file "$W/ben.pw" --one-time-password-file "$W/otp1"
	[ "$status" -eq 0 ]
	[[ "$output" == *"key recovered"* ]]
	[ "$(stat -c %a "$W/otp1")" = 600 ]
	# the approved shares are gone from the database
	[ "$(q "SELECT count(*) FROM recovery_approvals WHERE sealed_share IS NOT NULL")" = 0 ]
	[ "$(q "SELECT count(*) FROM recovery_keys WHERE recovery_id = $id")" = 0 ]
	sg "$H" kra fetch "$id" --p12 "$W/recovered.p12" --one-time-password-file "$W/otp1"
	[ "$(q "SELECT count(*) FROM recovered")" = 0 ]
	run decrypt "$W/recovered.p12" "$W/otp1"
	[ "$output" = "quarterly figures, confidential" ]
	db="$W/nss"; mkdir -p "$db"
	certutil -N -d "sql:$db" --empty-password
	pk12util -i "$W/recovered.p12" -d "sql:$db" -w "$W/otp1" -K "" >/dev/null
	# cmsutil reads DER; the S/MIME message's CMS, unchanged
	openssl cms -cmsout -in "$W/msg.p7m" -outform DER -out "$W/msg.der"
	run cmsutil -D -d "sql:$db" -i "$W/msg.der"
	[ "$status" -eq 0 ]
	[[ "$output" == *"quarterly figures, confidential"* ]]
	# downloaded once
	run sg "$H" kra fetch "$id" --p12 "$W/twice.p12" --one-time-password-file "$W/otp1"
	[ "$status" -ne 0 ]
	[[ "$output" == *"downloaded once"* ]]
}

@test "no signing key is ever in the escrow table, and escrow refuses one" {
	n=0
	for s in $(q "SELECT serial FROM key_escrow"); do
		q "SELECT encode(der, 'base64') FROM certificates WHERE serial = '$s'" |
		    base64 -d >"$W/esc.der"
		ku=$(openssl x509 -inform DER -in "$W/esc.der" -noout -ext keyUsage)
		[[ "$ku" != *"Digital Signature"* ]]
		[[ "$ku" != *"Non Repudiation"* ]]
		n=$((n + 1))
	done
	[ "$n" -ge 1 ]
	before=$(q "SELECT count(*) FROM key_escrow")
	run sg "$H" kra escrow "$(sig_serial)" --key-file "$W/sig.csr.key"
	[ "$status" -ne 0 ]
	[[ "$output" == *"signing keys are never escrowed"* ]]
	[ "$(q "SELECT count(*) FROM key_escrow")" = "$before" ]
}

@test "after a rotation, a key escrowed before it is still recoverable" {
	run sg "$H" kra rotate --agent cat --passphrase-file "$W/cat.pw"
	[ "$status" -ne 0 ]
	[[ "$output" == *"1 agents present; 2 needed"* ]]
	old=$(q "SELECT encode(sealed, 'hex') FROM key_escrow WHERE serial = '$(enc_serial)'")
	run sg "$H" kra rotate --agent cat --passphrase-file "$W/cat.pw" --agent ann --passphrase-file "$W/ann.pw"
	[ "$status" -eq 0 ]
	[ "$(q "SELECT generation FROM kra_keys WHERE active")" = 2 ]
	[ "$(q "SELECT generation FROM key_escrow WHERE serial = '$(enc_serial)'")" = 2 ]
	[ "$(q "SELECT encode(sealed, 'hex') FROM key_escrow WHERE serial = '$(enc_serial)'")" != "$old" ]
	[ "$(q "SELECT count(*) FROM kra_shares WHERE generation = 1")" = 0 ]
	id=$(sg "$H" kra open "$(enc_serial)" --reason "lost again" | awk '{print $2}')
	sg "$H" kra approve "$id" --agent cat --passphrase-file "$W/cat.pw"
	sg "$H" kra approve "$id" --agent ben --passphrase-file "$W/ben.pw" --one-time-password-file "$W/otp2"
	sg "$H" kra fetch "$id" --p12 "$W/recovered2.p12" --one-time-password-file "$W/otp2"
	run decrypt "$W/recovered2.p12" "$W/otp2"
	[ "$output" = "quarterly figures, confidential" ]
}

@test "add and remove an agent re-share the key; the newcomer can approve" {
	echo "dan correct horse battery" >"$W/dan.pw"; chmod 600 "$W/dan.pw"
	run sg "$H" kra add-agent dan --new-passphrase-file "$W/dan.pw" --agent ann --passphrase-file "$W/ann.pw" --agent ben --passphrase-file "$W/ben.pw"
	[ "$status" -eq 0 ]
	run sg "$H" kra remove-agent cat --agent dan --passphrase-file "$W/dan.pw" --agent ann --passphrase-file "$W/ann.pw"
	[ "$status" -eq 0 ]
	run sg "$H" kra status
	[[ "$output" == *"agents: ann, ben, dan"* ]]
	id=$(sg "$H" kra open "$(enc_serial)" --reason "third time" | awk '{print $2}')
	run sg "$H" kra approve "$id" --agent cat --passphrase-file "$W/cat.pw"
	[[ "$output" == *"cat is not a recovery agent"* ]]
	sg "$H" kra approve "$id" --agent dan --passphrase-file "$W/dan.pw"
	sg "$H" kra approve "$id" --agent ann --passphrase-file "$W/ann.pw" --one-time-password-file "$W/otp3"
	sg "$H" kra fetch "$id" --p12 "$W/recovered3.p12" --one-time-password-file "$W/otp3"
	run decrypt "$W/recovered3.p12" "$W/otp3"
	[ "$output" = "quarterly figures, confidential" ]
}

@test "an expired recovery window recovers nothing" {
	id=$(sg "$H" kra open "$(enc_serial)" --reason "expiry test" | awk '{print $2}')
	sg "$H" kra approve "$id" --agent ann --passphrase-file "$W/ann.pw"
	q "UPDATE recoveries SET window_expires = now() - interval '1 minute' WHERE id = $id"
	run sg "$H" kra approve "$id" --agent ben --passphrase-file "$W/ben.pw" --one-time-password-file "$W/otp4"
	[ "$status" -ne 0 ]
	[[ "$output" == *"has expired; nothing was recovered"* ]]
	[ ! -e "$W/otp4" ]
	[ "$(q "SELECT state FROM recoveries WHERE id = $id")" = expired ]
	[ "$(q "SELECT count(*) FROM recovery_approvals WHERE sealed_share IS NOT NULL")" = 0 ]
	[ "$(q "SELECT count(*) FROM recovered")" = 0 ]
}

@test "purge keeps escrows of valid certificates" {
	run sg "$H" kra purge
	[ "$status" -eq 0 ]
	[[ "$output" == "purged 0 escrowed keys"* ]]
	[ "$(q "SELECT count(*) FROM key_escrow")" -ge 1 ]
}

@test "purge removes an escrow once its certificate's expiry + grace_days has passed, not while a recovery is open" {
	s=$(enc_serial)
	# simulates the certificate's expiry and the grace passing
	q "UPDATE key_escrow SET expires_at = now() - interval '1 second' WHERE serial = '$s'" >/dev/null
	id=$(sg "$H" kra open "$s" --reason "purge test" | awk '{print $2}')
	run sg "$H" kra purge
	echo "$output"
	[[ "$output" == "purged 0 escrowed keys"* ]]
	[ "$(q "SELECT count(*) FROM key_escrow WHERE serial = '$s'")" = 1 ]
	# once the recovery's window has closed, the key goes
	q "UPDATE recoveries SET window_expires = now() - interval '1 minute' WHERE id = $id" >/dev/null
	before=$(q "SELECT count(*) FROM key_escrow")
	run sg "$H" kra purge
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "purged 1 escrowed keys past expiry + grace; 1 recoveries expired" ]
	[ "$(q "SELECT count(*) FROM key_escrow WHERE serial = '$s'")" = 0 ]
	[ "$(q "SELECT count(*) FROM key_escrow")" = $((before - 1)) ]
	# the certificate and the recovery's history stay; the purge is audited
	[ "$(q "SELECT count(*) FROM certificates WHERE serial = '$s'")" = 1 ]
	[ "$(q "SELECT state FROM recoveries WHERE id = $id")" = expired ]
	[ "$(q "SELECT detail FROM audit_log WHERE action = 'kra.purge' ORDER BY seq DESC LIMIT 1")" = "1 escrowed keys past certificate expiry + grace removed" ]
	run sg "$H" kra open "$s" --reason "too late"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"no escrowed key for certificate $s"* ]]
}

@test "the audit chain is whole after all of it and names every step" {
	run sg "$H" audit verify
	[ "$status" -eq 0 ]
	for a in kra.init kra.escrow key.pickup kra.recovery.open kra.recovery.approve \
	    kra.recovery.recover kra.recovery.fetch kra.rotate kra.agent.add \
	    kra.agent.remove kra.recovery.expire kra.purge; do
		[ "$(q "SELECT count(*) > 0 FROM audit_log WHERE action = '$a'")" = t ]
	done
}
