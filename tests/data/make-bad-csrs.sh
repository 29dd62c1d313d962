#!/usr/bin/env bash
# make-bad-csrs.sh OUTDIR
#
# Writes a corpus of malformed and hostile PKCS#10 requests (RFC 2986) into
# OUTDIR, one file per defect, named for the defect, and OUTDIR/EXPECT with
# one line per bad file: "filename<TAB>substring of the expected error".
# Also writes good-rsa-2048.csr, good-ecdsa-p256.csr and good-ecdsa-p384.csr
# for the tests that need an acceptable request.
#
# Keys and ordinary requests come from the openssl command (an independent
# implementation); requests that openssl refuses to make (a NUL byte in the
# subject, version 2, an even RSA exponent) are assembled in DER by python3
# (standard library only) and signed with `openssl dgst -sign`, so that their
# signature is valid wherever a valid one is possible.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
out=$1
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

subj="/CN=Alice Example/emailAddress=alice@example.com"

genkey() {	# genkey FILE openssl-genpkey-args...
	local f=$1
	shift
	openssl genpkey "$@" -out "$work/$f" 2>/dev/null
}

req() {		# req KEYFILE OUTFILE [extra openssl req args...]
	local k=$1 o=$2
	shift 2
	openssl req -new -key "$work/$k" -subj "$subj" "$@" -out "$out/$o"
}

# --- keys -----------------------------------------------------------------
genkey rsa2048.key -algorithm RSA -pkeyopt rsa_keygen_bits:2048
genkey rsa1024.key -algorithm RSA -pkeyopt rsa_keygen_bits:1024
genkey rsa2050.key -algorithm RSA -pkeyopt rsa_keygen_bits:2050
genkey p256.key -algorithm EC -pkeyopt ec_paramgen_curve:P-256
genkey p384.key -algorithm EC -pkeyopt ec_paramgen_curve:P-384
genkey k256.key -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1
genkey bp256.key -algorithm EC -pkeyopt ec_paramgen_curve:brainpoolP256r1
genkey p192.key -algorithm EC -pkeyopt ec_paramgen_curve:prime192v1
genkey ed25519.key -algorithm ED25519
genkey ed448.key -algorithm ED448
genkey rsapss.key -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048
openssl ecparam -name prime256v1 -genkey -param_enc explicit -noout \
	-out "$work/p256explicit.key"
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 \
	-out "$work/dsa.param" 2>/dev/null
openssl genpkey -paramfile "$work/dsa.param" -out "$work/dsa.key" 2>/dev/null

# --- good requests ----------------------------------------------------------
req rsa2048.key good-rsa-2048.csr -sha256
req p256.key good-ecdsa-p256.csr -sha256
req p384.key good-ecdsa-p384.csr -sha384

# --- unacceptable keys and digests, made by openssl -------------------------
req rsa1024.key rsa-1024.csr -sha256
req rsa2050.key rsa-2050-bits-not-multiple-of-8.csr -sha256
req k256.key ec-secp256k1.csr -sha256
req bp256.key ec-brainpoolP256r1.csr -sha256
req p192.key ec-prime192v1.csr -sha256
req p256explicit.key ec-explicit-curve-parameters.csr -sha256
req dsa.key dsa-2048.csr -sha256
req ed25519.key ed25519.csr
req ed448.key ed448.csr
req rsapss.key rsa-pss-key.csr -sha256
req rsa2048.key sha1-signed.csr -sha1
req rsa2048.key md5-signed.csr -md5

# --- not a request at all -----------------------------------------------------
openssl req -new -x509 -key "$work/rsa2048.key" -subj "$subj" -sha256 \
	-days 30 -out "$out/certificate-not-csr.pem"
openssl x509 -in "$out/certificate-not-csr.pem" -outform DER \
	-out "$out/certificate-not-csr.der"
cp "$work/p256.key" "$out/private-key-not-csr.pem"
: > "$out/empty.csr"

openssl req -in "$out/good-rsa-2048.csr" -outform DER -out "$work/good.der"
openssl pkey -in "$work/rsa2048.key" -pubout -outform DER -out "$work/rsa2048.spki"
openssl pkey -in "$work/p256.key" -pubout -outform DER -out "$work/p256.spki"

# --- byte-level and DER-level damage, and hand-assembled requests -----------
python3 - "$out" "$work" <<'PY'
import os, random, subprocess, sys

out, work = sys.argv[1], sys.argv[2]
expect = []

def put(name, data, msg):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    expect.append((name, msg))

def note(name, msg):            # a file written by openssl above
    expect.append((name, msg))

def rd(path):
    with open(path, "rb") as f:
        return f.read()

# DER, X.690 8.1-8.19, just what a CSR needs.
def length(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b

def tlv(tag, body):
    return bytes([tag]) + length(len(body)) + body

def seq(*items):
    return tlv(0x30, b"".join(items))

def set_(*items):
    return tlv(0x31, b"".join(items))

def integer(v):
    b = v.to_bytes(max(1, (v.bit_length() + 8) // 8), "big", signed=True)
    return tlv(0x02, b)

def oid(dotted):
    p = [int(x) for x in dotted.split(".")]
    body = bytes([40 * p[0] + p[1]])
    for n in p[2:]:
        enc = [n & 0x7F]
        n >>= 7
        while n:
            enc.append(0x80 | (n & 0x7F))
            n >>= 7
        body += bytes(reversed(enc))
    return tlv(0x06, body)

def bitstring(b):
    return tlv(0x03, b"\x00" + b)

NULL = b"\x05\x00"

def parse(der, off=0):
    """Returns (tag, header length, body length) of the TLV at off."""
    tag, l = der[off], der[off + 1]
    if l < 0x80:
        return tag, 2, l
    n = l & 0x7F
    return tag, 2 + n, int.from_bytes(der[off + 2:off + 2 + n], "big")

def children(der):
    """The TLVs inside the constructed TLV der, as byte strings."""
    tag, h, l = parse(der)
    off, end, kids = h, h + l, []
    while off < end:
        _, ch, cl = parse(der, off)
        kids.append(der[off:off + ch + cl])
        off += ch + cl
    return kids

def name(cn, cn_tag=0x0C):
    return seq(set_(seq(oid("2.5.4.3"), tlv(cn_tag, cn))),
               set_(seq(oid("1.2.840.113549.1.9.1"),
                        tlv(0x16, b"alice@example.com"))))

SHA256_RSA = seq(oid("1.2.840.113549.1.1.11"), NULL)
ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"))

def csr(spki, subject, keyfile, version=0, sigalg=SHA256_RSA,
        digest="sha256"):
    """RFC 2986 4.1/4.2, signed by openssl over the DER info."""
    info = seq(integer(version), subject, spki, tlv(0xA0, b""))
    ipath = os.path.join(work, "info.der")
    with open(ipath, "wb") as f:
        f.write(info)
    sig = subprocess.run(["openssl", "dgst", "-" + digest, "-sign",
                          os.path.join(work, keyfile), ipath],
                         check=True, capture_output=True).stdout
    return seq(info, sigalg, bitstring(sig))

def pem(der, label="CERTIFICATE REQUEST"):
    import base64
    b = base64.b64encode(der).decode()
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n"
            % (label, "\n".join(lines), label)).encode()

rnd = random.Random(20240601)
good = rd(os.path.join(work, "good.der"))
good_pem = rd(os.path.join(out, "good-rsa-2048.csr"))
rsa_spki = rd(os.path.join(work, "rsa2048.spki"))
p256_spki = rd(os.path.join(work, "p256.spki"))

note("empty.csr", "the input is empty")
note("rsa-1024.csr", "RSA key of 1024 bits is too small")
note("rsa-2050-bits-not-multiple-of-8.csr",
     "RSA key of 2050 bits is not accepted: its size is not a multiple of 8")
note("ec-secp256k1.csr", "secp256k1 is not accepted")
note("ec-brainpoolP256r1.csr", "brainpoolP256r1 is not accepted")
note("ec-prime192v1.csr", "curve SECP192R1 is not accepted")
note("ec-explicit-curve-parameters.csr", "spells out its curve parameters")
note("dsa-2048.csr", "DSA keys are not accepted")
note("ed25519.csr", "Ed25519 keys are not accepted")
note("ed448.csr", "Ed448 keys are not accepted")
note("rsa-pss-key.csr", "RSA-PSS keys are not accepted")
note("sha1-signed.csr", "SHA-1 signatures are not accepted")
note("md5-signed.csr", "MD5 signatures are not accepted")
note("certificate-not-csr.pem", "a certificate, not a certificate request")
note("certificate-not-csr.der", "a certificate, not a certificate request")
note("private-key-not-csr.pem", "a private key")

# Garbage: starts with neither "-----BEGIN" nor a DER SEQUENCE tag.
put("garbage.bin", b"\xff\xfe" + bytes(rnd.randrange(256) for _ in range(700)),
    "is neither a PEM block")
put("text-not-pem.txt", b"Hello, here is my certificate request!\n",
    "is neither a PEM block")
put("blob-1MiB.bin", b"0" + bytes(rnd.randrange(256) for _ in range(1 << 20)),
    "the input is too large")

# DER damage.
put("der-truncated.der", good[:len(good) // 2], "the DER data is truncated")
put("der-trailing-bytes.der", good + b"\x00\x00junk", "6 trailing bytes after the DER data")
put("der-indefinite-length.der", b"\x30\x80" + good[4:] + b"\x00\x00",
    "indefinite length, which DER forbids")
put("der-sequence-not-csr.der", seq(integer(0), integer(1)),
    "not a PKCS#10 certificate request")
flip = bytearray(good)
flip[-10] ^= 0x01                      # inside the signature BIT STRING
put("bad-signature-flipped-bit.der", bytes(flip), "self-signature does not match its public key")

# PEM damage.
put("pem-leading-junk.csr", b"Here is my CSR:\n" + good_pem,
    "there is text before the -----BEGIN line")
put("pem-trailing-junk.csr", good_pem + b"Thanks, Alice\n",
    "there is text after the -----END line")
put("pem-two-blocks.csr", good_pem + b"\n" + good_pem, "more than one PEM block")
put("pem-nul-byte.csr", good_pem.replace(b"\n", b"\n\x00", 1), "the PEM text contains a NUL byte")
lines = good_pem.split(b"\n")
lines[3] = lines[3][:20] + b"*!" + lines[3][22:]
put("pem-bad-base64.csr", b"\n".join(lines), "base64 text between the BEGIN and END lines is damaged")
put("pem-no-end-line.csr", good_pem.replace(b"-----END", b"-----FIN"),
    "no -----END CERTIFICATE REQUEST----- line")
put("pem-mismatched-end.csr",
    good_pem.replace(b"END CERTIFICATE REQUEST", b"END CERTIFICATE"),
    "no -----END CERTIFICATE REQUEST----- line")

# Hand-assembled requests, validly signed unless said otherwise.
put("version-2.der", csr(rsa_spki, name(b"Alice Example"), "rsa2048.key",
                         version=1), "version 2 is unknown")
put("subject-cn-nul-byte.der",
    csr(rsa_spki, name(b"alice@example.com\x00.evil.example"), "rsa2048.key"),
    "subject contains a NUL byte")
put("subject-control-char.der",
    csr(rsa_spki, name(b"Alice\x1b[31m Example"), "rsa2048.key"),
    "subject contains a control character")
put("subject-newline.der",
    csr(rsa_spki, name(b"Alice\nCN=Mallory"), "rsa2048.key"),
    "subject contains a control character")
put("subject-bmpstring-nul.der",
    csr(p256_spki, name("Al\0ce".encode("utf-16-be"), 0x1E), "p256.key",
        sigalg=ECDSA_SHA256), "subject contains a NUL byte")
put("subject-bad-utf8.der",
    csr(rsa_spki, name(b"Alice \xc3\x28"), "rsa2048.key"),
    "not valid UTF-8")
put("md5-signed-handmade.der",
    csr(rsa_spki, name(b"Alice Example"), "rsa2048.key",
        sigalg=seq(oid("1.2.840.113549.1.1.4"), NULL), digest="md5"),
    "MD5 signatures are not accepted")

# RSA public keys that no private key can match (RFC 8017 3.1: e is odd, as
# it is coprime with (p-1)(q-1)). The signature is the good key's, so it is
# bad as well: the key check must speak first.
alg, pub = children(rsa_spki)
rsapub = pub[parse(pub)[1] + 1:]          # skip the BIT STRING's unused-bits
n = children(rsapub)[0]
for e, fname, msg in ((65538, "rsa-even-exponent.der", "exponent 65538 is even"),
                      (1, "rsa-exponent-1.der", "exponent 1 is too small")):
    spki = seq(alg, bitstring(seq(n, integer(e))))
    put(fname, csr(spki, name(b"Alice Example"), "rsa2048.key"), msg)

with open(os.path.join(out, "EXPECT"), "w") as f:
    for fname, msg in expect:
        f.write("%s\t%s\n" % (fname, msg))
PY
