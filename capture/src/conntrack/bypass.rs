//! Packets the kernel let past nfguard without queueing them, measured as the NFQUEUE rules' packet
//! counters minus the packets the kernel numbered for the queues (DESIGN §4, counted bypass).
//!
//! A packet that matches an `-j NFQUEUE` rule either gets the next id of its queue
//! (`id_sequence` in `/proc/net/netfilter/nfnetlink_queue`) or is accepted unqueued: no process bound
//! (`--queue-bypass`) or a full queue with fail-open. Neither leaves a trace in the worker, so the
//! conntrack worker, which outlives capture restarts, compares the two counts every few seconds.
//!
//! Rules come from `iptables-save -c` / `ip6tables-save -c`; rules whose queue ranges overlap are
//! one group (the kernel spreads a `--queue-balance` rule's packets over its range). The ids are read
//! both before and after the rules, which bounds what moved while `iptables-save` ran (see
//! [`BypassMeter::observe`]): the count can only underestimate a moment's bypass, never invent one,
//! and is exact once a look finds the queue quiet; the reported counter is its running maximum.
//! Counter resets are followed: a smaller rule total means the rules were replaced, a queue's new
//! port id a new queue instance.

use std::collections::HashMap;

/// One `-j NFQUEUE` rule of `iptables-save -c`: its packet counter and queue range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueRule {
    pub packets: u64,
    pub first: u16,
    pub last: u16,
}

/// The NFQUEUE rules of an `iptables-save -c` dump (`[packets:bytes] -A CHAIN … -j NFQUEUE …`).
/// Lines that do not parse are skipped.
pub fn parse_save(text: &str) -> Vec<QueueRule> {
    text.lines().filter_map(parse_rule).collect()
}

fn parse_rule(line: &str) -> Option<QueueRule> {
    let rest = line.strip_prefix('[')?;
    let (counters, rule) = rest.split_once(']')?;
    let packets: u64 = counters.split_once(':')?.0.parse().ok()?;
    let mut words = rule.split_whitespace();
    let mut target = false;
    let (mut first, mut last) = (0u16, 0u16);
    while let Some(w) = words.next() {
        match w {
            "-j" => target = words.next() == Some("NFQUEUE"),
            "--queue-num" => {
                first = words.next()?.parse().ok()?;
                last = first;
            }
            "--queue-balance" => {
                let (a, b) = words.next()?.split_once(':')?;
                (first, last) = (a.parse().ok()?, b.parse().ok()?);
            }
            _ => {}
        }
    }
    (target && first <= last).then_some(QueueRule {
        packets,
        first,
        last,
    })
}

/// One line of `/proc/net/netfilter/nfnetlink_queue`: the queue, the port id of the process bound
/// to it, and the last id the kernel gave a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueIds {
    pub queue: u16,
    pub portid: u32,
    pub id_sequence: u64,
}

/// Parses `/proc/net/netfilter/nfnetlink_queue` (queue, portid, queue_total, copy_mode, copy_range,
/// queue_dropped, user_dropped, id_sequence, 1).
pub fn parse_proc(text: &str) -> Vec<QueueIds> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some(QueueIds {
                queue: f.first()?.parse().ok()?,
                portid: f.get(1)?.parse().ok()?,
                id_sequence: f.get(7)?.parse().ok()?,
            })
        })
        .collect()
}

/// A group of overlapping queue ranges with its running totals.
#[derive(Debug, Default, Clone)]
struct Group {
    /// The rules' packet counter at the last look.
    last_rules: u64,
    /// Rule packets since the first look (across counter resets).
    rules: u64,
    /// The smallest `rules - ids read before` seen: an upper bound of the first look's bypass.
    low: i128,
    bypassed: u64,
}

/// Cumulative bypass per queue range, fed one observation at a time.
#[derive(Debug, Default)]
pub struct BypassMeter {
    groups: HashMap<(u16, u16), Group>,
    /// Per queue: the last (port id, id_sequence) and the ids counted so far.
    ids: HashMap<u16, (u32, u64, u64)>,
}

impl BypassMeter {
    /// Takes the queues' ids read just before the rules, the rules, and the ids read just after.
    ///
    /// Why both reads: a group's bypass since the first look is `rules - ids` now minus the same at
    /// the first look, and neither moment's value is known exactly — packets keep arriving while
    /// `iptables-save` runs. The ids read after give a lower bound of the bypass now; the ids read
    /// before give an upper bound of the bypass at every look, hence of the first look's (bypass
    /// never decreases), and the smallest such bound is kept. Their difference never over-counts
    /// (issue #16: a baseline taken from the ids read after counted a ping queued meanwhile as
    /// bypass), and the first quiet look makes it exact.
    pub fn observe(&mut self, before: &[QueueIds], rules: &[QueueRule], after: &[QueueIds]) {
        self.count_ids(before);
        let merged = merge(rules);
        let counted_before: Vec<u64> = merged.iter().map(|(r, _)| self.counted(*r)).collect();
        self.count_ids(after);
        for ((range, packets), before) in merged.into_iter().zip(counted_before) {
            let after = self.counted(range);
            let g = self.groups.entry(range).or_insert(Group {
                last_rules: packets,
                rules: 0,
                low: i128::MAX,
                bypassed: 0,
            });
            let step = if packets < g.last_rules {
                packets
            } else {
                packets - g.last_rules
            };
            g.last_rules = packets;
            g.rules = g.rules.saturating_add(step);
            let rules = i128::from(g.rules);
            g.low = g.low.min(rules - i128::from(before));
            let now = rules - i128::from(after) - g.low;
            g.bypassed = g.bypassed.max(u64::try_from(now).unwrap_or(0));
        }
    }

    /// Ids the kernel gave packets of the queues in `range` since we first looked.
    fn counted(&self, range: (u16, u16)) -> u64 {
        (range.0..=range.1)
            .filter_map(|q| self.ids.get(&q).map(|e| e.2))
            .sum()
    }

    fn count_ids(&mut self, ids: &[QueueIds]) {
        for q in ids {
            // A queue seen for the first time counts all its ids: an instance numbers from 1.
            let e = self.ids.entry(q.queue).or_insert((q.portid, 0, 0));
            let step = if q.portid != e.0 || q.id_sequence < e.1 {
                // A new queue instance numbers from 1 again.
                q.id_sequence
            } else {
                q.id_sequence - e.1
            };
            *e = (q.portid, q.id_sequence, e.2.saturating_add(step));
        }
    }

    /// `(first queue, last queue, bypassed packets)` per group, sorted.
    pub fn totals(&self) -> Vec<(u16, u16, u64)> {
        let mut v: Vec<_> = self
            .groups
            .iter()
            .map(|(r, g)| (r.0, r.1, g.bypassed))
            .collect();
        v.sort_unstable();
        v
    }
}

/// Sums rules per range, merging ranges that overlap.
fn merge(rules: &[QueueRule]) -> Vec<((u16, u16), u64)> {
    let mut sorted: Vec<QueueRule> = rules.to_vec();
    sorted.sort_unstable_by_key(|r| (r.first, r.last));
    let mut out: Vec<((u16, u16), u64)> = Vec::new();
    for r in sorted {
        match out.last_mut() {
            Some(((_, last), packets)) if r.first <= *last => {
                *last = (*last).max(r.last);
                *packets = packets.saturating_add(r.packets);
            }
            _ => out.push(((r.first, r.last), r.packets)),
        }
    }
    out
}

/// The label of a range: `"3"` or `"0:3"`.
pub fn range_label(first: u16, last: u16) -> String {
    if first == last {
        first.to_string()
    } else {
        format!("{first}:{last}")
    }
}

/// One look: the queues' ids, the NFQUEUE rules, the queues' ids again (see [`BypassMeter::observe`]).
pub struct Sample {
    pub before: Vec<QueueIds>,
    pub rules: Vec<QueueRule>,
    pub after: Vec<QueueIds>,
}

/// The queues' ids now (`/proc/net/netfilter/nfnetlink_queue`); empty when it cannot be read.
pub fn read_ids() -> Vec<QueueIds> {
    std::fs::read_to_string("/proc/net/netfilter/nfnetlink_queue")
        .map(|t| parse_proc(&t))
        .unwrap_or_default()
}

/// Reads the queues' ids, runs `iptables-save -c` and `ip6tables-save -c` (whichever exist), and
/// reads the ids again. `None` when neither command ran (not installed, no permission).
pub fn sample() -> Option<Sample> {
    let before = read_ids();
    let mut rules = Vec::new();
    let mut ran = false;
    for cmd in ["iptables-save", "ip6tables-save"] {
        let Ok(out) = std::process::Command::new(cmd).arg("-c").output() else {
            continue;
        };
        if out.status.success() {
            ran = true;
            rules.extend(parse_save(&String::from_utf8_lossy(&out.stdout)));
        }
    }
    if !ran {
        return None;
    }
    Some(Sample {
        before,
        rules,
        after: read_ids(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SAVE: &str = "# Generated by iptables-nft-save v1.8.9
*mangle
:PREROUTING ACCEPT [100:5000]
:NFGUARD - [0:0]
[12:800] -A FORWARD -i lan0 -j NFGUARD
[40:2400] -A NFGUARD -j NFQUEUE --queue-balance 0:1 --queue-bypass
[7:420] -A INPUT -p udp -j NFQUEUE --queue-num 3
[9:1] -A OUTPUT -j NFQUEUE
[5:300] -A NFGUARD -j CONNMARK --save-mark
[x:1] -A NFGUARD -j NFQUEUE --queue-num 1
COMMIT
";

    #[test]
    fn save_output_gives_the_queue_rules() {
        assert_eq!(
            parse_save(SAVE),
            vec![
                QueueRule {
                    packets: 40,
                    first: 0,
                    last: 1
                },
                QueueRule {
                    packets: 7,
                    first: 3,
                    last: 3
                },
                QueueRule {
                    packets: 9,
                    first: 0,
                    last: 0
                },
            ]
        );
    }

    fn ids(v: &[(u16, u32, u64)]) -> Vec<QueueIds> {
        v.iter()
            .map(|&(queue, portid, id_sequence)| QueueIds {
                queue,
                portid,
                id_sequence,
            })
            .collect()
    }

    fn rule(packets: u64, first: u16, last: u16) -> QueueRule {
        QueueRule {
            packets,
            first,
            last,
        }
    }

    #[test]
    fn proc_lines_parse() {
        let t = "    0  12345     0 2  4096     0     0      987  1\n    1  -4000    2 2  4096  1  0  5  1\nbad\n";
        assert_eq!(
            parse_proc(t),
            vec![QueueIds {
                queue: 0,
                portid: 12345,
                id_sequence: 987
            }]
        );
    }

    #[test]
    fn packets_without_ids_are_bypassed() {
        let mut m = BypassMeter::default();
        m.observe(
            &ids(&[(0, 7, 100)]),
            &[rule(100, 0, 0)],
            &ids(&[(0, 7, 100)]),
        );
        // Everything queued: no bypass.
        m.observe(
            &ids(&[(0, 7, 150)]),
            &[rule(150, 0, 0)],
            &ids(&[(0, 7, 150)]),
        );
        assert_eq!(m.totals(), vec![(0, 0, 0)]);
        // The worker died: 30 packets passed the rule, none was numbered (its line is gone).
        m.observe(&[], &[rule(180, 0, 0)], &[]);
        assert_eq!(m.totals(), vec![(0, 0, 30)]);
        // A new worker (new port id) numbers from 1; its 20 packets are not bypass.
        m.observe(&ids(&[(0, 9, 20)]), &[rule(200, 0, 0)], &ids(&[(0, 9, 20)]));
        assert_eq!(m.totals(), vec![(0, 0, 30)]);
    }

    #[test]
    fn ids_read_after_the_rules_never_count_as_bypass() {
        let mut m = BypassMeter::default();
        m.observe(&ids(&[(0, 7, 0)]), &[rule(0, 0, 0)], &ids(&[(0, 7, 0)]));
        // 10 more packets arrived between reading the rule and reading the ids.
        m.observe(&ids(&[(0, 7, 50)]), &[rule(50, 0, 0)], &ids(&[(0, 7, 60)]));
        m.observe(&ids(&[(0, 7, 60)]), &[rule(60, 0, 0)], &ids(&[(0, 7, 60)]));
        assert_eq!(m.totals(), vec![(0, 0, 0)]);
    }

    #[test]
    fn balanced_and_overlapping_rules_are_one_group() {
        let mut m = BypassMeter::default();
        let r = |a, b| [rule(a, 0, 1), rule(b, 1, 1)];
        m.observe(
            &ids(&[(0, 1, 8), (1, 2, 7)]),
            &r(10, 5),
            &ids(&[(0, 1, 8), (1, 2, 7)]),
        );
        m.observe(
            &ids(&[(0, 1, 20), (1, 2, 20)]),
            &r(30, 15),
            &ids(&[(0, 1, 20), (1, 2, 20)]),
        );
        assert_eq!(m.totals(), vec![(0, 1, 5)]);
        assert_eq!(range_label(0, 1), "0:1");
        assert_eq!(range_label(4, 4), "4");
    }

    #[test]
    fn packets_queued_while_the_rules_are_read_are_not_bypass() {
        // The first look: 2 packets (a ping and its reply) were queued while iptables-save ran, so
        // the ids read after the rules are ahead of the rule counter by 2.
        let mut m = BypassMeter::default();
        m.observe(&ids(&[(0, 7, 10)]), &[rule(10, 0, 0)], &ids(&[(0, 7, 12)]));
        // The next look sees everything queued and numbered: nothing bypassed.
        m.observe(&ids(&[(0, 7, 12)]), &[rule(12, 0, 0)], &ids(&[(0, 7, 12)]));
        assert_eq!(m.totals(), vec![(0, 0, 0)]);
        // And real bypass after that is still counted in full.
        m.observe(&[], &[rule(20, 0, 0)], &[]);
        assert_eq!(m.totals(), vec![(0, 0, 8)]);
    }

    #[test]
    fn packets_queued_while_the_first_look_runs_do_not_hide_later_bypass() {
        // 2 packets were queued between reading the ids and reading the rules (issue #16, under
        // load: "rule-counter bypass not counted").
        let mut m = BypassMeter::default();
        m.observe(&ids(&[(0, 7, 10)]), &[rule(12, 0, 0)], &ids(&[(0, 7, 12)]));
        // A quiet look, then the worker dies and 8 packets pass the rule unqueued: exactly 8.
        m.observe(&ids(&[(0, 7, 12)]), &[rule(12, 0, 0)], &ids(&[(0, 7, 12)]));
        assert_eq!(m.totals(), vec![(0, 0, 0)]);
        m.observe(&[], &[rule(20, 0, 0)], &[]);
        assert_eq!(m.totals(), vec![(0, 0, 8)]);
    }

    #[test]
    fn a_queue_bound_after_the_first_look_is_not_bypass() {
        let mut m = BypassMeter::default();
        m.observe(&[], &[rule(5, 0, 0)], &[]);
        // The worker bound meanwhile and numbered every packet the rule saw since.
        m.observe(
            &ids(&[(0, 3, 500)]),
            &[rule(505, 0, 0)],
            &ids(&[(0, 3, 500)]),
        );
        assert_eq!(m.totals(), vec![(0, 0, 0)]);
    }

    #[test]
    fn replaced_rules_restart_their_counters() {
        let mut m = BypassMeter::default();
        m.observe(
            &ids(&[(2, 1, 1000)]),
            &[rule(1000, 2, 2)],
            &ids(&[(2, 1, 1000)]),
        );
        // `nfguard rules --apply` again: the new rule counts from 0.
        m.observe(
            &ids(&[(2, 1, 1010)]),
            &[rule(10, 2, 2)],
            &ids(&[(2, 1, 1010)]),
        );
        assert_eq!(m.totals(), vec![(2, 2, 0)]);
    }
}
