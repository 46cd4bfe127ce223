//! The applications this crate can name from payload or host names, for
//! `nfguard protocols --supported`: every id a dissector (or the engine's IP-protocol table)
//! returns, plus every id of the host list (`hosts_data.rs`) and of the address lists (`ip_lists.rs`). A test keeps `DISSECTED` in step
//! with the `AppId(n)` literals under `src/dissect/` and `src/engine.rs`.

use nfguard_proto::AppId;

use crate::hosts_data::HOST_MATCH;

/// Ids returned by dissectors and the engine's IP-protocol rules (sorted).
const DISSECTED: &[u16] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 17, 18, 19, 20, 23, 27, 29, 30, 37, 38, 40, 41,
    42, 44, 45, 47, 50, 51, 58, 60, 63, 65, 74, 76, 77, 78, 79, 80, 81, 82, 87, 88, 89, 91, 92, 95,
    96, 100, 102, 103, 111, 112, 115, 128, 130, 142, 146, 148, 154, 156, 159, 163, 172, 173, 182,
    185, 188, 189, 192, 196, 206, 214, 222, 226, 244, 245, 268, 269, 291, 311, 330, 338, 343, 354,
    376, 377, 404,
];

/// Every application id the classifier can detect, sorted, without duplicates.
pub fn supported_ids() -> Vec<AppId> {
    let mut ids: Vec<u16> = DISSECTED
        .iter()
        .copied()
        .chain(HOST_MATCH.iter().map(|&(_, id, _)| id))
        .chain(crate::ip_lists::ids())
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter().map(AppId).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use nfguard_proto::protocols;

    /// The `AppId(n)` literals of a source file.
    fn literals(src: &str) -> Vec<u16> {
        src.split("AppId(")
            .skip(1)
            .filter_map(|rest| {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                rest[digits.len()..]
                    .starts_with(')')
                    .then(|| digits.parse().ok())
                    .flatten()
            })
            .collect()
    }

    #[test]
    fn dissected_list_matches_the_sources() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = vec![root.join("engine.rs")];
        for e in std::fs::read_dir(root.join("dissect")).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
        let mut found: Vec<u16> = files
            .iter()
            .flat_map(|f| literals(&std::fs::read_to_string(f).unwrap()))
            .filter(|&id| id != 0)
            .collect();
        found.sort_unstable();
        found.dedup();
        assert_eq!(found, DISSECTED, "update DISSECTED to the dissectors' ids");
    }

    #[test]
    fn ids_are_known_sorted_and_include_both_sources() {
        let ids = supported_ids();
        assert!(ids.windows(2).all(|w| w[0].0 < w[1].0));
        for id in &ids {
            assert!(protocols::by_id(*id).is_some(), "unknown id {}", id.0);
        }
        // TLS from a dissector, YouTube (124) from the host list.
        assert!(ids.contains(&AppId(91)) && ids.contains(&AppId(124)));
        assert!(!ids.contains(&AppId::UNKNOWN));
    }
}
