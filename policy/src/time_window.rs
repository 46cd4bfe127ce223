//! Time windows (`time = { days = ["mon","tue"], hours = "08:00-18:00" }`) in local time. The library
//! has no clock: callers pass [`Now`] (Unix seconds plus the local UTC offset at that instant).
//!
//! A window is compiled to minute-of-week intervals `[start, end)` (Monday 00:00 = 0). A window whose
//! end is before its start runs past midnight into the next day (`"22:00-06:00"` on `fri` covers Friday
//! night to Saturday 06:00). Near a DST change the offset of *now* is used for the next edge, so an
//! edge can be an hour off; the process re-decides at every edge it computes, which bounds the error.

/// Minutes in a week.
const WEEK_MIN: u32 = 7 * DAY_MIN;
/// Minutes in a day.
const DAY_MIN: u32 = 24 * 60;
/// 1970-01-01 was a Thursday: Monday-based weekday 3.
const EPOCH_WEEKDAY: i64 = 3;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
const DAY_LONG_NAMES: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

/// A point in time as the policy sees it: Unix seconds and the local offset from UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    pub unix_s: u64,
    /// Seconds east of UTC (`+3600` for CET).
    pub utc_offset_s: i32,
}

impl Now {
    /// A time in UTC (offset 0).
    pub fn utc(unix_s: u64) -> Now {
        Now {
            unix_s,
            utc_offset_s: 0,
        }
    }

    fn local_s(self) -> i64 {
        i64::try_from(self.unix_s)
            .unwrap_or(i64::MAX)
            .saturating_add(i64::from(self.utc_offset_s))
    }

    /// Minute of the local week, Monday 00:00 = 0.
    pub(crate) fn minute_of_week(self) -> u32 {
        let local = self.local_s();
        let day = local.div_euclid(86_400);
        let weekday = day.saturating_add(EPOCH_WEEKDAY).rem_euclid(7);
        let minute = local.rem_euclid(86_400) / 60;
        u32::try_from(weekday * i64::from(DAY_MIN) + minute).unwrap_or(0)
    }

    fn second_of_minute(self) -> u64 {
        u64::try_from(self.local_s().rem_euclid(60)).unwrap_or(0)
    }
}

/// A compiled `time` matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TimeWindows {
    /// Sorted, merged, non-overlapping `[start, end)` minute-of-week intervals.
    intervals: Vec<(u32, u32)>,
    /// Minutes of the week where the answer changes, sorted.
    edges: Vec<u32>,
}

impl TimeWindows {
    /// Compiles `days` (None: every day) and `hours` (None: all day). `Err((key, message))` names
    /// `"days"` or `"hours"`.
    pub(crate) fn parse(
        days: Option<&[String]>,
        hours: Option<&[String]>,
    ) -> Result<TimeWindows, (&'static str, String)> {
        let days = match days {
            None => (0..7).collect(),
            Some([]) => return Err(("days", "empty list matches no day".into())),
            Some(names) => parse_days(names).map_err(|e| ("days", e))?,
        };
        let windows = match hours {
            None => vec![(0, DAY_MIN)],
            Some([]) => return Err(("hours", "empty list matches no time".into())),
            Some(list) => list
                .iter()
                .map(|w| parse_window(w))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ("hours", e))?,
        };
        // Overlap check on every day, so a window past midnight is compared with the next day's too.
        let mut all = expand(&(0..7).collect::<Vec<_>>(), &windows, false);
        all.sort_unstable();
        for pair in all.windows(2) {
            if let [a, b] = pair
                && a.1 > b.0
            {
                return Err((
                    "hours",
                    format!(
                        "windows overlap ({} and {})",
                        fmt_minute(a.0 % DAY_MIN),
                        fmt_minute(b.0 % DAY_MIN)
                    ),
                ));
            }
        }
        let mut iv = expand(&days, &windows, true);
        iv.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(iv.len());
        for (s, e) in iv {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        let mut edges: Vec<u32> = merged
            .iter()
            .flat_map(|&(s, e)| [s, e % WEEK_MIN])
            .collect();
        edges.sort_unstable();
        // An edge that is both an end and a start (the week wrap) is no change at all.
        let mut uniq: Vec<u32> = Vec::with_capacity(edges.len());
        let mut i = 0;
        while let Some(&e) = edges.get(i) {
            if edges.get(i + 1) == Some(&e) {
                i += 2;
            } else {
                uniq.push(e);
                i += 1;
            }
        }
        Ok(TimeWindows {
            intervals: merged,
            edges: uniq,
        })
    }

    /// True when `now` falls in a window.
    pub(crate) fn contains(&self, now: Now) -> bool {
        let m = now.minute_of_week();
        self.intervals.iter().any(|&(s, e)| s <= m && m < e)
    }

    /// Unix second of the next change of [`Self::contains`], `None` if it never changes.
    #[cfg(test)]
    pub(crate) fn next_edge(&self, now: Now) -> Option<u64> {
        let m = now.minute_of_week();
        let next = match self.edges.iter().find(|&&e| e > m) {
            Some(&e) => e,
            None => *self.edges.first()?,
        };
        unix_at_edge(now, next)
    }

    /// Minutes of the week where [`Self::contains`] changes, sorted.
    pub(crate) fn edges(&self) -> &[u32] {
        &self.edges
    }
}

/// The Unix second of the next time the local week reaches minute `edge` after `now` (strictly
/// after the current minute; an edge at or before it is next week's).
pub(crate) fn unix_at_edge(now: Now, edge: u32) -> Option<u64> {
    let m = now.minute_of_week();
    let next = if edge > m {
        edge
    } else {
        edge.checked_add(WEEK_MIN)?
    };
    let delta_s = u64::from(next.checked_sub(m)?) * 60;
    now.unix_s
        .checked_add(delta_s)?
        .checked_sub(now.second_of_minute())
}

fn parse_days(names: &[String]) -> Result<Vec<u32>, String> {
    let mut out = Vec::with_capacity(names.len());
    for n in names {
        let l = n.trim().to_ascii_lowercase();
        let Some(d) = DAY_NAMES
            .iter()
            .position(|d| *d == l)
            .or_else(|| DAY_LONG_NAMES.iter().position(|d| *d == l))
        else {
            return Err(format!(
                "unknown day {n:?} (expected one of mon, tue, wed, thu, fri, sat, sun)"
            ));
        };
        let d = u32::try_from(d).unwrap_or(0);
        if out.contains(&d) {
            return Err(format!("day {n:?} listed twice"));
        }
        out.push(d);
    }
    Ok(out)
}

/// `"08:00-18:00"` → (480, 1080); `"22:00-06:00"` → (1320, 360) (wraps).
fn parse_window(w: &str) -> Result<(u32, u32), String> {
    let err = || format!("expected a window like \"08:00-18:00\", got {w:?}");
    let (a, b) = w.split_once('-').ok_or_else(err)?;
    let s = parse_hhmm(a.trim(), false).ok_or_else(err)?;
    let e = parse_hhmm(b.trim(), true).ok_or_else(err)?;
    if s == e {
        return Err(format!("{w:?} is empty (start equals end)"));
    }
    if e == DAY_MIN && s == 0 {
        return Ok((0, DAY_MIN));
    }
    Ok((s, e % DAY_MIN))
}

/// `HH:MM` with `24:00` allowed only as an end.
fn parse_hhmm(s: &str, end: bool) -> Option<u32> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.parse().ok()?;
    match (h, m) {
        (24, 0) if end => Some(DAY_MIN),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

/// Windows on the given days as minute-of-week intervals; with `split`, one that wraps past Sunday
/// midnight is split in two.
fn expand(days: &[u32], windows: &[(u32, u32)], split: bool) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for &d in days {
        for &(s, e) in windows {
            let start = d * DAY_MIN + s;
            let end = if e > s {
                d * DAY_MIN + e
            } else {
                (d + 1) * DAY_MIN + e
            };
            if split && end > WEEK_MIN {
                out.push((start, WEEK_MIN));
                out.push((0, end - WEEK_MIN));
            } else {
                out.push((start, end));
            }
        }
    }
    out
}

fn fmt_minute(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// 2026-11-23 00:00 UTC is a Monday.
    const MONDAY: u64 = 1_795_392_000;

    fn tw(days: Option<&[&str]>, hours: &[&str]) -> TimeWindows {
        let d: Option<Vec<String>> = days.map(|d| d.iter().map(|s| s.to_string()).collect());
        let h: Vec<String> = hours.iter().map(|s| s.to_string()).collect();
        TimeWindows::parse(d.as_deref(), Some(&h)).unwrap()
    }

    #[test]
    fn weekday_of_known_monday() {
        assert_eq!(Now::utc(MONDAY).minute_of_week(), 0);
        assert_eq!(
            Now::utc(MONDAY + 86_400 + 3_600).minute_of_week(),
            1440 + 60
        );
        // 23:30 UTC Sunday is 00:30 Monday in UTC+1.
        let n = Now {
            unix_s: MONDAY - 1_800,
            utc_offset_s: 3_600,
        };
        assert_eq!(n.minute_of_week(), 30);
    }

    #[test]
    fn office_hours_and_edges() {
        let t = tw(Some(&["mon", "tue"]), &["08:00-18:00"]);
        assert!(!t.contains(Now::utc(MONDAY + 7 * 3600)));
        assert!(t.contains(Now::utc(MONDAY + 8 * 3600)));
        assert!(!t.contains(Now::utc(MONDAY + 18 * 3600)));
        assert!(!t.contains(Now::utc(MONDAY + 2 * 86_400 + 9 * 3600)));
        // At 07:59:30 the next edge is 08:00:00.
        assert_eq!(
            t.next_edge(Now::utc(MONDAY + 8 * 3600 - 30)),
            Some(MONDAY + 8 * 3600)
        );
        // After Tuesday 18:00 the next edge is next Monday 08:00.
        assert_eq!(
            t.next_edge(Now::utc(MONDAY + 86_400 + 19 * 3600)),
            Some(MONDAY + 7 * 86_400 + 8 * 3600)
        );
    }

    #[test]
    fn overnight_window_wraps_into_next_day_and_week() {
        let t = tw(Some(&["sun"]), &["22:00-06:00"]);
        assert!(t.contains(Now::utc(MONDAY + 6 * 86_400 + 23 * 3600)));
        assert!(t.contains(Now::utc(MONDAY + 7 * 86_400 + 5 * 3600)));
        assert!(!t.contains(Now::utc(MONDAY + 5 * 3600 + 86_400)));
    }

    #[test]
    fn always_has_no_edge() {
        let t = TimeWindows::parse(None, None).unwrap();
        assert!(t.contains(Now::utc(MONDAY + 12_345)));
        assert_eq!(t.next_edge(Now::utc(MONDAY)), None);
        let t = tw(None, &["00:00-24:00"]);
        assert_eq!(t.next_edge(Now::utc(MONDAY)), None);
    }

    #[test]
    fn bad_windows() {
        let h = |w: &[&str]| {
            let v: Vec<String> = w.iter().map(|s| s.to_string()).collect();
            TimeWindows::parse(None, Some(&v)).unwrap_err().1
        };
        assert_eq!(
            h(&["08:00-18:00", "17:00-19:00"]),
            "windows overlap (08:00 and 17:00)"
        );
        assert_eq!(
            h(&["25:00-18:00"]),
            "expected a window like \"08:00-18:00\", got \"25:00-18:00\""
        );
        assert_eq!(
            h(&["08:00-08:00"]),
            "\"08:00-08:00\" is empty (start equals end)"
        );
        assert_eq!(
            h(&["22:00-06:00", "05:00-07:00"]),
            "windows overlap (22:00 and 05:00)"
        );
        let d: Vec<String> = vec!["mon".into(), "Mon".into()];
        assert_eq!(
            TimeWindows::parse(Some(&d), None).unwrap_err(),
            ("days", "day \"Mon\" listed twice".to_string())
        );
    }
}
