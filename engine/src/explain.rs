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
