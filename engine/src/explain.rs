//! Explanations: why each rule an event triggered did or did not fire.
//!
//! Marketers debug rules by asking "why didn't my offer show?". The answer is one record per
//! triggered rule, in decision order, with the first reason that stopped it (checks run in a
//! fixed order: consent, group already taken, schedule, caps, condition, split unit). A false
//! condition is reported with the marketer's own words (`graph.cond_sources`): for a top-level
//! `and`, the first part that has no solution given the first solution of the parts before it.
//! Plain data with serde, so hosts and the CLI print it as JSON:
//! `{"rule": "loser", "outcome": "lost_to", "winner": "winner"}`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The explanation of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The event's id.
    pub event: String,
    /// The event's id was already seen: nothing was evaluated and `rules` is empty.
    pub duplicate: bool,
    /// One record per rule the event's type triggers, in decision order.
    pub rules: Vec<RuleExplanation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleExplanation {
    pub rule: String,
    #[serde(flatten)]
    pub outcome: RuleOutcome,
}

/// What happened to one rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RuleOutcome {
    /// It fired; `variant` is the split arm (`"control"` included) for splits.
    Fired { variant: Option<String> },
    /// The profile lacks these consent purposes (the rule did not even read history).
    NoConsent { missing: Vec<String> },
    /// Outside the rule's `active` dates.
    Inactive,
    /// Outside the rule's `hours`.
    OutsideHours,
    /// Not one of the rule's `days`.
    OutsideDays,
    /// The rule's own `limit`/`once` is reached.
    CapReached,
    /// The cap of the rule's group is reached.
    GroupCapReached { group: String },
    /// Another rule of its group fired for this event first.
    LostTo { winner: String },
    /// The condition is false; `condition` is its source text (or that of the failing part).
    ConditionFalse { condition: String },
    /// The split's unit (e.g. `profile.id`) is missing, so no variant can be assigned.
    SplitUnitMissing,
}

impl Explanation {
    /// The explanation as a JSON value: its serde form, built directly, so that the hosts'
    /// wasm modules carry no serializer (`the_json_form_is_the_serde_form`).
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("event".into(), Value::String(self.event.clone()));
        out.insert("duplicate".into(), Value::Bool(self.duplicate));
        let rules = self.rules.iter().map(RuleExplanation::to_json).collect();
        out.insert("rules".into(), Value::Array(rules));
        Value::Object(out)
    }
}

impl RuleExplanation {
    fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("rule".into(), Value::String(self.rule.clone()));
        let strings =
            |items: &[String]| Value::Array(items.iter().cloned().map(Value::String).collect());
        let (outcome, detail) = match &self.outcome {
            RuleOutcome::Fired { variant } => (
                "fired",
                Some((
                    "variant",
                    variant.clone().map_or(Value::Null, Value::String),
                )),
            ),
            RuleOutcome::NoConsent { missing } => {
                ("no_consent", Some(("missing", strings(missing))))
            }
            RuleOutcome::Inactive => ("inactive", None),
            RuleOutcome::OutsideHours => ("outside_hours", None),
            RuleOutcome::OutsideDays => ("outside_days", None),
            RuleOutcome::CapReached => ("cap_reached", None),
            RuleOutcome::GroupCapReached { group } => (
                "group_cap_reached",
                Some(("group", Value::String(group.clone()))),
            ),
            RuleOutcome::LostTo { winner } => {
                ("lost_to", Some(("winner", Value::String(winner.clone()))))
            }
            RuleOutcome::ConditionFalse { condition } => (
                "condition_false",
                Some(("condition", Value::String(condition.clone()))),
            ),
            RuleOutcome::SplitUnitMissing => ("split_unit_missing", None),
        };
        out.insert("outcome".into(), Value::String(outcome.into()));
        if let Some((key, value)) = detail {
            out.insert(key.into(), value);
        }
        Value::Object(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_json_form_is_the_serde_form() {
        let s = |x: &str| x.to_string();
        let outcomes = [
            RuleOutcome::Fired { variant: None },
            RuleOutcome::Fired {
                variant: Some(s("control")),
            },
            RuleOutcome::NoConsent {
                missing: vec![s("marketing"), s("profiling")],
            },
            RuleOutcome::Inactive,
            RuleOutcome::OutsideHours,
            RuleOutcome::OutsideDays,
            RuleOutcome::CapReached,
            RuleOutcome::GroupCapReached { group: s("g") },
            RuleOutcome::LostTo { winner: s("w") },
            RuleOutcome::ConditionFalse {
                condition: s("profile.tier == \"gold\""),
            },
            RuleOutcome::SplitUnitMissing,
        ];
        let why = Explanation {
            event: s("e1"),
            duplicate: false,
            rules: outcomes
                .into_iter()
                .enumerate()
                .map(|(i, outcome)| RuleExplanation {
                    rule: format!("r{i}"),
                    outcome,
                })
                .collect(),
        };
        assert_eq!(why.to_json(), serde_json::to_value(&why).unwrap());
        let duplicate = Explanation {
            event: s("e2"),
            duplicate: true,
            rules: vec![],
        };
        assert_eq!(
            duplicate.to_json(),
            serde_json::to_value(&duplicate).unwrap()
        );
    }
}
