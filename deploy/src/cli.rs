//! Subcommands of `nfguard` that print or check something: `protocols`, `check`.

use std::io::Write;
use std::path::Path;

use nfguard_proto::config::Config;
use nfguard_proto::protocols;

/// `nfguard protocols`: `[id] Name` per line like `ntopng -h`, or JSON; optionally one category.
///
/// # Errors
/// An unknown category (with a suggestion), or a write error.
pub fn print_protocols(out: &mut impl Write, json: bool, category: Option<&str>) -> anyhow::Result<()> {
    let wanted = match category {
        Some(c) => Some(protocols::category(c).ok_or_else(|| {
            let hint = protocols::did_you_mean(c, protocols::categories().iter().copied()).map(|s| format!(" (did you mean {s:?}?)")).unwrap_or_default();
            anyhow::anyhow!("unknown category {c:?}{hint}; categories: {}", protocols::categories().join(", "))
        })?),
        None => None,
    };
    let list = protocols::all().filter(|p| wanted.is_none_or(|c| p.category == c));
    if json {
        let rows: Vec<_> = list
            .map(|p| {
                serde_json::json!({
                    "id": p.id.0, "name": p.name, "category": p.category, "breed": p.breed,
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

/// `nfguard check -c FILE`: loads the config (and, through the policy library, the rule file).
///
/// # Errors
/// The first problem, as `FILE:LINE: TOML.PATH: message`.
pub fn check_config(path: &Path) -> Result<Config, nfguard_proto::config::ConfigError> {
    Config::load(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocols_lists_skype_like_ntopng() {
        let mut out = Vec::new();
        print_protocols(&mut out, false, None).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.lines().any(|l| l == "[125] Skype_Teams"), "{text}");
        assert_eq!(text.lines().count(), 432);
    }

    #[test]
    fn category_filter_and_typo() {
        let mut out = Vec::new();
        print_protocols(&mut out, false, Some("voip")).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("[125] Skype_Teams") || text.contains("SIP"), "{text}");
        assert!(!text.contains("[7] HTTP\n"));
        let e = print_protocols(&mut Vec::new(), false, Some("VoiP2")).unwrap_err();
        assert!(e.to_string().contains("did you mean \"VoIP\""), "{e}");
    }
}
