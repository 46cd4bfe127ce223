#!/usr/bin/env python3
"""Records what a real client sends first: listens on 127.0.0.1:PORT, accepts one connection,
saves up to 4 KiB received before a 1 s pause to OUT, and closes (no answer is sent).

    python3 first_segment.py 19418 git_upload_pack_lo.bin & git clone git://127.0.0.1:19418/project.git
"""
import socket
import sys

port, out = int(sys.argv[1]), sys.argv[2]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(1)
srv.settimeout(10)
conn, _ = srv.accept()
conn.settimeout(1.0)
buf = b""
try:
    while len(buf) < 4096:
        data = conn.recv(4096)
        if not data:
            break
        buf += data
except socket.timeout:
    pass
with open(out, "wb") as f:
    f.write(buf)
conn.close()
