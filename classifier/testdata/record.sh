#!/usr/bin/env bash
# Re-records the classifier's lab fixtures (classifier/testdata/lab_*.pcap) from real programs in a
# throw-away client ── router ── server network-namespace lab, the same topology as
# deploy/src/lab.rs. Packets are captured with tcpdump on the router's LAN interface, so every pcap
# holds what nfguard's capture workers would see. See README.md for the list and the tools needed.
#
# usage: sudo classifier/testdata/record.sh [OUT_DIR]   (default: the directory of this script)
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
OUT="${1:-$HERE}"
ID="$(printf '%04x' $((RANDOM)))"
C="nfgrec${ID}-c" R="nfgrec${ID}-r" S="nfgrec${ID}-s"
# Fixed addresses keep the fixtures byte-stable across recordings (apart from times, ports, keys).
CA=10.77.1.2 RL=10.77.1.1 RW=10.77.2.1 SA=10.77.2.2
TMP="$(mktemp -d /tmp/nfgrec.XXXXXX)"

cleanup() {
    for ns in "$C" "$R" "$S"; do
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

inc() { ip netns exec "$C" "$@"; }
inr() { ip netns exec "$R" "$@"; }
ins() { ip netns exec "$S" "$@"; }

for t in tcpdump ethtool openssl curl dig dnsmasq python3; do
    command -v "$t" >/dev/null || { echo "record.sh: $t is missing" >&2; exit 1; }
done
[ -x /usr/sbin/sshd ] || { echo "record.sh: /usr/sbin/sshd is missing" >&2; exit 1; }
python3 -c 'import aioquic' 2>/dev/null || { echo "record.sh: pip install aioquic" >&2; exit 1; }

# --- the lab -------------------------------------------------------------------------------------
for ns in "$C" "$R" "$S"; do ip netns add "$ns"; ip netns exec "$ns" ip link set lo up; done
ip link add "nr${ID}c0" type veth peer name "nr${ID}c1"
ip link set "nr${ID}c0" netns "$C" name eth0
ip link set "nr${ID}c1" netns "$R" name lan0
ip link add "nr${ID}s0" type veth peer name "nr${ID}s1"
ip link set "nr${ID}s0" netns "$S" name eth0
ip link set "nr${ID}s1" netns "$R" name wan0
inc ip addr add "$CA/24" dev eth0; inc ip link set eth0 up
inr ip addr add "$RL/24" dev lan0; inr ip link set lan0 up
inr ip addr add "$RW/24" dev wan0; inr ip link set wan0 up
ins ip addr add "$SA/24" dev eth0; ins ip link set eth0 up
inc ip route add default via "$RL"
ins ip route add default via "$RW"
inr sysctl -q -w net.ipv4.ip_forward=1
# Without offloads the client's kernel cuts segments to the MSS itself and the router does not merge
# them again, so the capture shows the packets as they would cross a real wire.
inc ethtool -K eth0 tso off gso off gro off >/dev/null
inr ethtool -K lan0 tso off gso off gro off >/dev/null
inr ethtool -K wan0 tso off gso off gro off >/dev/null

# --- servers -------------------------------------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj /CN=nfguard-fixture -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
ssh-keygen -q -t ed25519 -N '' -f "$TMP/ssh_host_ed25519_key"
mkdir -p /run/sshd "$TMP/www"
echo 'hello from nfguard fixture server' > "$TMP/www/index.html"

ins openssl s_server -quiet -accept 443 -www -cert "$TMP/cert.pem" -key "$TMP/key.pem" \
    </dev/null >/dev/null 2>&1 &
ins python3 -m http.server --bind "$SA" --directory "$TMP/www" 80 >/dev/null 2>&1 &
ins dnsmasq -k --no-resolv --no-hosts --bind-interfaces --listen-address="$SA" --user=root \
    --pid-file="$TMP/dnsmasq.pid" --address=/www.wikipedia.org/"$SA" \
    --address=/github.com/"$SA" >/dev/null 2>&1 &
ins /usr/sbin/sshd -D -f /dev/null -h "$TMP/ssh_host_ed25519_key" -p 22 \
    -o PidFile=none -o ListenAddress="$SA" >/dev/null 2>&1 &
ins python3 "$HERE/quic_peer.py" server "$SA" 443 "$TMP/cert.pem" "$TMP/key.pem" >/dev/null 2>&1 &
ins python3 "$HERE/bt_peer.py" server "$SA" 6881 >/dev/null 2>&1 &
sleep 2

# capture NAME COUNT FILTER -- CLIENT COMMAND…: records at most COUNT packets matching FILTER on the
# router's LAN side while the client command runs in the client namespace.
capture() {
    local name="$1" count="$2" filter="$3"
    shift 4
    inr tcpdump -i lan0 -n -U -s 0 -c "$count" -w "$OUT/$name.pcap" "$filter" 2>"$TMP/tcpdump.err" &
    local pid=$!
    for _ in $(seq 50); do grep -q 'listening on' "$TMP/tcpdump.err" && break; sleep 0.1; done
    inc "$@" >"$TMP/$name.out" 2>&1 || echo "record.sh: $name: client exited non-zero (expected for ssh)" >&2
    sleep 0.5
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "$name: $(head -c 300 "$TMP/$name.out" | tr '\n' ' ')"
}

# TLS over TCP with several SNIs (curl's OpenSSL ClientHello; the certificate does not match, -k).
for host in www.youtube.com www.netflix.com github.com; do
    capture "lab_tls_${host//./_}" 10 "tcp port 443" -- \
        curl -sk --max-time 5 --resolve "$host:443:$SA" -o /dev/null -w '%{http_code}' "https://$host/"
done
# Plain HTTP: the Host header.
capture lab_http_www_netflix_com 10 "tcp port 80" -- \
    curl -s --max-time 5 --resolve "www.netflix.com:80:$SA" -o /dev/null -w '%{http_code}' \
    http://www.netflix.com/
# DNS over UDP and over TCP.
capture lab_dns_udp 2 "port 53" -- dig +short +tries=1 +time=3 @"$SA" www.wikipedia.org A
capture lab_dns_tcp 10 "port 53" -- dig +tcp +short +tries=1 +time=3 @"$SA" github.com A
# SSH: both banners; authentication fails on purpose (BatchMode, no keys).
capture lab_ssh 10 "tcp port 22" -- \
    ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o ConnectTimeout=5 nobody@"$SA" true
# QUIC / HTTP/3 with aioquic: a one-Initial ClientHello, then one spread over two Initials.
capture lab_quic_h3 6 "udp port 443" -- \
    python3 "$HERE/quic_peer.py" client "$SA" 443 www.youtube.com
capture lab_quic_two_initials 6 "udp port 443" -- \
    python3 "$HERE/quic_peer.py" client "$SA" 443 www.netflix.com --many-alpn 30
capture lab_quic_sni_in_second_initial 6 "udp port 443" -- \
    python3 "$HERE/quic_peer.py" client "$SA" 443 github.com --late-sni 600
# BitTorrent peer-wire handshake (TCP) and DHT ping (UDP).
capture lab_bittorrent_handshake 10 "tcp port 6881" -- \
    python3 "$HERE/bt_peer.py" handshake "$SA" 6881
capture lab_bittorrent_dht_ping 2 "udp port 6881" -- \
    python3 "$HERE/bt_peer.py" dht "$SA" 6881
# A TLS ClientHello split over two TCP segments on the wire: client MTU 576 (MSS 536) and a hello
# made larger than that by `openssl s_client` offering many ALPN names (curl's hello is padded to
# 517 bytes, which still fits one segment).
inc ip link set dev eth0 mtu 576
ALPNS="h2,http/1.1$(for i in $(seq 12); do printf ',x-nfguard-fixture-alpn-%02d' "$i"; done)"
capture lab_tls_split_hello 10 "tcp port 443" -- \
    sh -c "openssl s_client -connect $SA:443 -servername www.youtube.com -alpn $ALPNS \
        -brief </dev/null 2>&1 | head -3"
# A 252-byte server name behind every cipher suite OpenSSL has, and client MTU 512 (MSS 472): the
# SNI itself (hello bytes 265..517) starts in the first segment and ends in the second.
inc ip link set dev eth0 mtu 512
LONG_SNI="$(printf 'a%.0s' $(seq 63)).$(printf 'b%.0s' $(seq 63)).$(printf 'c%.0s' $(seq 63))"
LONG_SNI="$LONG_SNI.$(printf 'd%.0s' $(seq 44)).www.youtube.com"
capture lab_tls_split_sni 10 "tcp port 443" -- \
    sh -c "openssl s_client -connect $SA:443 -servername $LONG_SNI -cipher 'ALL:@SECLEVEL=0' \
        -brief </dev/null 2>&1 | head -3"
inc ip link set dev eth0 mtu 1500

ls -l "$OUT"/lab_*.pcap
