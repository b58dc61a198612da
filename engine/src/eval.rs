//! Evaluation: `evaluate(bundle, memory, profile, event) -> decisions + memory'`.
//!
//! Why it is shaped this way:
//! - **Pure and infallible.** Everything that can be wrong with input was refused earlier
//!   (bundle validation, input parsing); what remains (an ill-typed field from a Rust caller,
//!   an unknown event type, a missing binding) evaluates to *missing* and compares false.
//!   There is no clock (`now` is the event's time), no randomness (splits hash with FNV-1a) and
//!   no global state; iteration orders are all defined, so results are byte-identical on
//!   every runtime.
//! - **Work only for triggered rules, shared work once.** Rules are reached through the
//!   event type's trigger. Expression nodes and history queries that do not depend on binding
//!   slots (the plan computed at bundle load) are memoised per event, so a segment, condition
//!   or query shared by many rules (the compiler hash-conses them) is evaluated once.
//! - **Bindings by backtracking.** `seen E as x` conditions are solved with continuations:
//!   `and` solves its parts left to right, each under the bindings of the previous ones; `or`
//!   tries its branches in order; `not` succeeds when its inner condition has no solution
//!   (its bindings do not escape); a binding tries candidates newest first. The first complete
//!   solution wins and its bindings evaluate the `do` params.
//! - **Bounded recursion.** Validation bounds nesting; a depth counter makes any remaining
//!   path (segments within segments) give up with *missing* instead of exhausting the stack.
//!
//! Documented choices where the language leaves room: division by zero (and any arithmetic
//! giving NaN or an infinity, or a time out of range) yields missing; `duration * number` is
//! rounded to the nearest millisecond; a param whose value is missing is left out of the
//! decision's params; an event value renders as its id in text.

use crate::bundle::Bundle;
use crate::decision::{CallNumber, Conversion, Decision, Params};
use crate::explain::{Explanation, RuleExplanation, RuleOutcome};
use crate::fast::pred::{FieldValues, Preds};
use crate::fast::program::Visit;
use crate::graph::{
    ActionCall, ArithOp, Cap, CmpOp, Cond, CondId, Func, Graph, Meta, Millis, Node, NodeId,
    Outcome, Piece, QueryId, Rule, RuleId, SegmentId,
};
use crate::history::Grouped;
use crate::input::{Event, Profile};
use crate::memory::{Exposure, Firing, Memory, Recorded, RememberedEvent};
use crate::plan::Plan;
use crate::schedule::{self, ScheduleMiss};
use crate::value::{Value, number, time_in_range};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::rc::Rc;
use std::sync::Arc;

/// Nested evaluation steps (nodes and conditions) before evaluation gives up with missing.
/// Validation keeps a single rule well within it; it only bounds chains of segments.
pub const MAX_EVAL_DEPTH: u32 = 1500;

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// In decision order: priority descending, then file order, then each rule's actions in
    /// written order.
    pub decisions: Vec<Decision>,
    /// Goals this event met (see [`crate::graph::Goal`]), in goal order.
    pub conversions: Vec<Conversion>,
    /// The customer's memory after the event (pruned).
    pub memory: Memory,
}

/// FNV-1a, 32 bits: the split hash. `""` → `0x811c9dc5`, `"a"` → `0xe40c292c`.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

/// The bucket (0..10,000) of a unit in an experiment: FNV-1a of `NAME:unit` modulo 10,000.
pub fn split_bucket(experiment: &str, unit: &str) -> u32 {
    let mut key = String::with_capacity(experiment.len() + 1 + unit.len());
    key.push_str(experiment);
    key.push(':');
    key.push_str(unit);
    fnv1a32(key.as_bytes()) % 10_000
}

/// Evaluates one event. Never fails and never panics. An event whose id the memory already
/// holds yields no decisions and returns the memory unchanged.
pub fn evaluate(bundle: &Bundle, memory: &Memory, profile: &Profile, event: &Event) -> Evaluation {
    let (decisions, conversions, record) = run(bundle, memory, profile, event, None);
    let mut memory = memory.clone();
    apply(bundle, &mut memory, event, record);
    Evaluation {
        decisions,
        conversions,
        memory,
    }
}

/// [`evaluate`], updating `memory` where it is instead of returning a new one: what a host that
/// owns the customer's memory calls, since it saves copying the memory on every event.
pub fn evaluate_in_place(
    bundle: &Bundle,
    memory: &mut Memory,
    profile: &Profile,
    event: &Event,
) -> (Vec<Decision>, Vec<Conversion>) {
    let (decisions, conversions, record) = run(bundle, memory, profile, event, None);
    apply(bundle, memory, event, record);
    (decisions, conversions)
}

/// [`explain`], updating `memory` in place (see [`evaluate_in_place`]).
pub fn explain_in_place(
    bundle: &Bundle,
    memory: &mut Memory,
    profile: &Profile,
    event: &Event,
) -> (Vec<Decision>, Vec<Conversion>, Explanation) {
    let mut why = Explanation {
        event: event.id().to_string(),
        duplicate: memory.contains_id(event.id()),
        rules: Vec::new(),
    };
    let (decisions, conversions, record) =
        run(bundle, memory, profile, event, Some(&mut why.rules));
    apply(bundle, memory, event, record);
    (decisions, conversions, why)
}

/// [`evaluate`], plus why each triggered rule fired or not.
pub fn explain(
    bundle: &Bundle,
    memory: &Memory,
    profile: &Profile,
    event: &Event,
) -> (Evaluation, Explanation) {
    let mut memory = memory.clone();
    let (decisions, conversions, why) = explain_in_place(bundle, &mut memory, profile, event);
    (
        Evaluation {
            decisions,
            conversions,
            memory,
        },
        why,
    )
}

fn run<'a>(
    bundle: &'a Bundle,
    memory: &'a Memory,
    profile: &'a Profile,
    event: &'a Event,
    mut why: Option<&mut Vec<RuleExplanation>>,
) -> (Vec<Decision>, Vec<Conversion>, Record) {
    let g = bundle.graph();
    let plan = bundle.plan();
    // A customer whose consents allow no rule at all gets no decision from this bundle, and
    // nothing about them is recorded: not the event, not even its id for de-duplication.
    let allowed = |purpose: &crate::graph::ConsentId| {
        g.schema
            .consents
            .get(*purpose as usize)
            .is_some_and(|name| profile.has_consent(name))
    };
    let any_rule_allowed = plan
        .rule_consents()
        .iter()
        .any(|set| set.iter().all(allowed));
    let duplicate = memory.contains_id(event.id());
    if duplicate || !any_rule_allowed {
        if let Some(w) = why.as_deref_mut()
            && !duplicate
        {
            explain_no_consent(bundle, profile, event, w);
        }
        return (Vec::new(), Vec::new(), None);
    }
    let fast = trigger_of(bundle, event).and_then(|t| bundle.fast().trigger(g, plan, t));
    let preds = fast.map_or(bundle.fast().no_preds(), |x| x.preds());
    let mut cx = Ctx::new(bundle, memory, profile, event, preds);
    // Goals first: they look at the exposures made before this event.
    let (conversions, converted) = cx.conversions(memory.exposures());
    let mut decisions = Vec::new();
    let mut firings = Vec::new();
    let mut winners: Vec<Option<RuleId>> = vec![None; g.groups.len()];
    // Explanations take the general path: they say why each rule did not fire.
    let program = match &why {
        None => fast.map(|x| x.program()),
        Some(_) => None,
    };
    let mut general = |cx: &mut Ctx<'a>, rid: RuleId, decisions: &mut Vec<Decision>| {
        let Some(rule) = g.rules.get(rid as usize) else {
            return;
        };
        let outcome = cx.rule(rid, rule, &winners, decisions, why.is_some());
        if let RuleOutcome::Fired { .. } = outcome {
            let group = rule.group.and_then(|gid| g.groups.get(gid as usize));
            if let Some(w) = rule.group.and_then(|gid| winners.get_mut(gid as usize)) {
                *w = Some(rid);
            }
            if rule.cap.is_some() || group.is_some_and(|grp| grp.cap.is_some()) {
                firings.push(Firing {
                    rule: plan.names().rule(rid, &rule.name),
                    time: event.time,
                    event: event.id.clone(),
                    group: rule
                        .group
                        .zip(group)
                        .map(|(gid, grp)| plan.names().group(gid, &grp.name)),
                });
            }
        }
        if let Some(w) = why.as_deref_mut() {
            w.push(RuleExplanation {
                rule: rule.name.clone(),
                outcome,
            });
        }
    };
    match program {
        Some(program) => {
            program.prefetch(&mut cx.fields);
            for i in program.candidates(&cx.fields) {
                let Some(step) = program.visit(i) else {
                    break;
                };
                match step {
                    Visit::Plain {
                        conds,
                        decisions: d,
                    } => {
                        if program.holds(conds, &cx.fields) {
                            let made = program.decisions(d);
                            // Room for several rules' decisions at once: growing one at a
                            // time reallocates and copies on the hot path.
                            if decisions.capacity() == 0 {
                                decisions.reserve(made.len().max(FIRST_DECISIONS));
                            }
                            decisions.extend_from_slice(made);
                        }
                    }
                    Visit::General(rule) => general(&mut cx, rule, &mut decisions),
                }
            }
        }
        None => {
            for &rid in triggered(bundle, event) {
                general(&mut cx, rid, &mut decisions);
            }
        }
    }
    let remembered = cx.remembered();
    let exposures = std::mem::take(&mut cx.exposures);
    (
        decisions,
        conversions,
        Some(Recorded {
            remembered,
            firings,
            exposures,
            converted,
        }),
    )
}

/// Room made for decisions when the first arrives (most events that fire rules fire fewer).
const FIRST_DECISIONS: usize = 8;

/// What an evaluation adds to memory: the event as remembered (when it is), the firings
/// of capped rules, exposures to rules with goals and the goals met. `None`: nothing at all
/// (a duplicate, or a customer nothing may be kept of).
type Record = Option<Recorded>;

fn apply(bundle: &Bundle, memory: &mut Memory, event: &Event, record: Record) {
    if let Some(add) = record {
        memory.record(bundle, &event.id, event.time, add);
    }
}

/// Hashes a node, query or segment id (already well spread integers) with one multiply.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8 | u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Per-event memo tables are keyed by id and grow with what the event's rules touch, not with
/// the size of the graph: an event pays only for the rules it triggers, however many other
/// rules the bundle holds.
type IdMap<T> = HashMap<u32, T, BuildHasherDefault<IdHasher>>;

/// The index of the event type's trigger in `graph.triggers`.
fn trigger_of(bundle: &Bundle, event: &Event) -> Option<usize> {
    bundle.plan().trigger_of(event.event_type)
}

/// The rules an event's type triggers, in decision order.
fn triggered<'b>(bundle: &'b Bundle, event: &Event) -> &'b [RuleId] {
    trigger_of(bundle, event)
        .and_then(|t| bundle.graph().triggers.get(t))
        .map_or(&[][..], |t| t.rules.as_slice())
}

/// The explanation when the customer's consents allow no rule: every rule the event triggers
/// lacks consent.
fn explain_no_consent(
    bundle: &Bundle,
    profile: &Profile,
    event: &Event,
    why: &mut Vec<RuleExplanation>,
) {
    let g = bundle.graph();
    for rule in triggered(bundle, event)
        .iter()
        .filter_map(|r| g.rules.get(*r as usize))
    {
        let missing = rule
            .consents
            .iter()
            .filter_map(|c| g.schema.consents.get(*c as usize))
            .filter(|name| !profile.has_consent(name))
            .cloned()
            .collect();
        why.push(RuleExplanation {
            rule: rule.name.clone(),
            outcome: RuleOutcome::NoConsent { missing },
        });
    }
}

/// A binding environment: per slot, the index of the bound remembered event.
type Env = Vec<Option<u32>>;
/// A continuation: what must also hold under the bindings found so far.
type Cont<'k, 'a> = &'k mut dyn FnMut(&mut Ctx<'a>, &mut Env) -> bool;

/// What a scan checks of each candidate besides the filter: both bounds end the scan, whose
/// candidates come newest first.
struct Scan<'a> {
    /// The slot the candidate takes while the filter is evaluated.
    slot: usize,
    /// The filter, unless the candidates are known to pass it.
    filter: Option<NodeId>,
    /// `within`: no candidate older than this.
    min_time: Option<Millis>,
    /// `since`: only candidates after this one, in (time, id) order.
    since: Option<(Millis, &'a str)>,
}

struct Ctx<'a> {
    g: &'a Graph,
    plan: &'a Plan,
    mem: &'a [Arc<RememberedEvent>],
    firings: &'a [Firing],
    /// The newest time the memory has seen (before this event).
    newest: Option<Millis>,
    profile: &'a Profile,
    event: &'a Event,
    /// Per schema consent purpose: the profile holds it.
    consent_ok: Vec<bool>,
    /// The conditions of this event's trigger compiled to the fast path.
    preds: &'a Preds,
    /// The fields compiled conditions read, each looked up once.
    fields: FieldValues<'a>,
    /// Memoised values of slot-independent nodes.
    cache: IdMap<Value>,
    /// Memoised matches (newest first) of slot-independent queries.
    qcache: IdMap<Rc<Vec<u32>>>,
    /// Per event type: the memory range of its events before the current event.
    ranges: Vec<Option<(usize, usize)>>,
    /// Remembered events grouped by a field, for queries keyed on it.
    grouped: Grouped,
    /// Segments being evaluated (a guard against cycles, which validation also refuses).
    seg_busy: Vec<SegmentId>,
    depth: u32,
    /// The values a goal filter being evaluated reads as `Node::Captured` (its exposure's).
    captured: &'a [Value],
    /// Exposures to rules with goals made by this event.
    exposures: Vec<Exposure>,
}

impl<'a> Ctx<'a> {
    fn new(
        bundle: &'a Bundle,
        memory: &'a Memory,
        profile: &'a Profile,
        event: &'a Event,
        preds: &'a Preds,
    ) -> Self {
        let g = bundle.graph();
        Ctx {
            g,
            plan: bundle.plan(),
            mem: memory.event_slice(),
            firings: memory.firings(),
            newest: memory.newest(),
            profile,
            event,
            consent_ok: g
                .schema
                .consents
                .iter()
                .map(|c| profile.has_consent(c))
                .collect(),
            preds,
            fields: FieldValues::new(preds, &profile.id, profile.view(), event.view()),
            // Allocated on first use (see `eval`): compiled conditions never touch it.
            cache: IdMap::default(),
            qcache: IdMap::default(),
            // Sized on first use: an event whose rules read no history allocates nothing.
            ranges: Vec::new(),
            grouped: Grouped::default(),
            seg_busy: Vec::new(),
            depth: 0,
            captured: &[],
            exposures: Vec::new(),
        }
    }

    // ----- goals -------------------------------------------------------------------------------

    /// The goals this event meets. Per goal on this event type (in goal order), per arm of
    /// its rule the customer was exposed to: unless an exposure to that arm already converted
    /// the goal, the earliest exposure before this event (in (time, id) order), within the
    /// goal's window, whose captured values meet the goal's filter, converts. A goal reads
    /// history, so its rule's consents must still hold. Returns the conversions and the marks
    /// to record (index into `exposures`, goal name).
    fn conversions(
        &mut self,
        exposures: &'a [Exposure],
    ) -> (Vec<Conversion>, Vec<(usize, Arc<str>)>) {
        let g = self.g;
        let mut out = Vec::new();
        let mut marks = Vec::new();
        if exposures.is_empty() {
            return (out, marks);
        }
        let (now, id) = (self.now(), self.event.id.clone());
        for (gi, goal) in g.goals.iter().enumerate() {
            if goal.event != self.event.event_type {
                continue;
            }
            let Some(rule) = g.rules.get(goal.rule as usize) else {
                continue;
            };
            let consented = rule
                .consents
                .iter()
                .all(|c| self.consent_ok.get(*c as usize).copied().unwrap_or(false));
            if !consented {
                continue;
            }
            let name = rule.name.as_str();
            let lo = exposures.partition_point(|x| x.rule.as_ref() < name);
            let hi = exposures.partition_point(|x| x.rule.as_ref() <= name);
            let Some(run) = exposures.get(lo..hi) else {
                continue;
            };
            // This goal's captured values follow those of the rule's earlier goals.
            let offset: usize = g
                .goals
                .iter()
                .take(gi)
                .filter(|x| x.rule == goal.rule)
                .map(|x| x.captures.len())
                .sum();
            let width = goal.captures.len();
            let mut arms: Vec<&Option<Arc<str>>> = run.iter().map(|x| &x.variant).collect();
            omnirule_text::sort::sort(&mut arms);
            arms.dedup();
            for arm in arms {
                let done = run
                    .iter()
                    .any(|x| &x.variant == arm && x.converted.iter().any(|c| **c == *goal.name));
                if done {
                    continue;
                }
                // The earliest in the window that meets the filter.
                let mut hit = None;
                for (i, x) in run.iter().enumerate() {
                    if &x.variant != arm
                        || (x.time, x.event.as_ref()) >= (now, id.as_ref())
                        || now.saturating_sub(x.time) > goal.within
                    {
                        continue;
                    }
                    let holds = match goal.filter {
                        None => true,
                        Some(f) => {
                            self.captured = x
                                .captures
                                .get(offset..offset.saturating_add(width))
                                .unwrap_or_default();
                            let mut env: Env = Vec::new();
                            let v = self.eval(f, &mut env).truthy();
                            self.captured = &[];
                            v
                        }
                    };
                    if holds {
                        hit = Some((i, x));
                        break;
                    }
                }
                let Some((i, x)) = hit else { continue };
                let experiment = match &rule.outcome {
                    Outcome::Split { name, .. } => Some(Arc::from(name.as_str())),
                    Outcome::Actions(_) => None,
                };
                let goal_name: Arc<str> = Arc::from(goal.name.as_str());
                out.push(Conversion {
                    rule: x.rule.clone(),
                    experiment,
                    variant: x.variant.clone(),
                    goal: goal_name.clone(),
                    primary: goal.primary,
                    exposed_at: x.time,
                    exposure_event: x.event.clone(),
                    exposure_channel: x.channel.clone(),
                    exposure_host: x.host.clone(),
                    value: goal
                        .value
                        .as_deref()
                        .and_then(|f| match self.event.field(f) {
                            Some(Value::Number(n)) => Some(*n),
                            _ => None,
                        }),
                });
                marks.push((lo + i, goal_name));
            }
        }
        (out, marks)
    }

    /// Records an exposure to `rule` (when it has goals) with the values its goals capture,
    /// evaluated in the environment it fired with.
    fn expose(&mut self, rid: RuleId, rule: &Rule, variant: Option<&str>, env: &mut Env) {
        let g = self.g;
        let mut goals = g.goals.iter().filter(|x| x.rule == rid).peekable();
        if goals.peek().is_none() {
            return;
        }
        let mut captures = Vec::new();
        for goal in goals {
            for n in &goal.captures {
                let v = self.eval(*n, env);
                // An event value points into this memory; it cannot be kept (the checker
                // refuses such captures; a hand-made graph gets missing).
                captures.push(if matches!(v, Value::Event(_)) {
                    Value::Missing
                } else {
                    v
                });
            }
        }
        self.exposures.push(Exposure {
            rule: self.plan.names().rule(rid, &rule.name),
            variant: variant.map(Arc::from),
            time: self.now(),
            event: self.event.id.clone(),
            channel: self.event.place.channel.clone(),
            host: self.event.place.host.clone(),
            captures,
            converted: Vec::new(),
        });
    }

    fn now(&self) -> Millis {
        self.event.time
    }

    // ----- rules -------------------------------------------------------------------------------

    fn rule(
        &mut self,
        rid: RuleId,
        rule: &'a Rule,
        winners: &[Option<RuleId>],
        decisions: &mut Vec<Decision>,
        explaining: bool,
    ) -> RuleOutcome {
        let g = self.g;
        let missing: Vec<String> = rule
            .consents
            .iter()
            .filter(|c| !self.consent_ok.get(**c as usize).copied().unwrap_or(false))
            .map(|c| {
                g.schema
                    .consents
                    .get(*c as usize)
                    .cloned()
                    .unwrap_or_default()
            })
            .collect();
        if !missing.is_empty() {
            return RuleOutcome::NoConsent { missing };
        }
        let group = rule.group.and_then(|gid| g.groups.get(gid as usize));
        if let Some(w) = rule
            .group
            .and_then(|gid| winners.get(gid as usize).copied().flatten())
        {
            return RuleOutcome::LostTo {
                winner: g
                    .rules
                    .get(w as usize)
                    .map(|r| r.name.clone())
                    .unwrap_or_default(),
            };
        }
        match schedule::check(&rule.schedule, &g.timezone, self.now()) {
            Ok(()) => {}
            Err(ScheduleMiss::Inactive) => return RuleOutcome::Inactive,
            Err(ScheduleMiss::OutsideHours) => return RuleOutcome::OutsideHours,
            Err(ScheduleMiss::OutsideDays) => return RuleOutcome::OutsideDays,
        }
        if let Some(cap) = rule.cap
            && !self.under_cap(cap, |f| f.rule.as_ref() == rule.name)
        {
            return RuleOutcome::CapReached;
        }
        if let Some(grp) = group
            && let Some(cap) = grp.cap
            && !self.under_cap(cap, |f| f.group.as_deref() == Some(grp.name.as_str()))
        {
            return RuleOutcome::GroupCapReached {
                group: grp.name.clone(),
            };
        }
        let mut env: Env = vec![None; usize::from(rule.slots)];
        if let Some(when) = rule.when
            && !self.solve(when, &mut env, &mut |_, _| true)
        {
            let condition = if explaining {
                self.failing_part(when, usize::from(rule.slots))
            } else {
                String::new()
            };
            return RuleOutcome::ConditionFalse { condition };
        }
        let plan = self.plan;
        let base = Decision {
            rule: plan.names().rule(rid, &rule.name),
            action: None,
            params: Arc::default(),
            group: rule
                .group
                .zip(group)
                .map(|(gid, grp)| plan.names().group(gid, &grp.name)),
            experiment: None,
            variant: None,
            call: CallNumber::default(),
            share: None,
        };
        match &rule.outcome {
            Outcome::Actions(calls) => {
                for (k, call) in calls.iter().enumerate() {
                    decisions.push(self.decision(&base, rid, k, call, &mut env));
                }
                self.expose(rid, rule, None, &mut env);
                RuleOutcome::Fired { variant: None }
            }
            Outcome::Split { name, unit, arms } => {
                let unit = self.eval(*unit, &mut env);
                if unit.is_missing() {
                    return RuleOutcome::SplitUnitMissing;
                }
                let forced = self.profile.forced_variant(name).and_then(|v| {
                    arms.iter()
                        .find(|a| a.variant.as_deref().unwrap_or("control") == v)
                });
                let arm = match forced {
                    Some(arm) => Some(arm),
                    None => {
                        let bucket = split_bucket(name, &self.text(&unit));
                        let mut upper = 0u32;
                        arms.iter()
                            .find(|a| {
                                upper = upper.saturating_add(a.basis_points);
                                bucket < upper
                            })
                            .or(arms.last())
                    }
                };
                let Some(arm) = arm else {
                    return RuleOutcome::SplitUnitMissing;
                };
                let variant = arm.variant.clone().unwrap_or_else(|| "control".to_string());
                let base = Decision {
                    experiment: Some(Arc::from(name.as_str())),
                    variant: Some(Arc::from(variant.as_str())),
                    share: Some(arm.basis_points),
                    ..base
                };
                let calls_before: usize = arms
                    .iter()
                    .take_while(|a| !std::ptr::eq(*a, arm))
                    .map(|a| a.actions.len())
                    .sum();
                if arm.actions.is_empty() {
                    // Control (or an arm without actions): reported for exposure logging.
                    decisions.push(base);
                } else {
                    for (k, call) in arm.actions.iter().enumerate() {
                        let d = self.decision(&base, rid, calls_before + k, call, &mut env);
                        decisions.push(d);
                    }
                }
                self.expose(rid, rule, Some(&variant), &mut env);
                RuleOutcome::Fired {
                    variant: Some(variant),
                }
            }
        }
    }

    /// The decision of a rule's `k`th action call (counted across a split's arms).
    fn decision(
        &mut self,
        base: &Decision,
        rid: RuleId,
        k: usize,
        call: &ActionCall,
        env: &mut Env,
    ) -> Decision {
        let plan = self.plan;
        let (call_number, params) =
            match plan
                .names()
                .constant_params(self.g, plan.literals(), rid, k)
            {
                Some((number, p)) => (number, p.clone()),
                None => {
                    let mut params = Params::new();
                    for (name, node) in &call.params {
                        let v = self.eval(*node, env);
                        if !v.is_missing() {
                            params.insert(name.clone(), self.json(&v));
                        }
                    }
                    (CallNumber::default(), Arc::new(params))
                }
            };
        let action = self.g.schema.actions.get(call.action as usize);
        Decision {
            action: action.map(|a| plan.names().action(call.action, &a.name)),
            params,
            call: call_number,
            ..base.clone()
        }
    }

    /// Whether a cap allows one more firing, counting the matching firing records.
    /// Whether one more firing at `now` keeps the cap: `once`, none before; `limit N per D`,
    /// fewer than N firings in every window of length D that holds `now` (both ends inclusive,
    /// as `within`). Events arrive late (a store that was offline), so firings after `now`
    /// count too: the windows are `[s, s + D]` for every `s` in `[now - D, now]`, and the count
    /// only grows where a window's end reaches a firing, so the starts worth checking are
    /// `now - D` and `f - D` for each firing `f` after `now`. In order, no firing is after
    /// `now` and this is the one window `[now - D, now]`.
    ///
    /// An event more than D older than the newest the memory has seen decides nothing under a
    /// cap: memory keeps firings for 2 × D before the newest (`Memory::prune`), which is what
    /// the windows of an event up to D late need, and no more.
    fn under_cap(&self, cap: Cap, matches: impl Fn(&Firing) -> bool) -> bool {
        let now = self.now();
        let firings = self.firings;
        match cap {
            Cap::Once => !firings.iter().any(matches),
            Cap::Limit { count, per } => {
                if self
                    .newest
                    .is_some_and(|newest| now < newest.saturating_sub(per))
                {
                    return false;
                }
                let count = count as usize;
                let in_window = |from: Millis| {
                    let to = from.saturating_add(per);
                    firings
                        .iter()
                        .filter(|f| f.time >= from && f.time <= to && matches(f))
                        .count()
                };
                if in_window(now.saturating_sub(per)) >= count {
                    return false;
                }
                let until = now.saturating_add(per);
                firings
                    .iter()
                    .filter(|f| f.time > now && f.time <= until && matches(f))
                    .all(|f| in_window(f.time.saturating_sub(per)) < count)
            }
        }
    }

    /// For explanations: the source of the part of a false condition that fails first.
    fn failing_part(&mut self, when: CondId, slots: usize) -> String {
        let g = self.g;
        let source = |c: CondId| {
            g.cond_sources
                .get(c as usize)
                .map(str::to_string)
                .unwrap_or_default()
        };
        if let Some(Cond::And(parts)) = g.conds.get(when as usize) {
            let mut env: Env = vec![None; slots];
            for part in parts {
                if !self.solve(*part, &mut env, &mut |_, _| true) {
                    return source(*part);
                }
            }
        }
        source(when)
    }

    /// The event as memory keeps it, if this customer's consents allow remembering its type.
    fn remembered(&self) -> Option<RememberedEvent> {
        let g = self.g;
        let r = g.retention.get(self.event.event_type as usize)?;
        r.keep?;
        let allowed = r.consents.iter().any(|set| {
            set.iter()
                .all(|c| self.consent_ok.get(*c as usize).copied().unwrap_or(false))
        });
        if !allowed {
            return None;
        }
        let name = g
            .schema
            .events
            .get(self.event.event_type as usize)?
            .name
            .as_str();
        let fields = self
            .event
            .fields
            .iter()
            .filter(|(k, _)| r.fields.iter().any(|f| f.as_str() == k.as_ref()))
            .cloned()
            .collect();
        Some(RememberedEvent::new(
            Arc::from(name),
            self.event.id.clone(),
            self.event.time,
            fields,
        ))
    }

    // ----- conditions --------------------------------------------------------------------------

    /// Solves a condition under `env`, calling `k` on each solution (newest first) until it
    /// returns true. On success the bindings of the winning solution stay in `env`.
    fn solve(&mut self, c: CondId, env: &mut Env, k: Cont<'_, 'a>) -> bool {
        if self.depth >= MAX_EVAL_DEPTH {
            return false;
        }
        self.depth += 1;
        let g = self.g;
        let found = match g.conds.get(c as usize) {
            // Without bindings a condition has one solution (the current bindings) or none.
            _ if let Some(p) = self.preds.of_cond(c) => p.holds(&mut self.fields) && k(self, env),
            None => false,
            Some(Cond::Test(n)) => self.eval(*n, env).truthy() && k(self, env),
            Some(Cond::And(parts)) => self.solve_seq(parts, 0, env, k),
            Some(Cond::Or(branches)) => {
                let mut found = false;
                for b in branches {
                    if self.solve(*b, env, k) {
                        found = true;
                        break;
                    }
                }
                found
            }
            Some(Cond::Not(inner)) => {
                let saved = env.clone();
                let inner_holds = self.solve(*inner, env, &mut |_, _| true);
                *env = saved;
                !inner_holds && k(self, env)
            }
            Some(Cond::Bind { query, slot }) => {
                let slot = usize::from(*slot);
                let old = env.get(slot).copied().flatten();
                self.matches(*query, env, &mut |cx, env, i| {
                    let Some(s) = env.get_mut(slot) else {
                        return false;
                    };
                    *s = Some(i);
                    if k(cx, env) {
                        return true;
                    }
                    if let Some(s) = env.get_mut(slot) {
                        *s = old;
                    }
                    false
                })
            }
        };
        self.depth -= 1;
        found
    }

    fn solve_seq(
        &mut self,
        parts: &'a [CondId],
        from: usize,
        env: &mut Env,
        k: Cont<'_, 'a>,
    ) -> bool {
        let g = self.g;
        let mut i = from;
        // Parts without bindings need no continuation: check them in a loop (keeps the stack
        // shallow).
        while let Some(&c) = parts.get(i) {
            let holds = if let Some(p) = self.preds.of_cond(c) {
                p.holds(&mut self.fields)
            } else if let Some(Cond::Test(n)) = g.conds.get(c as usize) {
                self.eval(*n, env).truthy()
            } else {
                break;
            };
            if !holds {
                return false;
            }
            i += 1;
        }
        match parts.get(i) {
            None => k(self, env),
            Some(c) => self.solve(*c, env, &mut |cx, env| cx.solve_seq(parts, i + 1, env, k)),
        }
    }

    fn segment(&mut self, s: SegmentId) -> bool {
        let g = self.g;
        let Some(seg) = g.segments.get(s as usize) else {
            return false;
        };
        if self.seg_busy.contains(&s) {
            return false;
        }
        self.seg_busy.push(s);
        let mut env: Env = vec![None; usize::from(seg.slots)];
        let holds = self.solve(seg.cond, &mut env, &mut |_, _| true);
        self.seg_busy.pop();
        holds
    }

    // ----- history -----------------------------------------------------------------------------

    /// The memory range holding events of a type that come before the current event.
    fn history(&mut self, ty: u32) -> (usize, usize) {
        if let Some(Some(r)) = self.ranges.get(ty as usize) {
            return *r;
        }
        let Some(name) = self
            .g
            .schema
            .events
            .get(ty as usize)
            .map(|e| e.name.as_str())
        else {
            return (0, 0);
        };
        let mem = self.mem;
        let lo = mem.partition_point(|e| e.event_type.as_ref() < name);
        let hi = mem.partition_point(|e| e.event_type.as_ref() <= name);
        let (now, id) = (self.event.time, self.event.id.as_ref());
        let cut = mem.get(lo..hi).map_or(0, |s| {
            s.partition_point(|e| (e.time, e.id.as_ref()) < (now, id))
        });
        let r = (lo, lo + cut);
        if self.ranges.is_empty() {
            self.ranges = vec![None; self.g.schema.events.len()];
        }
        if let Some(slot) = self.ranges.get_mut(ty as usize) {
            *slot = Some(r);
        }
        r
    }

    /// Calls `f` with each event matching a query, newest first, until it returns true.
    fn matches(
        &mut self,
        q: QueryId,
        env: &mut Env,
        f: &mut dyn FnMut(&mut Ctx<'a>, &mut Env, u32) -> bool,
    ) -> bool {
        if self.plan.query_pure(q) {
            let list = match self.qcache.get(&q).cloned() {
                Some(list) => list,
                None => {
                    let mut all = Vec::new();
                    self.scan(q, env, &mut |_, _, i| {
                        all.push(i);
                        false
                    });
                    let list = Rc::new(all);
                    self.qcache.insert(q, list.clone());
                    list
                }
            };
            for i in list.iter() {
                if f(self, env, *i) {
                    return true;
                }
            }
            return false;
        }
        self.scan(q, env, f)
    }

    fn scan(
        &mut self,
        q: QueryId,
        env: &mut Env,
        f: &mut dyn FnMut(&mut Ctx<'a>, &mut Env, u32) -> bool,
    ) -> bool {
        let g = self.g;
        let mem = self.mem;
        let Some(query) = g.queries.get(q as usize) else {
            return false;
        };
        let (lo, hi) = self.history(query.event);
        let min_time = query.within.map(|w| self.now().saturating_sub(w));
        let since = match query.since {
            None => None,
            Some(s) => {
                let bound = env
                    .get(usize::from(s))
                    .copied()
                    .flatten()
                    .and_then(|i| mem.get(i as usize));
                match bound {
                    Some(e) => Some((e.time, e.id.as_ref())),
                    // `since` an unbound name: nothing comes after it.
                    None => return false,
                }
            }
        };
        let plan: &'a Plan = self.plan;
        let keyed = plan.keys().of(q).and_then(|key| {
            let buckets = self.grouped.get(
                &g.nodes,
                plan.keys(),
                plan.literals(),
                key,
                query.event,
                mem,
                (lo, hi),
            )?;
            Some((buckets, key))
        });
        let scan = Scan {
            slot: usize::from(query.slot),
            filter: match keyed {
                Some((_, key)) if key.whole_filter => None,
                _ => query.filter,
            },
            min_time,
            since,
        };
        match keyed {
            Some((buckets, key)) => {
                for &i in buckets.of(key).iter().rev() {
                    if let Some(found) = self.visit(&scan, i, env, f) {
                        return found;
                    }
                }
            }
            None => {
                for i in (lo..hi).rev() {
                    let Ok(i) = u32::try_from(i) else { continue };
                    if let Some(found) = self.visit(&scan, i, env, f) {
                        return found;
                    }
                }
            }
        }
        false
    }

    /// One candidate of a scan (newest first): `Some(found)` when the scan stops here.
    fn visit(
        &mut self,
        scan: &Scan<'a>,
        i: u32,
        env: &mut Env,
        f: &mut dyn FnMut(&mut Ctx<'a>, &mut Env, u32) -> bool,
    ) -> Option<bool> {
        let e = self.mem.get(i as usize)?;
        if scan.min_time.is_some_and(|m| e.time < m) {
            return Some(false);
        }
        if scan.since.is_some_and(|s| (e.time, e.id.as_ref()) <= s) {
            return Some(false);
        }
        if let Some(filter) = scan.filter {
            let slot = scan.slot;
            let old = env.get(slot).copied().flatten();
            if let Some(s) = env.get_mut(slot) {
                *s = Some(i);
            }
            let ok = self.eval(filter, env).truthy();
            if let Some(s) = env.get_mut(slot) {
                *s = old;
            }
            if !ok {
                return None;
            }
        }
        f(self, env, i).then_some(true)
    }

    // ----- expressions -------------------------------------------------------------------------

    fn eval(&mut self, n: NodeId, env: &mut Env) -> Value {
        let pure = self.plan.node_memo(n);
        if pure && let Some(v) = self.cache.get(&n) {
            return v.clone();
        }
        if self.depth >= MAX_EVAL_DEPTH {
            return Value::Missing;
        }
        self.depth += 1;
        let v = self.compute(n, env);
        self.depth -= 1;
        if pure {
            if self.cache.capacity() == 0 {
                // One allocation up front instead of a rehash at every doubling.
                self.cache.reserve(64);
            }
            self.cache.insert(n, v.clone());
        }
        v
    }

    fn event_value(&self, v: &Value) -> Option<&'a RememberedEvent> {
        match v {
            Value::Event(i) => self.mem.get(*i as usize).map(AsRef::as_ref),
            _ => None,
        }
    }

    /// A node's value by reference when it is a literal (no copy of a literal list per use),
    /// evaluated otherwise.
    fn operand(&mut self, n: NodeId, env: &mut Env) -> std::borrow::Cow<'a, Value> {
        let plan: &'a Plan = self.plan;
        match plan.literals().get(n as usize) {
            Some(v) if !v.is_missing() => std::borrow::Cow::Borrowed(v),
            _ => std::borrow::Cow::Owned(self.eval(n, env)),
        }
    }

    fn compute(&mut self, n: NodeId, env: &mut Env) -> Value {
        let g = self.g;
        let Some(node) = g.nodes.get(n as usize) else {
            return Value::Missing;
        };
        match node {
            Node::Lit(l) => match self.plan.literals().get(n as usize) {
                Some(v) if !v.is_missing() => v.clone(),
                _ => Value::from_literal(l),
            },
            Node::Now => Value::Time(self.now()),
            Node::EventField(name) => self.event.field(name).cloned().unwrap_or_default(),
            Node::EventMeta(m) => match m {
                Meta::Id => Value::String(self.event.id.clone()),
                Meta::Time => Value::Time(self.event.time),
                Meta::Type => g
                    .schema
                    .events
                    .get(self.event.event_type as usize)
                    .map_or(Value::Missing, |e| Value::string(&e.name)),
            },
            Node::ProfileField(name) => match name.as_str() {
                "id" => Value::String(self.profile.id.clone()),
                "consents" => Value::List(
                    self.profile
                        .consents
                        .iter()
                        .map(|c| Value::String(c.clone()))
                        .collect(),
                ),
                _ => self.profile.field(name).cloned().unwrap_or_default(),
            },
            Node::Captured(i) => self
                .captured
                .get(usize::from(*i))
                .cloned()
                .unwrap_or_default(),
            Node::Bound(s) => env
                .get(usize::from(*s))
                .copied()
                .flatten()
                .map_or(Value::Missing, Value::Event),
            Node::Field { of, name } => {
                let v = self.eval(*of, env);
                self.event_value(&v)
                    .and_then(|e| e.field(name).cloned())
                    .unwrap_or_default()
            }
            Node::FieldMeta { of, meta } => {
                let v = self.eval(*of, env);
                match (self.event_value(&v), meta) {
                    (Some(e), Meta::Id) => Value::String(e.id.clone()),
                    (Some(e), Meta::Time) => Value::Time(e.time),
                    (Some(e), Meta::Type) => Value::String(e.event_type.clone()),
                    (None, _) => Value::Missing,
                }
            }
            Node::Segment(s) => Value::Bool(self.segment(*s)),
            Node::Neg(x) => match self.eval(*x, env) {
                Value::Number(v) => number(-v),
                Value::Duration(d) => d.checked_neg().map_or(Value::Missing, Value::Duration),
                _ => Value::Missing,
            },
            Node::Not(x) => Value::Bool(!self.eval(*x, env).truthy()),
            Node::And(a, b) => {
                Value::Bool(self.eval(*a, env).truthy() && self.eval(*b, env).truthy())
            }
            Node::Or(a, b) => {
                Value::Bool(self.eval(*a, env).truthy() || self.eval(*b, env).truthy())
            }
            Node::Cmp(op, a, b) => {
                let (a, b) = (self.operand(*a, env), self.operand(*b, env));
                Value::Bool(compare(*op, &a, &b))
            }
            Node::Arith(op, a, b) => {
                let (a, b) = (self.eval(*a, env), self.eval(*b, env));
                arith(*op, a, b)
            }
            Node::Coalesce(a, b) => match self.eval(*a, env) {
                Value::Missing => self.eval(*b, env),
                v => v,
            },
            Node::Present(x) => Value::Bool(!self.eval(*x, env).is_missing()),
            Node::Missing(x) => Value::Bool(self.eval(*x, env).is_missing()),
            Node::In(x, list) => {
                let (x, list) = (self.operand(*x, env), self.operand(*list, env));
                Value::Bool(match (&*x, &*list) {
                    (Value::Missing, _) => false,
                    (_, Value::List(items)) => items.iter().any(|i| i.lang_eq(&x)),
                    _ => false,
                })
            }
            Node::Call(f, args) => {
                let a = args.first().map(|a| self.eval(*a, env)).unwrap_or_default();
                let b = args.get(1).map(|b| self.eval(*b, env)).unwrap_or_default();
                call(*f, &a, &b)
            }
            Node::Interp(pieces) => {
                let mut out = String::new();
                for p in pieces {
                    match p {
                        Piece::Text(t) => out.push_str(t),
                        Piece::Value(v) => {
                            let v = self.eval(*v, env);
                            out.push_str(&self.text(&v));
                        }
                    }
                }
                Value::String(Arc::from(out))
            }
            Node::List(items) => Value::List(items.iter().map(|i| self.eval(*i, env)).collect()),
            Node::Seen(q) => Value::Bool(self.matches(*q, env, &mut |_, _, _| true)),
            Node::Count(q) => {
                let mut count = 0u32;
                self.matches(*q, env, &mut |_, _, _| {
                    count = count.saturating_add(1);
                    false
                });
                Value::Number(f64::from(count))
            }
            Node::Sum(q, field) => {
                let mem = self.mem;
                let mut total = 0.0f64;
                let mut dur: Option<i64> = None;
                self.matches(*q, env, &mut |_, _, i| {
                    match mem.get(i as usize).and_then(|e| e.field(field)) {
                        Some(Value::Number(v)) => total += v,
                        Some(Value::Duration(d)) => {
                            dur = Some(dur.unwrap_or(0).saturating_add(*d));
                        }
                        _ => {}
                    }
                    false
                });
                match dur {
                    Some(d) if total == 0.0 => Value::Duration(d),
                    _ => number(total),
                }
            }
            Node::Last(q) => {
                let mut last = None;
                self.matches(*q, env, &mut |_, _, i| {
                    last = Some(i);
                    true
                });
                last.map_or(Value::Missing, Value::Event)
            }
            Node::TimeSince(q) => {
                let mem = self.mem;
                let mut last = None;
                self.matches(*q, env, &mut |_, _, i| {
                    last = mem.get(i as usize).map(|e| e.time);
                    true
                });
                last.and_then(|t| self.now().checked_sub(t))
                    .map_or(Value::Missing, Value::Duration)
            }
        }
    }

    /// Text of a value (interpolation, split units); events render as their id.
    fn text(&self, v: &Value) -> String {
        match self.event_value(v) {
            Some(e) => String::from(&*e.id),
            None => v.to_text(),
        }
    }

    /// JSON of a param value; events as their id.
    fn json(&self, v: &Value) -> serde_json::Value {
        match self.event_value(v) {
            Some(e) => serde_json::Value::String(String::from(&*e.id)),
            None => v.to_json(),
        }
    }
}

/// A comparison: false whenever an operand is missing (`!=` too).
fn compare(op: CmpOp, a: &Value, b: &Value) -> bool {
    if a.is_missing() || b.is_missing() {
        return false;
    }
    match op {
        CmpOp::Eq => a.lang_eq(b),
        CmpOp::Ne => !a.lang_eq(b),
        CmpOp::Lt => a.lang_cmp(b).is_some_and(|o| o.is_lt()),
        CmpOp::Le => a.lang_cmp(b).is_some_and(|o| o.is_le()),
        CmpOp::Gt => a.lang_cmp(b).is_some_and(|o| o.is_gt()),
        CmpOp::Ge => a.lang_cmp(b).is_some_and(|o| o.is_ge()),
    }
}

fn time(t: Option<i64>) -> Value {
    match t {
        Some(t) if time_in_range(t) => Value::Time(t),
        _ => Value::Missing,
    }
}

fn duration_f(d: f64) -> Value {
    let d = d.round();
    if d.is_finite() && d.abs() < 9.0e18 {
        #[allow(clippy::cast_possible_truncation)]
        Value::Duration(d as i64)
    } else {
        Value::Missing
    }
}

#[allow(clippy::cast_precision_loss)]
fn arith(op: ArithOp, a: Value, b: Value) -> Value {
    use ArithOp::*;
    use Value::{Duration, Missing, Number, Time};
    match (op, a, b) {
        (op, Number(x), Number(y)) => match op {
            Add => number(x + y),
            Sub => number(x - y),
            Mul => number(x * y),
            Div if y == 0.0 => Missing,
            Div => number(x / y),
        },
        (Sub, Time(x), Time(y)) => x.checked_sub(y).map_or(Missing, Duration),
        (Add, Time(x), Duration(y)) | (Add, Duration(y), Time(x)) => time(x.checked_add(y)),
        (Sub, Time(x), Duration(y)) => time(x.checked_sub(y)),
        (Add, Duration(x), Duration(y)) => x.checked_add(y).map_or(Missing, Duration),
        (Sub, Duration(x), Duration(y)) => x.checked_sub(y).map_or(Missing, Duration),
        (Mul, Duration(d), Number(n)) | (Mul, Number(n), Duration(d)) => duration_f(d as f64 * n),
        (Div, Duration(d), Number(n)) => {
            if n == 0.0 {
                Missing
            } else {
                duration_f(d as f64 / n)
            }
        }
        (Div, Duration(_), Duration(0)) => Missing,
        (Div, Duration(x), Duration(y)) => number(x as f64 / y as f64),
        _ => Missing,
    }
}

fn call(f: Func, a: &Value, b: &Value) -> Value {
    match (f, a, b) {
        (Func::Lower, Value::String(s), _) => {
            Value::String(Arc::from(omnirule_text::to_lowercase(s)))
        }
        (Func::Upper, Value::String(s), _) => {
            Value::String(Arc::from(omnirule_text::to_uppercase(s)))
        }
        (Func::Len, Value::String(s), _) => Value::Number(s.chars().count() as f64),
        (Func::Len, Value::List(items), _) => Value::Number(items.len() as f64),
        (Func::Contains, Value::String(h), Value::String(n)) => {
            Value::Bool(omnirule_text::search::contains(h, n))
        }
        (Func::Contains, Value::List(items), x) if !x.is_missing() => {
            Value::Bool(items.iter().any(|i| i.lang_eq(x)))
        }
        (Func::StartsWith, Value::String(h), Value::String(n)) => {
            Value::Bool(h.starts_with(n.as_ref()))
        }
        (Func::EndsWith, Value::String(h), Value::String(n)) => {
            Value::Bool(h.ends_with(n.as_ref()))
        }
        _ => Value::Missing,
    }
}
