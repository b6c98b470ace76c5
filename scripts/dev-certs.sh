#!/usr/bin/env bash
# Makes a development CA and certificates for Cluster:Tls into deploy/certs/ (git-ignored):
#   ca.pem            the CA every cluster process trusts (Cluster:Tls:CaCertificates)
#   member.pem/.key   for silos and co-hosting apps: both TLS server and client, with the
#                     docker-compose service names (silo1..3, webapp) and localhost as names
#   client.pem/.key   for external clients and the CLI (TLS client only)
# The CA's key (ca.key) stays next to them to issue more; in production keep it offline and issue
# from your own PKI (docs/operations.md, "Security"). Usage: scripts/dev-certs.sh [days, default 365]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${DEV_CERTS_DIR:-$root/deploy/certs}"
days="${1:-365}"
mkdir -p "$out"
cd "$out"
umask 077
if [ ! -f ca.key ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out ca.key
  openssl req -x509 -new -key ca.key -sha256 -days $((days * 2)) -subj "/CN=session-cache development CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
fi

issue() { # name usage subject-alt-names
  openssl ecparam -name prime256v1 -genkey -noout -out "$1.key.tmp"
  openssl pkcs8 -topk8 -nocrypt -in "$1.key.tmp" -out "$1.key"
  rm -f "$1.key.tmp"
  openssl req -new -key "$1.key" -subj "/CN=session-cache $1" -out "$1.csr"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=%s\n' "$2" "$3" >"$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue member serverAuth,clientAuth "DNS:silo1,DNS:silo2,DNS:silo3,DNS:webapp,DNS:localhost,IP:127.0.0.1"
issue client clientAuth "DNS:session-cache-client"
# The containers run as a non-root user: the files are mounted read-only and must be readable.
chmod 644 ./*.pem member.key client.key
chmod 600 ca.key
rm -f ca.srl
echo "wrote $(ls "$out" | tr '\n' ' ')to $out"
