//! The answer to one decide request, and its wire form.

use std::sync::Arc;

use nfguard_proto::pb;
use nfguard_proto::types::Verdict;

/// What the capture does with the flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Accept,
    Drop,
    Reject,
    /// Accept through an HTB class ([`Decision::shaper`]).
    Shape,
    /// Tuple-only request: the first rule that could match needs the app; classify first.
    NeedsDpi,
}

/// Why the decision is what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A rule matched ([`Decision::rule`]).
    Rule,
    /// No rule matched: the file's `default`.
    Default,
    /// DNS, DHCP, DHCPv6 or ICMPv6 neighbour discovery, and no rule names it.
    Critical,
    /// See [`Action::NeedsDpi`].
    NeedsDpi,
}

/// One decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The action to apply. In monitor mode a drop or reject becomes `Accept` (see `would_drop`).
    pub action: Action,
    /// The verdict for the packet (`Accept` for shape and provisional `NeedsDpi`).
    pub verdict: Verdict,
    /// HTB class index, 1-based, 0 for none.
    pub shaper: u8,
    /// User mark bits (within `user_mask`), 0 for none.
    pub mark: u32,
    /// True for final decisions: the flow may be handed back to the kernel.
    pub offload: bool,
    /// The matching rule's name, `None` for the default, critical traffic and `NeedsDpi`.
    pub rule: Option<Arc<str>>,
    /// Unix second of the next time-window edge that could change this decision.
    pub valid_until: Option<u64>,
    /// The rule said drop or reject but the policy is in monitor mode.
    pub would_drop: bool,
    /// The rule has `log = true`: write a decision-log line.
    pub log: bool,
    /// A quota rule's host is over its quota (the `over_quota` action applied).
    pub over_quota: bool,
    pub reason: Reason,
}

impl Action {
    /// Lowercase name for logs and the `action` metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Drop => "drop",
            Action::Reject => "reject",
            Action::Shape => "shape",
            Action::NeedsDpi => "needs_dpi",
        }
    }

    fn to_pb(self) -> pb::Action {
        match self {
            Action::Accept => pb::Action::Accept,
            Action::Drop => pb::Action::Drop,
            Action::Reject => pb::Action::Reject,
            Action::Shape => pb::Action::Shape,
            Action::NeedsDpi => pb::Action::NeedsDpi,
        }
    }
}

impl Decision {
    /// The provisional answer to a tuple-only request whose first possible rule needs the app.
    pub(crate) fn needs_dpi() -> Decision {
        Decision {
            action: Action::NeedsDpi,
            verdict: Verdict::Accept,
            shaper: 0,
            mark: 0,
            offload: false,
            rule: None,
            valid_until: None,
            would_drop: false,
            log: false,
            over_quota: false,
            reason: Reason::NeedsDpi,
        }
    }

    /// The wire form, stamped with the policy `epoch`; the caller sets `flow`.
    pub fn to_pb(&self, epoch: u64) -> pb::Decision {
        pb::Decision {
            flow: None,
            action: self.action.to_pb() as i32,
            verdict_bits: self.verdict.bits(),
            mark: self.mark,
            shaper: u32::from(self.shaper),
            offload: self.offload,
            rule: self.rule.as_deref().unwrap_or_default().to_string(),
            epoch,
            valid_until_unix_s: self.valid_until.unwrap_or(0),
            would_drop: self.would_drop,
            log: self.log,
        }
    }
}
