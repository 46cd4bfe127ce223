//! nfguard's policy: `policy.toml` parsing and checking, compiled first-match evaluation, and (feature
//! `process`) the policy process on the bus.
//!
//! The library is pure: no sockets, no clock. Callers pass the flow ([`FlowFacts`]), the time
//! ([`Now`]) and the hosts' usage ([`Usage`]) and get a [`Decision`]:
//!
//! ```
//! use nfguard_policy::{Action, FlowFacts, Now, Policy, Usage};
//! use nfguard_proto::types::FlowKey;
//!
//! let p = Policy::parse("policy.toml", "default = \"accept\"\n[[rule]]\nname = \"no-telnet\"\nport = [23]\naction = \"drop\"\n", 0xff00).unwrap();
//! let f = FlowFacts {
//!     key: FlowKey { client: "10.0.0.2:40000".parse().unwrap(), server: "10.0.1.2:23".parse().unwrap(), l4: 6 },
//!     in_iface: "lan0", out_iface: "wan0", queue: 0, class: None,
//! };
//! let d = p.decide(&f, Now::utc(0), &Usage::empty());
//! assert_eq!(d.action, Action::Drop);
//! assert_eq!(d.rule.as_deref(), Some("no-telnet"));
//! ```
//!
//! Semantics (DESIGN §7), in the order they apply:
//! - **Critical traffic**: a flow classified DNS (5), DHCP (18) or DHCPV6 (103) as master or app, or an
//!   ICMPv6 flow whose type (carried in the tuple's `server_port`) is 133–137, is only ruled by rules
//!   that name that app in `app` or `master`; with none matching it is accepted (`Reason::Critical`),
//!   whatever `default` says.
//! - **Tuple-only requests** (`class: None`, a flow's first packet): the first rule whose tuple half
//!   (addresses, ports, l4, interfaces, queue, time) matches decides. If it needs DPI (app, master,
//!   category, host or risk) the answer is `Action::NeedsDpi` (provisional accept, not offloaded);
//!   otherwise it is final. A final drop or reject of a flow on a DNS/DHCP/DHCPv6 port waits for DPI
//!   instead, which may find it is critical traffic.
//! - **Classified requests**: the first rule whose matchers all match; else `default`.
//! - Matchers AND together; values of one matcher OR. `app` matches the flow's app or master
//!   (`app = ["YouTube"]` matches `TLS.YouTube` and `QUIC.YouTube`; `app = ["TLS"]` every TLS flow).
//!   `port`/`port_range` are the server port of TCP, UDP, DCCP or SCTP flows (both keys: either).
//!   `host = "*.x.test"` matches `x.test` too. `in_iface = "wlan+"` is a prefix, as in iptables.
//! - `host_list = "lists/ads.txt"` (relative to the rule file) matches the flow's host — SNI, HTTP
//!   Host, QUIC SNI, a DNS query's name — against a hosts file, plain domain list or AdBlock
//!   `||x^` list (`host_list.rs`); like `host`, it needs DPI. A DNS query is critical traffic, so the
//!   rule that rejects listed names' queries says `app = "DNS"` too. `ip_list = "…netset"` matches
//!   the server address against a CIDR list (`ip_list.rs`); it is a tuple matcher. Skipped list lines
//!   are [`Policy::warnings`], never errors; an unreadable list or one without a usable entry is.
//! - `src_country` / `dst_country = ["!DE", "!FR"]` match the client's / server's country from the
//!   `[policy] geoip` database (`geoip.rs`; [`Policy::load_with_geoip`]): plain codes are
//!   alternatives, `!` codes exclusions, and an address the database does not place matches none.
//!   They are tuple matchers.
//! - `quota` counts the client address's bytes in the store's `UsageSnapshot`; at or over the quota
//!   the `over_quota` action applies. `mode = "monitor"` turns drop and reject into accept with
//!   `would_drop` set.
//! - `valid_until` is the next edge of any `time` window of the rules examined up to the decision.

// Rule files and bus requests are outside input: no indexing, unwrap or panic on them.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)
)]

mod compile;
mod decision;
mod decision_log;
mod facts;
mod file;
#[doc(hidden)]
pub mod fuzz;
mod geoip;
mod host;
mod host_list;
mod index;
mod ip_list;
mod lists;
mod policy;
mod rule;
#[cfg(feature = "process")]
mod rule_file;
mod time_window;

#[cfg(feature = "process")]
pub mod service;

pub use compile::{MAX_SHAPERS, Shaper};
pub use decision::{Action, Decision, Reason};
pub use decision_log::decision_log_line;
pub use facts::{ClassFacts, FactsError, FlowFacts, Usage};
pub use file::{DefaultAction, Mode};
pub use geoip::{Countries, Country, CountryDb};
pub use lists::{MAX_LIST_BYTES, ReadList, read_list_file};
pub use policy::Policy;
pub use rule::{QuotaRule, Rule, RuleAction};
pub use time_window::Now;
