//! What every probe answers and knows: [`Probe`] (Match / NoMatch / NeedMore, STYLE §2), the
//! [`Hit`] it learned, the packet [`Ctx`] it is given, and the one-line answers most probes end with.

use nfguard_proto::AppId;

/// A dissector's three answers (STYLE §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe<T> {
    /// This protocol; the value says what was learned.
    Match(T),
    /// Not this protocol (at least not this packet).
    NoMatch,
    /// Could be this protocol, but the bytes so far end too early to tell.
    NeedMore,
}

impl<T> Probe<T> {
    pub fn is_match(&self) -> bool {
        matches!(self, Probe::Match(_))
    }
}

/// What a dissector learned from one packet (or the reassembled start of a stream).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit<'a> {
    /// The protocol that carries the flow (`TLS`, `DNS`, `HTTP`…).
    pub master: AppId,
    /// The application when the dissector itself knows it (else equal to `master`); the engine
    /// replaces it by a host-name match when there is one.
    pub app: AppId,
    /// SNI, HTTP Host or DNS query name as sent; empty when none.
    pub host: &'a [u8],
    /// `host` is a DNS name in wire form (length-prefixed labels), not text.
    pub dns_labels: bool,
}

impl<'a> Hit<'a> {
    /// A protocol with no application and no host.
    pub const fn proto(id: AppId) -> Hit<'static> {
        Hit {
            master: id,
            app: id,
            host: &[],
            dns_labels: false,
        }
    }

    pub const fn with_host(id: AppId, host: &'a [u8]) -> Hit<'a> {
        Hit {
            master: id,
            app: id,
            host,
            dns_labels: false,
        }
    }
}

/// What a dissector may know about the packet besides its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// IP protocol number (6 TCP, 17 UDP).
    pub l4: u8,
    pub from_client: bool,
    pub client_port: u16,
    pub server_port: u16,
    /// True when the payload starts at the beginning of its direction's byte stream (TCP), or is a
    /// whole datagram (UDP).
    pub stream_start: bool,
}

impl Ctx {
    /// A context for tests and fuzzing: client → server, start of stream.
    pub const fn client(l4: u8, client_port: u16, server_port: u16) -> Ctx {
        Ctx {
            l4,
            from_client: true,
            client_port,
            server_port,
            stream_start: true,
        }
    }

    pub fn is_tcp(&self) -> bool {
        self.l4 == nfguard_proto::types::IPPROTO_TCP
    }

    pub fn is_udp(&self) -> bool {
        self.l4 == nfguard_proto::types::IPPROTO_UDP
    }

    /// Either port equals `p`.
    pub fn has_port(&self, p: u16) -> bool {
        self.client_port == p || self.server_port == p
    }
}

/// `Match` of protocol `id` (no host) when `found`, else `NoMatch`: the answer of most probes.
pub(crate) fn proto_if(found: bool, id: AppId) -> Probe<Hit<'static>> {
    if found {
        Probe::Match(Hit::proto(id))
    } else {
        Probe::NoMatch
    }
}

/// `Match` of protocol `id` with no host.
pub(crate) fn hit(id: AppId) -> Probe<Hit<'static>> {
    Probe::Match(Hit::proto(id))
}

/// `Match(id)` when `data` starts with any of `prefixes`.
pub(crate) fn prefixed(data: &[u8], prefixes: &[&[u8]], id: AppId) -> Probe<Hit<'static>> {
    proto_if(prefixes.iter().any(|p| data.starts_with(p)), id)
}

impl<T> Probe<T> {
    /// A match that needs the port too (`needs_port`) is dropped when neither port is `port`.
    pub(crate) fn and_port(self, ctx: &Ctx, port: u16, needs_port: bool) -> Probe<T> {
        match self {
            Probe::Match(_) if needs_port && !ctx.has_port(port) => Probe::NoMatch,
            p => p,
        }
    }

    /// This answer when it is a match, else `f`'s.
    pub(crate) fn or(self, f: impl FnOnce() -> Probe<T>) -> Probe<T> {
        match self {
            Probe::Match(_) => self,
            _ => f(),
        }
    }
}

/// Whether `data` starts with `pat`; `NeedMore` when `data` is a proper prefix of `pat`.
pub(crate) fn starts(data: &[u8], pat: &[u8]) -> Probe<()> {
    if data.len() >= pat.len() {
        if data.get(..pat.len()) == Some(pat) {
            Probe::Match(())
        } else {
            Probe::NoMatch
        }
    } else if pat.get(..data.len()) == Some(data) {
        Probe::NeedMore
    } else {
        Probe::NoMatch
    }
}
