//! The IPFIX wire format (RFC 7011) of nfguard's flow records: templates, the application-name options,
//! and data records packed into messages no larger than the path allows. Pure: records in, message
//! bytes out through a callback; no sockets, no clock.
//!
//! Element numbers and encodings were checked against the IANA registry as Wireshark's IPFIX dissector
//! (`epan/dissectors/packet-netflow.c`, tshark 4.0 field table) and nProbe name them:
//!
//! | IE | name | length | carries |
//! | --- | --- | --- | --- |
//! | 8 / 27 | sourceIPv4Address / sourceIPv6Address | 4 / 16 | the sender of this direction |
//! | 12 / 28 | destinationIPv4Address / destinationIPv6Address | 4 / 16 | its receiver |
//! | 7, 11 | source/destinationTransportPort | 2 | 0 without ports |
//! | 4 | protocolIdentifier | 1 | 6, 17, … |
//! | 1, 2 | octetDeltaCount, packetDeltaCount | 8 | since this direction's previous record |
//! | 152, 153 | flowStart/EndMilliseconds | 8 | first and last packet of the flow |
//! | 136 | flowEndReason | 1 | 1 idle, 2 active (interim), 3 end detected, 4 forced, 5 lack of resources |
//! | 233 | firewallEvent | 1 | 2 deleted (final), 3 denied (drop/reject), 5 update (interim) |
//! | 239 | biflowDirection | 1 | 1 the source is the client, 2 the source is the server |
//! | 95 | applicationId | 9 | RFC 6759: engine 20 (PANA-L7-PEN), PEN 35632 (ntop), nDPI id (u32) |
//! | 35632/118 | L7_PROTO | 2 | nDPI id, as nProbe sends it |
//! | 35632/119 | L7_PROTO_NAME | var | nDPI label `TLS.YouTube` |
//! | 35632/187 | HTTP_HOST | var | Host of an HTTP flow |
//! | 35632/188 | SSL_SERVER_NAME | var | SNI of TLS/QUIC, or the host name of other flows (DNS) |
//! | 335 | selectorName | var | the policy rule that decided the flow (empty: the default) |
//!
//! IANA has no element for a firewall rule's name, and an enterprise element would need a PEN nfguard
//! does not have; `selectorName` is a plain IANA string ("the name of the function that selected the
//! packets") that every IPFIX decoder shows without a vendor table, so the rule goes there.
//! Options template [`APP_NAMES_TEMPLATE`] maps `applicationId` (scope) to `applicationName` (96) for
//! every protocol in the table, so collectors can name ids (RFC 6759 §5).

use std::net::IpAddr;

/// nfguard's data template for IPv4 flows.
pub const V4_TEMPLATE: u16 = 256;
/// The same for IPv6.
pub const V6_TEMPLATE: u16 = 257;
/// Options template: applicationId → applicationName.
pub const APP_NAMES_TEMPLATE: u16 = 258;
/// ntop's Private Enterprise Number (nProbe's elements; also the PANA-L7-PEN engine's vendor).
pub const NTOP_PEN: u32 = 35632;
/// RFC 6759 classification engine: PANA-L7-PEN (the selector starts with the vendor's PEN).
pub const ENGINE_PANA_L7_PEN: u8 = 20;
/// IPFIX version number in the message header.
pub const VERSION: u16 = 10;
/// Message header: version, length, export time, sequence number, observation domain.
pub const MESSAGE_HEADER: usize = 16;
/// Set header: set id, length.
pub const SET_HEADER: usize = 4;
/// Set ids of template and options template sets.
pub const TEMPLATE_SET: u16 = 2;
pub const OPTIONS_TEMPLATE_SET: u16 = 3;
/// Template field length meaning "variable length" (RFC 7011 §7).
pub const VARIABLE: u16 = 0xffff;
/// Length of the applicationId value: engine, PEN, selector.
pub const APP_ID_LEN: u16 = 9;

/// Longest strings sent (bytes, cut at a character boundary). With them the longest IPv6 record is
/// [`MAX_RECORD`] bytes, so it fits the smallest message allowed with its headers.
pub const MAX_LABEL: usize = 64;
pub const MAX_HOST: usize = 253;
pub const MAX_RULE: usize = 64;
/// Longest data record: IPv6 fixed part (83 bytes) and every string at its longest.
pub const MAX_RECORD: usize = 83 + (1 + MAX_LABEL) + 2 * (1 + MAX_HOST) + (1 + MAX_RULE);

/// flowEndReason values (IANA).
pub mod end_reason {
    pub const IDLE_TIMEOUT: u8 = 1;
    pub const ACTIVE_TIMEOUT: u8 = 2;
    pub const END_OF_FLOW: u8 = 3;
    pub const FORCED_END: u8 = 4;
    pub const LACK_OF_RESOURCES: u8 = 5;
}

/// firewallEvent values (IANA, from Cisco NSEL).
pub mod firewall_event {
    pub const CREATED: u8 = 1;
    pub const DELETED: u8 = 2;
    pub const DENIED: u8 = 3;
    pub const UPDATE: u8 = 5;
}

/// biflowDirection values (RFC 5103 / IANA).
pub mod direction {
    pub const INITIATOR: u8 = 1;
    pub const REVERSE_INITIATOR: u8 = 2;
}

/// One unidirectional IPFIX data record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    pub src: IpAddr,
    /// Same family as `src` (the encoder sends a v4-mapped pair as v6 otherwise).
    pub dst: IpAddr,
    pub src_port: u16,
    pub dst_port: u16,
    pub protocol: u8,
    pub octets: u64,
    pub packets: u64,
    pub start_ms: u64,
    pub end_ms: u64,
    pub end_reason: u8,
    pub firewall_event: u8,
    pub direction: u8,
    /// nDPI id (application, or master when there is none).
    pub app_id: u16,
    /// nDPI label, `TLS.YouTube`.
    pub label: String,
    pub http_host: String,
    pub server_name: String,
    pub rule: String,
}

/// One element of a template: IE number, length, enterprise number (0: IANA).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    pub id: u16,
    pub len: u16,
    pub pen: u32,
}

const fn ie(id: u16, len: u16) -> Field {
    Field { id, len, pen: 0 }
}

const fn ntop(id: u16, len: u16) -> Field {
    Field {
        id,
        len,
        pen: NTOP_PEN,
    }
}

/// The fields after the addresses, in record order (shared by both data templates).
const COMMON: [Field; 16] = [
    ie(7, 2),
    ie(11, 2),
    ie(4, 1),
    ie(1, 8),
    ie(2, 8),
    ie(152, 8),
    ie(153, 8),
    ie(136, 1),
    ie(233, 1),
    ie(239, 1),
    ie(95, APP_ID_LEN),
    ntop(118, 2),
    ntop(119, VARIABLE),
    ntop(187, VARIABLE),
    ntop(188, VARIABLE),
    ie(335, VARIABLE),
];

/// The fields of a data template: addresses of the family, then [`COMMON`].
pub fn data_fields(v6: bool) -> impl Iterator<Item = Field> {
    let addrs = if v6 {
        [ie(27, 16), ie(28, 16)]
    } else {
        [ie(8, 4), ie(12, 4)]
    };
    addrs.into_iter().chain(COMMON)
}

/// Options template fields: scope applicationId, then applicationName.
pub const APP_NAME_FIELDS: [Field; 2] = [ie(95, APP_ID_LEN), ie(96, VARIABLE)];

/// Builds IPFIX messages of one Transport Session and Observation Domain: it owns the sequence
/// number (data records sent so far, RFC 7011 §3.1) and one reusable message buffer.
#[derive(Debug)]
pub struct Encoder {
    domain: u32,
    max: usize,
    seq: u32,
    export_s: u32,
    msg: Vec<u8>,
    /// Set id and start offset of the set being filled.
    set: Option<(u16, usize)>,
    /// Data records in the message being built.
    msg_records: u32,
    scratch: Vec<u8>,
}

impl Encoder {
    /// `max_message`: largest message in bytes (clamped to at least one record's worth).
    pub fn new(domain: u32, max_message: u16) -> Self {
        let max =
            usize::from(max_message).max(usize::from(nfguard_proto::config::MIN_EXPORT_MESSAGE));
        Encoder {
            domain,
            max,
            seq: 0,
            export_s: 0,
            msg: Vec::with_capacity(max),
            set: None,
            msg_records: 0,
            scratch: Vec::with_capacity(512),
        }
    }

    /// Export time of the messages that follow (seconds since the epoch).
    pub fn set_time(&mut self, export_s: u32) {
        self.export_s = export_s;
    }

    /// Data records sent so far (the next message's sequence number).
    pub fn sequence(&self) -> u32 {
        self.seq
    }

    /// Both data templates, the options template and one options record per `(id, name)`.
    pub fn templates<'a>(
        &mut self,
        app_names: impl IntoIterator<Item = (u16, &'a str)>,
        emit: &mut dyn FnMut(&[u8], u32),
    ) {
        let mut t = std::mem::take(&mut self.scratch);
        for (id, v6) in [(V4_TEMPLATE, false), (V6_TEMPLATE, true)] {
            t.clear();
            let fields: Vec<Field> = data_fields(v6).collect();
            put_u16(&mut t, id);
            put_u16(&mut t, fields.len() as u16);
            put_fields(&mut t, &fields);
            self.push(TEMPLATE_SET, &t, false, emit);
        }
        t.clear();
        put_u16(&mut t, APP_NAMES_TEMPLATE);
        put_u16(&mut t, APP_NAME_FIELDS.len() as u16);
        put_u16(&mut t, 1); // scope field count
        put_fields(&mut t, &APP_NAME_FIELDS);
        self.push(OPTIONS_TEMPLATE_SET, &t, false, emit);
        for (id, name) in app_names {
            t.clear();
            put_app_id(&mut t, id);
            put_str(&mut t, name, MAX_LABEL);
            self.push(APP_NAMES_TEMPLATE, &t, true, emit);
        }
        self.scratch = t;
        self.flush(emit);
    }

    /// Adds one data record; a full message is emitted first.
    pub fn record(&mut self, r: &FlowRecord, emit: &mut dyn FnMut(&[u8], u32)) {
        let mut t = std::mem::take(&mut self.scratch);
        t.clear();
        let set = encode_record(r, &mut t);
        self.push(set, &t, true, emit);
        self.scratch = t;
    }

    /// Emits the message being built, if any, with the number of data records in it.
    pub fn flush(&mut self, emit: &mut dyn FnMut(&[u8], u32)) {
        if self.msg.is_empty() {
            return;
        }
        self.close_set();
        let len = self.msg.len() as u16;
        if let Some(l) = self.msg.get_mut(2..4) {
            l.copy_from_slice(&len.to_be_bytes());
        }
        if let Some(t) = self.msg.get_mut(4..8) {
            t.copy_from_slice(&self.export_s.to_be_bytes());
        }
        emit(&self.msg, self.msg_records);
        self.msg.clear();
        self.msg_records = 0;
    }

    fn push(&mut self, set_id: u16, rec: &[u8], data: bool, emit: &mut dyn FnMut(&[u8], u32)) {
        let same_set = matches!(self.set, Some((id, _)) if id == set_id);
        let need = rec.len() + if same_set { 0 } else { SET_HEADER };
        if !self.msg.is_empty() && self.msg.len() + need > self.max {
            self.flush(emit);
        }
        if self.msg.is_empty() {
            put_u16(&mut self.msg, VERSION);
            put_u16(&mut self.msg, 0); // length, at flush
            put_u32(&mut self.msg, 0); // export time, at flush
            put_u32(&mut self.msg, self.seq);
            put_u32(&mut self.msg, self.domain);
        }
        if !matches!(self.set, Some((id, _)) if id == set_id) {
            self.close_set();
            self.set = Some((set_id, self.msg.len()));
            put_u16(&mut self.msg, set_id);
            put_u16(&mut self.msg, 0);
        }
        self.msg.extend_from_slice(rec);
        if data {
            self.seq = self.seq.wrapping_add(1);
            self.msg_records += 1;
        }
    }

    fn close_set(&mut self) {
        if let Some((_, start)) = self.set.take() {
            let len = (self.msg.len() - start) as u16;
            if let Some(l) = self.msg.get_mut(start + 2..start + 4) {
                l.copy_from_slice(&len.to_be_bytes());
            }
        }
    }
}

/// Appends `r` in template order; returns the template (set) id it belongs to.
pub fn encode_record(r: &FlowRecord, out: &mut Vec<u8>) -> u16 {
    let set = match (r.src, r.dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            out.extend_from_slice(&s.octets());
            out.extend_from_slice(&d.octets());
            V4_TEMPLATE
        }
        (s, d) => {
            out.extend_from_slice(&v6_octets(s));
            out.extend_from_slice(&v6_octets(d));
            V6_TEMPLATE
        }
    };
    put_u16(out, r.src_port);
    put_u16(out, r.dst_port);
    out.push(r.protocol);
    put_u64(out, r.octets);
    put_u64(out, r.packets);
    put_u64(out, r.start_ms);
    put_u64(out, r.end_ms);
    out.push(r.end_reason);
    out.push(r.firewall_event);
    out.push(r.direction);
    put_app_id(out, r.app_id);
    put_u16(out, r.app_id);
    put_str(out, &r.label, MAX_LABEL);
    put_str(out, &r.http_host, MAX_HOST);
    put_str(out, &r.server_name, MAX_HOST);
    put_str(out, &r.rule, MAX_RULE);
    set
}

fn v6_octets(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

fn put_fields(out: &mut Vec<u8>, fields: &[Field]) {
    for f in fields {
        if f.pen == 0 {
            put_u16(out, f.id);
            put_u16(out, f.len);
        } else {
            put_u16(out, f.id | 0x8000);
            put_u16(out, f.len);
            put_u32(out, f.pen);
        }
    }
}

fn put_app_id(out: &mut Vec<u8>, id: u16) {
    out.push(ENGINE_PANA_L7_PEN);
    put_u32(out, NTOP_PEN);
    put_u32(out, u32::from(id));
}

/// A variable-length string (RFC 7011 §7): one length octet below 255, else 255 and two octets.
fn put_str(out: &mut Vec<u8>, s: &str, max: usize) {
    let s = truncate(s, max);
    if s.len() < 255 {
        out.push(s.len() as u8);
    } else {
        out.push(255);
        put_u16(out, s.len() as u16);
    }
    out.extend_from_slice(s.as_bytes());
}

/// `s` cut to at most `max` bytes at a character boundary.
pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}
