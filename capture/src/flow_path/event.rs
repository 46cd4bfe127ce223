//! A flow table entry in wire form: the `FlowEvent` published to the store (START at the decision,
//! UPDATE every `flow_update_interval`, END when the flow leaves the table) and the `Classification`
//! a re-decision sends to policy.

use nfguard_proto::pb;
use nfguard_proto::{AppId, FlowKey, Verdict};

use crate::flow_table::{Entry, FlowState};

/// What the flow is known to be, for a `DecideRequest` or a flow event.
pub fn classification_of(e: &Entry) -> pb::Classification {
    let (app, master) = e.state().app_ids();
    let (host, category, confidence) = e
        .extra
        .as_ref()
        .map_or((String::new(), String::new(), 0), |x| {
            (x.host.clone(), x.category.clone(), x.confidence)
        });
    let category = if category.is_empty() {
        nfguard_proto::protocols::by_id(AppId(app))
            .map(|p| p.category.to_string())
            .unwrap_or_default()
    } else {
        category
    };
    pb::Classification {
        master_id: u32::from(master),
        app_id: u32::from(app),
        host,
        category,
        confidence,
        risks: Vec::new(),
        ja4: String::new(),
        ech: false,
    }
}

/// The verdict label of a flow event: `shape` for an accept through a shaper, `""` while undecided.
fn verdict_name(e: &Entry) -> &'static str {
    match e.state() {
        FlowState::Decided(c) if c.shaper != 0 && c.verdict == Verdict::Accept => "shape",
        FlowState::Decided(c) => c.verdict.as_str(),
        _ => "",
    }
}

/// The flow's event of `kind` at wall-clock `unix_ms`.
pub fn flow_event(
    e: &Entry,
    kind: pb::FlowEventKind,
    queue: u16,
    boot_id: u64,
    end_reason: &str,
    unix_ms: u64,
) -> pb::FlowEvent {
    let key: FlowKey = e.flow_key();
    let (app, master) = e.state().app_ids();
    let x = e.extra.as_deref().cloned().unwrap_or_default();
    let offloaded = matches!(e.state(), FlowState::Decided(c) if c.offload);
    pb::FlowEvent {
        kind: kind as i32,
        flow: Some(pb::FlowRef {
            queue: u32::from(queue),
            boot_id,
            flow_id: e.flow_id,
        }),
        tuple: Some(key.to_tuple()),
        classification: Some(classification_of(e)),
        label: nfguard_proto::protocols::label(AppId(master), AppId(app)),
        verdict: verdict_name(e).to_string(),
        rule: x.rule,
        packets_c2s: u64::from(e.packets[0]),
        bytes_c2s: e.bytes[0],
        packets_s2c: u64::from(e.packets[1]),
        bytes_s2c: e.bytes[1],
        first_seen_unix_ms: if x.first_seen_unix_ms != 0 {
            x.first_seen_unix_ms
        } else {
            unix_ms
        },
        last_seen_unix_ms: unix_ms,
        end_reason: end_reason.to_string(),
        offloaded,
    }
}
