#!/bin/sh
# Regenerates the TLS captures in this folder (see README.md). Loopback only.
# Needs openssl 3 and python3. Keys are made in a temporary directory and thrown away;
# only the certificates the tests compare against are kept here.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

# --- certificates ---------------------------------------------------------------------
openssl req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.pem -days 3650 \
  -subj "/CN=rsa.example.test" -addext "subjectAltName=DNS:rsa.example.test" 2>/dev/null
ec() { openssl ecparam -name prime256v1 -genkey -noout -out "$1"; }
ec root.key; ec int.key; ec leaf.key; ec client.key
openssl req -x509 -new -key root.key -out root.pem -days 3650 -subj "/CN=Hopscope Test Root" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
openssl req -new -key int.key -out int.csr -subj "/CN=Hopscope Test Intermediate"
printf 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n' > int.ext
openssl x509 -req -in int.csr -CA root.pem -CAkey root.key -CAcreateserial -out int.pem \
  -days 3650 -extfile int.ext 2>/dev/null
openssl req -new -key leaf.key -out leaf.csr -subj "/CN=mail.example.test"
printf 'subjectAltName=DNS:mail.example.test\nextendedKeyUsage=serverAuth\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA int.pem -CAkey int.key -CAcreateserial -out leaf.pem \
  -days 3650 -extfile leaf.ext 2>/dev/null
openssl req -new -key client.key -out client.csr -subj "/CN=mail.protection.outlook.test"
printf 'extendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA int.pem -CAkey int.key -CAcreateserial -out client.pem \
  -days 3650 -extfile client.ext 2>/dev/null
cat int.pem root.pem > chain.pem
openssl x509 -in leaf.pem -outform DER -out "$here/ecdsa_leaf.der"
openssl x509 -in rsa.pem -outform DER -out "$here/rsa_leaf.der"
openssl x509 -in client.pem -outform DER -out "$here/client_leaf.der"

# --- one capture: NAME "s_server args" "s_client args" -------------------------------
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
capture() {
  name=$1 server_args=$2 client_args=$3 naccept=1 second_args=${4:-}
  [ -z "$second_args" ] || naccept=2
  port=$(free_port)
  # shellcheck disable=SC2086
  openssl s_server -accept "127.0.0.1:$port" -naccept "$naccept" -rev $server_args \
    >"$name.server.log" 2>&1 &
  spid=$!
  i=0
  until grep -q ACCEPT "$name.server.log" 2>/dev/null; do
    i=$((i + 1)); [ $i -lt 200 ] || { echo "s_server did not start" >&2; exit 1; }
    sleep 0.05
  done
  n=0
  while [ $n -lt "$naccept" ]; do
    n=$((n + 1))
    [ $n -eq 1 ] || client_args=$second_args
    rm -f port
    python3 "$here/capture_forwarder.py" "$port" "$name.$n" port &
    fpid=$!
    until [ -s port ]; do sleep 0.05; done
    # shellcheck disable=SC2086
    printf 'EHLO client.example.test\r\n' | \
      openssl s_client -connect "127.0.0.1:$(cat port)" $client_args >"$name.client.$n.log" 2>&1 || true
    wait $fpid
  done
  wait $spid || true
  for f in c2s s2c chunks; do cp "$name.$naccept.$f" "$here/$name.$f"; done
}

capture tls12_rsa "-cert rsa.pem -key rsa.key" "-tls1_2 -servername rsa.example.test"
capture tls12_ecdsa_chain "-cert leaf.pem -key leaf.key -cert_chain chain.pem" \
  "-tls1_2 -servername mail.example.test"
capture tls12_client_cert "-cert leaf.pem -key leaf.key -cert_chain chain.pem -Verify 2 -CAfile root.pem" \
  "-tls1_2 -servername mail.example.test -cert client.pem -key client.key -cert_chain int.pem"
capture tls13_sni_alpn "-cert leaf.pem -key leaf.key -cert_chain chain.pem -alpn smtp" \
  "-tls1_3 -servername mail.example.test -alpn smtp,h2"
capture tls13_hrr "-cert leaf.pem -key leaf.key -groups X25519" \
  "-tls1_3 -servername mail.example.test -groups P-256:X25519"
# Resumption: one s_server, two connections; the second presents the first one's session
# and is the one kept.
capture tls12_resumed "-cert rsa.pem -key rsa.key" \
  "-tls1_2 -servername rsa.example.test -sess_out sess.pem" \
  "-tls1_2 -servername rsa.example.test -sess_in sess.pem"
capture alert_protocol_version "-cert rsa.pem -key rsa.key -tls1_2" \
  "-tls1_1 -cipher DEFAULT:@SECLEVEL=0 -servername rsa.example.test"
grep -h -E "Reused|New," ./*.client.*.log >&2 || true
