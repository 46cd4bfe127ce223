//! A small IPFIX reader for tests of the encoder: learns templates from the messages it reads and
//! turns data records of nfguard's templates back into [`FlowRecord`]s. Bounds-checked throughout:
//! it also reads arbitrary bytes (the round-trip property feeds it mutated messages) without panicking.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::ipfix::{
    APP_NAMES_TEMPLATE, ENGINE_PANA_L7_PEN, Field, FlowRecord, MESSAGE_HEADER, NTOP_PEN,
    OPTIONS_TEMPLATE_SET, SET_HEADER, TEMPLATE_SET, VARIABLE, VERSION,
};

/// What one message held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Message {
    pub sequence: u32,
    pub domain: u32,
    pub export_s: u32,
    pub records: Vec<FlowRecord>,
    /// applicationId selector → applicationName from the options records.
    pub app_names: Vec<(u32, String)>,
    /// Data records (flow and options) in the message, for sequence checks.
    pub data_records: u32,
}

/// Templates learnt so far (one session, one domain).
#[derive(Debug, Default)]
pub struct Decoder {
    templates: HashMap<u16, Vec<Field>>,
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (out, rest) = self.buf.split_at_checked(n)?;
        self.buf = rest;
        Some(out)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes(self.take(2)?.try_into().ok()?))
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    /// An unsigned integer of 1–8 octets (reduced-size encoding, RFC 7011 §6.2).
    fn uint(&mut self, len: u16) -> Option<u64> {
        let b = self.take(usize::from(len))?;
        if b.len() > 8 {
            return None;
        }
        Some(b.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x)))
    }
    fn field(&mut self, f: &Field) -> Option<&'a [u8]> {
        if f.len != VARIABLE {
            return self.take(usize::from(f.len));
        }
        let n = match self.u8()? {
            255 => usize::from(self.u16()?),
            n => usize::from(n),
        };
        self.take(n)
    }
}

impl Decoder {
    /// Reads one message.
    ///
    /// # Errors
    /// A description of the first thing that does not parse.
    pub fn message(&mut self, bytes: &[u8]) -> Result<Message, String> {
        let mut r = Reader { buf: bytes };
        let hdr = (|| Some((r.u16()?, r.u16()?, r.u32()?, r.u32()?, r.u32()?)))()
            .ok_or("short message header")?;
        let (version, len, export_s, sequence, domain) = hdr;
        if version != VERSION {
            return Err(format!("version {version}"));
        }
        if usize::from(len) != bytes.len() || usize::from(len) < MESSAGE_HEADER {
            return Err(format!("length {len} of a {}-byte message", bytes.len()));
        }
        let mut m = Message {
            sequence,
            domain,
            export_s,
            ..Default::default()
        };
        while !r.buf.is_empty() {
            let id = r.u16().ok_or("short set header")?;
            let slen = usize::from(r.u16().ok_or("short set header")?);
            let body = slen
                .checked_sub(SET_HEADER)
                .and_then(|n| r.take(n))
                .ok_or(format!("set {id} of length {slen} overruns the message"))?;
            let mut s = Reader { buf: body };
            match id {
                TEMPLATE_SET | OPTIONS_TEMPLATE_SET => {
                    while s.buf.len() >= 4 {
                        self.template(&mut s, id == OPTIONS_TEMPLATE_SET)
                            .ok_or(format!("bad template in set {id}"))?;
                    }
                }
                0..=255 => return Err(format!("reserved set id {id}")),
                _ => {
                    let fields = self
                        .templates
                        .get(&id)
                        .ok_or(format!("data set {id} before its template"))?
                        .clone();
                    while !s.buf.is_empty() {
                        let before = s.buf.len();
                        let vals: Vec<&[u8]> = fields
                            .iter()
                            .map(|f| s.field(f))
                            .collect::<Option<_>>()
                            .ok_or(format!("record of set {id} overruns it"))?;
                        if s.buf.len() == before {
                            return Err(format!("empty record in set {id}"));
                        }
                        m.data_records += 1;
                        if id == APP_NAMES_TEMPLATE {
                            let (sel, name) = app_name(&vals).ok_or("bad options record")?;
                            m.app_names.push((sel, name));
                        } else {
                            m.records
                                .push(flow(&fields, &vals).ok_or("bad flow record")?);
                        }
                    }
                }
            }
        }
        Ok(m)
    }

    fn template(&mut self, s: &mut Reader<'_>, options: bool) -> Option<()> {
        let id = s.u16()?;
        let count = s.u16()?;
        if options {
            s.u16()?; // scope count
        }
        let mut fields = Vec::new();
        for _ in 0..count {
            let raw = s.u16()?;
            let len = s.u16()?;
            let pen = if raw & 0x8000 != 0 { s.u32()? } else { 0 };
            fields.push(Field {
                id: raw & 0x7fff,
                len,
                pen,
            });
        }
        if id < 256 {
            return None;
        }
        self.templates.insert(id, fields);
        Some(())
    }
}

fn selector(v: &[u8]) -> Option<u32> {
    let mut r = Reader { buf: v };
    if r.u8()? != ENGINE_PANA_L7_PEN || r.u32()? != NTOP_PEN {
        return None;
    }
    let sel = r.u32()?;
    r.buf.is_empty().then_some(sel)
}

fn app_name(vals: &[&[u8]]) -> Option<(u32, String)> {
    let sel = selector(vals.first()?)?;
    let name = String::from_utf8(vals.get(1)?.to_vec()).ok()?;
    Some((sel, name))
}

fn flow(fields: &[Field], vals: &[&[u8]]) -> Option<FlowRecord> {
    let mut f = FlowRecord {
        src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        src_port: 0,
        dst_port: 0,
        protocol: 0,
        octets: 0,
        packets: 0,
        start_ms: 0,
        end_ms: 0,
        end_reason: 0,
        firewall_event: 0,
        direction: 0,
        app_id: 0,
        label: String::new(),
        http_host: String::new(),
        server_name: String::new(),
        rule: String::new(),
    };
    let mut l7 = None;
    for (field, v) in fields.iter().zip(vals) {
        let n = || Reader { buf: v }.uint(field.len);
        let s = || String::from_utf8(v.to_vec()).ok();
        let v4 = || <[u8; 4]>::try_from(*v).ok().map(|b| IpAddr::V4(b.into()));
        let v6 = || {
            <[u8; 16]>::try_from(*v)
                .ok()
                .map(|b| IpAddr::V6(Ipv6Addr::from(b)))
        };
        match (field.pen, field.id) {
            (0, 8) => f.src = v4()?,
            (0, 12) => f.dst = v4()?,
            (0, 27) => f.src = v6()?,
            (0, 28) => f.dst = v6()?,
            (0, 7) => f.src_port = u16::try_from(n()?).ok()?,
            (0, 11) => f.dst_port = u16::try_from(n()?).ok()?,
            (0, 4) => f.protocol = u8::try_from(n()?).ok()?,
            (0, 1) => f.octets = n()?,
            (0, 2) => f.packets = n()?,
            (0, 152) => f.start_ms = n()?,
            (0, 153) => f.end_ms = n()?,
            (0, 136) => f.end_reason = u8::try_from(n()?).ok()?,
            (0, 233) => f.firewall_event = u8::try_from(n()?).ok()?,
            (0, 239) => f.direction = u8::try_from(n()?).ok()?,
            (0, 95) => f.app_id = u16::try_from(selector(v)?).ok()?,
            (0, 335) => f.rule = s()?,
            (NTOP_PEN, 118) => l7 = Some(u16::try_from(n()?).ok()?),
            (NTOP_PEN, 119) => f.label = s()?,
            (NTOP_PEN, 187) => f.http_host = s()?,
            (NTOP_PEN, 188) => f.server_name = s()?,
            _ => {}
        }
    }
    // L7_PROTO repeats the applicationId's selector: a mismatch is a broken record.
    (l7 == Some(f.app_id)).then_some(f)
}
