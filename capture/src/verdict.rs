//! Turning a decision into what goes back to the kernel: the NFQUEUE verdict and the packet mark
//! (DESIGN §5). Pure: no kernel, no clock.
//!
//! The mark is always `(old & !mask) | bits` per field, so bits of other tools survive. With offload,
//! final decisions go back as NF_REPEAT and nfguard's chain saves the mark to the connmark.

use nfguard_proto::config::{CaptureConfig, MarkMode};
use nfguard_proto::{Mark, Verdict};

/// The NFQUEUE verdict to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NfVerdict {
    Accept,
    Drop,
    /// NF_REPEAT: re-run the hook with the new mark (offload through nfguard's chain).
    Repeat,
}

impl NfVerdict {
    pub fn to_nfq(self) -> nfq::Verdict {
        match self {
            NfVerdict::Accept => nfq::Verdict::Accept,
            NfVerdict::Drop => nfq::Verdict::Drop,
            NfVerdict::Repeat => nfq::Verdict::Repeat,
        }
    }
}

/// The mark-related part of `[capture]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarkConfig {
    pub mode: MarkMode,
    pub offload: bool,
    pub verdict_mask: u32,
    pub shaper_mask: u32,
    pub user_mask: u32,
    pub app_mask: u32,
}

impl MarkConfig {
    pub fn from_config(c: &CaptureConfig) -> MarkConfig {
        MarkConfig {
            mode: c.mark_mode,
            offload: c.offload,
            verdict_mask: c.verdict_mask,
            shaper_mask: c.shaper_mask,
            user_mask: c.user_mask,
            app_mask: c.app_mask,
        }
    }
}

/// A flow's final decision as the capture caches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowDecision {
    pub verdict: Verdict,
    /// HTB class index (0 none).
    pub shaper: u32,
    /// User mark bits, already positioned within `user_mask`.
    pub user_mark: u32,
    pub offload: bool,
    /// nDPI app id (0 unknown).
    pub app: u16,
}

/// What to send for one packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Applied {
    pub verdict: NfVerdict,
    /// The new mark, `None` to leave it untouched.
    pub mark: Option<u32>,
    /// A reject that became a plain drop (no offload chain to do the reject).
    pub degraded_reject: bool,
}

/// The verdict and mark for a packet of a decided flow.
pub fn apply(cfg: &MarkConfig, old_mark: u32, d: &FlowDecision) -> Applied {
    let offload = cfg.offload && d.offload && cfg.mode == MarkMode::Masked;
    let mark = match cfg.mode {
        // ntopng style: the whole mark is the protocol id.
        MarkMode::Protocol => u32::from(d.app),
        MarkMode::Masked => {
            Mark(old_mark)
                .with_field(cfg.verdict_mask, d.verdict.bits())
                .with_field(cfg.shaper_mask, d.shaper)
                .with_bits(cfg.user_mask, d.user_mark)
                .with_field(cfg.app_mask, u32::from(d.app))
                .0
        }
    };
    let (verdict, degraded_reject) = if offload {
        // The chain acts on the verdict bits, including reject in the filter table.
        (NfVerdict::Repeat, false)
    } else {
        match d.verdict {
            Verdict::Accept => (NfVerdict::Accept, false),
            Verdict::Drop => (NfVerdict::Drop, false),
            // Without the chain's REJECT rule nothing can send the RST: drop, and count it.
            Verdict::Reject => (NfVerdict::Drop, true),
        }
    };
    Applied {
        verdict,
        mark: Some(mark),
        degraded_reject,
    }
}

/// The verdict for a fail-open (or fail-closed) default: never marked, never offloaded, never cached.
pub fn default_verdict(v: Verdict) -> Applied {
    Applied {
        verdict: if v == Verdict::Accept {
            NfVerdict::Accept
        } else {
            NfVerdict::Drop
        },
        mark: None,
        degraded_reject: v == Verdict::Reject,
    }
}

/// A provisional accept while the flow is still being classified: the mark is left alone, so the
/// packet stays "undecided" for nfguard's chain and the next one is queued again.
pub const PROVISIONAL: Applied = Applied {
    verdict: NfVerdict::Accept,
    mark: None,
    degraded_reject: false,
};

/// What a mid-stream packet's mark (restored from the connmark by nfguard's chain) tells about its flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recovered {
    pub verdict: Option<Verdict>,
    pub app: Option<u16>,
}

/// Reads nfguard's fields out of a mark (masked mode only; the protocol mode's plain id is ambiguous).
pub fn recover(cfg: &MarkConfig, mark: u32) -> Recovered {
    if cfg.mode != MarkMode::Masked {
        return Recovered::default();
    }
    let m = Mark(mark);
    let app = u16::try_from(m.field(cfg.app_mask))
        .ok()
        .filter(|a| *a != 0);
    Recovered {
        verdict: Verdict::from_bits(m.field(cfg.verdict_mask)),
        app,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(offload: bool) -> MarkConfig {
        MarkConfig::from_config(&CaptureConfig {
            offload,
            ..CaptureConfig::default()
        })
    }

    fn dec(v: Verdict, offload: bool) -> FlowDecision {
        FlowDecision {
            verdict: v,
            shaper: 2,
            user_mark: 0x4200,
            offload,
            app: 37,
        }
    }

    #[test]
    fn masked_mark_keeps_foreign_bits_and_fills_fields() {
        // By default (user_mask 0) bits 8-15 belong to another tool and survive.
        let a = apply(&cfg(false), 0x0000_0f00, &dec(Verdict::Accept, false));
        assert_eq!(a.verdict, NfVerdict::Accept);
        // verdict 1 | shaper 2<<2 | foreign 0x0f00 | app 37<<16
        assert_eq!(a.mark, Some(0x0025_0f09));
        // Given a user mask, a rule's `mark` fills it.
        let with_user = MarkConfig::from_config(&CaptureConfig {
            offload: false,
            user_mask: 0xff00,
            ..CaptureConfig::default()
        });
        let a = apply(&with_user, 0x0000_0f00, &dec(Verdict::Accept, false));
        assert_eq!(a.mark, Some(0x0025_4209));
        let a = apply(
            &cfg(false),
            0x0000_0001,
            &FlowDecision {
                user_mark: 0,
                ..dec(Verdict::Drop, false)
            },
        );
        assert_eq!(a.mark, Some(0x0025_000a));
        assert_eq!(a.verdict, NfVerdict::Drop);
    }

    #[test]
    fn offload_needs_both_config_and_decision() {
        assert_eq!(
            apply(&cfg(true), 0, &dec(Verdict::Drop, true)).verdict,
            NfVerdict::Repeat
        );
        assert_eq!(
            apply(&cfg(true), 0, &dec(Verdict::Drop, false)).verdict,
            NfVerdict::Drop
        );
        assert_eq!(
            apply(&cfg(false), 0, &dec(Verdict::Accept, true)).verdict,
            NfVerdict::Accept
        );
    }

    #[test]
    fn reject_without_offload_is_a_counted_drop() {
        let a = apply(&cfg(false), 0, &dec(Verdict::Reject, true));
        assert_eq!(a.verdict, NfVerdict::Drop);
        assert!(a.degraded_reject);
        let a = apply(&cfg(true), 0, &dec(Verdict::Reject, true));
        assert_eq!(a.verdict, NfVerdict::Repeat);
        assert_eq!(a.mark.map(|m| m & 0x3), Some(3));
        assert!(!a.degraded_reject);
    }

    #[test]
    fn protocol_mode_writes_the_plain_id() {
        let c = MarkConfig {
            mode: MarkMode::Protocol,
            ..cfg(false)
        };
        let a = apply(&c, 0xffff_ffff, &dec(Verdict::Accept, true));
        assert_eq!(a.mark, Some(37));
        assert_eq!(a.verdict, NfVerdict::Accept);
    }

    #[test]
    fn recover_reads_back_what_apply_wrote() {
        let c = cfg(true);
        let a = apply(&c, 0x100, &dec(Verdict::Drop, true));
        let r = recover(&c, a.mark.unwrap_or(0));
        assert_eq!(
            r,
            Recovered {
                verdict: Some(Verdict::Drop),
                app: Some(37)
            }
        );
        assert_eq!(recover(&c, 0x100), Recovered::default());
    }

    #[test]
    fn default_verdict_never_marks() {
        assert_eq!(default_verdict(Verdict::Accept).mark, None);
        assert_eq!(default_verdict(Verdict::Drop).verdict, NfVerdict::Drop);
    }
}
