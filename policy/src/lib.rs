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
mod host;
mod index;
mod policy;
mod rule;
mod time_window;

#[cfg(feature = "process")]
pub mod service;

pub use compile::{MAX_SHAPERS, Shaper};
pub use decision::{Action, Decision, Reason};
pub use decision_log::decision_log_line;
pub use facts::{ClassFacts, FactsError, FlowFacts, Usage};
pub use file::{DefaultAction, Mode};
pub use policy::Policy;
pub use rule::{QuotaRule, Rule, RuleAction};
pub use time_window::Now;
