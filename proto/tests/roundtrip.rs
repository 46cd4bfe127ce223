//! `decode(encode(x)) == x` for every bus message: structured strategies for the messages on the packet
//! path, and for all of them, any message prost could decode from random bytes re-encodes to itself.
#![allow(clippy::unwrap_used)]

use nfguard_proto::pb;
use proptest::prelude::*;
use prost::Message;

fn tuple() -> impl Strategy<Value = pb::Tuple> {
    (
        prop::collection::vec(any::<u8>(), 0..17),
        prop::collection::vec(any::<u8>(), 0..17),
        any::<u16>(),
        any::<u16>(),
        any::<u8>(),
    )
        .prop_map(|(c, s, cp, sp, l4)| pb::Tuple {
            client_ip: c,
            server_ip: s,
            client_port: cp.into(),
            server_port: sp.into(),
            l4: l4.into(),
        })
}

fn flow_ref() -> impl Strategy<Value = pb::FlowRef> {
    (any::<u16>(), any::<u64>(), any::<u64>()).prop_map(|(q, b, f)| pb::FlowRef {
        queue: q.into(),
        boot_id: b,
        flow_id: f,
    })
}

fn classification() -> impl Strategy<Value = pb::Classification> {
    (
        any::<u16>(),
        any::<u16>(),
        ".{0,40}",
        "[A-Za-z]{0,12}",
        0..6i32,
        prop::collection::vec("[a-z_]{1,12}", 0..3),
        "([tq][0-9a-z]{9}_[0-9a-f]{12}_[0-9a-f]{12})?",
        any::<bool>(),
    )
        .prop_map(
            |(m, a, host, category, confidence, risks, ja4, ech)| pb::Classification {
                master_id: m.into(),
                app_id: a.into(),
                host,
                category,
                confidence,
                risks,
                ja4,
                ech,
            },
        )
}

proptest! {
    #[test]
    fn classify_request(flow in flow_ref(), tuple in tuple(), payload in prop::collection::vec(any::<u8>(), 0..2000), seq in any::<u32>(), from_client in any::<bool>()) {
        let m = pb::ClassifyRequest { flow: Some(flow), tuple: Some(tuple), from_client, time_us: 5, tcp_flags: 0x18, tcp_seq: seq, payload, packet_index: 3 };
        prop_assert_eq!(pb::ClassifyRequest::decode(m.encode_to_vec().as_slice()).unwrap(), m);
    }

    #[test]
    fn classify_reply(flow in flow_ref(), c in classification(), state in 0..3i32) {
        let m = pb::ClassifyReply { flow: Some(flow), state, classification: Some(c) };
        prop_assert_eq!(pb::ClassifyReply::decode(m.encode_to_vec().as_slice()).unwrap(), m);
    }

    #[test]
    fn policy_messages(flow in flow_ref(), tuple in tuple(), c in prop::option::of(classification()), rule in ".{0,30}", bits in any::<u32>(), epoch in any::<u64>()) {
        let req = pb::PolicyRequest { body: Some(pb::policy_request::Body::Decide(pb::DecideRequest {
            flow: Some(flow), tuple: Some(tuple), in_iface: "lan0".into(), out_iface: "wan0".into(), classification: c, time_unix_s: epoch,
        })) };
        prop_assert_eq!(pb::PolicyRequest::decode(req.encode_to_vec().as_slice()).unwrap(), req);
        let rep = pb::PolicyResponse { body: Some(pb::policy_response::Body::Decision(pb::Decision {
            flow: Some(flow), action: 1, verdict_bits: bits & 3, mark: bits, shaper: 2, offload: true, rule, epoch, valid_until_unix_s: 9, would_drop: false, log: true,
        })) };
        prop_assert_eq!(pb::PolicyResponse::decode(rep.encode_to_vec().as_slice()).unwrap(), rep);
    }

    #[test]
    fn published_flow_event(boot in any::<u64>(), seq in any::<u64>(), flow in flow_ref(), tuple in tuple(), c in classification(), n in any::<u64>(), kind in 0..3i32) {
        let ev = pb::FlowEvent { kind, flow: Some(flow), tuple: Some(tuple), classification: Some(c), label: "TLS.YouTube".into(), verdict: "accept".into(),
            rule: String::new(), packets_c2s: n, bytes_c2s: n / 2, packets_s2c: 1, bytes_s2c: 2, first_seen_unix_ms: 3, last_seen_unix_ms: 4, end_reason: "idle".into(), offloaded: n % 2 == 0 };
        let m = pb::Published { boot_id: boot, seq, body: Some(pb::published::Body::FlowEvent(ev)) };
        prop_assert_eq!(pb::Published::decode(m.encode_to_vec().as_slice()).unwrap(), m);
    }

    #[test]
    fn published_metrics(v in any::<f64>().prop_filter("NaN never equals itself", |v| !v.is_nan()), name in "[a-z_]{1,30}", count in any::<u64>()) {
        let metric = pb::Metric { name, labels: vec![pb::Label { name: "queue".into(), value: "0".into() }], kind: 2, value: v,
            bucket_bounds: vec![0.001, 0.01], bucket_counts: vec![1, count], count };
        let m = pb::Published { boot_id: 1, seq: 2, body: Some(pb::published::Body::Metrics(pb::MetricsSnapshot { part: "capture-q0".into(), queue: 0, pid: 7, uptime_s: 3, metrics: vec![metric] })) };
        prop_assert_eq!(pb::Published::decode(m.encode_to_vec().as_slice()).unwrap(), m);
    }

    #[test]
    fn store_and_usage(ip in prop::collection::vec(any::<u8>(), 4..=4), d in any::<u64>(), app in "[A-Za-z.]{0,20}", after in prop::collection::vec(any::<u8>(), 0..24)) {
        let q = pb::StoreRequest { body: Some(pb::store_request::Body::Flows(pb::FlowQuery { since_unix_ms: d, until_unix_ms: 0, app, host: String::new(), verdict: "drop".into(), rule: String::new(), limit: 50, after_key: after })) };
        prop_assert_eq!(pb::StoreRequest::decode(q.encode_to_vec().as_slice()).unwrap(), q);
        let u = pb::Published { boot_id: 1, seq: 1, body: Some(pb::published::Body::Usage(pb::UsageSnapshot { time_unix_s: d, hosts: vec![pb::HostUsage { ip, day_bytes: d, week_bytes: d, month_bytes: d }] })) };
        prop_assert_eq!(pb::Published::decode(u.encode_to_vec().as_slice()).unwrap(), u);
    }

    /// Any bytes prost accepts as a message re-encode to an equal message, for every message type.
    #[test]
    fn any_decodable_bytes_round_trip(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        macro_rules! check {
            ($($t:ty),* $(,)?) => {$(
                if let Ok(m) = <$t>::decode(bytes.as_slice()) {
                    let again = <$t>::decode(m.encode_to_vec().as_slice()).unwrap();
                    // NaN-carrying metrics can't compare equal; compare encodings instead.
                    prop_assert_eq!(again.encode_to_vec(), m.encode_to_vec());
                }
            )*};
        }
        check!(pb::Tuple, pb::FlowRef, pb::Classification, pb::ClassifyRequest, pb::ClassifyReply, pb::DecideRequest, pb::Decision,
            pb::GetPolicy, pb::PutPolicy, pb::PolicyReply, pb::PolicyRequest, pb::PolicyResponse, pb::PolicyChanged, pb::FlowEvent,
            pb::HostUsage, pb::UsageSnapshot, pb::Label, pb::Metric, pb::MetricsSnapshot, pb::Published, pb::FlowQuery, pb::FlowRecord,
            pb::FlowPage, pb::TopQuery, pb::TopEntry, pb::TopReply, pb::TotalsQuery, pb::TotalsReply, pb::StoreRequest, pb::StoreResponse);
    }
}
