//! Decisions: what a rule tells a host to do, and their JSON forms.
//!
//! A decision is the engine's only output besides the memory. Its wire form is the same in every
//! runtime: `{"rule", "action", "params", "group", "experiment", "variant"}`, as a JSON value
//! ([`decisions_value`]) or as canonical text written straight from the decisions
//! ([`write_decisions`]), which is on every tracked event's path.

use omnirule_text::canonical::write_canonical;
use omnirule_text::json::write_string;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// A decision's params: evaluated values by name.
pub type Params = BTreeMap<String, serde_json::Value>;

/// One thing a host should do (or, for a split's control arm, log).
///
/// Names and params are shared (`Arc`) with the bundle where they are constant (rule, action
/// and group names; params written as literals), so a decision costs no allocation of its
/// own on the common path. They serialize as plain strings and objects.
///
/// Two decisions are equal when what a host sees is: rule, action, params, group, experiment
/// and variant. The call number a decision may carry is a lookup hint of the bundle that made
/// it, not part of the decision (a decision read back from its JSON equals the original).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Decision {
    pub rule: Arc<str>,
    /// `None` for a split's control arm.
    pub action: Option<Arc<str>>,
    /// Evaluated params, by name (missing values are left out).
    pub params: Arc<Params>,
    pub group: Option<Arc<str>>,
    pub experiment: Option<Arc<str>>,
    pub variant: Option<Arc<str>>,
    /// The action call the decision came from, when its params are constant.
    #[serde(skip)]
    pub(crate) call: CallNumber,
    /// A split's decision: its arm's share in basis points, for the exposure line's `weight`
    /// (found here, not by looking the rule up in the bundle for every line). Like `call`, a
    /// hint of the evaluation that made it: not serialized, not compared.
    #[serde(skip)]
    pub(crate) share: Option<u32>,
}

/// The number of the action call a decision with constant params came from, carried so that
/// [`Bundle::constant_decision`](crate::bundle::Bundle::constant_decision) finds it without a
/// search (a search per decision would cost every event that decides something, in the browser
/// package too). It is not serialized, and not compared (see [`Decision`]).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct CallNumber(pub(crate) Option<u32>);

impl PartialEq for Decision {
    fn eq(&self, other: &Decision) -> bool {
        self.rule == other.rule
            && self.action == other.action
            && self.params == other.params
            && self.group == other.group
            && self.experiment == other.experiment
            && self.variant == other.variant
    }
}

/// Decisions as a JSON array (the form the CLI prints and hosts return): their serde form,
/// built directly (no serializer in the hosts' wasm modules).
pub fn decisions_value(decisions: &[Decision]) -> serde_json::Value {
    use serde_json::Value;
    let name = |s: &Option<std::sync::Arc<str>>| {
        s.as_deref()
            .map_or(Value::Null, |s| Value::String(s.into()))
    };
    let decision = |d: &Decision| {
        let mut out = serde_json::Map::new();
        out.insert("rule".into(), Value::String(String::from(&*d.rule)));
        out.insert("action".into(), name(&d.action));
        // Inserted one by one: a collect would sort them again, with its own sort.
        let mut params = serde_json::Map::new();
        for (k, v) in d.params.iter() {
            params.insert(k.clone(), v.clone());
        }
        out.insert("params".into(), Value::Object(params));
        out.insert("group".into(), name(&d.group));
        out.insert("experiment".into(), name(&d.experiment));
        out.insert("variant".into(), name(&d.variant));
        Value::Object(out)
    };
    Value::Array(decisions.iter().map(decision).collect())
}

/// Canonical JSON text of decisions, written straight from them: the same text as
/// `canonical_json(&host::decisions_value(decisions))` without building a JSON tree first
/// (it is on every tracked event's path).
pub fn write_decisions(decisions: &[Decision], out: &mut String) {
    out.push('[');
    for (i, d) in decisions.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_decision(d, out);
    }
    out.push(']');
}

/// Canonical JSON text of one decision (an element of [`write_decisions`]' array).
pub fn write_decision(d: &Decision, out: &mut String) {
    let opt = |s: &Option<std::sync::Arc<str>>, out: &mut String| match s {
        Some(s) => write_string(s, out),
        None => out.push_str("null"),
    };
    // Keys in code point order, as `write_value` sorts them.
    out.push_str("{\"action\":");
    opt(&d.action, out);
    out.push_str(",\"experiment\":");
    opt(&d.experiment, out);
    out.push_str(",\"group\":");
    opt(&d.group, out);
    out.push_str(",\"params\":{");
    // `Params` is a `BTreeMap`: already in key order.
    for (j, (k, v)) in d.params.iter().enumerate() {
        if j > 0 {
            out.push(',');
        }
        write_string(k, out);
        out.push(':');
        write_canonical(v, out);
    }
    out.push_str("},\"rule\":");
    write_string(&d.rule, out);
    out.push_str(",\"variant\":");
    opt(&d.variant, out);
    out.push('}');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use omnirule_text::canonical::canonical_json;
    use std::sync::Arc;

    #[test]
    fn decisions_as_json_are_their_serde_form() {
        let mut params = Params::new();
        params.insert("pct".into(), serde_json::json!(20));
        params.insert("note".into(), serde_json::json!({"a": [1.5, "x", null]}));
        let decisions = [
            Decision {
                rule: Arc::from("r1"),
                action: Some(Arc::from("offer")),
                params: Arc::new(params),
                group: Some(Arc::from("g")),
                experiment: Some(Arc::from("x")),
                variant: Some(Arc::from("a")),
                call: Default::default(),
                share: None,
            },
            Decision {
                rule: Arc::from("r2"),
                action: None,
                params: Arc::default(),
                group: None,
                experiment: None,
                variant: None,
                call: Default::default(),
                share: None,
            },
        ];
        let value = decisions_value(&decisions);
        assert_eq!(value, serde_json::to_value(&decisions).unwrap());
        let mut text = String::new();
        write_decisions(&decisions, &mut text);
        assert_eq!(text, canonical_json(&value));
    }
}

/// A goal met: a goal event after an exposure to the goal's rule, within the goal's window
/// (`graph::Goal`). The engine's third output, with decisions and memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Conversion {
    pub rule: Arc<str>,
    pub experiment: Option<Arc<str>>,
    /// The arm the customer was exposed to (`control` included).
    pub variant: Option<Arc<str>>,
    pub goal: Arc<str>,
    /// The rule's primary goal (the one the report counts as its conversion).
    pub primary: bool,
    /// The exposure it is linked to: when, on which event, where.
    pub exposed_at: i64,
    pub exposure_event: Arc<str>,
    pub exposure_channel: Option<Arc<str>>,
    pub exposure_host: Option<Arc<str>>,
    /// The goal event's value field, when the goal declares one and the event carries it.
    pub value: Option<f64>,
}

impl Conversion {
    /// `{"rule", "experiment", "variant", "goal", "primary", "exposed_at", "exposure_event",
    /// "exposure_channel", "exposure_host", "value"}` (times in RFC 3339).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        let opt = |s: &Option<Arc<str>>| s.as_deref().map_or(J::Null, |s| J::String(s.into()));
        let mut out = serde_json::Map::new();
        out.insert("rule".into(), J::String(self.rule.as_ref().into()));
        out.insert("experiment".into(), opt(&self.experiment));
        out.insert("variant".into(), opt(&self.variant));
        out.insert("goal".into(), J::String(self.goal.as_ref().into()));
        out.insert("primary".into(), J::Bool(self.primary));
        out.insert(
            "exposed_at".into(),
            J::String(omnirule_text::time::format_time(self.exposed_at)),
        );
        out.insert(
            "exposure_event".into(),
            J::String(self.exposure_event.as_ref().into()),
        );
        out.insert("exposure_channel".into(), opt(&self.exposure_channel));
        out.insert("exposure_host".into(), opt(&self.exposure_host));
        out.insert(
            "value".into(),
            self.value.map_or(J::Null, crate::value::number_json),
        );
        J::Object(out)
    }
}
