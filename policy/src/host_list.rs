//! `host_list = "lists/ads.txt"`: a blocklist file of host names in the formats operators already
//! have, compiled into a compact hash set.
//!
//! Each line is one of (detected per line, so a file may mix them):
//! - a hosts-file line, `0.0.0.0 ads.example.test [more names] [# comment]`: each name matches
//!   itself only (hosts files list every subdomain they mean; Pi-hole reads them the same way);
//! - a plain domain, `example.test`: matches itself and its subdomains;
//! - an AdBlock network rule, `||example.test^`: itself and its subdomains; `@@||example.test^` is an
//!   exception that wins over every entry of the same file (AdBlock semantics);
//! - a comment (`!`, `#`), an AdBlock header (`[Adblock Plus 2.0]`) or a blank line.
//!
//! Anything else (options such as `$third-party`, paths, regexes, cosmetic `##` rules, invalid
//! names) is skipped and reported with its line (`lists/ads.txt:120: unsupported AdBlock option
//! $third-party, line skipped`), never fatal: lists are published by others and grow new syntax.
//! A file with lines but not one usable entry is an error, though: that is an HTML error page or
//! the wrong file, and must not replace a working list.
//!
//! Names are matched as host rules match them (`host.rs`, `nfguard_proto::host_name::match_name`):
//! case and one trailing dot do not matter, a malformed name is matched by its longest valid
//! suffix, and never by an exact (hosts-file) entry.
//!
//! Memory: every name is stored once in one byte arena (a length byte and the name), and three
//! open-addressing tables (at most 3/4 full) of 8-byte slots point into it: the arena offset and 32
//! bits of the name's hash, so a probe reads the arena only when the hash matches (a lookup is
//! about one cache miss per table, not one per probe). About 24 + 11–21 bytes per entry for
//! typical names, no allocation per entry, none per lookup.

use std::net::IpAddr;

use nfguard_proto::host_name::{MAX_NAME_LEN, is_name_byte, match_name};

use crate::index::fnv1a;

/// Line messages kept per list (the rest are only counted): a list with 100,000 bad lines must not
/// hold 100,000 strings.
pub(crate) const MAX_REPORTED: usize = 20;

/// Which table an entry goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Hosts-file name: the name itself.
    Exact,
    /// Plain domain or `||x^`: the name and its subdomains.
    Suffix,
    /// `@@||x^`: not listed, whatever else the file says.
    Allow,
}

/// Lines skipped while reading a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// How many lines were skipped.
    pub count: usize,
    /// The first [`MAX_REPORTED`] of them, `FILE:LINE: what, line skipped`.
    pub messages: Vec<String>,
}

impl Skipped {
    pub(crate) fn push(&mut self, file: &str, line: usize, what: &str) {
        self.count += 1;
        if self.messages.len() < MAX_REPORTED {
            self.messages
                .push(format!("{file}:{line}: {what}, line skipped"));
        }
    }
}

/// A compiled host list.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostList {
    /// Entries back to back: a length byte, then the lowercase name.
    arena: Vec<u8>,
    exact: Table,
    suffix: Table,
    allow: Table,
    /// One bit per hash of every name in any table, [`FILTER_BITS`] bits per entry: most names a
    /// lookup tries are in no table, and this answers them from a few cache lines.
    filter: Box<[u64]>,
}

/// Filter bits per entry: about 1 in 9 names in no table still passes it (1 − e^(−1/8)).
const FILTER_BITS: usize = 8;

/// Open addressing with linear probing. A slot is `hash << 32 | (arena offset + 1)`; 0 is empty.
#[derive(Debug, Clone, Default)]
struct Table {
    slots: Box<[u64]>,
    len: usize,
}

impl HostList {
    /// Reads list text; `file` names it in messages. `Err` when the file has lines but no entry.
    pub(crate) fn parse(file: &str, text: &str) -> Result<(HostList, Skipped), String> {
        let mut arena = Vec::with_capacity(text.len().min(1 << 30));
        let mut offsets: [Vec<u32>; 3] = Default::default();
        let mut skipped = Skipped::default();
        for (n, line) in text.lines().enumerate() {
            let mut add = |kind: Kind, name: &[u8]| -> bool {
                let Ok(off) = u32::try_from(arena.len()) else {
                    return false;
                };
                let Ok(len) = u8::try_from(name.len()) else {
                    return false;
                };
                arena.push(len);
                arena.extend(name.iter().map(u8::to_ascii_lowercase));
                if let Some(o) = offsets.get_mut(kind as usize) {
                    o.push(off);
                }
                true
            };
            if let Err(what) = parse_line(line, &mut add) {
                skipped.push(file, n + 1, &what);
            }
        }
        let [exact, suffix, allow] = offsets;
        if exact.is_empty() && suffix.is_empty() && allow.is_empty() && skipped.count > 0 {
            return Err(format!(
                "{file}: no usable entry in {} lines (the first: {})",
                skipped.count,
                skipped.messages.first().map_or("", String::as_str)
            ));
        }
        arena.shrink_to_fit();
        let mut list = HostList {
            arena,
            ..HostList::default()
        };
        list.exact = list.table(&exact);
        list.suffix = list.table(&suffix);
        list.allow = list.table(&allow);
        let all = exact.len() + suffix.len() + allow.len();
        let words = (all * FILTER_BITS / 64 + 1).next_power_of_two();
        list.filter = vec![0u64; words].into_boxed_slice();
        for &off in exact.iter().chain(&suffix).chain(&allow) {
            let h = fnv1a(list.name_at(u64::from(off) + 1));
            let (w, bit) = filter_bit(h, words);
            if let Some(x) = list.filter.get_mut(w) {
                *x |= bit;
            }
        }
        Ok((list, skipped))
    }

    /// Entries (distinct names per kind).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.exact.len + self.suffix.len + self.allow.len
    }

    /// True when `host` (any case, trailing dot, malformed or not) is listed and not excepted.
    pub(crate) fn matches(&self, host: &str) -> bool {
        let n = match_name(host.as_bytes());
        let mut buf = [0u8; MAX_NAME_LEN];
        let Some(name) = buf.get_mut(..n.name.len()) else {
            return false;
        };
        name.copy_from_slice(n.name);
        name.make_ascii_lowercase();
        let name = &*name;
        if name.is_empty() {
            return false;
        }
        let mut listed = false;
        let mut rest = name;
        loop {
            let h = fnv1a(rest);
            if self.maybe(h) {
                if self.find(&self.allow, rest, h) {
                    return false;
                }
                listed = listed
                    || self.find(&self.suffix, rest, h)
                    || (n.whole && rest.len() == name.len() && self.find(&self.exact, rest, h));
            }
            match rest.iter().position(|&b| b == b'.') {
                Some(dot) => rest = rest.get(dot + 1..).unwrap_or(&[]),
                None => return listed,
            }
            if rest.is_empty() {
                return listed;
            }
        }
    }

    fn name_at(&self, slot: u64) -> &[u8] {
        let off = usize::try_from((slot & 0xffff_ffff).saturating_sub(1)).unwrap_or(usize::MAX);
        let len = self.arena.get(off).map_or(0, |&l| usize::from(l));
        self.arena.get(off + 1..off + 1 + len).unwrap_or(&[])
    }

    /// False when no table holds a name of hash `h`.
    fn maybe(&self, h: u64) -> bool {
        let (w, bit) = filter_bit(h, self.filter.len());
        self.filter.get(w).is_some_and(|x| x & bit != 0)
    }

    fn find(&self, t: &Table, name: &[u8], h: u64) -> bool {
        if t.len == 0 {
            return false;
        }
        let mask = t.slots.len() - 1;
        let (mut i, tag) = hash_index(h, mask);
        loop {
            match t.slots.get(i) {
                Some(&0) | None => return false,
                Some(&s) if s >> 32 == tag && self.name_at(s) == name => return true,
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// A table over `offsets`, duplicates dropped.
    fn table(&self, offsets: &[u32]) -> Table {
        if offsets.is_empty() {
            return Table::default();
        }
        let cap = (offsets.len() * 4 / 3 + 1).next_power_of_two();
        let mut slots = vec![0u64; cap].into_boxed_slice();
        let mask = cap - 1;
        let mut len = 0;
        for &off in offsets {
            let name = self.name_at(u64::from(off) + 1);
            let (mut i, tag) = hash_index(fnv1a(name), mask);
            let slot = tag << 32 | (u64::from(off) + 1);
            loop {
                match slots.get(i) {
                    Some(&0) => {
                        if let Some(s) = slots.get_mut(i) {
                            *s = slot;
                        }
                        len += 1;
                        break;
                    }
                    Some(&s) if s >> 32 == tag && self.name_at(s) == name => break,
                    Some(_) => i = (i + 1) & mask,
                    None => break,
                }
            }
        }
        Table { slots, len }
    }
}

/// The filter word and bit of hash `h` (`words` is a power of two), from its high bits: the
/// tables' slot positions come from the low ones, so the two are independent.
fn filter_bit(h: u64, words: usize) -> (usize, u64) {
    let x = usize::try_from(h >> 26).unwrap_or(0);
    ((x >> 6) & words.wrapping_sub(1), 1u64 << (x & 63))
}

/// The first slot to probe (low bits of hash `h`) and the tag kept in the slot (high 32 bits).
fn hash_index(h: u64, mask: usize) -> (usize, u64) {
    // FNV-1a's low bits mix less than its high ones: fold before masking.
    let index = usize::try_from((h ^ (h >> 29)) & 0xffff_ffff).unwrap_or(0) & mask;
    (index, h >> 32)
}

/// One line: calls `add` for each entry, or says why the line is skipped.
fn parse_line(line: &str, add: &mut impl FnMut(Kind, &[u8]) -> bool) -> Result<(), String> {
    let line = line.trim();
    if line.is_empty()
        || line.starts_with(['!', '#'])
        || (line.starts_with('[') && line.ends_with(']'))
    {
        return Ok(());
    }
    if let Some(rest) = line.strip_prefix("@@") {
        let name = adblock_domain(rest)?;
        return push(add, Kind::Allow, name);
    }
    if line.starts_with('|') {
        let name = adblock_domain(line)?;
        return push(add, Kind::Suffix, name);
    }
    if ["##", "#@#", "#?#", "#$#"].iter().any(|m| line.contains(m)) {
        return Err("unsupported AdBlock element hiding rule".into());
    }
    if line.starts_with('/') {
        return Err("unsupported AdBlock regular expression".into());
    }
    // Hosts files and plain lists allow a trailing `# comment`.
    let line = line.split('#').next().unwrap_or("").trim();
    let mut words = line.split_ascii_whitespace();
    let Some(first) = words.next() else {
        return Ok(());
    };
    if first.parse::<IpAddr>().is_ok() || first.contains('%') {
        // `fe80::1%lo0 localhost`: an address with a zone is a hosts-file address too.
        let mut any = false;
        for w in words {
            any = true;
            // `0.0.0.0 0.0.0.0` in hosts-file headers names no host.
            if w.parse::<IpAddr>().is_ok() {
                continue;
            }
            push(add, Kind::Exact, w)?;
        }
        return if any {
            Ok(())
        } else {
            Err("hosts-file line without a name".into())
        };
    }
    if words.next().is_some() {
        return Err(format!(
            "{line:?} is neither a hosts-file line nor one domain"
        ));
    }
    if first.contains(['$', '^', '*', '/', '|']) {
        return Err(format!(
            "unsupported AdBlock rule {first:?} (only ||domain^ is supported)"
        ));
    }
    push(add, Kind::Suffix, first)
}

/// The domain of `||domain^` (also `||domain^|`); anything else is unsupported.
fn adblock_domain(rule: &str) -> Result<&str, String> {
    let (body, options) = match rule.split_once('$') {
        Some((b, o)) => (b, Some(o)),
        None => (rule, None),
    };
    if let Some(o) = options {
        let first = o.split(',').next().unwrap_or("");
        return Err(format!("unsupported AdBlock option ${first}"));
    }
    let inner = body
        .strip_prefix("||")
        .and_then(|b| b.strip_suffix("^|").or_else(|| b.strip_suffix('^')))
        .filter(|d| !d.contains(['^', '|', '/', '*']));
    inner.ok_or_else(|| format!("unsupported AdBlock rule {rule:?} (only ||domain^ is supported)"))
}

fn push(add: &mut impl FnMut(Kind, &[u8]) -> bool, kind: Kind, name: &str) -> Result<(), String> {
    let name = name.strip_suffix('.').unwrap_or(name);
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.bytes().all(is_name_byte)
        && !name.starts_with('.')
        && !name.contains("..");
    if !ok {
        return Err(format!("invalid host name {name:?}"));
    }
    if add(kind, name.as_bytes()) {
        Ok(())
    } else {
        Err("the list is larger than 4 GiB".into())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn list(text: &str) -> (HostList, Skipped) {
        HostList::parse("lists/ads.txt", text).unwrap()
    }

    #[test]
    fn hosts_file_lines_match_exactly() {
        let (l, s) = list(
            "# StevenBlack-style header\n127.0.0.1 localhost\n0.0.0.0 0.0.0.0\n\
             0.0.0.0 ads.example.test tracker.example.test # two names\n::1 ip6-localhost\n",
        );
        assert_eq!(s.count, 0, "{:?}", s.messages);
        assert!(l.matches("ads.example.test"));
        assert!(l.matches("Tracker.Example.Test."));
        assert!(!l.matches("x.ads.example.test"));
        assert!(!l.matches("example.test"));
        assert!(l.matches("localhost"));
        assert_eq!(l.len(), 4);
    }

    #[test]
    fn plain_domains_match_subdomains() {
        let (l, _) = list("example.test\nbad.other.test.\n");
        assert!(l.matches("example.test"));
        assert!(l.matches("a.b.EXAMPLE.test"));
        assert!(!l.matches("badexample.test"));
        assert!(!l.matches("example.test.evil"));
        assert!(l.matches("x.bad.other.test"));
        assert!(!l.matches("other.test"));
    }

    #[test]
    fn adblock_rules_and_exceptions() {
        let (l, s) = list(
            "[Adblock Plus 2.0]\n! Title: test\n||ads.test^\n||cdn.test^|\n@@||good.ads.test^\n\
             ||x.test^$third-party\n||y.test/banner^\nexample.test##.ad\n/ads[0-9]+/\n|http://z.test|\n",
        );
        assert!(l.matches("ads.test"));
        assert!(l.matches("a.ads.test"));
        assert!(l.matches("cdn.test"));
        assert!(!l.matches("good.ads.test"));
        assert!(!l.matches("a.good.ads.test"));
        assert!(!l.matches("x.test"));
        assert_eq!(s.count, 5);
        assert_eq!(
            s.messages,
            [
                "lists/ads.txt:6: unsupported AdBlock option $third-party, line skipped",
                "lists/ads.txt:7: unsupported AdBlock rule \"||y.test/banner^\" (only ||domain^ is supported), line skipped",
                "lists/ads.txt:8: unsupported AdBlock element hiding rule, line skipped",
                "lists/ads.txt:9: unsupported AdBlock regular expression, line skipped",
                "lists/ads.txt:10: unsupported AdBlock rule \"|http://z.test|\" (only ||domain^ is supported), line skipped",
            ]
        );
    }

    #[test]
    fn malformed_names_match_by_their_valid_suffix() {
        let (l, _) = list("0.0.0.0 evil.test\n||ads.test^\n");
        assert!(l.matches("x\0.a.ads.test"));
        assert!(l.matches(&format!("{}.ads.test", "a".repeat(300))));
        // Exact entries need the whole, well-formed name.
        assert!(l.matches("EVIL.test."));
        assert!(!l.matches("x\0.evil.test"));
        assert!(!l.matches(""));
        assert!(!l.matches("\0"));
    }

    #[test]
    fn bad_lines_are_counted_and_only_the_first_kept() {
        let mut t = String::from("good.test\n");
        for i in 0..100 {
            t += &format!("bad name {i}\n");
        }
        let (l, s) = list(&t);
        assert!(l.matches("good.test"));
        assert_eq!(s.count, 100);
        assert_eq!(s.messages.len(), MAX_REPORTED);
        assert_eq!(
            s.messages[0],
            "lists/ads.txt:2: \"bad name 0\" is neither a hosts-file line nor one domain, line skipped"
        );
        assert_eq!(
            HostList::parse("x", "a..b\n0.0.0.0\n").unwrap_err(),
            "x: no usable entry in 2 lines (the first: x:1: invalid host name \"a..b\", line skipped)"
        );
        // An empty list is a list (nothing listed yet).
        let (l, s) = list("# nothing yet\n\n");
        assert_eq!((l.len(), s.count), (0, 0));
        assert!(!l.matches("a.test"));
    }

    #[test]
    fn duplicates_are_one_entry() {
        let (l, _) = list("a.test\nA.test\na.test.\n||a.test^\n");
        assert_eq!(l.len(), 1);
    }

    /// The naive reading of the format: every entry compared with every name.
    fn naive(entries: &[(Kind, String)], host: &str) -> bool {
        let n = match_name(host.as_bytes());
        let name = String::from_utf8_lossy(n.name).to_ascii_lowercase();
        if name.is_empty() {
            return false;
        }
        let under = |e: &str| name == e || name.ends_with(&format!(".{e}"));
        if entries.iter().any(|(k, e)| *k == Kind::Allow && under(e)) {
            return false;
        }
        entries.iter().any(|(k, e)| match k {
            Kind::Exact => n.whole && name == *e,
            Kind::Suffix => under(e),
            Kind::Allow => false,
        })
    }

    const LABELS: &[&str] = &["a", "b", "ads", "x-y", "c1", "_s"];

    fn name(parts: &[usize]) -> String {
        parts
            .iter()
            .map(|&i| LABELS[i % LABELS.len()])
            .collect::<Vec<_>>()
            .join(".")
    }

    proptest! {
        /// Compiled table == naive scan, on random lists of all three formats.
        #[test]
        fn compiled_equals_naive(
            entries in prop::collection::vec((0usize..3, prop::collection::vec(0usize..6, 1..4)), 0..30),
            hosts in prop::collection::vec((prop::collection::vec(0usize..6, 1..5), 0usize..4), 1..30),
        ) {
            let mut text = String::new();
            let mut naive_entries = Vec::new();
            for (k, parts) in &entries {
                let n = name(parts);
                let (line, kind) = match k {
                    0 => (format!("0.0.0.0 {n}"), Kind::Exact),
                    1 => (if n.len().is_multiple_of(2) { format!("||{n}^") } else { n.clone() }, Kind::Suffix),
                    _ => (format!("@@||{n}^"), Kind::Allow),
                };
                text += &line;
                text.push('\n');
                naive_entries.push((kind, n));
            }
            let (l, s) = HostList::parse("l", &text).unwrap();
            prop_assert_eq!(s.count, 0);
            for (parts, shape) in hosts {
                let mut h = name(&parts);
                match shape {
                    0 => {}
                    1 => h = h.to_ascii_uppercase() + ".",
                    2 => h = format!("q\0.{h}"),
                    _ => h = format!("{}.{h}", "z".repeat(250)),
                }
                prop_assert_eq!(l.matches(&h), naive(&naive_entries, &h), "{:?}\n{}", h, text);
            }
        }
    }
}
