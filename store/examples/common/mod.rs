//! The synthetic flows the store's examples write (`bench`, `steady`).

use nfguard_proto::pb;

/// Flow `i`: 2 000 hosts, 100 apps, 20 rules, 3 verdicts, 2 048 LAN hosts; an END carries its final
/// counters, a START or UPDATE small ones.
pub fn synthetic_flow(
    i: u64,
    first_ms: u64,
    kind: pb::FlowEventKind,
    life_ms: u64,
) -> pb::FlowEvent {
    let end = kind == pb::FlowEventKind::FlowEventEnd;
    pb::FlowEvent {
        kind: kind as i32,
        flow: Some(pb::FlowRef {
            queue: (i % 4) as u32,
            boot_id: 1,
            flow_id: i,
        }),
        tuple: Some(pb::Tuple {
            client_ip: vec![10, 0, (i / 256 % 8) as u8, (i % 256) as u8],
            server_ip: vec![93, 184, (i % 251) as u8, 34],
            client_port: 40_000 + (i % 20_000) as u32,
            server_port: 443,
            l4: 6,
        }),
        classification: Some(pb::Classification {
            host: format!("host{}.example.com", i % 2000),
            ..Default::default()
        }),
        label: format!("TLS.App{}", i % 100),
        verdict: ["accept", "drop", "reject"][(i % 3) as usize].into(),
        rule: format!("rule{}", i % 20),
        bytes_c2s: if end { 1000 + i % 5000 } else { 500 },
        bytes_s2c: if end { 20_000 } else { 1000 },
        packets_c2s: if end { 10 } else { 3 },
        packets_s2c: if end { 20 } else { 2 },
        first_seen_unix_ms: first_ms,
        last_seen_unix_ms: first_ms + life_ms,
        end_reason: if end { "idle".into() } else { String::new() },
        ..Default::default()
    }
}
