//! Encoder round trip (property), message framing and sequence numbers, and the delta tracker.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use nfguard_proto::pb;
use proptest::prelude::*;

use super::decode::{Decoder, Message};
use super::ipfix::{
    Encoder, FlowRecord, MAX_HOST, MAX_LABEL, MAX_RECORD, MAX_RULE, direction, encode_record,
    end_reason, firewall_event, truncate,
};
use super::records::Tracker;
use crate::ingest::PendingRecord;
use crate::schema::{FlowId, RecordKey};

fn encode_all(recs: &[FlowRecord], max: u16, with_templates: bool) -> Vec<Vec<u8>> {
    let mut enc = Encoder::new(7, max);
    enc.set_time(1_700_000_000);
    let mut msgs = Vec::new();
    let mut emit = |m: &[u8], _: u32| msgs.push(m.to_vec());
    if with_templates {
        enc.templates([(124, "YouTube"), (91, "TLS")], &mut emit);
    }
    for r in recs {
        enc.record(r, &mut emit);
    }
    enc.flush(&mut emit);
    msgs
}

fn decode_all(msgs: &[Vec<u8>]) -> Vec<Message> {
    let mut d = Decoder::default();
    msgs.iter().map(|m| d.message(m).unwrap()).collect()
}

fn record(i: u64) -> FlowRecord {
    FlowRecord {
        src: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        dst: IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2)),
        src_port: 40_000,
        dst_port: 443,
        protocol: 6,
        octets: 1000 + i,
        packets: 10,
        start_ms: 1_700_000_000_000,
        end_ms: 1_700_000_060_000,
        end_reason: end_reason::ACTIVE_TIMEOUT,
        firewall_event: firewall_event::UPDATE,
        direction: direction::INITIATOR,
        app_id: 124,
        label: "TLS.YouTube".into(),
        http_host: String::new(),
        server_name: "www.youtube.com".into(),
        rule: "video".into(),
    }
}

fn arb_ip(v6: bool) -> BoxedStrategy<IpAddr> {
    if v6 {
        any::<u128>()
            .prop_map(|x| IpAddr::V6(Ipv6Addr::from(x)))
            .boxed()
    } else {
        any::<u32>()
            .prop_map(|x| IpAddr::V4(Ipv4Addr::from(x)))
            .boxed()
    }
}

fn arb_record() -> impl Strategy<Value = FlowRecord> {
    any::<bool>()
        .prop_flat_map(|v6| (arb_ip(v6), arb_ip(v6)))
        .prop_flat_map(|(src, dst)| {
            (
                (
                    any::<u16>(),
                    any::<u16>(),
                    any::<u8>(),
                    any::<u64>(),
                    any::<u64>(),
                ),
                (
                    any::<u64>(),
                    any::<u64>(),
                    any::<u8>(),
                    any::<u8>(),
                    any::<u8>(),
                ),
                any::<u16>(),
                (
                    "\\PC{0,80}",
                    "[a-z0-9.-]{0,300}",
                    "\\PC{0,300}",
                    "\\PC{0,80}",
                ),
            )
                .prop_map(move |(a, b, app_id, s)| FlowRecord {
                    src,
                    dst,
                    src_port: a.0,
                    dst_port: a.1,
                    protocol: a.2,
                    octets: a.3,
                    packets: a.4,
                    start_ms: b.0,
                    end_ms: b.1,
                    end_reason: b.2,
                    firewall_event: b.3,
                    direction: b.4,
                    app_id,
                    label: s.0,
                    http_host: s.1,
                    server_name: s.2,
                    rule: s.3,
                })
        })
}

/// What the decoder must give back: the strings as the encoder cuts them.
fn as_sent(r: &FlowRecord) -> FlowRecord {
    let mut r = r.clone();
    r.label = truncate(&r.label, MAX_LABEL).into();
    r.http_host = truncate(&r.http_host, MAX_HOST).into();
    r.server_name = truncate(&r.server_name, MAX_HOST).into();
    r.rule = truncate(&r.rule, MAX_RULE).into();
    r
}

proptest! {
    #[test]
    fn decode_of_encode_is_the_records(recs in proptest::collection::vec(arb_record(), 0..40), max in 768u16..9000) {
        let msgs = encode_all(&recs, max, true);
        let mut got = Vec::new();
        let mut seq = 0u32;
        for m in decode_all(&msgs) {
            // Sequence number: data records (flow and options) sent before this message.
            prop_assert_eq!(m.sequence, seq);
            prop_assert_eq!(m.domain, 7);
            seq += m.data_records;
            got.extend(m.records);
        }
        for m in &msgs {
            prop_assert!(m.len() <= usize::from(max));
        }
        let want: Vec<FlowRecord> = recs.iter().map(as_sent).collect();
        prop_assert_eq!(got, want);
    }

    /// Mutated messages never panic the reader (it reads what the encoder wrote, and garbage).
    #[test]
    fn decoder_survives_mutations(recs in proptest::collection::vec(arb_record(), 1..8), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut msgs = encode_all(&recs, 1400, true);
        let mut d = Decoder::default();
        let _ = d.message(&msgs[0]);
        for m in msgs.iter_mut().skip(1) {
            for (at, x) in &flips {
                let i = at % m.len();
                m[i] ^= x;
            }
            let _ = d.message(m);
        }
    }
}

#[test]
fn longest_record_fits_the_smallest_message() {
    let mut r = record(0);
    r.src = IpAddr::V6(Ipv6Addr::LOCALHOST);
    r.dst = IpAddr::V6(Ipv6Addr::LOCALHOST);
    r.label = "x".repeat(500);
    r.http_host = "h".repeat(500);
    r.server_name = "s".repeat(500);
    r.rule = "r".repeat(500);
    let mut out = Vec::new();
    encode_record(&r, &mut out);
    assert_eq!(out.len(), MAX_RECORD);
    let min = nfguard_proto::config::MIN_EXPORT_MESSAGE;
    assert!(16 + 4 + MAX_RECORD <= usize::from(min));
    let msgs = encode_all(&[r.clone(), r], min, false);
    assert_eq!(msgs.len(), 2);
    assert!(msgs.iter().all(|m| m.len() <= usize::from(min)));
}

#[test]
fn strings_are_cut_at_a_character_boundary() {
    assert_eq!(truncate("ééé", 3), "é");
    assert_eq!(truncate("abc", 5), "abc");
    let mut r = record(0);
    r.rule = "é".repeat(100);
    let msgs = encode_all(&[r], 1400, true);
    let got = &decode_all(&msgs)[1].records[0];
    assert_eq!(got.rule.len(), 64);
}

#[test]
fn templates_and_app_names_come_first_and_records_fill_messages() {
    let recs: Vec<FlowRecord> = (0..100).map(record).collect();
    let msgs = encode_all(&recs, 1400, true);
    let decoded = decode_all(&msgs);
    assert_eq!(
        decoded[0].app_names,
        vec![(124, "YouTube".to_string()), (91, "TLS".to_string())]
    );
    assert_eq!(decoded.iter().map(|m| m.records.len()).sum::<usize>(), 100);
    // 1400-byte messages hold 14 of these 94-byte records (16 header + 4 set header + 14 × 94).
    assert_eq!(decoded[1].records.len(), 14);
    assert_eq!(msgs[0][4..8], 1_700_000_000u32.to_be_bytes());
    // Data without its template is refused by a fresh reader, as by a collector.
    assert!(Decoder::default().message(&msgs[1]).is_err());
}

fn flow(kind: pb::FlowEventKind, c2s: (u64, u64), s2c: (u64, u64)) -> pb::FlowEvent {
    pb::FlowEvent {
        kind: kind as i32,
        tuple: Some(pb::Tuple {
            client_ip: vec![10, 0, 0, 2],
            server_ip: vec![10, 0, 1, 2],
            client_port: 40_000,
            server_port: 80,
            l4: 6,
        }),
        classification: Some(pb::Classification {
            master_id: 7,
            app_id: 0,
            host: "files.example.test".into(),
            ..Default::default()
        }),
        label: "HTTP".into(),
        verdict: "accept".into(),
        rule: "files".into(),
        packets_c2s: c2s.0,
        bytes_c2s: c2s.1,
        packets_s2c: s2c.0,
        bytes_s2c: s2c.1,
        first_seen_unix_ms: 1_000,
        last_seen_unix_ms: 2_000,
        ..Default::default()
    }
}

fn pending(f: pb::FlowEvent, was_open: bool) -> PendingRecord {
    let id = FlowId {
        queue: 0,
        boot_id: 1,
        flow_id: 2,
    };
    PendingRecord {
        key: RecordKey::new(1_000, &id),
        id,
        was_open,
        closed: f.kind == pb::FlowEventKind::FlowEventEnd as i32,
        flow: f,
    }
}

#[test]
fn deltas_per_direction_sum_to_the_totals() {
    use pb::FlowEventKind::{
        FlowEventEnd as End, FlowEventStart as Start, FlowEventUpdate as Update,
    };
    let mut t = Tracker::default();
    let mut out = Vec::new();
    t.records([&pending(flow(Start, (1, 60), (0, 0)), false)], 0, &mut out);
    assert!(out.is_empty(), "a START alone exports nothing");
    t.records(
        [&pending(flow(Update, (10, 900), (20, 30_000)), true)],
        0,
        &mut out,
    );
    assert_eq!(out.len(), 2);
    assert_eq!((out[0].octets, out[0].packets), (900, 10));
    assert_eq!(out[0].direction, direction::INITIATOR);
    assert_eq!(out[0].end_reason, end_reason::ACTIVE_TIMEOUT);
    assert_eq!(out[0].firewall_event, firewall_event::UPDATE);
    assert_eq!(out[0].http_host, "files.example.test");
    assert_eq!(out[0].app_id, 7);
    assert_eq!(
        (out[1].src, out[1].src_port),
        (IpAddr::V4(Ipv4Addr::new(10, 0, 1, 2)), 80)
    );
    assert_eq!(out[1].direction, direction::REVERSE_INITIATOR);
    // Nothing new: no interim record.
    out.clear();
    t.records(
        [&pending(flow(Update, (10, 900), (20, 30_000)), true)],
        0,
        &mut out,
    );
    assert!(out.is_empty());
    let mut end = flow(End, (12, 1_000), (7_000, 10_000_000));
    end.end_reason = crate::open::KERNEL_END.into();
    t.records([&pending(end, true)], 0, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].octets, 100);
    assert_eq!(out[1].octets, 10_000_000 - 30_000);
    assert!(
        out.iter().all(|r| r.end_reason == end_reason::END_OF_FLOW
            && r.firewall_event == firewall_event::DELETED)
    );
    assert!(t.is_empty());
}

#[test]
fn a_restarted_store_does_not_export_history_again_and_drops_are_denied() {
    use pb::FlowEventKind::{FlowEventEnd as End, FlowEventUpdate as Update};
    let mut t = Tracker::default();
    let mut out = Vec::new();
    // Held by the store before this exporter started: its counters are the baseline.
    t.records(
        [&pending(flow(Update, (10, 900), (20, 30_000)), true)],
        0,
        &mut out,
    );
    assert!(out.is_empty());
    let mut end = flow(End, (11, 950), (20, 30_000));
    end.verdict = "drop".into();
    end.end_reason = "idle".into();
    t.records([&pending(end, true)], 0, &mut out);
    assert_eq!(
        out.len(),
        2,
        "a final record for each direction that had packets"
    );
    assert_eq!((out[0].octets, out[1].octets), (50, 0));
    assert!(
        out.iter()
            .all(|r| r.firewall_event == firewall_event::DENIED
                && r.end_reason == end_reason::IDLE_TIMEOUT)
    );
    // Without a tuple nothing can be exported.
    let mut bad = flow(End, (1, 1), (0, 0));
    bad.tuple = None;
    out.clear();
    t.records([&pending(bad, false)], 0, &mut out);
    assert!(out.is_empty());
    assert_eq!(t.skipped, 1);
}

#[test]
fn forgotten_flows_are_purged() {
    use pb::FlowEventKind::FlowEventUpdate as Update;
    let mut t = Tracker::default();
    let mut out = Vec::new();
    t.records(
        [&pending(flow(Update, (1, 1), (0, 0)), false)],
        1_000,
        &mut out,
    );
    assert_eq!(t.len(), 1);
    t.records([], 1_000 + super::records::FORGET_AFTER_MS + 1, &mut out);
    assert_eq!(t.len(), 0);
}

/// Every record offered is either sent or counted as dropped, and a collector that accepts a TCP
/// connection but never reads (a stuck collector) only fills its own queue: `offer` never waits.
#[test]
fn a_stuck_collector_drops_and_counts_every_record() {
    use super::Exporter;
    let stuck = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let udp_sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let cfg = nfguard_proto::config::ExportConfig {
        ipfix: vec![
            format!("tcp://{}", stuck.local_addr().unwrap())
                .parse()
                .unwrap(),
            format!("udp://{}", udp_sink.local_addr().unwrap())
                .parse()
                .unwrap(),
        ],
        queue: 2_000,
        ..Default::default()
    };
    let mut x = Exporter::start(&cfg).unwrap().unwrap();
    let (_conn, _) = stuck.accept().unwrap();
    let mut offered = 0u64;
    // 200 × 2 000 records of ~160 bytes: 64 MB, more than loopback's socket buffers can hold.
    for b in 0..200u64 {
        let batch: Vec<PendingRecord> = (0..2_000u64)
            .map(|i| {
                let mut p = pending(
                    flow(pb::FlowEventKind::FlowEventEnd, (10, 1_000 + i), (0, 0)),
                    false,
                );
                p.id.flow_id = b * 10_000 + i;
                p.flow.rule = "r".repeat(64);
                p
            })
            .collect();
        x.offer(batch.into_iter().map(|p| (p.id, p)).collect(), 0);
        offered += 2_000;
    }
    let stats = x.stats();
    x.stop();
    let totals = stats.totals();
    // One IPFIX record per flow here (final, no server→client packets).
    let unconverted = stats.batches_dropped() * 2_000;
    for (name, sent, dropped) in &totals {
        assert_eq!(
            sent + dropped + unconverted,
            offered,
            "{name}: every record sent or dropped"
        );
    }
    assert!(
        totals[0].2 > 0,
        "the stuck collector dropped nothing: {totals:?}"
    );
}
