#!/bin/sh
# Generates example certificates for `tlsgate inspect`: one valid bundle and one broken bundle
# for each local finding code. Uses the openssl CLI only (OpenSSL 3).
#
#   certs-example/generate.sh [OUT_DIR]     (default: ./certs-example/out)
#
# Writes OUT_DIR/<case>/... and OUT_DIR/cases.tsv: one line per case,
#   <case> TAB <expected code or "ok"> TAB <tlsgate inspect arguments, relative to OUT_DIR>
# Everything here is throwaway test material: the keys are not protected.
set -eu

OUT=${1:-./certs-example/out}
mkdir -p "$OUT"
cd "$OUT"
OUT=$(pwd)
umask 077

q() { "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; "$@"; exit 1; }; }

eckey() { q openssl ecparam -name prime256v1 -genkey -noout -out "$1.tmp" && q openssl pkey -in "$1.tmp" -out "$1" && rm -f "$1.tmp"; }

# Extension files.
cat > root.ext <<'X'
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
X
cat > inter.ext <<'X'
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
authorityInfoAccess = caIssuers;URI:http://ca.example.test/intermediate.der
X
# leaf_ext NAME EXTRA... : a normal server leaf extension file, plus extra lines.
leaf_ext() {
  f=$1; shift
  {
    echo "basicConstraints = critical, CA:FALSE"
    echo "keyUsage = critical, digitalSignature"
    echo "extendedKeyUsage = serverAuth"
    echo "subjectAltName = DNS:www.example.test, DNS:example.test"
    echo "subjectKeyIdentifier = hash"
    echo "authorityKeyIdentifier = keyid:always"
    echo "authorityInfoAccess = caIssuers;URI:http://ca.example.test/intermediate.der"
    for line in "$@"; do echo "$line"; done
  } > "$f"
}

# The private PKI: root -> intermediate.
eckey root.key
q openssl req -new -key root.key -subj "/O=tlsgate example/CN=Example Root CA" -out root.csr
q openssl x509 -req -in root.csr -signkey root.key -days 3650 -sha256 -extfile root.ext -out root.pem
eckey inter.key
q openssl req -new -key inter.key -subj "/O=tlsgate example/CN=Example Intermediate CA" -out inter.csr
q openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -CAcreateserial -days 1825 -sha256 -extfile inter.ext -out inter.pem

# A minimal `openssl ca` setup, for validity dates in the past or the future.
mkdir -p ca.db && : > ca.db/index.txt && echo 1000 > ca.db/serial
cat > ca.cnf <<X
[ca]
default_ca = d
[d]
database = $OUT/ca.db/index.txt
new_certs_dir = $OUT/ca.db
serial = $OUT/ca.db/serial
default_md = sha256
policy = any
unique_subject = no
copy_extensions = none
[any]
commonName = supplied
X

# leaf CASE [x509 options...]: key CASE/key.pem, CSR CASE/leaf.csr, certificate CASE/leaf.pem
# signed by the intermediate with CASE/leaf.ext (written by leaf_ext before).
newleaf() {
  d=$1
  mkdir -p "$d"
  [ -f "$d/key.pem" ] || eckey "$d/key.pem"
  q openssl req -new -key "$d/key.pem" -subj "/CN=www.example.test" -out "$d/leaf.csr"
}
sign() {
  d=$1; shift
  q openssl x509 -req -in "$d/leaf.csr" -CA inter.pem -CAkey inter.key -CAcreateserial -days 90 -sha256 \
    -extfile "$d/leaf.ext" -out "$d/leaf.pem" "$@"
}
fullchain() { cat "$1/leaf.pem" inter.pem > "$1/fullchain.pem"; }

: > cases.tsv
case_line() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> cases.tsv; }

# valid: leaf + intermediate, root given with --ca.
newleaf valid; leaf_ext valid/leaf.ext; sign valid; fullchain valid
case_line valid ok "valid/fullchain.pem --key valid/key.pem --ca root.pem --name www.example.test"

# expired and not yet valid (openssl ca sets explicit dates).
for c in expired not-yet-valid; do
  newleaf $c; leaf_ext $c/leaf.ext
  if [ $c = expired ]; then dates="-startdate 20200101000000Z -enddate 20200401000000Z"; else dates="-startdate 20990101000000Z -enddate 20990401000000Z"; fi
  # shellcheck disable=SC2086
  q openssl ca -batch -config ca.cnf -cert inter.pem -keyfile inter.key -in $c/leaf.csr -out $c/leaf.pem \
    -extfile $c/leaf.ext -notext $dates
  fullchain $c
done
case_line expired cert_expired "expired/fullchain.pem --key expired/key.pem --ca root.pem"
case_line not-yet-valid cert_not_yet_valid "not-yet-valid/fullchain.pem --key not-yet-valid/key.pem --ca root.pem"

# wrong name: the certificate is for www.example.test, the name asked is api.example.test.
newleaf wrong-name; leaf_ext wrong-name/leaf.ext; sign wrong-name; fullchain wrong-name
case_line wrong-name name_not_covered "wrong-name/fullchain.pem --key wrong-name/key.pem --ca root.pem --name api.example.test"

# CN only: no subjectAltName.
newleaf cn-only; leaf_ext cn-only/leaf.ext; sed -i '/subjectAltName/d' cn-only/leaf.ext; sign cn-only; fullchain cn-only
case_line cn-only cert_cn_only "cn-only/fullchain.pem --key cn-only/key.pem --ca root.pem"

# leaf is a CA.
newleaf leaf-is-ca; leaf_ext leaf-is-ca/leaf.ext; sed -i 's/CA:FALSE/CA:TRUE/' leaf-is-ca/leaf.ext; sign leaf-is-ca; fullchain leaf-is-ca
case_line leaf-is-ca leaf_is_ca "leaf-is-ca/fullchain.pem --key leaf-is-ca/key.pem --ca root.pem"

# EKU without serverAuth.
newleaf no-serverauth; leaf_ext no-serverauth/leaf.ext; sed -i 's/extendedKeyUsage = serverAuth/extendedKeyUsage = clientAuth/' no-serverauth/leaf.ext
sign no-serverauth; fullchain no-serverauth
case_line no-serverauth eku_missing_server_auth "no-serverauth/fullchain.pem --key no-serverauth/key.pem --ca root.pem"

# RSA 1024 key.
mkdir -p rsa1024; q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out rsa1024/key.pem
newleaf rsa1024; leaf_ext rsa1024/leaf.ext; sed -i 's/digitalSignature/digitalSignature, keyEncipherment/' rsa1024/leaf.ext
sign rsa1024; fullchain rsa1024
case_line rsa1024 weak_rsa_key "rsa1024/fullchain.pem --ca root.pem"

# SHA-1 signature.
newleaf sha1; leaf_ext sha1/leaf.ext
q openssl x509 -req -in sha1/leaf.csr -CA inter.pem -CAkey inter.key -CAcreateserial -days 90 -sha1 -extfile sha1/leaf.ext -out sha1/leaf.pem
fullchain sha1
case_line sha1 weak_signature "sha1/fullchain.pem --key sha1/key.pem --ca root.pem"

# Missing Authority Key Identifier.
newleaf no-aki; leaf_ext no-aki/leaf.ext; sed -i 's/^authorityKeyIdentifier.*/authorityKeyIdentifier = none/' no-aki/leaf.ext; sign no-aki; fullchain no-aki
case_line no-aki missing_aki "no-aki/fullchain.pem --key no-aki/key.pem --ca root.pem"

# Self-signed leaf (CA:FALSE, serverAuth, SAN).
mkdir -p self-signed; eckey self-signed/key.pem
leaf_ext self-signed/leaf.ext; sed -i '/authorityKeyIdentifier/d; /authorityInfoAccess/d' self-signed/leaf.ext
q openssl req -new -key self-signed/key.pem -subj "/CN=www.example.test" -out self-signed/leaf.csr
q openssl x509 -req -in self-signed/leaf.csr -signkey self-signed/key.pem -days 90 -sha256 -extfile self-signed/leaf.ext -out self-signed/leaf.pem
case_line self-signed self_signed_leaf "self-signed/leaf.pem --key self-signed/key.pem"

# Key mismatch: the valid certificate with another key.
mkdir -p key-mismatch; eckey key-mismatch/other-key.pem; cp valid/fullchain.pem key-mismatch/fullchain.pem
case_line key-mismatch key_mismatch "key-mismatch/fullchain.pem --key key-mismatch/other-key.pem --ca root.pem"

# Leaf not first: intermediate, then leaf.
mkdir -p leaf-not-first; cat inter.pem valid/leaf.pem > leaf-not-first/chain.pem; cp valid/key.pem leaf-not-first/key.pem
case_line leaf-not-first chain_leaf_not_first "leaf-not-first/chain.pem --key leaf-not-first/key.pem --ca root.pem"

# Out of order: leaf, root, intermediate.
mkdir -p out-of-order; cat valid/leaf.pem root.pem inter.pem > out-of-order/chain.pem; cp valid/key.pem out-of-order/key.pem
case_line out-of-order chain_out_of_order "out-of-order/chain.pem --key out-of-order/key.pem --ca root.pem"

# Duplicate: the intermediate twice.
mkdir -p duplicate; cat valid/leaf.pem inter.pem inter.pem > duplicate/chain.pem; cp valid/key.pem duplicate/key.pem
case_line duplicate chain_duplicate_cert "duplicate/chain.pem --key duplicate/key.pem --ca root.pem"

# Root included: leaf, intermediate, root.
mkdir -p root-included; cat valid/leaf.pem inter.pem root.pem > root-included/chain.pem; cp valid/key.pem root-included/key.pem
case_line root-included chain_includes_root "root-included/chain.pem --key root-included/key.pem --ca root.pem"

# Incomplete: the leaf alone; the client knows only the root.
mkdir -p incomplete; cp valid/leaf.pem incomplete/leaf.pem; cp valid/key.pem incomplete/key.pem
case_line incomplete chain_incomplete "incomplete/leaf.pem --key incomplete/key.pem --ca root.pem"

# Private root: leaf + intermediate, no --ca (info only: clients must be told to trust the root).
case_line private-root chain_private_root "valid/fullchain.pem --key valid/key.pem"

# Key file readable by others.
mkdir -p key-permissions; cp valid/fullchain.pem key-permissions/fullchain.pem; cp valid/key.pem key-permissions/key.pem
chmod 644 key-permissions/key.pem
case_line key-permissions key_file_permissions "key-permissions/fullchain.pem --key key-permissions/key.pem --ca root.pem"

# Validity over 398 days (info).
newleaf long-validity; leaf_ext long-validity/leaf.ext; sign long-validity -days 825; fullchain long-validity
case_line long-validity validity_too_long "long-validity/fullchain.pem --key long-validity/key.pem --ca root.pem"

# Expiring soon (10 days).
newleaf expiring-soon; leaf_ext expiring-soon/leaf.ext; sign expiring-soon -days 10; fullchain expiring-soon
case_line expiring-soon cert_expiring_soon "expiring-soon/fullchain.pem --key expiring-soon/key.pem --ca root.pem"

# Encrypted key.
mkdir -p encrypted-key; cp valid/fullchain.pem encrypted-key/fullchain.pem
q openssl pkey -in valid/key.pem -aes256 -passout pass:example -out encrypted-key/key.pem
case_line encrypted-key key_encrypted "encrypted-key/fullchain.pem --key encrypted-key/key.pem --ca root.pem"

# A CSR where the certificate should be.
mkdir -p csr; cp valid/leaf.csr csr/leaf.pem; cp valid/key.pem csr/key.pem
case_line csr cert_not_found_in_file "csr/leaf.pem --key csr/key.pem --ca root.pem"

# DER instead of PEM.
mkdir -p der; q openssl x509 -in valid/leaf.pem -outform der -out der/leaf.der; cp valid/key.pem der/key.pem
case_line der cert_not_found_in_file "der/leaf.der --key der/key.pem --ca root.pem"

# A key file without a key.
mkdir -p no-key; cp valid/fullchain.pem no-key/fullchain.pem; cp inter.pem no-key/key.pem
case_line no-key key_not_found_in_file "no-key/fullchain.pem --key no-key/key.pem --ca root.pem"

# A key type rustls cannot use (Ed448).
mkdir -p ed448; q openssl genpkey -algorithm ED448 -out ed448/key.pem
newleaf ed448; leaf_ext ed448/leaf.ext; sign ed448; fullchain ed448
case_line ed448 key_unsupported "ed448/fullchain.pem --key ed448/key.pem --ca root.pem"

# A missing file.
case_line unreadable cert_file_unreadable "does-not-exist.pem --ca root.pem"

rm -rf ca.db ca.cnf ./*.srl ./*.tmp
echo "wrote $(wc -l < cases.tsv) cases to $OUT (see $OUT/cases.tsv)"
