//! A loaded policy and its evaluation: first match wins, critical traffic is allowed unless a rule
//! names it, tuple-only requests are final when the first rule that could match needs no DPI.

use std::path::Path;
use std::sync::Arc;

use nfguard_proto::config::ConfigError;
use nfguard_proto::types::{IPPROTO_TCP, IPPROTO_UDP, Verdict};

use crate::compile::{Shaper, compile};
use crate::decision::{Action, Decision, Reason};
use crate::facts::{ClassFacts, FlowFacts, Usage};
use crate::file::{DefaultAction, Mode};
use crate::geoip::{Countries, CountryDb};
use crate::index::Index;
use crate::lists::{ReadList, read_list_file};
use crate::rule::{CRITICAL_APPS, DHCP, DHCPV6, DNS, ICMPV6, Rule, RuleAction};
use crate::time_window::{Now, unix_at_edge};

/// Ports of critical protocols (DNS 53, DHCP 67/68, DHCPv6 546/547): a tuple-only drop of such a
/// flow waits for DPI, which may find it is critical traffic.
const CRITICAL_PORTS: [(u8, u16); 6] = [
    (IPPROTO_UDP, 53),
    (IPPROTO_TCP, 53),
    (IPPROTO_UDP, 67),
    (IPPROTO_UDP, 68),
    (IPPROTO_UDP, 546),
    (IPPROTO_UDP, 547),
];

/// A checked, compiled `policy.toml`.
#[derive(Debug)]
pub struct Policy {
    text: String,
    default: DefaultAction,
    mode: Mode,
    rules: Vec<Rule>,
    shapers: Vec<Shaper>,
    index: Index,
    list_files: Vec<String>,
    warnings: Vec<String>,
    /// The first country matcher, as the error to give without a database.
    needs_geoip: Option<ConfigError>,
    geoip: Option<Arc<CountryDb>>,
}

/// The critical apps a flow is (bits over [`CRITICAL_APPS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Critical(u8);

impl Policy {
    /// Parses and compiles policy text; `file` names it in errors and its directory is where
    /// `host_list`/`ip_list` files are read from; `user_mask` bounds `mark`.
    ///
    /// # Errors
    /// A [`ConfigError`] (`policy.toml:12: rule[0].app: unknown application "BitTorent" (did you
    /// mean "BitTorrent"?)`) for the first problem found.
    pub fn parse(file: &str, text: &str, user_mask: u32) -> Result<Policy, ConfigError> {
        let dir = Path::new(file).parent().unwrap_or(Path::new(""));
        Policy::parse_in(dir, file, text, user_mask)
    }

    /// As [`Policy::parse`], with list files read relative to `dir`.
    ///
    /// # Errors
    /// As [`Policy::parse`].
    pub fn parse_in(
        dir: &Path,
        file: &str,
        text: &str,
        user_mask: u32,
    ) -> Result<Policy, ConfigError> {
        let mut read = |name: &str| read_list_file(dir, name);
        Policy::parse_with_lists(file, text, user_mask, &mut read)
    }

    /// As [`Policy::parse`], with list files' text from `read` (given the name as written).
    ///
    /// # Errors
    /// As [`Policy::parse`]; a list `read` cannot give is
    /// `policy.toml:4: rule[0].host_list: lists/ads.txt: cannot read: …`.
    pub fn parse_with_lists<'r>(
        file: &str,
        text: &str,
        user_mask: u32,
        read: &'r mut ReadList<'r>,
    ) -> Result<Policy, ConfigError> {
        let c = compile(file, text, user_mask, read)?;
        let index = Index::build(&c.rules);
        Ok(Policy {
            text: text.to_string(),
            default: c.default,
            mode: c.mode,
            rules: c.rules,
            shapers: c.shapers,
            index,
            list_files: c.list_files,
            warnings: c.warnings,
            needs_geoip: c.needs_geoip,
            geoip: None,
        })
    }

    /// [`Policy::load`] with the `[policy] geoip` database at `geoip` (given as the operator wrote
    /// it, joined to the config's directory). The database is one of [`Policy::list_files`], so the
    /// policy process reloads when it changes.
    ///
    /// # Errors
    /// As [`Policy::load`]; a database that cannot be read is `<geoip>:0: geoip: …`; a country
    /// rule without a database names that rule.
    pub fn load_with_geoip(
        path: &Path,
        user_mask: u32,
        geoip: Option<&Path>,
    ) -> Result<Policy, ConfigError> {
        let p = Policy::load(path, user_mask)?;
        let db = match geoip {
            Some(db_path) => Some(Arc::new(CountryDb::open(db_path).map_err(|e| {
                ConfigError {
                    file: db_path.display().to_string(),
                    line: 0,
                    path: "geoip".into(),
                    message: e,
                }
            })?)),
            None => None,
        };
        p.with_geoip(db)
    }

    /// Uses `db` for country matchers; its file joins [`Policy::list_files`].
    ///
    /// # Errors
    /// A country rule without a database, naming that rule.
    pub fn with_geoip(mut self, db: Option<Arc<CountryDb>>) -> Result<Policy, ConfigError> {
        if let Some(db) = &db {
            self.list_files.push(db.path().to_string());
        }
        self.geoip = db;
        self.check_geoip()?;
        Ok(self)
    }

    fn check_geoip(&self) -> Result<(), ConfigError> {
        match (&self.needs_geoip, &self.geoip) {
            (Some(e), None) => Err(e.clone()),
            _ => Ok(()),
        }
    }

    /// The countries of the flow's ends when a rule asks for them (none otherwise: no lookup).
    pub fn countries(&self, f: &FlowFacts<'_>) -> Countries {
        match &self.geoip {
            Some(db) if self.needs_geoip.is_some() => {
                db.countries(f.key.client.ip(), f.key.server.ip())
            }
            _ => Countries::default(),
        }
    }

    /// The GeoIP database in use, if any.
    pub fn geoip(&self) -> Option<&Arc<CountryDb>> {
        self.geoip.as_ref()
    }

    /// Reads and parses a policy file and its lists; the error names the file as given.
    ///
    /// # Errors
    /// As [`Policy::parse`]; an unreadable file is line 0.
    pub fn load(path: &Path, user_mask: u32) -> Result<Policy, ConfigError> {
        let (file, text) = nfguard_proto::config::read_config_file(path)?;
        Policy::parse(&file, &text, user_mask)
    }

    /// The list files the rules name, as written (relative to the rule file's directory).
    pub fn list_files(&self) -> &[String] {
        &self.list_files
    }

    /// Lines the lists skipped, `lists/ads.txt:120: unsupported AdBlock option $third-party, line
    /// skipped` (at most 20 per list, then a total).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The source text it was parsed from.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn default_action(&self) -> DefaultAction {
        self.default
    }

    /// The compiled rules in file order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// One HTB class per `shape` action and per `over_quota = "shape"`, in file order (≤ 63).
    pub fn shapers(&self) -> Vec<Shaper> {
        self.shapers.clone()
    }

    /// The earliest time-window edge of any rule after `now`, when decisions may change.
    pub fn next_time_edge(&self, now: Now) -> Option<u64> {
        self.valid_until(u32::MAX, now)
    }

    /// `(rule index, host)` pairs currently over their quota, sorted: when this changes, decided
    /// flows must be decided again.
    pub fn over_quota_hosts(
        &self,
        usage: &Usage,
        hosts: &[std::net::IpAddr],
    ) -> Vec<(usize, std::net::IpAddr)> {
        let mut out = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            if let Some(q) = r.quota {
                for &h in hosts {
                    let in_src = r.m.src.is_empty() || r.m.src.iter().any(|n| n.contains(&h));
                    if in_src && usage.bytes(h, q.quota.period) >= q.quota.bytes {
                        out.push((i, h));
                    }
                }
            }
        }
        out
    }

    /// Decides a flow at `now` with the hosts' byte counts in `usage`. Allocates nothing.
    pub fn decide(&self, f: &FlowFacts<'_>, now: Now, usage: &Usage) -> Decision {
        let crit = critical(f, f.class.as_ref());
        let geo = self.countries(f);
        let mut best = u32::MAX;
        match &f.class {
            Some(c) => {
                if crit.any() {
                    let check = |i: u32| {
                        self.rule(i)
                            .is_some_and(|r| crit.named_by(r) && full_match(r, f, c, now, &geo))
                    };
                    scan(&self.index.critical, &mut best, &check);
                    return self.outcome(best, f, now, usage, Reason::Critical);
                }
                let check = |i: u32| self.rule(i).is_some_and(|r| full_match(r, f, c, now, &geo));
                let mut visit = |b: &[u32]| scan(b, &mut best, &check);
                self.tuple_buckets(f, &mut visit);
                self.index.class_buckets(c, &mut visit);
                self.outcome(best, f, now, usage, Reason::Default)
            }
            None => {
                if crit.any() {
                    let check = |i: u32| {
                        self.rule(i)
                            .is_some_and(|r| crit.named_by(r) && r.m.matches_tuple(f, now, &geo))
                    };
                    scan(&self.index.critical, &mut best, &check);
                    if best != u32::MAX {
                        return Decision::needs_dpi();
                    }
                    return self.outcome(best, f, now, usage, Reason::Critical);
                }
                let check = |i: u32| {
                    self.rule(i)
                        .is_some_and(|r| r.m.matches_tuple(f, now, &geo))
                };
                let mut visit = |b: &[u32]| scan(b, &mut best, &check);
                self.tuple_buckets(f, &mut visit);
                visit(&self.index.c_untupled);
                self.tuple_only(best, f, now, usage)
            }
        }
    }

    /// The same answer as [`Policy::decide`] by a plain scan of every rule: the reference the
    /// property test compares the indexes against.
    #[doc(hidden)]
    pub fn decide_naive(&self, f: &FlowFacts<'_>, now: Now, usage: &Usage) -> Decision {
        let crit = critical(f, f.class.as_ref());
        let geo = self.countries(f);
        let first = |pred: &dyn Fn(&Rule) -> bool| {
            self.rules
                .iter()
                .position(pred)
                .map_or(u32::MAX, |i| u32::try_from(i).unwrap_or(u32::MAX))
        };
        match &f.class {
            Some(c) if crit.any() => {
                let best = first(&|r| crit.named_by(r) && full_match(r, f, c, now, &geo));
                self.outcome(best, f, now, usage, Reason::Critical)
            }
            Some(c) => {
                let best = first(&|r| full_match(r, f, c, now, &geo));
                self.outcome(best, f, now, usage, Reason::Default)
            }
            None if crit.any() => {
                if first(&|r| crit.named_by(r) && r.m.matches_tuple(f, now, &geo)) != u32::MAX {
                    return Decision::needs_dpi();
                }
                self.outcome(u32::MAX, f, now, usage, Reason::Critical)
            }
            None => {
                let best = first(&|r| r.m.matches_tuple(f, now, &geo));
                self.tuple_only(best, f, now, usage)
            }
        }
    }

    fn rule(&self, i: u32) -> Option<&Rule> {
        self.rules.get(usize::try_from(i).ok()?)
    }

    fn tuple_buckets(&self, f: &FlowFacts<'_>, visit: &mut impl FnMut(&[u32])) {
        let k = &f.key;
        let has_ports = k.l4 == IPPROTO_TCP || k.l4 == IPPROTO_UDP || k.l4 == 33 || k.l4 == 132;
        self.index.tuple_buckets(
            has_ports,
            k.server.port(),
            k.client.ip(),
            k.server.ip(),
            visit,
        );
    }

    /// A tuple-only request whose first possibly-matching rule is `best`.
    fn tuple_only(&self, best: u32, f: &FlowFacts<'_>, now: Now, usage: &Usage) -> Decision {
        if self.rule(best).is_some_and(Rule::needs_dpi) {
            return Decision::needs_dpi();
        }
        let d = self.outcome(best, f, now, usage, Reason::Default);
        let k = &f.key;
        let maybe_critical = CRITICAL_PORTS
            .iter()
            .any(|&(l4, p)| k.l4 == l4 && (k.server.port() == p || k.client.port() == p));
        // A drop by port or address could hit DNS/DHCP: let DPI say what it is first.
        if maybe_critical && (d.would_drop || d.verdict != Verdict::Accept) {
            return Decision::needs_dpi();
        }
        d
    }

    /// The decision of rule `best` (`u32::MAX`: none matched → `none`'s reason: the default, or
    /// critical traffic's accept).
    fn outcome(
        &self,
        best: u32,
        f: &FlowFacts<'_>,
        now: Now,
        usage: &Usage,
        none: Reason,
    ) -> Decision {
        let Some(r) = self.rule(best) else {
            let action = match (none, self.default) {
                (Reason::Critical, _) | (_, DefaultAction::Accept) => RuleAction::Accept,
                (_, DefaultAction::Drop) => RuleAction::Drop,
                (_, DefaultAction::Reject) => RuleAction::Reject,
            };
            let mut d = self.apply(action, None, 0, false, false);
            d.reason = none;
            d.valid_until = self.valid_until(u32::MAX, now);
            return d;
        };
        let (action, over) = match r.quota {
            Some(q) if usage.bytes(f.key.client.ip(), q.quota.period) >= q.quota.bytes => {
                (q.over, true)
            }
            _ => (r.action, false),
        };
        let mut d = self.apply(action, Some(r), r.mark, r.log, over);
        d.valid_until = self.valid_until(best, now);
        d
    }

    fn apply(
        &self,
        action: RuleAction,
        r: Option<&Rule>,
        mark: u32,
        log: bool,
        over_quota: bool,
    ) -> Decision {
        let (mut action, mut verdict, shaper) = match action {
            RuleAction::Accept => (Action::Accept, Verdict::Accept, 0),
            RuleAction::Drop => (Action::Drop, Verdict::Drop, 0),
            RuleAction::Reject => (Action::Reject, Verdict::Reject, 0),
            RuleAction::Shape { class, .. } => (Action::Shape, Verdict::Accept, class),
        };
        let would_drop = self.mode == Mode::Monitor && verdict != Verdict::Accept;
        if would_drop {
            action = Action::Accept;
            verdict = Verdict::Accept;
        }
        Decision {
            action,
            verdict,
            shaper,
            mark,
            offload: true,
            rule: r.map(|r| r.name.clone()),
            valid_until: None,
            would_drop,
            log,
            over_quota,
            reason: Reason::Rule,
        }
    }

    /// The earliest next edge of the time windows of rules up to index `upto` (they were looked at).
    fn valid_until(&self, upto: u32, now: Now) -> Option<u64> {
        let edge = self.index.next_edge(now.minute_of_week(), upto)?;
        unix_at_edge(now, edge)
    }
}

fn full_match(r: &Rule, f: &FlowFacts<'_>, c: &ClassFacts<'_>, now: Now, geo: &Countries) -> bool {
    r.m.matches_tuple(f, now, geo) && r.m.matches_class(c)
}

/// Lowers `best` to the first index in the sorted `bucket` below it that passes `check`.
fn scan(bucket: &[u32], best: &mut u32, check: &impl Fn(u32) -> bool) {
    for &i in bucket {
        if i >= *best {
            return;
        }
        if check(i) {
            *best = i;
            return;
        }
    }
}

fn critical(f: &FlowFacts<'_>, c: Option<&ClassFacts<'_>>) -> Critical {
    let mut bits = 0u8;
    for (n, id) in CRITICAL_APPS.iter().enumerate() {
        let hit = match *id {
            ICMPV6 => f.is_neighbour_discovery(),
            DNS | DHCP | DHCPV6 => c.is_some_and(|c| c.master == *id || c.app == *id),
            _ => false,
        };
        if hit {
            bits |= 1 << n;
        }
    }
    Critical(bits)
}

impl Critical {
    fn any(self) -> bool {
        self.0 != 0
    }

    /// The rule names one of the critical apps this flow is.
    fn named_by(self, r: &Rule) -> bool {
        CRITICAL_APPS
            .iter()
            .enumerate()
            .any(|(n, &id)| self.0 & (1 << n) != 0 && r.names_app(id))
    }
}
