//! Replays the cargo-fuzz seed corpus (`capture/fuzz/corpus/decode/`) through the decoder's fuzz entry
//! point, so stable CI exercises it too, and checks the seeds mean what their names say.

use std::path::Path;

use nfguard_capture::decode::{DecodeError, decode, fuzz_entry};

fn seeds() -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/decode");
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter_map(|e| {
            Some((
                e.file_name().to_str()?.to_string(),
                std::fs::read(e.path()).ok()?,
            ))
        })
        .collect();
    out.sort();
    out
}

#[test]
fn seed_corpus_replays_without_panic() {
    let seeds = seeds();
    assert!(seeds.len() >= 10, "seed corpus missing");
    for (_, data) in &seeds {
        fuzz_entry(data);
        // Every prefix too: NFQUEUE cuts packets at the copy range.
        for n in 0..data.len() {
            fuzz_entry(data.get(..n).unwrap_or_default());
        }
    }
}

#[test]
fn seeds_decode_as_named() {
    for (name, data) in seeds() {
        let r = decode(&data);
        match name.as_str() {
            "v4_syn" | "v6_syn" => {
                assert!(r.is_ok_and(|p| p.is_syn() && p.dst_port == 443), "{name}")
            }
            "v4_tls" => assert!(r.is_ok_and(|p| p.payload.first() == Some(&0x16)), "{name}"),
            "v4_udp_dns" | "v6_udp" => assert!(r.is_ok_and(|p| p.dst_port == 53), "{name}"),
            "v6_icmp_ns" => assert!(r.is_ok_and(|p| p.is_critical_icmpv6()), "{name}"),
            "v4_tcp_cut" | "v6_hdr_only" => assert_eq!(r, Err(DecodeError::BadTransport), "{name}"),
            "v4_gre" => assert!(r.is_ok_and(|p| p.l4 == 47 && p.src_port == 0), "{name}"),
            "garbage" => assert!(r.is_err(), "{name}"),
            _ => {}
        }
    }
}
