//! Replays the seed inputs (every file in `testdata/`, plus every prefix of the small ones)
//! through each `fuzz_entry`, so stable CI exercises what `classifier/fuzz/` fuzzes.

use nfguard_classifier::{capture_file, dissect, engine, ip_lists, replay, risks};

/// A fuzz target's name and entry point.
type Entry = (&'static str, fn(&[u8]));

const ENTRIES: &[Entry] = &[
    // Every probe of the registry, in all the contexts the `dissectors` fuzz target uses.
    ("dissectors", dissect::dissector::fuzz_entry),
    ("tls", dissect::tls::fuzz_entry),
    ("http", dissect::http::fuzz_entry),
    ("dns", dissect::dns::fuzz_entry),
    ("quic", dissect::quic::fuzz_entry),
    ("ssh", dissect::ssh::fuzz_entry),
    ("bittorrent", dissect::bittorrent::fuzz_entry),
    ("stun", dissect::stun::fuzz_entry),
    ("ntp", dissect::ntp::fuzz_entry),
    ("dhcp", dissect::dhcp::fuzz_entry),
    ("dhcpv6", dissect::dhcpv6::fuzz_entry),
    ("telegram", dissect::telegram::fuzz_entry),
    ("rtp", dissect::rtp::fuzz_entry),
    ("iax", dissect::iax::fuzz_entry),
    ("ethereum", dissect::ethereum::fuzz_entry),
    ("nfs", dissect::nfs::fuzz_entry),
    ("teredo", dissect::teredo::fuzz_entry),
    ("nintendo", dissect::nintendo::fuzz_entry),
    ("spotify", dissect::spotify::fuzz_entry),
    ("tls_cert", dissect::tls::certificate::fuzz_entry),
    ("ip_lists", ip_lists::fuzz_entry),
    ("zoom", dissect::zoom::fuzz_entry),
    ("teamviewer", dissect::teamviewer::fuzz_entry),
    ("steam", dissect::steam::fuzz_entry),
    ("tor", dissect::tor::fuzz_entry),
    ("smb", dissect::smb::fuzz_entry),
    ("kerberos", dissect::kerberos::fuzz_entry),
    ("ldap", dissect::ldap::fuzz_entry),
    ("radius", dissect::radius::fuzz_entry),
    ("ipsec", dissect::ipsec::fuzz_entry),
    ("tls_records", dissect::tls::records::fuzz_entry),
    ("capture_file", capture_file::fuzz_entry),
    ("starttls", dissect::mail::starttls::fuzz_entry),
    ("dtls", dissect::dtls::fuzz_entry),
    ("http2", dissect::http2::fuzz_entry),
    ("dcerpc", dissect::dcerpc::fuzz_entry),
    ("softether", dissect::softether::fuzz_entry),
    ("replay", replay::fuzz_entry),
    ("tunnel", replay::tunnel::fuzz_entry),
    ("engine", engine::fuzz_entry),
    ("risks", risks::fuzz_entry),
];

#[test]
fn seeds_through_every_fuzz_entry() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata");
    let mut seeds: Vec<Vec<u8>> = vec![vec![], vec![0xff; 64], vec![0x16, 3, 1, 0xff, 0xff]];
    for e in std::fs::read_dir(&dir).expect("testdata exists") {
        seeds.push(std::fs::read(e.expect("entry").path()).expect("readable"));
    }
    let mut runs = 0usize;
    for seed in &seeds {
        for (_, entry) in ENTRIES {
            entry(seed);
            runs += 1;
            // Truncations and single-bit flips of small seeds: the shapes fuzzers find first.
            if seed.len() <= 2048 {
                for n in (0..seed.len()).step_by(7) {
                    entry(&seed[..n]);
                    let mut flipped = seed.clone();
                    flipped[n] ^= 0x80;
                    entry(&flipped);
                    runs += 2;
                }
            }
        }
    }
    assert!(runs > 1000, "{runs}");
}
