//! The protocol table: every id, name and default category of nDPI 4.11-dev's id space (0–431).
//! The classifier emits these ids, policy names them in rules, the gateway labels metrics with them.

#[path = "protocol_table.rs"]
mod protocol_table;

use crate::types::AppId;

/// One protocol as nDPI knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protocol {
    pub id: AppId,
    pub name: &'static str,
    pub category: &'static str,
    pub breed: &'static str,
    pub tcp_ports: &'static [u16],
    pub udp_ports: &'static [u16],
}

/// Every protocol, ordered by id.
pub fn all() -> impl Iterator<Item = Protocol> {
    protocol_table::ROWS.iter().map(to_protocol)
}

/// Every category name, as nDPI prints it.
pub fn categories() -> &'static [&'static str] {
    protocol_table::CATEGORIES
}

/// The protocol with this id.
pub fn by_id(id: AppId) -> Option<Protocol> {
    protocol_table::ROWS.get(usize::from(id.0)).map(to_protocol)
}

/// The protocol with this name, compared case-insensitively (`"bittorrent"` finds `BitTorrent`).
pub fn by_name(name: &str) -> Option<Protocol> {
    protocol_table::ROWS
        .iter()
        .find(|r| r.name.eq_ignore_ascii_case(name))
        .map(to_protocol)
}

/// The category spelled as nDPI prints it, compared case-insensitively.
pub fn category(name: &str) -> Option<&'static str> {
    protocol_table::CATEGORIES
        .iter()
        .copied()
        .find(|c| c.eq_ignore_ascii_case(name))
}

/// The closest name among `candidates` to `wanted` (edit distance ≤ 1/3 of its length), for
/// "did you mean" hints in config errors.
pub fn did_you_mean<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted = wanted.to_ascii_lowercase();
    let limit = (wanted.len() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&wanted, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `master.app` as nDPI prints a label: `TLS.YouTube`, or just `DNS` when both are the same or one is unknown.
pub fn label(master: AppId, app: AppId) -> String {
    match (master, app) {
        (m, a) if m == a || a == AppId::UNKNOWN => m.name().to_string(),
        (m, a) if m == AppId::UNKNOWN => a.name().to_string(),
        (m, a) => format!("{}.{}", m.name(), a.name()),
    }
}

fn to_protocol(r: &protocol_table::Row) -> Protocol {
    Protocol {
        id: AppId(r.id),
        name: r.name,
        category: r.category,
        breed: r.breed,
        tcp_ports: r.tcp_ports,
        udp_ports: r.udp_ports,
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = Vec::with_capacity(b.len() + 1);
        cur.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            let best = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
            cur.push(best);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn well_known_ids() {
        assert_eq!(by_id(AppId(125)).unwrap().name, "Skype_Teams");
        assert_eq!(by_id(AppId(91)).unwrap().name, "TLS");
        assert_eq!(by_id(AppId(124)).unwrap().name, "YouTube");
        assert_eq!(by_name("bittorrent").unwrap().id, AppId(37));
        assert_eq!(all().count(), 432);
    }

    #[test]
    fn labels() {
        assert_eq!(label(AppId(91), AppId(124)), "TLS.YouTube");
        assert_eq!(label(AppId(5), AppId(5)), "DNS");
        assert_eq!(label(AppId(188), AppId(0)), "QUIC");
    }

    #[test]
    fn suggestions() {
        let names = all().map(|p| p.name);
        assert_eq!(did_you_mean("BitTorent", names), Some("BitTorrent"));
        assert_eq!(did_you_mean("zzzzzzzzzz", all().map(|p| p.name)), None);
    }
}
