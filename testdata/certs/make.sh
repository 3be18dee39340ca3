#!/usr/bin/env bash
# Makes the public root certificates the golden-file scenarios use. The keys
# are thrown away: only the certificates are kept (they are public by nature,
# and fixed so that golden output is byte-stable). Valid for 20 years.
# Run from this folder: bash make.sh NAME[=TRUST_DOMAIN]... (the trust domain
# defaults to NAME and goes into a spiffe:// URI SAN, as Istio's CA does).
set -euo pipefail
for arg in "$@"; do
  name=${arg%%=*} td=${arg#*=}
  key=$(mktemp)
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$key" \
    -out "$name.pem" -days 7300 -subj "/O=$name/CN=Root CA $name" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectAltName=URI:spiffe://$td" 2>/dev/null
  rm -f "$key"
done
