//! The shipped example config parses with the documented defaults, and `nfguard check` reports
//! errors as `FILE:LINE: TOML.PATH: message` with exit code 64.
#![allow(clippy::unwrap_used)]

use std::process::Command;

use nfguard_proto::config::Config;

fn example() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("nfguard.toml")
}

#[test]
fn shipped_example_is_the_defaults() {
    let cfg = Config::load(&example()).unwrap();
    let d = Config::default();
    assert_eq!(cfg.capture.queues, d.capture.queues);
    assert_eq!(cfg.capture.copy_range, d.capture.copy_range);
    assert_eq!(cfg.capture.verdict_timeout, d.capture.verdict_timeout);
    assert_eq!(cfg.capture.app_mask, d.capture.app_mask);
    assert_eq!(cfg.store.retention, d.store.retention);
    assert_eq!(cfg.gateway.listen, d.gateway.listen);
    assert_eq!(
        cfg.rules_path(),
        example().parent().unwrap().join("policy.toml")
    );
}

#[test]
fn check_reports_file_line_key_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nfguard.toml");
    std::fs::write(
        &path,
        "runtime_dir = \"/run/nfguard\"\n\n[capture]\nqueues = \"0-3\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_nfguard"))
        .args(["check", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "{}:4: capture.queues: expected \"N\" or \"A:B\", got \"0-3\"",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn protocols_command_prints_ntopng_style_ids() {
    let out = Command::new(env!("CARGO_BIN_EXE_nfguard"))
        .arg("protocols")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.lines().any(|l| l == "[125] Skype_Teams"));
    assert!(text.lines().any(|l| l == "[91] TLS"));
    let out = Command::new(env!("CARGO_BIN_EXE_nfguard"))
        .args(["protocols", "--json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 432);
}

#[test]
fn shipped_policy_drops_telnet_on_the_syn() {
    use nfguard_policy::{Action, FlowFacts, Now, Policy, Usage};
    use nfguard_proto::types::FlowKey;
    let rules = example().parent().unwrap().join("policy.toml");
    let p = Policy::load(&rules, 0).unwrap();
    // A tuple-only request is what the capture sends for a flow's first packet (the SYN).
    let f = FlowFacts {
        key: FlowKey {
            client: "192.168.1.20:40000".parse().unwrap(),
            server: "10.0.1.2:23".parse().unwrap(),
            l4: 6,
        },
        in_iface: "lan0",
        out_iface: "wan0",
        queue: 0,
        class: None,
    };
    let d = p.decide(&f, Now::utc(0), &Usage::empty());
    assert_eq!(d.action, Action::Drop, "{d:?}");
    assert_eq!(d.rule.as_deref(), Some("no-telnet"));
}
