"""First-response latency of short TCP connections, for nfguard's benchmark (deploy/bench/run.sh).

`lat.py serve PORT` answers every connection's first request with one line and closes it.
`lat.py probe HOST PORT N` opens N connections one after another; each sends one small HTTP-like
request and waits for the answer. Prints one JSON object with p50/p99 in microseconds of two times
per connection: `p50`/`p99`, connect() to the first response byte (the handshake, whose SYN waits for
the tuple-only policy decision, plus the first payload's trip); `payload_p50`/`payload_p99`, send()
of the first payload to the first response byte (the first payload packet waits for classifier and
policy; the response is then forwarded on the decided flow). Run once without a queue and once
through nfguard: the difference of the medians is the latency nfguard adds.
"""
import json
import socket
import sys
import time


def serve(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(128)
    while True:
        c, _ = s.accept()
        c.settimeout(2)
        try:
            if c.recv(1024):
                c.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
        except OSError:
            pass
        c.close()


def pct(sorted_us, q):
    return sorted_us[min(len(sorted_us) - 1, int(q * len(sorted_us)))]


def probe(host, port, n):
    times, payload, failed = [], [], 0
    for i in range(n):
        t0 = time.perf_counter_ns()
        try:
            c = socket.create_connection((host, port), timeout=2)
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t1 = time.perf_counter_ns()
            c.sendall(b"GET /%d HTTP/1.0\r\nHost: bench.test\r\n\r\n" % i)
            if c.recv(64):
                t2 = time.perf_counter_ns()
                times.append((t2 - t0) / 1000)
                payload.append((t2 - t1) / 1000)
            else:
                failed += 1
            c.close()
        except OSError:
            failed += 1
    times.sort()
    payload.sort()
    out = {"n": len(times), "failed": failed}
    if times:
        out.update(p50=pct(times, 0.5), p99=pct(times, 0.99))
        out.update(payload_p50=pct(payload, 0.5), payload_p99=pct(payload, 0.99))
    print(json.dumps(out))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        probe(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
