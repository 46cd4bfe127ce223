//! Subcommands of `nfguard` that print or check something: `protocols`, `check`.

use std::io::Write;
use std::path::Path;

use nfguard_proto::config::Config;
use nfguard_proto::protocols;

/// `nfguard protocols`: `[id] Name` per line like `ntopng -h`, or JSON; optionally one category, or
/// only the protocols the classifier can detect.
///
/// # Errors
/// An unknown category (with a suggestion), or a write error.
pub fn print_protocols(
    out: &mut impl Write,
    json: bool,
    category: Option<&str>,
    supported_only: bool,
) -> anyhow::Result<()> {
    let wanted = match category {
        Some(c) => Some(protocols::category(c).ok_or_else(|| {
            let hint = protocols::did_you_mean(c, protocols::categories().iter().copied())
                .map(|s| format!(" (did you mean {s:?}?)"))
                .unwrap_or_default();
            anyhow::anyhow!(
                "unknown category {c:?}{hint}; categories: {}",
                protocols::categories().join(", ")
            )
        })?),
        None => None,
    };
    // Ids the classifier can name from payload or host names; the others exist in the table only.
    let supported = nfguard_classifier::supported_ids();
    let list = protocols::all()
        .filter(|p| wanted.is_none_or(|c| p.category == c))
        .filter(|p| !supported_only || supported.contains(&p.id));
    if json {
        let rows: Vec<_> = list
            .map(|p| {
                serde_json::json!({
                    "id": p.id.0, "name": p.name, "category": p.category, "breed": p.breed,
                    "detected": supported.contains(&p.id),
                    "tcp_ports": p.tcp_ports, "udp_ports": p.udp_ports,
                })
            })
            .collect();
        serde_json::to_writer_pretty(&mut *out, &rows)?;
        writeln!(out)?;
    } else {
        for p in list {
            writeln!(out, "[{}] {}", p.id.0, p.name)?;
        }
    }
    Ok(())
}

/// `nfguard check -c FILE`: loads the config and the rule file it names, resolves the user the
/// children run as and checks it may use every file and directory the config names.
///
/// # Errors
/// The first problem, as `FILE:LINE: TOML.PATH: message`.
pub fn check_config(
    path: &Path,
) -> Result<(Config, nfguard_policy::Policy), nfguard_proto::config::ConfigError> {
    let cfg = Config::load(path)?;
    let policy = load_policy(&cfg)?;
    let bin_dir = cfg
        .supervisor
        .bin_dir
        .clone()
        .unwrap_or_else(crate::supervisor::default_bin_dir);
    let who = crate::run_as::RunAs::resolve(&cfg)?;
    crate::run_as::check_access(&cfg, &who, &bin_dir)?;
    Ok((cfg, policy))
}

/// The rule file named by `[policy] rules`, checked against the config's `user_mask`.
///
/// # Errors
/// As [`check_config`].
pub fn load_policy(
    cfg: &Config,
) -> Result<nfguard_policy::Policy, nfguard_proto::config::ConfigError> {
    nfguard_policy::Policy::load_with_geoip(
        &cfg.rules_path(),
        cfg.capture.user_mask,
        cfg.geoip_path().as_deref(),
    )
}

/// The HTB classes the policy needs, for `nfguard rules`.
pub fn shaper_classes(policy: &nfguard_policy::Policy) -> Vec<crate::rules::ShaperClass> {
    policy
        .shapers()
        .into_iter()
        .map(|s| crate::rules::ShaperClass {
            class: s.class,
            rate: s.rate,
            rule: s.rule,
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn supported_is_a_subset_with_the_big_protocols() {
        let mut out = Vec::new();
        print_protocols(&mut out, false, None, true).unwrap();
        let text = String::from_utf8(out).unwrap();
        for line in [
            "[91] TLS",
            "[7] HTTP",
            "[5] DNS",
            "[37] BitTorrent",
            "[124] YouTube",
            "[188] QUIC",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing:\n{text}");
        }
        assert!(text.lines().count() < 432);
    }

    #[test]
    fn protocols_lists_skype_like_ntopng() {
        let mut out = Vec::new();
        print_protocols(&mut out, false, None, false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().any(|l| l == "[125] Skype_Teams"), "{text}");
        assert_eq!(text.lines().count(), 432);
    }

    #[test]
    fn category_filter_and_typo() {
        let mut out = Vec::new();
        print_protocols(&mut out, false, Some("voip"), false).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("[125] Skype_Teams") || text.contains("SIP"),
            "{text}"
        );
        assert!(!text.contains("[7] HTTP\n"));
        let e = print_protocols(&mut Vec::new(), false, Some("VoiP2"), false).unwrap_err();
        assert!(e.to_string().contains("did you mean \"VoIP\""), "{e}");
    }
}
