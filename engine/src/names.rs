//! Names shared by every decision and input of a loaded bundle, and lookups by name.
//!
//! Rule, group, action and field names are `Arc<str>` built once per bundle, so building a
//! decision or decoding an input clones `Arc`s instead of allocating strings; constant params
//! (every param written as a literal) are built once per action call, on its first decision.
//! Declared fields are also known here in name order, which is what makes an input's
//! [`Presence`](crate::fields::Presence) hint possible.

use crate::decision::{CallNumber, Decision, Params};
use crate::graph::{ActionId, EventTypeId, Field, Graph, GroupId, Node, RuleId};
use crate::value::Value;
use std::sync::{Arc, OnceLock};

/// Names and constant params shared by every decision that uses them, so building a decision
/// clones `Arc`s instead of allocating strings and maps per event.
#[derive(Debug, Clone, Default)]
pub(crate) struct Names {
    rules: Vec<Arc<str>>,
    groups: Vec<Arc<str>>,
    actions: Vec<Arc<str>>,
    /// Per rule, the number of its first action call (calls are numbered through the bundle,
    /// a split's arms in order), then the number of calls.
    call_start: Vec<u32>,
    /// Per action call: its params when every one is written as a literal, built on the
    /// call's first decision (so loading a bundle builds none).
    params: Vec<OnceLock<Option<Arc<Params>>>>,
    /// The declared profile fields' names, in schema order; one `Arc` per distinct name across
    /// the profile and every event type.
    profile_fields: Vec<Arc<str>>,
    /// Per event type, its declared fields' names, in schema order.
    event_fields: Vec<Vec<Arc<str>>>,
    /// The declared profile fields' indices in name order (the order of an input's fields),
    /// and the same per event type: records list fields in this order, so decoding one
    /// builds the fields already sorted.
    profile_order: Vec<u32>,
    event_order: Vec<Vec<u32>>,
    /// Every declared field's name (profile and event types), once each, sorted.
    field_names: Vec<Arc<str>>,
}

impl Names {
    pub(crate) fn new(g: &Graph) -> Names {
        let mut all: Vec<&str> = g
            .schema
            .profile
            .iter()
            .chain(g.schema.events.iter().flat_map(|e| e.fields.iter()))
            .map(|f| f.name.as_str())
            .collect();
        omnirule_text::sort::sort(&mut all);
        all.dedup();
        let field_names: Vec<Arc<str>> = all.into_iter().map(Arc::from).collect();
        let shared = |name: &str| -> Arc<str> { shared_name(&field_names, name) };
        let profile_fields = g.schema.profile.iter().map(|f| shared(&f.name)).collect();
        let event_fields = g
            .schema
            .events
            .iter()
            .map(|e| e.fields.iter().map(|f| shared(&f.name)).collect())
            .collect();
        let by_name = |fields: &[Field]| -> Vec<u32> {
            let mut order: Vec<u32> = (0..).take(fields.len()).collect();
            let name = |i: &u32| fields.get(*i as usize).map(|f| f.name.as_str());
            omnirule_text::sort::sort_by(&mut order, |a, b| name(a).cmp(&name(b)));
            order
        };
        let profile_order = by_name(&g.schema.profile);
        let event_order = g.schema.events.iter().map(|e| by_name(&e.fields)).collect();
        let mut call_start = Vec::with_capacity(g.rules.len() + 1);
        let mut calls = 0u32;
        for rule in &g.rules {
            call_start.push(calls);
            calls = calls.saturating_add(u32::try_from(rule.action_calls().count()).unwrap_or(0));
        }
        call_start.push(calls);
        let rules: Vec<Arc<str>> = g.rules.iter().map(|r| Arc::from(r.name.as_str())).collect();
        Names {
            params: (0..calls).map(|_| OnceLock::new()).collect(),
            call_start,
            profile_fields,
            event_fields,
            profile_order,
            event_order,
            field_names,
            rules,
            groups: g
                .groups
                .iter()
                .map(|x| Arc::from(x.name.as_str()))
                .collect(),
            actions: g
                .schema
                .actions
                .iter()
                .map(|a| Arc::from(a.name.as_str()))
                .collect(),
        }
    }

    fn shared(list: &[Arc<str>], i: u32, name: &str) -> Arc<str> {
        list.get(i as usize)
            .cloned()
            .unwrap_or_else(|| Arc::from(name))
    }

    pub(crate) fn rule(&self, r: RuleId, name: &str) -> Arc<str> {
        Names::shared(&self.rules, r, name)
    }

    pub(crate) fn group(&self, g: GroupId, name: &str) -> Arc<str> {
        Names::shared(&self.groups, g, name)
    }

    pub(crate) fn action(&self, a: ActionId, name: &str) -> Arc<str> {
        Names::shared(&self.actions, a, name)
    }

    pub(crate) fn profile_fields(&self) -> &[Arc<str>] {
        &self.profile_fields
    }

    pub(crate) fn event_fields(&self, e: EventTypeId) -> &[Arc<str>] {
        self.event_fields.get(e as usize).map_or(&[], Vec::as_slice)
    }

    /// The declared profile fields' indices, in name order.
    pub(crate) fn profile_order(&self) -> &[u32] {
        &self.profile_order
    }

    /// An event type's declared fields' indices, in name order.
    pub(crate) fn event_order(&self, e: EventTypeId) -> &[u32] {
        self.event_order.get(e as usize).map_or(&[], Vec::as_slice)
    }

    /// A declared profile field's rank in name order (`u8::MAX` for another name, or past 255).
    pub(crate) fn profile_rank(&self, name: &str) -> u8 {
        rank(&self.profile_fields, &self.profile_order, name)
    }

    /// An event type's declared field's rank in name order (as [`Names::profile_rank`]).
    pub(crate) fn event_rank(&self, e: EventTypeId, name: &str) -> u8 {
        rank(self.event_fields(e), self.event_order(e), name)
    }

    /// The shared copy of a declared field's name (a fresh one for any other name).
    pub(crate) fn field_name(&self, name: &str) -> Arc<str> {
        shared_name(&self.field_names, name)
    }

    /// The number of the action call that made `decision`, when its params are constant: the
    /// number the decision carries, confirmed by identity (it shares that call's params), so a
    /// decision of another bundle gets none.
    pub(crate) fn constant_id(&self, decision: &Decision) -> Option<u32> {
        let c = decision.call.0?;
        self.params
            .get(c as usize)?
            .get()?
            .as_ref()
            .is_some_and(|p| Arc::ptr_eq(p, &decision.params))
            .then_some(c)
    }

    /// How many action calls the bundle has (numbers [`Names::constant_id`] is below).
    pub(crate) fn calls(&self) -> usize {
        self.params.len()
    }

    /// The number and params of rule `r`'s `k`th action call, when every param is written as
    /// a literal (`literal`: the plan's literal values per node). Built once, on first use.
    pub(crate) fn constant_params(
        &self,
        g: &Graph,
        literal: &[Value],
        r: RuleId,
        k: usize,
    ) -> Option<(CallNumber, &Arc<Params>)> {
        let start = *self.call_start.get(r as usize)?;
        let end = *self.call_start.get(r as usize + 1)?;
        let c = u32::try_from(k)
            .ok()
            .and_then(|k| start.checked_add(k))
            .filter(|c| *c < end)?;
        let params = self
            .params
            .get(c as usize)?
            .get_or_init(|| {
                let call = g.rules.get(r as usize)?.action_calls().nth(k)?;
                let mut params = Params::new();
                for (name, node) in &call.params {
                    match g.nodes.get(*node as usize) {
                        Some(Node::Lit(_)) => {}
                        _ => return None,
                    }
                    let v = literal.get(*node as usize)?;
                    // A missing value is left out, as the evaluator does.
                    if !v.is_missing() {
                        params.insert(name.clone(), v.to_json());
                    }
                }
                Some(Arc::new(params))
            })
            .as_ref()?;
        Some((CallNumber(Some(c)), params))
    }
}

/// `name`'s rank among the declared `names` in name order (`order`): see
/// [`Presence`](crate::fields::Presence).
fn rank(names: &[Arc<str>], order: &[u32], name: &str) -> u8 {
    order
        .iter()
        .position(|i| names.get(*i as usize).is_some_and(|n| **n == *name))
        .and_then(|r| u8::try_from(r).ok())
        .unwrap_or(u8::MAX)
}

/// The shared copy of a name in a sorted list of names (a fresh one when it is not there).
fn shared_name(sorted: &[Arc<str>], name: &str) -> Arc<str> {
    match sorted.binary_search_by(|n| n.as_ref().cmp(name)) {
        Ok(i) => sorted.get(i).map_or_else(|| Arc::from(name), Arc::clone),
        Err(_) => Arc::from(name),
    }
}

/// A graph list's items (event types, rules, groups) by name: their indices sorted by name,
/// searched by halving. Why not a `BTreeMap<String, u32>`: each map instantiation is several
/// KB of the wasm modules, and building one copies every name; these are built once per
/// bundle and only read. Names are unique (validation refuses duplicates).
#[derive(Debug, Clone, Default)]
pub(crate) struct ByName(Vec<u32>);

impl ByName {
    /// Of the `len` items whose names `name_of` gives.
    pub(crate) fn new<'g>(len: usize, name_of: impl Fn(usize) -> Option<&'g str>) -> ByName {
        let mut order: Vec<u32> = (0..).take(len).collect();
        omnirule_text::sort::sort_by(&mut order, |a, b| {
            name_of(*a as usize).cmp(&name_of(*b as usize))
        });
        ByName(order)
    }

    pub(crate) fn get<'g>(
        &self,
        name: &str,
        name_of: impl Fn(usize) -> Option<&'g str>,
    ) -> Option<u32> {
        let i = self
            .0
            .binary_search_by(|&i| name_of(i as usize).unwrap_or_default().cmp(name))
            .ok()?;
        self.0.get(i).copied()
    }
}
