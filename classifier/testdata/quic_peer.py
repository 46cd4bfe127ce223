#!/usr/bin/env python3
"""HTTP/3 server and client on aioquic, used by record.sh to record QUIC fixtures.

  quic_peer.py server HOST PORT CERT KEY
  quic_peer.py client HOST PORT SNI [--many-alpn N]

`--many-alpn N` offers N extra 40-byte ALPN names before "h3", so the ClientHello (> 1200 bytes)
no longer fits in one Initial packet and its CRYPTO data spans two Initial datagrams.
`--late-sni N` offers N extra GREASE signature algorithms (RFC 8701 values, which peers ignore);
they precede server_name in aioquic's extension order, so with N = 600 the SNI itself lies in the
second Initial's CRYPTO frame.
"""
import asyncio
import sys

from aioquic import tls
from aioquic.asyncio import connect, serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import DataReceived, HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated


class H3Server(QuicConnectionProtocol):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.h3 = None

    def quic_event_received(self, event):
        if isinstance(event, ProtocolNegotiated):
            self.h3 = H3Connection(self._quic)
        if self.h3 is None:
            return
        for ev in self.h3.handle_event(event):
            if isinstance(ev, HeadersReceived) and ev.stream_ended:
                body = b"hello from nfguard fixture server\n"
                self.h3.send_headers(ev.stream_id, [(b":status", b"200"),
                                                    (b"content-length", str(len(body)).encode())])
                self.h3.send_data(ev.stream_id, body, end_stream=True)
        self.transmit()


class H3Client(QuicConnectionProtocol):
    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.h3 = H3Connection(self._quic)
        self.done = asyncio.get_event_loop().create_future()
        self.body = b""

    def quic_event_received(self, event):
        for ev in self.h3.handle_event(event):
            if isinstance(ev, DataReceived):
                self.body += ev.data
                if ev.stream_ended and not self.done.done():
                    self.done.set_result(self.body)

    async def get(self, authority):
        sid = self._quic.get_next_available_stream_id()
        self.h3.send_headers(sid, [(b":method", b"GET"), (b":scheme", b"https"),
                                   (b":authority", authority.encode()), (b":path", b"/"),
                                   (b"user-agent", b"aioquic-fixture")], end_stream=True)
        self.transmit()
        return await asyncio.wait_for(self.done, 5)


async def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "server":
        cfg = QuicConfiguration(is_client=False, alpn_protocols=H3_ALPN)
        cfg.load_cert_chain(sys.argv[4], sys.argv[5])
        await serve(host, port, configuration=cfg, create_protocol=H3Server)
        await asyncio.Future()
    sni = sys.argv[4]
    opt = sys.argv[5] if len(sys.argv) > 6 else ""
    extra = int(sys.argv[6]) if opt == "--many-alpn" else 0
    if opt == "--late-sni":
        grease = [0x0A0A + 0x1010 * i for i in range(16)]
        padding = [grease[i % 16] for i in range(int(sys.argv[6]))]
        init = tls.Context.__init__

        def padded_init(self, *a, **kw):
            init(self, *a, **kw)
            self._signature_algorithms = padding + list(self._signature_algorithms)

        tls.Context.__init__ = padded_init
    alpn = [f"x-nfguard-fixture-padding-alpn-{i:08d}" for i in range(extra)] + H3_ALPN
    cfg = QuicConfiguration(is_client=True, alpn_protocols=alpn, server_name=sni,
                            verify_mode=0)
    async with connect(host, port, configuration=cfg, create_protocol=H3Client) as c:
        body = await c.get(sni)
        print(body.decode(errors="replace").strip())


asyncio.run(main())
