//! The applications this crate can name from payload or host names, for
//! `nfguard protocols --supported`: every id the dissector registry emits (each dissector's
//! `emits`, QUIC, the follow-ups, the IP-protocol table), plus every id of the host list
//! (`hosts_data.rs`) and of the address lists (`ip_lists.rs`). Nothing here is kept by hand.

use nfguard_proto::AppId;

use crate::dissect::dissector;
use crate::hosts_data::HOST_MATCH;

/// Every application id the classifier can detect, sorted, without duplicates.
pub fn supported_ids() -> Vec<AppId> {
    let mut ids: Vec<u16> = dissector::emitted_ids()
        .map(|id| id.0)
        .chain(HOST_MATCH.iter().map(|&(_, id, _)| id))
        .chain(crate::ip_lists::ids())
        .filter(|&id| id != AppId::UNKNOWN.0)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.into_iter().map(AppId).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use nfguard_proto::{ids, protocols};

    /// The ids the dissectors and the engine's IP-protocol rules returned when this list was
    /// still kept by hand (issue #14): the registry must still emit every one of them.
    const DISSECTED_BEFORE_THE_REGISTRY: &[u16] = &[
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 17, 18, 19, 20, 23, 27, 29, 30, 37, 38, 40,
        41, 42, 44, 45, 47, 50, 51, 58, 60, 63, 65, 74, 76, 77, 78, 79, 80, 81, 82, 87, 88, 89, 91,
        92, 95, 96, 100, 102, 103, 111, 112, 115, 128, 130, 142, 146, 148, 154, 156, 159, 163, 172,
        173, 182, 185, 188, 189, 192, 196, 206, 214, 222, 226, 244, 245, 268, 269, 291, 311, 330,
        338, 343, 354, 376, 377, 404,
    ];

    #[test]
    fn registry_emits_every_formerly_listed_id() {
        let mut emitted: Vec<u16> = dissector::emitted_ids().map(|id| id.0).collect();
        emitted.sort_unstable();
        emitted.dedup();
        let lost: Vec<_> = DISSECTED_BEFORE_THE_REGISTRY
            .iter()
            .filter(|id| !emitted.contains(id))
            .collect();
        assert!(lost.is_empty(), "the registry no longer emits {lost:?}");
        // Issue #15: plain DTLS (already emitted by the STUN follow-up), HTTP2, DCERPC and the
        // tunnels.
        for id in [
            ids::DTLS,
            ids::HTTP2,
            ids::DCERPC,
            ids::TAILSCALE,
            ids::CISCOVPN,
            ids::SOFTETHER,
            ids::CAPWAP,
            ids::GTP_C,
        ] {
            assert!(emitted.contains(&id.0), "{id:?}");
        }
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
