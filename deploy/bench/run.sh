#!/usr/bin/env bash
# nfguard's benchmark suite, in one command (root, not in CI):
#
#   deploy/bench/run.sh            # REPS=3 DUR=4 RATE=20000 LAT_N=300 by default
#   deploy/bench/run.sh connrate   # new flows per second only (section 4), to deploy/bench/CONNRATE.md
#
# 1. Capture throughput through a namespace NAT-less router (client ── router ── server, the conventions
#    of deploy/src/lab.rs: names nfg<6 hex>-c/-r/-s, veths lan0/wan0): trafgen UDP (64-byte payload,
#    one flow) packets/s and iperf3 TCP Gbit/s for no queue, the C libnetfilter_queue accept loop
#    (nfq_accept.c), nfguard with every packet through user space (offload off) and nfguard with offload
#    (`nfguard run`, manage_rules = true); CPU µs per packet of the consumer at a fixed offered load;
#    connect-to-first-response latency of short TCP connections (lat.py) without and with nfguard.
# 2. `nfguard replay --json` vs `ndpiReader -t -q -i` (4.2) on one merged capture of the corpus.
# 3. The bus round trip (`cargo bench -p nfguard-proto --features bus --bench bus_rtt`).
# 4. `connrate`: new flows per second through `nfguard run` (one queue, offload, manage_rules, fail-open,
#    a policy with one app rule). trafgen sends UDP with a random source port per packet (each packet a
#    new flow until the ports repeat; 32 random payload bytes) or TCP SYNs the server never answers, at
#    each of CONN_RATES packets/s for CONN_DUR s, nfguard restarted with an empty store for each; then
#    the flows expire (undecided timeout + a sweep) and the store is asked how many it recorded. Per
#    rate: fail-open by reason, verdict timeouts, kernel bypass, flows seen by the capture and
#    recorded in the store, CPU % of a core of each process. CONN_PROTOS ("udp syn"), PERF=1 adds a
#    `perf record` profile of capture, classifier and policy at the highest rate. nfguard and trafgen
#    run at CONN_NICE (-10) so other jobs on a shared machine do not starve the bus hops. CONN_OUT: the
#    report file.
#
# Environment: REL (binaries, default target/release), REPS, DUR (seconds per measurement), RATE (fixed load, packets/s), LAT_N, SKIP_BUILD=1,
# SKIP_CAPTURE=1, SKIP_REPLAY=1, SKIP_BUS=1, CORPUS, MERGED, REPLAY_COPIES, MODES and MEASURE (subsets of
# "ceiling cloop decided offload" and "udp tcp cpu lat", for debugging; METRICS_OUT=DIR keeps each nfguard
# mode's /metrics after its latency run).
#
# Each measurement repeats REPS times; the table shows the median and the ratios computed within each
# repetition (median of the per-repetition ratios). The table goes to stdout and deploy/bench/RESULTS.md.
# Everything created (namespaces, processes, iptables rules, temp files) is removed on exit, even on error.
set -euo pipefail

REPS=${REPS:-3}
DUR=${DUR:-4}
RATE=${RATE:-20000}
LAT_N=${LAT_N:-300}
CONN_RATES=${CONN_RATES:-1000 3000 6000 10000 20000 50000}
CONN_DUR=${CONN_DUR:-15}
CONN_PROTOS=${CONN_PROTOS:-udp syn}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BENCH=$ROOT/deploy/bench
REL=${REL:-$ROOT/target/release}
CORPUS=${CORPUS:-/work/shared/corpus/pcaps}
MERGED=${MERGED:-/tmp/cl/merged.pcap}

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (network namespaces, NFQUEUE)" >&2; exit 1; }

ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
C=nfg${ID}-c R=nfg${ID}-r S=nfg${ID}-s
WORK=$(mktemp -d "/tmp/nfg${ID}.XXXX")
RES=$WORK/res
mkdir -p "$RES"
CV4=10.77.1.2 RL4=10.77.1.1 RW4=10.77.2.1 SV4=10.77.2.2

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

cleanup() {
    set +e
    for ns in $R $C $S; do
        ip netns list 2>/dev/null | grep -qw "$ns" || continue
        pids=$(ip netns pids "$ns" 2>/dev/null)
        [ -n "$pids" ] && kill -9 $pids 2>/dev/null
        ip netns del "$ns"
    done
    # veths not yet moved into a namespace (setup failed half-way) live in the root namespace.
    for v in "${ID}c0" "${ID}s0"; do ip link del "$v" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

inr() { ip netns exec "$R" "$@"; }
inc() { ip netns exec "$C" "$@"; }
ins() { ip netns exec "$S" "$@"; }

# ---------------------------------------------------------------- prerequisites and builds

install_packages() {
    local need=()
    command -v trafgen >/dev/null || need+=(netsniff-ng)
    command -v iperf3 >/dev/null || need+=(iperf3)
    command -v ndpiReader >/dev/null || need+=(libndpi-bin)
    command -v mergecap >/dev/null || need+=(wireshark-common)
    command -v conntrack >/dev/null || need+=(conntrack)
    command -v jq >/dev/null || need+=(jq)
    [ -e /usr/include/libnetfilter_queue/libnetfilter_queue.h ] || need+=(libnetfilter-queue-dev)
    if [ ${#need[@]} -gt 0 ]; then
        log "Installing ${need[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" >&2
    fi
}

build() {
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        log "Building release binaries"
        (cd "$ROOT" && cargo build --release --workspace -q)
    fi
    cc -O2 -Wall -o "$WORK/nfq_accept" "$BENCH/nfq_accept.c" -lnetfilter_queue
}

# ---------------------------------------------------------------- the lab

lab_up() {
    log "Lab $C / $R / $S"
    for ns in $C $R $S; do ip netns add "$ns"; ip netns exec "$ns" ip link set lo up; done
    ip link add "${ID}c0" type veth peer name "${ID}c1"
    ip link set "${ID}c0" netns "$C" name eth0
    ip link set "${ID}c1" netns "$R" name lan0
    ip link add "${ID}s0" type veth peer name "${ID}s1"
    ip link set "${ID}s0" netns "$S" name eth0
    ip link set "${ID}s1" netns "$R" name wan0
    inc ip addr add $CV4/24 dev eth0; inc ip link set eth0 up
    inr ip addr add $RL4/24 dev lan0; inr ip link set lan0 up
    inr ip addr add $RW4/24 dev wan0; inr ip link set wan0 up
    ins ip addr add $SV4/24 dev eth0; ins ip link set eth0 up
    inc ip route add default via $RL4
    ins ip route add default via $RW4
    inr sysctl -q -w net.ipv4.ip_forward=1
    inr sysctl -q -w net.netfilter.nf_conntrack_acct=1 2>/dev/null || true
    local i
    for i in $(seq 1 20); do inc ping -c1 -W1 -q $SV4 >/dev/null 2>&1 && break; sleep 0.2; done
    inc ping -c1 -W1 -q $SV4 >/dev/null || { log "Lab: server unreachable"; exit 1; }
    # The server drops the UDP flood before the socket layer (no ICMP unreachable going back through
    # the router) and counts it on its interface.
    ins iptables -w -t raw -A PREROUTING -p udp --dport 9 -j DROP
    # connrate's SYNs go unanswered, as a scan's do.
    ins iptables -w -t raw -A PREROUTING -p tcp --dport 9 -j DROP
    ins sh -c "iperf3 -s >/dev/null 2>&1 &"
    ins sh -c "python3 '$BENCH/lat.py' serve 8080 >/dev/null 2>&1 &"
    local rmac cmac
    rmac=$(inr cat /sys/class/net/lan0/address)
    cmac=$(inc cat /sys/class/net/eth0/address)
    cat >"$WORK/udp.cfg" <<CFG
{
  eth(da=$rmac, sa=$cmac),
  ipv4(saddr=$CV4, daddr=$SV4, ttl=64),
  udp(sport=40000, dport=9),
  fill(0x41, 64),
}
CFG
    # connrate: a random source port per packet (trafgen recomputes the checksums of dynamic fields).
    cat >"$WORK/conn-udp.cfg" <<CFG
{
  eth(da=$rmac, sa=$cmac),
  ipv4(saddr=$CV4, daddr=$SV4, ttl=64),
  udp(sport=drnd(1024, 65535), dport=9),
  drnd(32),
}
CFG
    cat >"$WORK/conn-syn.cfg" <<CFG
{
  eth(da=$rmac, sa=$cmac),
  ipv4(saddr=$CV4, daddr=$SV4, ttl=64),
  tcp(sport=drnd(1024, 65535), dport=9, seq=drnd(), syn, window=64240),
}
CFG
    sleep 0.5
}

# Removes whatever a mode left in the router: its processes, rules and conntrack entries.
router_reset() {
    local pids p
    if [ -n "${1:-}" ] && [ -s "$WORK/nfguard-$1.log" ]; then
        log "$1: nfguard log (warnings and errors):"
        grep -v ' INFO ' "$WORK/nfguard-$1.log" | sed -E 's/\x1b\[[0-9;]*m//g; s/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z //' | sort | uniq -c | sort -rn | head -n 8 >&2 || true
    fi
    pids=$(ip netns pids "$R")
    [ -n "$pids" ] && kill -TERM $pids 2>/dev/null
    for p in $(seq 1 50); do [ -z "$(ip netns pids "$R")" ] && break; sleep 0.1; done
    pids=$(ip netns pids "$R")
    [ -n "$pids" ] && kill -9 $pids 2>/dev/null
    for t in mangle filter; do inr iptables -w -t $t -F; inr iptables -w -t $t -X; done
    inr conntrack -F >/dev/null 2>&1 || true
    sleep 0.2
}

queue_bound() { inr awk '$1 == 0 { f = 1 } END { exit !f }' /proc/net/netfilter/nfnetlink_queue 2>/dev/null; }

wait_for() { # wait_for SECONDS CMD…
    local end=$((SECONDS + $1)); shift
    until "$@"; do [ $SECONDS -ge $end ] && return 1; sleep 0.1; done
}

nfguard_config() { # nfguard_config OFFLOAD(true|false)
    install -d -m 0700 "$WORK/rt"
    cat >"$WORK/nfguard.toml" <<CFG
runtime_dir = "$WORK/rt"
[capture]
queues = "0"
offload = $1
manage_rules = $1
# Overload shows as kernel drops, as for the C loop, instead of packets bypassing the worker.
fail_open = false
[policy]
rules = "policy.toml"
[store]
path = "$WORK/store"
[gateway]
listen = "127.0.0.1:3100"
[supervisor]
# The bench measures the data path; the lab dir is root's (least privilege: OPERATIONS.md).
user = "root"
allow_root = true
CFG
    # An application rule, so a new flow waits for DPI (classifier, then policy) on its first payload.
    cat >"$WORK/policy.toml" <<'CFG'
default = "accept"

[[rule]]
name = "no-p2p"
app = ["BitTorrent"]
action = "drop"
CFG
}

consumer_pid=""

mode_up() { # mode_up MODE
    consumer_pid=""
    case $1 in
    ceiling) ;;
    cloop)
        inr iptables -w -t mangle -A FORWARD -j NFQUEUE --queue-num 0
        # Not through the inr function: `ip netns exec` execs, so $! is the consumer itself.
        ip netns exec "$R" "$WORK/nfq_accept" 0 >"$WORK/cloop.log" 2>&1 &
        consumer_pid=$!
        wait_for 5 queue_bound || { log "nfq_accept did not bind"; cat "$WORK/cloop.log" >&2; exit 1; }
        ;;
    decided | offload)
        local off=false
        [ "$1" = offload ] && off=true
        nfguard_config $off
        [ $off = false ] && inr iptables -w -t mangle -A FORWARD -j NFQUEUE --queue-num 0
        inr env RUST_LOG=warn "$REL/nfguard" run -c "$WORK/nfguard.toml" >"$WORK/nfguard-$1.log" 2>&1 &
        wait_for 20 queue_bound || { log "nfguard run: queue 0 not bound"; cat "$WORK/nfguard-$1.log" >&2; exit 1; }
        if [ $off = true ]; then
            wait_for 10 inr iptables -w -t mangle -S NFGUARD >/dev/null 2>&1 ||
                { log "nfguard run: no NFGUARD chain"; cat "$WORK/nfguard-$1.log" >&2; exit 1; }
        fi
        local p
        for p in $(ip netns pids "$R"); do
            [ "$(cat /proc/$p/comm 2>/dev/null)" = nfguard-capture ] && consumer_pid=$p
        done
        sleep 1 # policy and classifier bind after the worker
        ;;
    esac
}

# Packets the kernel has handed to queue 0 so far (id_sequence), 0 without a bound queue.
queued() { inr awk '$1 == 0 { print $8; f = 1 } END { if (!f) print 0 }' /proc/net/netfilter/nfnetlink_queue; }
rx() { ins cat /sys/class/net/eth0/statistics/rx_packets; }
tx() { inc cat /sys/class/net/eth0/statistics/tx_packets; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo -1; }

record() { echo "$3" >>"$RES/$1.$2"; } # record METRIC MODE VALUE

udp_flood() { # udp_flood MODE [RATE]: packets/s reaching the server (steady state over DUR s)
    local args=(-o eth0 -c "$WORK/udp.cfg" -P 1 -Q -C)
    [ -n "${2:-}" ] && args+=(-b "${2}pps")
    # Its own session: trafgen signals its whole process group when it stops.
    setsid ip netns exec "$C" trafgen "${args[@]}" >/dev/null 2>&1 &
    local tg=$!
    sleep 1
    local r0 t0 c0=0 r1 t1 c1=0 q0 q1
    r0=$(rx); t0=$(tx); q0=$(queued)
    [ -n "$consumer_pid" ] && c0=$(cpu_ticks "$consumer_pid")
    sleep "$DUR"
    r1=$(rx); t1=$(tx); q1=$(queued)
    [ -n "$consumer_pid" ] && c1=$(cpu_ticks "$consumer_pid")
    # trafgen forks a sender per CPU; stop the whole group (setsid made $tg its leader).
    kill -INT -- -$tg 2>/dev/null || true
    sleep 0.3
    kill -9 -- -$tg 2>/dev/null || true
    wait $tg 2>/dev/null || true
    local pps sent
    pps=$(( (r1 - r0) / DUR )); sent=$(( (t1 - t0) / DUR ))
    local qpps=$(( (q1 - q0) / DUR ))
    # With a queue, only packets that went through the consumer count: a worker that enables the
    # kernel's fail-open (or restarts under load) must not score the packets the kernel let past it.
    # With offload the kernel forwards a decided flow itself: what reaches the server is the figure.
    [ -n "$consumer_pid" ] && [ "$1" != offload ] && [ $qpps -lt $pps ] && pps=$qpps
    if [ -n "${2:-}" ]; then
        # A consumer that restarted during the window (-1) gives no CPU figure.
        if [ -n "$consumer_pid" ] && [ "$c0" -ge 0 ] && [ "$c1" -ge 0 ] && [ $((r1 - r0)) -gt 0 ]; then
            record cpu_us "$1" "$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" -v n=$((r1 - r0)) \
                'BEGIN { printf "%.2f", t * 1e6 / hz / n }')"
        fi
        log "$1: fixed load ${2} pps offered, $(( (r1 - r0) / DUR )) pps received, $qpps pps through the queue"
    else
        record udp_pps "$1" $pps
        record udp_sent "$1" $sent
        log "$1: UDP sent $sent pps, received $(( (r1 - r0) / DUR )) pps, through the queue $qpps pps"
    fi
}

tcp_bulk() { # Gbit/s received by the server
    local g
    g=$(inc iperf3 -c $SV4 -t "$DUR" -J 2>/dev/null | jq -r '.end.sum_received.bits_per_second / 1e9' 2>/dev/null || echo 0)
    record tcp_gbps "$1" "$g"
    log "$1: TCP $g Gbit/s"
}

latency() {
    local j
    j=$(inc python3 "$BENCH/lat.py" probe $SV4 8080 "$LAT_N")
    record lat_p50 "$1" "$(jq -r .p50 <<<"$j")"
    record lat_p99 "$1" "$(jq -r .p99 <<<"$j")"
    record lat_pay50 "$1" "$(jq -r .payload_p50 <<<"$j")"
    record lat_pay99 "$1" "$(jq -r .payload_p99 <<<"$j")"
    log "$1: latency $j"
}

median() { # median FILE → the median of its numbers (empty when missing)
    [ -s "$1" ] || { echo ""; return; }
    sort -g "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

minus() { # minus FILE_A FILE_B → last value of A minus last value of B, rounded
    awk -v a="$(tail -1 "$1")" -v b="$(tail -1 "$2")" 'BEGIN { printf "%.0f", a - b }'
}

ratio() { # ratio A B → A/B formatted, or "–"
    awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "–"; else printf "%.2f", a / b }'
}

capture_bench() {
    local rep m
    for rep in $(seq 1 "$REPS"); do
        log "Capture repetition $rep/$REPS (load $(cut -d' ' -f1-3 /proc/loadavg))"
        for m in ${MODES:-ceiling cloop decided offload}; do
            mode_up $m
            measures=" ${MEASURE:-udp tcp cpu lat} "
            [[ $measures == *" udp "* ]] && udp_flood $m
            [[ $measures == *" tcp "* ]] && tcp_bulk $m
            [[ $measures == *" cpu "* ]] && [ $m != ceiling ] && udp_flood $m "$RATE"
            [[ $measures == *" lat "* ]] && latency $m
            if [ -n "${METRICS_OUT:-}" ] && [ -n "$consumer_pid" ] && [ $m != cloop ]; then
                mkdir -p "$METRICS_OUT"
                sleep 2 # the next heartbeat carries the counters of the run
                inr curl -s http://127.0.0.1:3100/metrics >"$METRICS_OUT/$m.$rep.prom" || true
                { inr iptables -w -t mangle -L -nvx; inr iptables -w -L -nvx; inr conntrack -L; } \
                    >"$METRICS_OUT/$m.$rep.rules" 2>&1 || true
            fi
            router_reset $m
        done
        [ -z "${MODES:-}" ] || continue
        # Ratios within this repetition (same load, same minute).
        record r_udp decided_cloop "$(ratio "$(tail -1 "$RES/udp_pps.decided")" "$(tail -1 "$RES/udp_pps.cloop")")"
        record r_tcp offload_ceiling "$(ratio "$(tail -1 "$RES/tcp_gbps.offload")" "$(tail -1 "$RES/tcp_gbps.ceiling")")"
        for m in cloop decided offload; do
            record lat_add $m "$(minus "$RES/lat_p50.$m" "$RES/lat_p50.ceiling")"
            record pay_add $m "$(minus "$RES/lat_pay50.$m" "$RES/lat_pay50.ceiling")"
        done
    done
}

# ---------------------------------------------------------------- new flows per second

metric_sum() { # metric_sum FILE NAME [LABEL_MATCH] → the sum of NAME's samples (whose labels contain LABEL_MATCH)
    awk -v n="$2" -v m="${3:-}" 'index($0, n "{") == 1 && index($0, m) { s += $NF } END { printf "%.0f", s }' "$1"
}

scrape() { inr curl -s --max-time 3 http://127.0.0.1:3100/metrics >"$1" || : >"$1"; }

# The nfguard processes in the router, as "name pid" (the conntrack worker is a capture with --conntrack).
nfguard_pids() {
    local p comm
    for p in $(ip netns pids "$R"); do
        # Not /proc/PID/comm: it is cut at 15 bytes (nfguard-classif).
        comm=$(basename "$(readlink /proc/$p/exe 2>/dev/null)") || continue
        case $comm in
        nfguard-capture) tr '\0' ' ' </proc/$p/cmdline | grep -q -- --conntrack && comm=nfguard-conntrack ;;
        nfguard-*) ;;
        *) continue ;;
        esac
        echo "${comm#nfguard-} $p"
    done
}

conn_up() {
    install -d -m 0700 "$WORK/rt"
    rm -rf "$WORK/store"
    cat >"$WORK/nfguard.toml" <<CFG
runtime_dir = "$WORK/rt"
[capture]
queues = "0"
offload = true
manage_rules = true
[policy]
rules = "policy.toml"
[store]
path = "$WORK/store"
[gateway]
listen = "127.0.0.1:3100"
[supervisor]
# The bench measures the data path; the lab dir is root's (least privilege: OPERATIONS.md).
user = "root"
allow_root = true
CFG
    cat >"$WORK/policy.toml" <<'CFG'
default = "accept"

[[rule]]
name = "no-p2p"
app = ["BitTorrent"]
action = "drop"
CFG
    inr sysctl -q -w net.netfilter.nf_conntrack_checksum=0 2>/dev/null || true
    # The machine is shared: at CONN_NICE (default -10) other jobs' builds do not starve nfguard's hops.
    inr nice -n "${CONN_NICE:--10}" env RUST_LOG=warn "$REL/nfguard" run -c "$WORK/nfguard.toml" >"$WORK/nfguard-conn.log" 2>&1 &
    wait_for 20 queue_bound || { log "nfguard run: queue 0 not bound"; cat "$WORK/nfguard-conn.log" >&2; exit 1; }
    wait_for 10 inr iptables -w -t mangle -S NFGUARD >/dev/null 2>&1 ||
        { log "nfguard run: no NFGUARD chain"; cat "$WORK/nfguard-conn.log" >&2; exit 1; }
    wait_for 10 inr curl -sf --max-time 1 http://127.0.0.1:3100/health >/dev/null ||
        { log "nfguard run: gateway not up"; exit 1; }
    sleep 2 # policy and classifier bind after the worker; the first heartbeats arrive
}

# Kernel queue drops (queue full without fail-open, and failed deliveries) so far.
queue_drops() { inr awk '$1 == 0 { print $6 + $7; f = 1 } END { if (!f) print 0 }' /proc/net/netfilter/nfnetlink_queue; }

conn_run() { # conn_run PROTO RATE → one line of CONNRATE.md
    local proto=$1 rate=$2
    conn_up
    local m0=$WORK/m0.prom m1=$WORK/m1.prom m2=$WORK/m2.prom
    scrape "$m0"
    local t0 d0 ct0 since name pid
    declare -A c0=() c1=()
    while read -r name pid; do c0[$name]=$(cpu_ticks "$pid"); c1[$name]=$pid; done < <(nfguard_pids)
    t0=$(tx); d0=$(queue_drops)
    since=$(( $(date +%s) * 1000 - 1000 ))
    setsid nice -n "${CONN_NICE:--10}" ip netns exec "$C" trafgen -o eth0 -c "$WORK/conn-$proto.cfg" -P 1 -Q -b "${rate}pps" >/dev/null 2>&1 &
    local tg=$!
    local perf_pids=()
    if [ "${PERF:-0}" = 1 ] && [ "$rate" = "${CONN_RATES##* }" ]; then
        while read -r name pid; do
            case $name in capture | classifier | policy)
                perf record -q -F 499 -e cpu-clock -g -o "$WORK/perf-$proto-$name.data" -p "$pid" -- sleep "$CONN_DUR" >/dev/null 2>&1 &
                perf_pids+=($!) ;;
            esac
        done < <(nfguard_pids)
    fi
    sleep "$CONN_DUR"
    kill -INT -- -$tg 2>/dev/null || true
    sleep 0.3
    kill -9 -- -$tg 2>/dev/null || true
    wait $tg 2>/dev/null || true
    local sent=$(( $(tx) - t0 )) drops=$(( $(queue_drops) - d0 ))
    local cpu=""
    for name in capture classifier policy store gateway conntrack supervisor; do
        [ -n "${c1[$name]:-}" ] || continue
        local t1
        t1=$(cpu_ticks "${c1[$name]}")
        cpu+="$name $(awk -v a="${c0[$name]}" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v d="$CONN_DUR" \
            'BEGIN { if (a < 0 || b < 0) print "–"; else printf "%.0f", (b - a) * 100 / hz / d }')% · "
    done
    scrape "$m1"
    [ ${#perf_pids[@]} -gt 0 ] && wait "${perf_pids[@]}" 2>/dev/null
    ct0=$(inr conntrack -C 2>/dev/null || echo 0)
    # Undecided flows expire 15 s after their packet; one sweep (5 s) and a store flush later all are in.
    sleep 23
    scrape "$m2"
    local flows
    flows=$(inr curl -s --max-time 5 "http://127.0.0.1:3100/api/v1/totals?since=$since" | jq -r '.flows // 0' 2>/dev/null || echo 0)
    d() { echo $(( $(metric_sum "$2" "$1" "${3:-}") - $(metric_sum "$m0" "$1" "${3:-}") )); }
    local fo to by new undec unrec ovl pd
    fo=$(d nfguard_fail_open_total "$m1"); to=$(d nfguard_verdict_timeouts_total "$m1")
    ovl=$(d nfguard_fail_open_total "$m1" 'reason="overload"'); pd=$(d nfguard_fail_open_total "$m1" 'reason="peer_down"')
    by=$(d nfguard_kernel_bypassed_packets_total "$m1")
    new=$(d nfguard_flows_new_total "$m2"); undec=$(d nfguard_flows_undecided_total "$m2")
    unrec=$(d nfguard_flows_unrecorded_total "$m2")
    log "connrate $proto $rate/s: sent $sent, fail-open $fo (overload $ovl, peer_down $pd), timeouts $to, bypass $by, queue drops $drops, new flows $new, undecided $undec, unrecorded $unrec, in store $flows, conntrack $ct0; CPU ${cpu% · }"
    echo "| $proto | $rate | $sent | $fo ($ovl overload, $pd peer_down) | $to | $by + $drops | $new | $undec | $flows | ${cpu% · } |" >>"$RES/connrate.md"
    router_reset conn
}

connrate_bench() {
    local proto rate
    : >"$RES/connrate.md"
    for proto in $CONN_PROTOS; do
        for rate in $CONN_RATES; do conn_run "$proto" "$rate"; done
    done
}

connrate_report() {
    cat <<MD
## New flows per second

$(date -u '+%Y-%m-%d %H:%M UTC') · $(nproc) CPUs ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)) · kernel $(uname -r) · load average at start $LOAD0, at end $(cut -d' ' -f1-3 /proc/loadavg) · \`deploy/bench/run.sh connrate\`

\`nfguard run\` with one queue, offload, manage_rules, fail-open, a policy with one app rule; trafgen from
the client namespace, ${CONN_DUR} s per rate: \`udp\`: a random source port per packet, 32 random payload
bytes (a new flow each until the ports repeat); \`syn\`: TCP SYNs with random source ports that the server
never answers. "new flows": flows the capture inserted (\`nfguard_flows_new_total\`); "undecided": of
those, ended without a decision and published as such; "in store": flows the store counted since the
start (\`/api/v1/totals\`), read once every flow has expired. Bypass: \`nfguard_kernel_bypassed_packets_total\`
+ kernel queue drops. CPU: % of one core over the ${CONN_DUR} s. nfguard and trafgen at nice ${CONN_NICE:--10}.

| load | packets/s offered | packets sent | fail-open | verdict timeouts | kernel bypass + drops | new flows | undecided | in store | CPU |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |
$(cat "$RES/connrate.md")
MD
    if [ "${PERF:-0}" = 1 ]; then
        local f
        for f in "$WORK"/perf-*.data; do
            [ -s "$f" ] || continue
            echo
            echo "Profile \`$(basename "$f" .data)\` (perf record -e cpu-clock, top symbols, self):"
            echo
            { perf report -q -i "$f" --no-children --sort dso,sym -g none 2>/dev/null || true; } |
                grep -v '^$' | head -n 20 | sed 's/^/    /' || true
        done
    fi
}

# ---------------------------------------------------------------- replay vs ndpiReader

secs() { # secs CMD… → wall seconds of one run
    local t0 t1
    t0=$(date +%s.%N)
    "$@" >/dev/null 2>&1 || return 1
    t1=$(date +%s.%N)
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", b - a }'
}

replay_bench() {
    if [ ! -s "$MERGED" ]; then
        if [ ! -d "$CORPUS" ]; then
            log "Replay: no corpus at $CORPUS and no $MERGED; skipped"
            return
        fi
        MERGED=$WORK/merged.pcap
        local eth=() f
        for f in "$CORPUS"/*.pcap; do
            capinfos -E "$f" 2>/dev/null | grep -q 'Ethernet$' && eth+=("$f")
        done
        log "Replay: merging ${#eth[@]} Ethernet captures"
        mergecap -a -F pcap -w "$MERGED" "${eth[@]}"
    fi
    # The corpus is small (≈ 50k packets, tens of ms): concatenated REPLAY_COPIES times so start-up
    # does not dominate. Both tools read the same file; repeated flows restart with earlier timestamps.
    local copies=${REPLAY_COPIES:-5} f=()
    for _ in $(seq 1 "$copies"); do f+=("$MERGED"); done
    mergecap -a -F pcap -w "$WORK/replay.pcap" "${f[@]}"
    MERGED=$WORK/replay.pcap
    local pkts rep t
    pkts=$(capinfos -c -M "$MERGED" | awk -F: '/Number of packets/ { gsub(/ /, "", $2); print $2 }')
    echo "$pkts" >"$RES/replay_packets"
    for rep in $(seq 1 "$REPS"); do
        t=$(secs "$REL/nfguard" replay --json "$MERGED") || { log "nfguard replay failed"; return; }
        record replay_pps nfguard "$(awk -v n="$pkts" -v t="$t" 'BEGIN { printf "%.0f", n / t }')"
        local a=$t
        t=$(secs ndpiReader -t -q -i "$MERGED") || { log "ndpiReader failed"; return; }
        record replay_pps ndpi "$(awk -v n="$pkts" -v t="$t" 'BEGIN { printf "%.0f", n / t }')"
        record r_replay nfguard_ndpi "$(ratio "$t" "$a")"
        log "Replay $rep/$REPS: nfguard ${a}s, ndpiReader ${t}s for $pkts packets"
    done
}

# ---------------------------------------------------------------- bus

bus_bench() {
    log "Bus round trip (cargo bench)"
    (cd "$ROOT" && cargo bench -q -p nfguard-proto --features bus --bench bus_rtt 2>/dev/null) \
        | grep -v '^$' | grep -iv 'running\|test result' >"$RES/bus.txt" || true
}

# ---------------------------------------------------------------- report

fmt() { # fmt VALUE SCALE DECIMALS
    [ -n "$1" ] || { echo "–"; return; }
    awk -v v="$1" -v s="$2" -v d="$3" 'BEGIN { printf "%.*f", d, v / s }'
}

report() {
    local M=median
    local cpu kernel load
    cpu=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
    kernel=$(uname -r)
    load=$(cut -d' ' -f1-3 /proc/loadavg)
    u() { fmt "$($M "$RES/udp_pps.$1")" 1000 0; }
    us() { fmt "$($M "$RES/udp_sent.$1")" 1000 0; }
    g() { fmt "$($M "$RES/tcp_gbps.$1")" 1 2; }
    l() { fmt "$($M "$RES/lat_$1.$2")" 1 0; }
    c() { fmt "$($M "$RES/cpu_us.$1")" 1 2; }
    cat <<MD
## Benchmarks

$(date -u '+%Y-%m-%d %H:%M UTC') · $(nproc) CPUs ($cpu) · kernel $kernel · load average at start $LOAD0, at end $load
(the machine was shared with other builds) · median of $REPS runs · \`deploy/bench/run.sh\`

Through a namespace router (veth, one queue, copy range 4096, queue length 4096, no fail-open).
UDP: \`trafgen\`, one flow of 64-byte payloads, as fast as one core sends (offered ≈ $(us ceiling) kpps);
TCP: \`iperf3\` bulk, ${DUR} s. CPU: user+system time of the queue consumer at $RATE packets/s offered.
Latency: $LAT_N sequential TCP connections with an application rule in the policy (so a new flow's
SYN waits for the tuple-only policy decision and its first payload packet for classifier and policy):
"first payload" is send() of the request to the first response byte, "connect" is connect() to the
first response byte (handshake + request).

| path | UDP kpps (through the queue, ≤ received; offload: received) | TCP Gbit/s | CPU µs/packet | first payload p50 µs | p99 µs | connect p50 µs | p99 µs |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
| no queue (ceiling) | $(u ceiling) | $(g ceiling) | – | $(l pay50 ceiling) | $(l pay99 ceiling) | $(l p50 ceiling) | $(l p99 ceiling) |
| C libnetfilter_queue accept loop (floor) | $(u cloop) | $(g cloop) | $(c cloop) | $(l pay50 cloop) | $(l pay99 cloop) | $(l p50 cloop) | $(l p99 cloop) |
| nfguard, decided flows, offload off | $(u decided) | $(g decided) | $(c decided) | $(l pay50 decided) | $(l pay99 decided) | $(l p50 decided) | $(l p99 decided) |
| nfguard, offload (\`nfguard run\`, manage_rules) | $(u offload) | $(g offload) | $(c offload) | $(l pay50 offload) | $(l pay99 offload) | $(l p50 offload) | $(l p99 offload) |

| ratio (per run, median) | measured | goal |
| --- | ---: | ---: |
| nfguard decided / C loop, UDP packets/s | $($M "$RES/r_udp.decided_cloop")× | ≥ 1.0× |
| nfguard offload / no queue, TCP throughput | $($M "$RES/r_tcp.offload_ceiling")× | ≥ 0.9× |
| added latency of the first payload packet, nfguard offload (capture → classifier → policy) vs no queue, p50 | $($M "$RES/pay_add.offload") µs | ≤ 300 µs |
| same, nfguard offload off | $($M "$RES/pay_add.decided") µs | |
| same, C loop | $($M "$RES/pay_add.cloop") µs | |
| added latency connect → first response byte (+ the SYN's tuple-only decision), nfguard offload | $($M "$RES/lat_add.offload") µs | |
| same, C loop | $($M "$RES/lat_add.cloop") µs | |
MD
    if [ -s "$RES/replay_pps.nfguard" ]; then
        cat <<MD
| \`nfguard replay --json\` / \`ndpiReader -t -q -i\` (4.2), packets/s on $(cat "$RES/replay_packets") packets (corpus ×${REPLAY_COPIES:-5}): $(fmt "$($M "$RES/replay_pps.nfguard")" 1000 0) k vs $(fmt "$($M "$RES/replay_pps.ndpi")" 1000 0) k | $($M "$RES/r_replay.nfguard_ndpi")× | ≥ 1.5× |
MD
    else
        echo "| replay vs ndpiReader | not measured (no corpus) | ≥ 1.5× |"
    fi
    echo
    if [ -s "$RES/bus.txt" ]; then
        echo "Bus round trip (\`cargo bench -p nfguard-proto --features bus --bench bus_rtt\`):"
        echo
        sed 's/^/    /' "$RES/bus.txt"
    fi
}

# ---------------------------------------------------------------- main

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
install_packages
build
if [ "${1:-}" = connrate ]; then
    lab_up
    connrate_bench
    connrate_report | tee "${CONN_OUT:-$BENCH/CONNRATE.md}"
    exit 0
fi
if [ "${SKIP_CAPTURE:-0}" != 1 ]; then
    lab_up
    capture_bench
fi
[ "${SKIP_REPLAY:-0}" = 1 ] || replay_bench
[ "${SKIP_BUS:-0}" = 1 ] || bus_bench
report | tee "$BENCH/RESULTS.md"
