#!/usr/bin/env python3
"""A minimal BitTorrent peer, used by record.sh: the peer-wire handshake (BEP 3) over TCP and a
DHT `ping` query (BEP 5) over UDP, with the replies a real peer sends.

  bt_peer.py server HOST PORT
  bt_peer.py handshake HOST PORT   (client: peer-wire handshake over TCP)
  bt_peer.py dht HOST PORT         (client: DHT ping over UDP)
"""
import socket
import sys
import threading

PSTR = b"\x13BitTorrent protocol"
RESERVED = b"\x00\x00\x00\x00\x00\x10\x00\x05"  # extension protocol + DHT + fast bits
INFO_HASH = bytes.fromhex("c9e15763f722f23e98a29decdfae341b98d53056")
CLIENT_ID = b"-qB4650-nfgfixture01"
SERVER_ID = b"-TR4060-nfgfixture02"
NODE_ID_C = b"abcdefghij0123456789"
NODE_ID_S = b"mnopqrstuvwxyz123456"


def handshake(peer_id):
    return PSTR + RESERVED + INFO_HASH + peer_id


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return buf


def serve_tcp(host, port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((host, port))
    ls.listen(4)
    while True:
        s, _ = ls.accept()
        if recv_exact(s, 68).startswith(PSTR):
            s.sendall(handshake(SERVER_ID))
            # bitfield (id 5) of an empty 8-piece torrent, then wait for the client to close.
            s.sendall(b"\x00\x00\x00\x02\x05\x00")
            s.recv(1024)
        s.close()


def serve_udp(host, port):
    us = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    us.bind((host, port))
    while True:
        data, addr = us.recvfrom(2048)
        if b"4:ping" in data:
            us.sendto(b"d1:rd2:id20:" + NODE_ID_S + b"e1:t2:aa1:y1:re", addr)


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "server":
        threading.Thread(target=serve_udp, args=(host, port), daemon=True).start()
        serve_tcp(host, port)
        return
    if mode == "handshake":
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(handshake(CLIENT_ID))
        reply = recv_exact(s, 68)
        assert reply.startswith(PSTR), reply
        s.sendall(b"\x00\x00\x00\x01\x02")  # interested
        s.close()
        print(reply)
        return
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(5)
    u.sendto(b"d1:ad2:id20:" + NODE_ID_C + b"e1:q4:ping1:t2:aa1:y1:qe", (host, port))
    print(u.recvfrom(2048)[0])


main()
