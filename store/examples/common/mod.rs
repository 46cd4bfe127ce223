//! The synthetic flows the store's examples write (`bench`, `steady`), and what they report about
//! the process and the database directory.
#![allow(dead_code)]

use nfguard_proto::pb;

/// SplitMix64 (Steele, Lea, Flood 2014): the example's deterministic randomness.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Flow `i`: 2 000 server hosts, 100 apps, 20 rules, 3 verdicts, 2 048 LAN hosts, random client ports,
/// counters spread over four orders of magnitude; an END carries its final counters, a START or UPDATE
/// small ones.
pub fn synthetic_flow(
    i: u64,
    first_ms: u64,
    kind: pb::FlowEventKind,
    life_ms: u64,
) -> pb::FlowEvent {
    let end = kind == pb::FlowEventKind::FlowEventEnd;
    let r = mix(i);
    let r2 = mix(r);
    let lan = r % 2048;
    let host = i % 2000;
    // Heavy-tailed sizes: most flows are small, some carry megabytes.
    let scale = 10u64.pow((r2 % 4) as u32 + 2);
    let down = scale + r2 % (scale * 9);
    let up = 200 + (r2 >> 20) % 4000;
    pb::FlowEvent {
        kind: kind as i32,
        flow: Some(pb::FlowRef {
            queue: (i % 4) as u32,
            boot_id: 1,
            flow_id: i,
        }),
        tuple: Some(pb::Tuple {
            client_ip: vec![10, 0, (lan / 256) as u8, (lan % 256) as u8],
            server_ip: vec![
                93,
                184,
                (host % 251) as u8,
                (host / 251) as u8 + (r as u8 & 1),
            ],
            client_port: 1024 + ((r >> 16) % 64_511) as u32,
            server_port: [443, 443, 443, 80, 53, 8443][((r >> 40) % 6) as usize],
            l4: if (r >> 40) % 6 == 4 { 17 } else { 6 },
        }),
        classification: Some(pb::Classification {
            host: format!("host{host}.example.com"),
            ..Default::default()
        }),
        label: format!("TLS.App{}", i % 100),
        verdict: ["accept", "drop", "reject"][(i % 3) as usize].into(),
        rule: format!("rule{}", i % 20),
        bytes_c2s: if end { up } else { up.min(500) },
        bytes_s2c: if end { down } else { down.min(1000) },
        packets_c2s: if end { 1 + up / 300 } else { 3 },
        packets_s2c: if end { 1 + down / 1200 } else { 2 },
        first_seen_unix_ms: first_ms,
        last_seen_unix_ms: first_ms + life_ms,
        end_reason: if end { "idle".into() } else { String::new() },
        ..Default::default()
    }
}

/// VmRSS and VmHWM of this process, from `/proc/self/status`.
pub fn memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok())
            .map_or("?".to_string(), |kb| format!("{:.1} MiB", kb / 1024.0))
    };
    format!("VmRSS {}, VmHWM {}", field("VmRSS:"), field("VmHWM:"))
}

/// Bytes under `dir` by part: sled's log, its snapshots, its blobs, the block files, the reserve.
pub fn sizes(dir: &std::path::Path) -> String {
    fn walk(p: &std::path::Path) -> u64 {
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => std::fs::read_dir(p)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| walk(&e.path()))
                .sum(),
            Ok(m) => m.len(),
            Err(_) => 0,
        }
    }
    let mut parts: Vec<(String, u64)> = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let part = if name.starts_with("snap.") {
            "snap".to_string()
        } else {
            name
        };
        let n = walk(&e.path());
        match parts.iter_mut().find(|(p, _)| *p == part) {
            Some(x) => x.1 += n,
            None => parts.push((part, n)),
        }
    }
    parts.sort();
    parts
        .iter()
        .map(|(p, n)| format!("{p} {:.1} MiB", *n as f64 / 1048576.0))
        .collect::<Vec<_>>()
        .join(", ")
}
