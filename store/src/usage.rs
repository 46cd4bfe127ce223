//! LAN-host usage windows for `UsageSnapshot`: the UTC day, ISO week (from Monday) and calendar month
//! containing a time. Quotas (`"1GiB/day"`, `/week`, `/month`) are counted over these windows.

use nfguard_proto::pb;

const DAY: u64 = 86_400;

/// Start times (Unix s) of the windows containing one instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageWindows {
    pub day_start: u64,
    pub week_start: u64,
    pub month_start: u64,
}

impl UsageWindows {
    pub fn at(now_s: u64) -> Self {
        let days = now_s / DAY;
        // 1970-01-01 was a Thursday: Monday is 3 days before day 0's weekday.
        let since_monday = (days + 3) % 7;
        let (y, m, _) = civil_from_days(days);
        UsageWindows {
            day_start: days * DAY,
            week_start: (days - since_monday.min(days)) * DAY,
            month_start: days_from_civil(y, m, 1) * DAY,
        }
    }
}

/// Adds one day bucket's bytes to the windows it falls in.
pub fn add(h: &mut pb::HostUsage, w: &UsageWindows, day_bucket_s: u64, bytes: u64) {
    if day_bucket_s >= w.day_start {
        h.day_bytes = h.day_bytes.saturating_add(bytes);
    }
    if day_bucket_s >= w.week_start {
        h.week_bytes = h.week_bytes.saturating_add(bytes);
    }
    if day_bucket_s >= w.month_start {
        h.month_bytes = h.month_bytes.saturating_add(bytes);
    }
}

/// (year, month 1-12, day 1-31) of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`,
/// <http://howardhinnant.github.io/date_algorithms.html>, restricted to days ≥ 0).
pub fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Days since 1970-01-01 of a date from 1970 on (Hinnant's `days_from_civil`).
pub fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).saturating_sub(719_468)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn calendar_round_trip() {
        for days in [0u64, 59, 60, 365, 10_957, 19_782, 20_000, 30_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        // 2026-11-27 is day 20_784 (`date -d 2026-11-27 +%s` / 86400).
        assert_eq!(civil_from_days(20_784), (2026, 11, 27));
    }

    #[test]
    fn windows_of_a_friday() {
        // 2026-11-27 12:00 UTC, a Friday.
        let now = 20_784 * DAY + 43_200;
        let w = UsageWindows::at(now);
        assert_eq!(w.day_start, 20_784 * DAY);
        assert_eq!(w.week_start, 20_780 * DAY); // Monday 2026-11-23
        assert_eq!(w.month_start, days_from_civil(2026, 11, 1) * DAY);
        assert_eq!(civil_from_days(w.week_start / DAY), (2026, 11, 23));
    }
}
