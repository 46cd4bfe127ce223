//! Fuzz entry points for everything the policy decodes from outside: rule-file text and bus decide
//! requests. Each must return without panicking whatever the bytes; `tests/fuzz.rs` runs them on
//! random and mutated inputs in ordinary CI, and a cargo-fuzz target is a one-line call.

use nfguard_proto::pb;
use prost::Message;

use crate::facts::{FlowFacts, Usage};
use crate::policy::Policy;
use crate::time_window::Now;

/// The shipped example policy, the rule set decide requests are fuzzed against.
const EXAMPLE: &str = include_str!("../../deploy/policy.toml");

/// Parses `data` as a policy file and, if it is valid, decides a few fixed flows with it.
#[doc(hidden)]
pub fn fuzz_policy_text(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(p) = Policy::parse("fuzz.toml", text, 0xff00) else {
        return;
    };
    for req in sample_requests() {
        if let Ok(f) = FlowFacts::from_pb(&req) {
            let _ = p.decide(&f, Now::utc(1_795_392_000), &Usage::empty());
        }
    }
}

/// Decodes `data` as a `DecideRequest` and decides it with the example policy.
#[doc(hidden)]
pub fn fuzz_decide_request(data: &[u8]) {
    let Ok(req) = pb::DecideRequest::decode(data) else {
        return;
    };
    let Ok(p) = Policy::parse("policy.toml", EXAMPLE, 0xff00) else {
        return;
    };
    if let Ok(f) = FlowFacts::from_pb(&req) {
        let now = Now {
            unix_s: req.time_unix_s,
            utc_offset_s: 3600,
        };
        let d = p.decide(&f, now, &Usage::empty());
        let _ = d.to_pb(1);
        let _ = crate::decision_log::decision_log_line(&f, &d, now);
    }
}

fn sample_requests() -> Vec<pb::DecideRequest> {
    let tuple = |c: &str, s: &str, l4| {
        let key = nfguard_proto::types::FlowKey {
            client: c.parse().ok()?,
            server: s.parse().ok()?,
            l4,
        };
        Some(key.to_tuple())
    };
    let class = pb::Classification {
        master_id: 91,
        app_id: 124,
        host: "www.example-video.test".into(),
        category: "Media".into(),
        risks: vec!["ndpi_clear_text_credentials".into()],
        ..Default::default()
    };
    vec![
        pb::DecideRequest {
            tuple: tuple("192.168.1.10:40000", "203.0.113.5:23", 6),
            ..Default::default()
        },
        pb::DecideRequest {
            tuple: tuple("[fd00:1::5]:40000", "[2001:db8::1]:443", 17),
            in_iface: "wlan0".into(),
            classification: Some(class),
            ..Default::default()
        },
        pb::DecideRequest {
            tuple: tuple("[fe80::1]:0", "[ff02::1]:135", 58),
            ..Default::default()
        },
    ]
}
