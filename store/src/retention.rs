//! Retention: which records are old enough to delete. Pure, so tests pass the time explicitly.

use std::time::Duration;

use nfguard_proto::pb;

/// LAN-host usage aggregates are kept at least this long whatever `retention` says, so that a monthly
/// quota still sees the whole calendar month (31 days, plus the current day).
pub const MIN_USAGE_RETENTION: Duration = Duration::from_secs(32 * 86_400);
/// Records deleted per retention pass; between passes ingest gets the write lock back.
pub const EXPIRE_CHUNK: usize = 5_000;

/// True when the flow was last seen before `cutoff_ms`: a flow still active is kept even if it started
/// before the window.
pub fn is_expired(f: &pb::FlowEvent, cutoff_ms: u64) -> bool {
    f.last_seen_unix_ms.max(f.first_seen_unix_ms) < cutoff_ms
}

/// (record/aggregate cutoff ms, usage cutoff s) for `now_ms` and the configured retention.
pub fn cutoffs(now_ms: u64, retention: Duration) -> (u64, u64) {
    let ms = u64::try_from(retention.as_millis()).unwrap_or(u64::MAX);
    let usage = retention.max(MIN_USAGE_RETENTION).as_secs();
    (
        now_ms.saturating_sub(ms),
        (now_ms / 1000).saturating_sub(usage),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn active_flow_is_kept() {
        let f = pb::FlowEvent {
            first_seen_unix_ms: 10,
            last_seen_unix_ms: 100,
            ..Default::default()
        };
        assert!(!is_expired(&f, 100));
        assert!(is_expired(&f, 101));
    }

    #[test]
    fn usage_outlives_short_retention() {
        let (c, u) = cutoffs(100 * 86_400_000, Duration::from_secs(86_400));
        assert_eq!(c, 99 * 86_400_000);
        assert_eq!(u, 68 * 86_400);
    }
}
