//! What the engine answers: a [`Classification`] per packet (ids, category, host, confidence,
//! state, risks), the [`PacketView`] it is asked about, and the engine's settings.

use std::net::SocketAddr;

use nfguard_proto::{AppId, protocols};

use crate::dissect::tls::ja4::Fingerprint;
use crate::risks::Risks;

/// nDPI's default number of payload packets inspected per flow.
pub const DEFAULT_MAX_DPI_PACKETS: u8 = 32;

/// How the application was found (the flow JSON's `confidence`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Confidence {
    #[default]
    Unknown,
    /// From this flow's payload.
    Dpi,
    /// From an earlier DNS answer for the server address.
    DpiCache,
    /// From the server port alone.
    Port,
    /// From an address list.
    Ip,
}

impl Confidence {
    /// The spelling of DESIGN §6: `dpi`, `dpi_cache`, `port`, `ip`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Confidence::Unknown => "unknown",
            Confidence::Dpi => "dpi",
            Confidence::DpiCache => "dpi_cache",
            Confidence::Port => "port",
            Confidence::Ip => "ip",
        }
    }
}

/// Where a flow's classification stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum State {
    /// Keep sending payload packets.
    #[default]
    NeedMore,
    /// Classified; no more packets needed.
    Done,
    /// `max_dpi_packets` reached (or the flow ended) without a payload match: the answer is a
    /// tentative result, a cache or port guess, or Unknown.
    GaveUp,
}

/// The engine's answer for one packet.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Classification {
    /// The carrying protocol (`TLS`, `DNS`, `HTTP`…); Unknown (0) when none.
    pub master: AppId,
    /// The application (`YouTube`); equals `master` when only the protocol is known.
    pub app: AppId,
    /// nDPI's category name; `Unspecified` when unknown.
    pub category: &'static str,
    /// SNI, HTTP Host, DNS query name or SSH banner; empty when none.
    pub host: String,
    pub confidence: Confidence,
    pub state: State,
    /// Flow risks seen in the deciding packet (`risks.rs`); empty on later calls.
    pub risks: Risks,
    /// The JA4 and ECH flag of the deciding ClientHello (TLS or QUIC); `None` for other flows.
    pub hello: Option<Fingerprint>,
}

impl Classification {
    pub(crate) fn need_more() -> Self {
        Classification {
            category: "Unspecified",
            ..Classification::default()
        }
    }

    /// `master.app` as nDPI prints it (`TLS.YouTube`, `DNS`, `Unknown`).
    pub fn label(&self) -> String {
        protocols::label(self.master, self.app)
    }
}

/// One packet as the engine sees it.
#[derive(Debug, Clone, Copy)]
pub struct PacketView<'a> {
    /// IP protocol number.
    pub l4: u8,
    pub client: SocketAddr,
    pub server: SocketAddr,
    pub from_client: bool,
    /// Transport payload (for ICMP: the ICMP message).
    pub payload: &'a [u8],
    /// TCP sequence number of the first payload byte (or of the SYN).
    pub tcp_seq: u32,
    /// TCP SYN flag.
    pub tcp_syn: bool,
}

/// Engine settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Payload packets inspected per flow before GAVE_UP (config `classifier.max_dpi_packets`).
    pub max_dpi_packets: u8,
    /// DNS-answer cache entries.
    pub dns_cache_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_dpi_packets: DEFAULT_MAX_DPI_PACKETS,
            dns_cache_capacity: crate::dns_cache::DEFAULT_CAPACITY,
        }
    }
}

/// The category: the host entry's when given, else the app's, else the master's.
pub(crate) fn category_of(app: AppId, master: AppId) -> &'static str {
    let id = if app == AppId::UNKNOWN { master } else { app };
    protocols::by_id(id).map_or("Unspecified", |p| p.category)
}

pub(crate) fn finished(
    master: AppId,
    app: AppId,
    category: &'static str,
    confidence: Confidence,
    state: State,
) -> Classification {
    Classification {
        master,
        app,
        category: if category.is_empty() {
            category_of(app, master)
        } else {
            category
        },
        host: String::new(),
        confidence,
        state,
        risks: Risks::NONE,
        hello: None,
    }
}

impl Classification {
    pub(crate) fn with_host(mut self, host: String) -> Self {
        self.host = host;
        self
    }

    /// The wire form, as the classifier process sends it (and replay hands it to the flow path).
    pub fn to_pb(&self) -> nfguard_proto::pb::Classification {
        use nfguard_proto::pb;
        let confidence = match self.confidence {
            Confidence::Unknown => pb::Confidence::Unknown,
            Confidence::Dpi => pb::Confidence::Dpi,
            Confidence::DpiCache => pb::Confidence::DpiCache,
            Confidence::Port => pb::Confidence::Port,
            Confidence::Ip => pb::Confidence::Ip,
        };
        pb::Classification {
            master_id: u32::from(self.master.0),
            app_id: u32::from(self.app.0),
            host: self.host.clone(),
            category: self.category.to_string(),
            confidence: confidence as i32,
            risks: self.risks.names().map(str::to_string).collect(),
            ja4: self.hello.map(|h| h.ja4().to_string()).unwrap_or_default(),
            ech: self.hello.is_some_and(|h| h.ech),
        }
    }
}
