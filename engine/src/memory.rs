//! Per-customer memory: remembered events, firing records and recent event ids.
//!
//! Why it is shaped this way:
//! - **Names, not indices.** Entries name their event type, rule and group, so a memory
//!   written under one bundle still means the same after the rules are updated; pruning under
//!   the new bundle drops what it no longer needs.
//! - **A join semilattice.** Memories from a browser, an edge and a store must converge in any
//!   order, so [`Memory::merge`] is commutative, associative and idempotent. The state is
//!   a set of entries plus `newest` (the latest time ever seen, merged by `max`); merge is a
//!   union followed by [`prune`](Memory::prune). Remembered events are a plain set: an event
//!   id that two copies remembered with different contents (a client that re-sent an id with
//!   other fields) is kept in both versions, since letting one replace the other would let
//!   the byte budget's cut depend on the order of merges. Pruning only *filters*, with thresholds that depend
//!   on `newest` alone (drop what is older than `newest − window`) and "keep the N greatest by
//!   (time, ...)" orders that agree with those windows. Such a filter is monotone, which is
//!   what makes `prune(prune(a) ∪ b) = prune(a ∪ b)`, hence the laws (property-tested).
//!   Evaluation uses the same prune, so memory stays bounded whatever a customer sends.
//! - **Cheap to copy.** Evaluation is a pure function returning a new memory, so remembered
//!   events are shared (`Arc`) and strings are `Arc<str>`: a copy is reference counts.
//! - **Canonical order.** Vectors are kept sorted and unique, so equal memories encode to
//!   equal bytes on every runtime.
//!
//! What is kept:
//! - a remembered event: its type, id, time and only the fields the rules' history queries
//!   read, for the longest window that reads it (its retention), at most
//!   `limits.max_events_per_type` per type, within [`MAX_EVENT_BYTES_PER_TYPE`] (the newest);
//! - a firing record (rule, group, time, event id) only for rules that still exist and need
//!   it: a `once` cap (kept for as long as the memory lives), or a `limit N per D` cap of the
//!   rule or of its recorded group (kept for the longest such D);
//! - the id of every evaluated event, for `limits.dedup_window` and at most
//!   `limits.max_dedup_ids` of them (the newest);
//! - an exposure to a rule with goals (rule, variant, time, event id, where it happened, the
//!   values its goals captured, the goals it converted) for the longest of the rule's goal
//!   windows, at most [`MAX_EXPOSURES_PER_RULE`] per rule (the newest). Exposures with the same
//!   identity merge by the union of their converted goals, so a conversion recorded by one
//!   host holds everywhere after a merge.
//!
//! Deletion: [`Memory::erase`] leaves a tombstone, the time of the deletion, which is part of the
//! merged state (merged by `max`, like `newest`). Pruning drops every entry dated at or before
//! it, so merging a copy taken before the deletion (a browser's, an edge cookie's, another
//! store's) brings nothing back, while events dated after it are remembered as usual. An event
//! dated before the deletion that arrives after it is still evaluated but leaves nothing behind.
//!
//! Known limitation: fields that a newer bundle no longer reads stay in events remembered
//! before the update until those events expire (removing them would make pruning a map
//! instead of a filter and break the merge laws).

use crate::bundle::Bundle;
use crate::graph::{Cap, Millis};
use crate::value::{Value, number_json, time_in_range};
use omnirule_text::time::format_time;
use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

mod bytes;

/// `b"OMNIMEM"`.
pub const MAGIC: &[u8; 7] = b"OMNIMEM";
/// The memory format this engine writes: 1 for a memory without a deletion or exposures (the
/// bytes older engines read), 2 for one with a tombstone (older engines refuse it rather than
/// ignore the deletion), 3 for one with exposures (a tombstone optional). All are read.
pub const FORMAT_VERSION: u16 = 3;
/// The format of a memory without a deletion.
const FORMAT_PLAIN: u16 = 1;
/// The format of a memory with a deletion and no exposures.
const FORMAT_ERASED: u16 = 2;
/// At most this many exposures are kept per rule (the newest).
pub const MAX_EXPOSURES_PER_RULE: usize = 16;
/// The `format` field of the JSON form.
pub const JSON_FORMAT: &str = "omnirule-memory";
/// Deepest list nesting in a stored field.
const MAX_VALUE_DEPTH: usize = 32;

/// A remembered event.
#[derive(Debug, Clone, PartialEq)]
pub struct RememberedEvent {
    pub event_type: Arc<str>,
    pub id: Arc<str>,
    pub time: Millis,
    /// Only the retained fields, sorted by name.
    pub fields: Vec<(Arc<str>, Value)>,
    /// [`RememberedEvent::footprint`], computed once: pruning sums it over a type's events on
    /// every event (walking the fields of 5,000 remembered events each time added half the
    /// cost of recording an event).
    footprint: usize,
}

impl RememberedEvent {
    pub fn field(&self, name: &str) -> Option<&Value> {
        crate::fields::lookup(&self.fields, name)
    }

    /// A remembered event; `fields` sorted by name.
    pub fn new(
        event_type: Arc<str>,
        id: Arc<str>,
        time: Millis,
        fields: Vec<(Arc<str>, Value)>,
    ) -> RememberedEvent {
        let footprint = fields
            .iter()
            .fold(event_type.len() + id.len() + 8, |n, (name, v)| {
                n.saturating_add(name.len()).saturating_add(v.footprint())
            });
        RememberedEvent {
            event_type,
            id,
            time,
            fields,
            footprint,
        }
    }

    /// What the event counts against [`MAX_EVENT_BYTES_PER_TYPE`]: its type, id and field
    /// names' bytes, 8 for its time, and its values' [`Value::footprint`].
    pub fn footprint(&self) -> usize {
        self.footprint
    }
}

/// The byte budget of one type's remembered events (by [`RememberedEvent::footprint`]): an
/// event is kept only while the events newer than it total at most this, so a type holds at
/// most this plus one event (the newest are kept). With the count bound
/// (`limits.max_events_per_type`), the 256-byte ids and the 16 KiB field values, this bounds a
/// memory's size whatever a customer (or a merged copy) sends, so a customer can always be
/// evaluated, exported and erased.
///
/// Why "newer than it" and not "with it": the events that cause a cut must stay, or a merge
/// could bring back an older event that the cut had dropped (the weight that dropped it would
/// be gone). Counted this way the budget is a prefix of a type's run, newest first, whose
/// cutting events are kept, like the count bound, so pruning stays a filter that keeps merge a
/// join (property-tested with events large enough to reach it).
pub const MAX_EVENT_BYTES_PER_TYPE: usize = 1 << 20;

/// How many of a run's oldest events to drop so that every event kept has at most
/// [`MAX_EVENT_BYTES_PER_TYPE`] of newer events above it.
fn within_budget(run: &[Arc<RememberedEvent>]) -> usize {
    let mut newer = 0usize;
    for (i, e) in run.iter().enumerate().rev() {
        if newer > MAX_EVENT_BYTES_PER_TYPE {
            return i + 1;
        }
        newer = newer.saturating_add(e.footprint());
    }
    0
}

/// A rule fired for an event.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Firing {
    pub rule: Arc<str>,
    pub time: Millis,
    /// The id of the event it fired for.
    pub event: Arc<str>,
    pub group: Option<Arc<str>>,
}

/// The customer was exposed to a rule with goals: a decision (a split's control included) was
/// made for them.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    pub rule: Arc<str>,
    /// The split's arm (`control` included); `None` for a rule without a split.
    pub variant: Option<Arc<str>>,
    pub time: Millis,
    /// The id of the event it was decided on.
    pub event: Arc<str>,
    /// Where it happened, as the host that evaluated it said (`web`, `store`; `edge`,
    /// `paris-01`).
    pub channel: Option<Arc<str>>,
    pub host: Option<Arc<str>>,
    /// The values the rule's goals captured when it fired, goal after goal.
    pub captures: Vec<Value>,
    /// The goals this exposure converted (names, sorted, unique).
    pub converted: Vec<Arc<str>>,
}

/// An exposure's identity: one event's decision for one rule's arm. The same event decided at
/// two sites (a delivery repeated to another host before their memories met) is one exposure.
fn exposure_identity(a: &Exposure, b: &Exposure) -> Ordering {
    a.rule
        .cmp(&b.rule)
        .then(a.time.cmp(&b.time))
        .then_with(|| a.event.cmp(&b.event))
        .then_with(|| a.variant.cmp(&b.variant))
}

/// Storage order: identity, then where and what was kept. Of two records of one exposure,
/// merging keeps the first in this order (the minimum, so merging stays a join) with the
/// union of their converted goals.
fn exposure_order(a: &Exposure, b: &Exposure) -> Ordering {
    exposure_identity(a, b)
        .then_with(|| a.channel.cmp(&b.channel))
        .then_with(|| a.host.cmp(&b.host))
        .then_with(|| {
            a.captures
                .iter()
                .zip(b.captures.iter())
                .map(|(x, y)| x.total_cmp(y))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or_else(|| a.captures.len().cmp(&b.captures.len()))
        })
}

/// What one evaluation adds to a memory (see `Memory::record`).
#[derive(Debug, Default)]
pub(crate) struct Recorded {
    pub remembered: Option<RememberedEvent>,
    pub firings: Vec<Firing>,
    pub exposures: Vec<Exposure>,
    /// Goals met: (index into the memory's exposures before this event, goal name).
    pub converted: Vec<(usize, Arc<str>)>,
}

/// One customer's memory. See the module documentation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Memory {
    newest: Option<Millis>,
    /// When the customer was erased: nothing dated at or before it is kept.
    erased: Option<Millis>,
    /// Sorted by [`event_order`]; unique.
    events: Vec<Arc<RememberedEvent>>,
    /// Sorted by (rule, time, event, group); unique.
    firings: Vec<Firing>,
    /// Sorted by id; one entry per id (its latest time).
    seen: Vec<(Arc<str>, Millis)>,
    /// Sorted by [`exposure_order`]; one per [`exposure_identity`].
    exposures: Vec<Exposure>,
}

/// Why stored memory could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryError {
    NotAMemory,
    UnsupportedVersion { found: u16, supported: u16 },
    Decode(String),
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryError::NotAMemory => f.write_str("not an Omnirule memory"),
            MemoryError::UnsupportedVersion { found, supported } => write!(
                f,
                "memory format {found} is not supported by this engine (it reads format {supported})"
            ),
            MemoryError::Decode(e) => write!(f, "the memory could not be decoded: {e}"),
        }
    }
}

impl std::error::Error for MemoryError {}

fn fields_cmp(a: &[(Arc<str>, Value)], b: &[(Arc<str>, Value)]) -> Ordering {
    for (x, y) in a.iter().zip(b.iter()) {
        let o = x.0.cmp(&y.0).then_with(|| x.1.total_cmp(&y.1));
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

/// Storage order: type, time, id, content.
fn event_order(a: &RememberedEvent, b: &RememberedEvent) -> Ordering {
    a.event_type
        .cmp(&b.event_type)
        .then(a.time.cmp(&b.time))
        .then_with(|| a.id.cmp(&b.id))
        .then_with(|| fields_cmp(&a.fields, &b.fields))
}

impl Memory {
    /// Nothing is kept about the customer: no events, no firings, no ids. (The time of the
    /// latest event may still be set.)
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
            && self.firings.is_empty()
            && self.seen.is_empty()
            && self.exposures.is_empty()
    }

    /// Exposures to rules with goals, by rule then time.
    pub fn exposures(&self) -> &[Exposure] {
        &self.exposures
    }

    /// How many events are remembered.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// The latest event time this memory has seen.
    pub fn newest(&self) -> Option<Millis> {
        self.newest
    }

    /// When the customer was erased, if ever (see [`Memory::erase`]).
    pub fn erased(&self) -> Option<Millis> {
        self.erased
    }

    /// Forgets everything about the customer, for good: the result is a tombstone dated at the
    /// later of `at` (the host's clock) and the newest time this memory has seen, so nothing
    /// already kept survives, and it wins in every later merge over any copy holding older
    /// data. Needs no bundle: a tombstone holds no entries to prune.
    pub fn erase(&self, at: Millis) -> Memory {
        let at = [self.erased, self.newest]
            .into_iter()
            .flatten()
            .fold(at, Millis::max);
        Memory {
            newest: self.newest,
            erased: Some(at),
            events: Vec::new(),
            firings: Vec::new(),
            seen: Vec::new(),
            exposures: Vec::new(),
        }
    }

    /// The version written for this memory (see [`FORMAT_VERSION`]).
    fn format(&self) -> u16 {
        if !self.exposures.is_empty() {
            FORMAT_VERSION
        } else if self.erased.is_some() {
            FORMAT_ERASED
        } else {
            FORMAT_PLAIN
        }
    }

    /// Remembered events, by type, then time, then id.
    pub fn events(&self) -> impl Iterator<Item = &RememberedEvent> {
        self.events.iter().map(AsRef::as_ref)
    }

    /// Firing records, by rule, then time.
    pub fn firings(&self) -> &[Firing] {
        &self.firings
    }

    /// Ids kept for de-duplication, with their times, sorted by id.
    pub fn seen_ids(&self) -> impl Iterator<Item = (&str, Millis)> {
        self.seen.iter().map(|(id, t)| (id.as_ref(), *t))
    }

    pub(crate) fn event_slice(&self) -> &[Arc<RememberedEvent>] {
        &self.events
    }

    /// Whether an event id was already seen (remembered, or kept for de-duplication).
    pub fn contains_id(&self, id: &str) -> bool {
        self.seen
            .binary_search_by(|(s, _)| s.as_ref().cmp(id))
            .is_ok()
            || self.events.iter().any(|e| e.id.as_ref() == id)
    }

    /// The union of two memories, pruned under `bundle`. Commutative, associative and
    /// idempotent (see the module documentation).
    pub fn merge(&self, other: &Memory, bundle: &Bundle) -> Memory {
        let mut m = Memory {
            newest: match (self.newest, other.newest) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            erased: match (self.erased, other.erased) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            },
            events: self
                .events
                .iter()
                .chain(other.events.iter())
                .cloned()
                .collect(),
            firings: self
                .firings
                .iter()
                .chain(other.firings.iter())
                .cloned()
                .collect(),
            seen: self.seen.iter().chain(other.seen.iter()).cloned().collect(),
            exposures: self
                .exposures
                .iter()
                .chain(other.exposures.iter())
                .cloned()
                .collect(),
        };
        m.normalize();
        m.prune(bundle);
        m
    }

    /// Restores the invariants (sorted, unique, `newest` at least every time) of a memory
    /// assembled from parts.
    fn normalize(&mut self) {
        // A set: equal entries once. (Two copies that remembered one event id with different
        // contents keep both: replacing one version by another could make the byte budget
        // forget what a merge must still count, see `MAX_EVENT_BYTES_PER_TYPE`.)
        omnirule_text::sort::sort_by(&mut self.events, |a, b| event_order(a, b));
        self.events
            .dedup_by(|a, b| event_order(a, b) == Ordering::Equal);
        omnirule_text::sort::sort(&mut self.firings);
        self.firings.dedup();
        omnirule_text::sort::sort(&mut self.seen);
        let mut seen: Vec<(Arc<str>, Millis)> = Vec::with_capacity(self.seen.len());
        for s in self.seen.drain(..) {
            match seen.last_mut() {
                Some(last) if last.0 == s.0 => *last = s,
                _ => seen.push(s),
            }
        }
        self.seen = seen;
        if !self.exposures.is_empty() {
            for x in &mut self.exposures {
                omnirule_text::sort::sort(&mut x.converted);
                x.converted.dedup();
            }
            omnirule_text::sort::sort_by(&mut self.exposures, exposure_order);
            let mut merged: Vec<Exposure> = Vec::with_capacity(self.exposures.len());
            for x in self.exposures.drain(..) {
                match merged.last_mut() {
                    Some(last) if exposure_identity(last, &x) == Ordering::Equal => {
                        last.converted.extend(x.converted);
                        omnirule_text::sort::sort(&mut last.converted);
                        last.converted.dedup();
                    }
                    _ => merged.push(x),
                }
            }
            self.exposures = merged;
        }
        let times = self
            .events
            .iter()
            .map(|e| e.time)
            .chain(self.firings.iter().map(|f| f.time))
            .chain(self.seen.iter().map(|s| s.1))
            .chain(self.exposures.iter().map(|x| x.time));
        for t in times {
            self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
        }
        self.drop_erased();
    }

    /// Drops every entry dated at or before the tombstone: a filter on each entry alone, so it
    /// keeps merge a join.
    fn drop_erased(&mut self) {
        if let Some(at) = self.erased {
            self.events.retain(|e| e.time > at);
            self.firings.retain(|f| f.time > at);
            self.seen.retain(|s| s.1 > at);
            self.exposures.retain(|x| x.time > at);
        }
    }

    /// Drops what `bundle` no longer needs (see the module documentation). A monotone filter:
    /// the only state it reads besides the entries is `newest`, which it does not change.
    pub fn prune(&mut self, bundle: &Bundle) {
        let Some(newest) = self.newest else {
            self.events.clear();
            self.firings.clear();
            self.seen.clear();
            self.exposures.clear();
            return;
        };
        self.drop_erased();
        let g = bundle.graph();
        let plan = bundle.plan();
        let max_per = g.limits.max_events_per_type as usize;

        // Per run of one type: the prefix to drop (too old, over the per-type bound, or a type
        // that is no longer remembered). Dropped from the back so indices stay valid; in the
        // steady state this is one small `drain`, with no copying of the entries kept.
        let mut drops: Vec<(usize, usize)> = Vec::new();
        let mut start = 0usize;
        for run in self.events.chunk_by(|a, b| a.event_type == b.event_type) {
            let end = start + run.len();
            let keep = run
                .first()
                .and_then(|e| plan.event_id(g, &e.event_type))
                .and_then(|id| g.retention.get(id as usize))
                .and_then(|r| r.keep);
            let first_kept = match keep {
                None => end,
                Some(keep) => {
                    let cutoff = newest.saturating_sub(keep);
                    let old = run.partition_point(|e| e.time < cutoff);
                    (start + old)
                        .max(end.saturating_sub(max_per))
                        .max(start + within_budget(run))
                }
            };
            if first_kept > start {
                drops.push((start, first_kept));
            }
            start = end;
        }
        for (from, to) in drops.into_iter().rev() {
            self.events.drain(from..to);
        }

        let window_of = |cap: Option<Cap>| -> (bool, Option<Millis>) {
            match cap {
                Some(Cap::Once) => (true, None),
                Some(Cap::Limit { per, .. }) => (false, Some(per)),
                None => (false, None),
            }
        };
        let mut firings = Vec::with_capacity(self.firings.len());
        for run in self.firings.chunk_by(|a, b| a.rule == b.rule) {
            let Some(rule) = run
                .first()
                .and_then(|f| plan.rule_id(g, &f.rule))
                .and_then(|r| g.rules.get(r as usize))
            else {
                continue;
            };
            let (rule_forever, rule_window) = window_of(rule.cap);
            let start = firings.len();
            for f in run {
                let group_cap = f
                    .group
                    .as_ref()
                    .and_then(|name| plan.group_id(g, name))
                    .and_then(|gid| g.groups.get(gid as usize))
                    .and_then(|grp| grp.cap);
                let (group_forever, group_window) = window_of(group_cap);
                let window = match (rule_window, group_window) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                // Twice the window: an event up to one window late still sees every firing
                // its windows hold (see the cap check in `eval`).
                let keep = rule_forever
                    || group_forever
                    || window.is_some_and(|w| f.time >= newest.saturating_sub(w.saturating_mul(2)));
                if keep {
                    firings.push(f.clone());
                }
            }
            // At most `max_per` records per rule (the newest).
            let n = firings.len() - start;
            if n > max_per {
                firings.drain(start..start + (n - max_per));
            }
        }
        self.firings = firings;
        self.prune_exposures(bundle, newest);

        let cutoff = newest.saturating_sub(g.limits.dedup_window);
        self.seen.retain(|(_, t)| *t >= cutoff);
        let max_ids = g.limits.max_dedup_ids as usize;
        let excess = self.seen.len().saturating_sub(max_ids);
        if excess > 0 && max_ids == 0 {
            self.seen.clear();
        } else if excess > 0 && excess <= 4 {
            // The usual case after one event: remove the oldest few by (time, id).
            for _ in 0..excess {
                let oldest = self
                    .seen
                    .iter()
                    .enumerate()
                    .min_by(|(_, a), (_, b)| (a.1, &a.0).cmp(&(b.1, &b.0)))
                    .map(|(i, _)| i);
                if let Some(i) = oldest {
                    self.seen.remove(i);
                }
            }
        } else if excess > 0 {
            // Rare (a merge, or a bundle with a smaller bound): a sort through the shared
            // sort code rather than a selection algorithm of its own in the wasm modules.
            let mut keys: Vec<(Millis, &Arc<str>)> =
                self.seen.iter().map(|(id, t)| (*t, id)).collect();
            omnirule_text::sort::sort(&mut keys);
            let Some(&(t0, id0)) = keys.get(excess) else {
                return;
            };
            let least_kept = (t0, id0.clone());
            self.seen
                .retain(|(id, t)| (*t, id) >= (least_kept.0, &least_kept.1));
        }
    }

    /// The bytes this memory counts against its budget (see [`MAX_EVENT_BYTES_PER_TYPE`]):
    /// the sum of [`RememberedEvent::footprint`] over the remembered events.
    /// Keeps the exposures of rules that still have goals, for the longest of their windows
    /// before `newest` (as `within`: an exposure exactly that old stays), at most
    /// [`MAX_EXPOSURES_PER_RULE`] per rule, the newest. Both cuts drop the oldest, which keeps
    /// pruning a filter that agrees with merging (see the module documentation).
    fn prune_exposures(&mut self, bundle: &Bundle, newest: Millis) {
        if self.exposures.is_empty() {
            return;
        }
        let g = bundle.graph();
        let plan = bundle.plan();
        let mut kept = Vec::with_capacity(self.exposures.len());
        for run in self.exposures.chunk_by(|a, b| a.rule == b.rule) {
            let window = run
                .first()
                .and_then(|x| plan.rule_id(g, &x.rule))
                .and_then(|rid| {
                    g.goals
                        .iter()
                        .filter(|goal| goal.rule == rid)
                        .map(|goal| goal.within)
                        .max()
                });
            let Some(window) = window else { continue };
            let cutoff = newest.saturating_sub(window);
            let live = run.partition_point(|x| x.time < cutoff);
            let from = live.max(run.len().saturating_sub(MAX_EXPOSURES_PER_RULE));
            kept.extend(run.iter().skip(from).cloned());
        }
        self.exposures = kept;
    }

    pub fn event_bytes(&self) -> usize {
        self.events
            .iter()
            .fold(0usize, |n, e| n.saturating_add(e.footprint()))
    }

    /// Adds what one evaluated event leaves behind, then prunes. The event id is new (the
    /// caller checked [`Memory::contains_id`]).
    pub(crate) fn record(&mut self, bundle: &Bundle, id: &Arc<str>, time: Millis, add: Recorded) {
        let Recorded {
            remembered,
            firings,
            exposures,
            converted,
        } = add;
        self.newest = Some(self.newest.map_or(time, |n| n.max(time)));
        // Marks first: the indices are of the exposures before this event.
        for (i, goal) in converted {
            if let Some(x) = self.exposures.get_mut(i)
                && let Err(at) = x.converted.binary_search(&goal)
            {
                x.converted.insert(at, goal);
            }
        }
        for x in exposures {
            match self
                .exposures
                .binary_search_by(|y| exposure_identity(y, &x))
            {
                Ok(i) => {
                    // The same event already decided here (through a merge): one exposure.
                    if let Some(y) = self.exposures.get_mut(i) {
                        let mut converted = std::mem::take(&mut y.converted);
                        if exposure_order(&x, y) == Ordering::Less {
                            *y = x;
                        }
                        converted.extend(std::mem::take(&mut y.converted));
                        omnirule_text::sort::sort(&mut converted);
                        converted.dedup();
                        y.converted = converted;
                    }
                }
                Err(at) => self.exposures.insert(at, x),
            }
        }
        if let Some(e) = remembered {
            let pos = self
                .events
                .partition_point(|x| event_order(x, &e) == Ordering::Less);
            self.events.insert(pos, Arc::new(e));
        }
        match self
            .seen
            .binary_search_by(|(s, _)| s.as_ref().cmp(id.as_ref()))
        {
            Ok(i) => {
                if let Some(s) = self.seen.get_mut(i) {
                    s.1 = s.1.max(time);
                }
            }
            Err(i) => self.seen.insert(i, (id.clone(), time)),
        }
        for f in firings {
            if let Err(i) = self.firings.binary_search(&f) {
                self.firings.insert(i, f);
            }
        }
        self.prune(bundle);
    }

    // ----- bytes -----------------------------------------------------------------------------

    /// `b"OMNIMEM"`, a u16 LE format version, then the memory in postcard's encoding (see
    /// [`bytes`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&self.format().to_le_bytes());
        bytes::write(self, &mut out);
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Memory, MemoryError> {
        let n = MAGIC.len();
        if bytes.get(..n) != Some(MAGIC.as_slice()) {
            return Err(MemoryError::NotAMemory);
        }
        let version = bytes
            .get(n..n + 2)
            .and_then(|s| <[u8; 2]>::try_from(s).ok())
            .map(u16::from_le_bytes)
            .ok_or_else(|| MemoryError::Decode("the header is truncated".into()))?;
        if !(FORMAT_PLAIN..=FORMAT_VERSION).contains(&version) {
            return Err(MemoryError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let mut m = bytes::read(bytes.get(n + 2..).unwrap_or_default(), version)?;
        m.normalize();
        Ok(m)
    }

    // ----- JSON ------------------------------------------------------------------------------

    /// A readable form (what is kept about a customer), pretty-printed: `format`, `version`,
    /// `newest`, `erased` (only in version 2: when the customer was erased), `events` (type, id, time, fields), `firings` (rule, group, time, event) and
    /// `seen` (id, time). Times are RFC 3339. Field values are plain JSON, except times
    /// (`{"time": "..."}`) and durations (`{"duration_ms": n}`), which are tagged so that the
    /// JSON reads back exactly.
    pub fn to_json(&self) -> String {
        use serde_json::Value as J;
        let text = |s: &str| J::String(s.into());
        let events: Vec<J> = self
            .events
            .iter()
            .map(|e| {
                // Inserted one by one: collecting into the map would sort the entries again
                // (they are sorted already), with a sort instantiated for this one use.
                let mut fields = serde_json::Map::new();
                for (k, v) in &e.fields {
                    fields.insert(String::from(&**k), field_to_json(v));
                }
                object([
                    ("type", text(&e.event_type)),
                    ("id", text(&e.id)),
                    ("time", time_json(e.time)),
                    ("fields", J::Object(fields)),
                ])
            })
            .collect();
        let firings: Vec<J> = self
            .firings
            .iter()
            .map(|f| {
                object([
                    ("rule", text(&f.rule)),
                    ("group", f.group.as_deref().map_or(J::Null, text)),
                    ("time", time_json(f.time)),
                    ("event", text(&f.event)),
                ])
            })
            .collect();
        let seen: Vec<J> = self
            .seen
            .iter()
            .map(|(id, t)| object([("id", text(id)), ("time", time_json(*t))]))
            .collect();
        let opt = |s: &Option<Arc<str>>| s.as_deref().map_or(J::Null, text);
        let exposures: Vec<J> = self
            .exposures
            .iter()
            .map(|x| {
                object([
                    ("rule", text(&x.rule)),
                    ("variant", opt(&x.variant)),
                    ("time", time_json(x.time)),
                    ("event", text(&x.event)),
                    ("channel", opt(&x.channel)),
                    ("host", opt(&x.host)),
                    (
                        "captures",
                        J::Array(x.captures.iter().map(field_to_json).collect()),
                    ),
                    (
                        "converted",
                        J::Array(x.converted.iter().map(|g| text(g)).collect()),
                    ),
                ])
            })
            .collect();
        let mut doc = object([
            ("format", text(JSON_FORMAT)),
            ("version", J::from(self.format())),
            ("newest", self.newest.map_or(J::Null, time_json)),
        ]);
        if let (Some(at), J::Object(members)) = (self.erased, &mut doc) {
            members.insert("erased".into(), time_json(at));
        }
        if let J::Object(members) = &mut doc {
            members.insert("events".into(), J::Array(events));
            members.insert("firings".into(), J::Array(firings));
            members.insert("seen".into(), J::Array(seen));
            if !exposures.is_empty() {
                members.insert("exposures".into(), J::Array(exposures));
            }
        }
        omnirule_text::json::to_string_pretty(&doc)
    }

    pub fn from_json(text: &str) -> Result<Memory, MemoryError> {
        use serde_json::Value as J;
        let doc: J =
            omnirule_text::json::parse(text).map_err(|e| MemoryError::Decode(e.to_string()))?;
        if doc.get("format").and_then(J::as_str) != Some(JSON_FORMAT) {
            return Err(MemoryError::NotAMemory);
        }
        match doc.get("version").and_then(J::as_u64) {
            Some(v) if (u64::from(FORMAT_PLAIN)..=u64::from(FORMAT_VERSION)).contains(&v) => {}
            Some(v) => {
                return Err(MemoryError::UnsupportedVersion {
                    found: u16::try_from(v).unwrap_or(u16::MAX),
                    supported: FORMAT_VERSION,
                });
            }
            None => return Err(MemoryError::Decode("the `version` field is missing".into())),
        }
        let err = |what: &str| MemoryError::Decode(what.to_string());
        let string = |j: &J, key: &str, at: &str| -> Result<Arc<str>, MemoryError> {
            j.get(key)
                .and_then(J::as_str)
                .map(Arc::from)
                .ok_or_else(|| err(&format!("{at}: `{key}` must be a string")))
        };
        let time = |j: &J, key: &str, at: &str| -> Result<Millis, MemoryError> {
            j.get(key)
                .ok_or_else(|| err(&format!("{at}: `{key}` is missing")))
                .and_then(|t| {
                    crate::input::time_from_json(t)
                        .map_err(|e| err(&format!("{at}: `{key}` is not a valid time: {e}")))
                })
        };
        let list = |key: &str| -> Result<&[J], MemoryError> {
            match doc.get(key) {
                None | Some(J::Null) => Ok(&[]),
                Some(J::Array(a)) => Ok(a),
                Some(_) => Err(err(&format!("`{key}` must be an array"))),
            }
        };
        let mut events = Vec::new();
        for (i, e) in list("events")?.iter().enumerate() {
            let at = format!("event {i}");
            let mut fields = Vec::new();
            if let Some(obj) = e.get("fields").and_then(J::as_object) {
                for (k, v) in obj {
                    fields.push((
                        Arc::from(k.as_str()),
                        field_from_json(v, 0)
                            .map_err(|e| err(&format!("{at}: field `{k}`: {e}")))?,
                    ));
                }
            }
            omnirule_text::sort::sort_by(&mut fields, |a: &(Arc<str>, Value), b| a.0.cmp(&b.0));
            events.push(Arc::new(RememberedEvent::new(
                string(e, "type", &at)?,
                string(e, "id", &at)?,
                time(e, "time", &at)?,
                fields,
            )));
        }
        let mut firings = Vec::new();
        for (i, f) in list("firings")?.iter().enumerate() {
            let at = format!("firing {i}");
            firings.push(Firing {
                rule: string(f, "rule", &at)?,
                group: f.get("group").and_then(J::as_str).map(Arc::from),
                time: time(f, "time", &at)?,
                event: string(f, "event", &at)?,
            });
        }
        let mut seen = Vec::new();
        for (i, s) in list("seen")?.iter().enumerate() {
            let at = format!("seen id {i}");
            seen.push((string(s, "id", &at)?, time(s, "time", &at)?));
        }
        let mut exposures = Vec::new();
        for (i, x) in list("exposures")?.iter().enumerate() {
            let at = format!("exposure {i}");
            let opt = |key: &str| -> Result<Option<Arc<str>>, MemoryError> {
                match x.get(key) {
                    None | Some(J::Null) => Ok(None),
                    Some(J::String(s)) => Ok(Some(Arc::from(s.as_str()))),
                    Some(_) => Err(err(&format!("{at}: `{key}` must be a string or null"))),
                }
            };
            let mut captures = Vec::new();
            for (k, v) in x
                .get("captures")
                .and_then(J::as_array)
                .map_or(&[][..], Vec::as_slice)
                .iter()
                .enumerate()
            {
                captures.push(
                    field_from_json(v, 0).map_err(|e| err(&format!("{at}: capture {k}: {e}")))?,
                );
            }
            let mut converted = Vec::new();
            for g in x
                .get("converted")
                .and_then(J::as_array)
                .map_or(&[][..], Vec::as_slice)
            {
                converted.push(
                    g.as_str()
                        .map(Arc::from)
                        .ok_or_else(|| err(&format!("{at}: `converted` must hold strings")))?,
                );
            }
            exposures.push(Exposure {
                rule: string(x, "rule", &at)?,
                variant: opt("variant")?,
                time: time(x, "time", &at)?,
                event: string(x, "event", &at)?,
                channel: opt("channel")?,
                host: opt("host")?,
                captures,
                converted,
            });
        }
        let newest = match doc.get("newest") {
            None | Some(J::Null) => None,
            Some(t) => Some(
                crate::input::time_from_json(t)
                    .map_err(|e| err(&format!("`newest` is not a valid time: {e}")))?,
            ),
        };
        let erased = match doc.get("erased") {
            None | Some(J::Null) => None,
            Some(t) => Some(
                crate::input::time_from_json(t)
                    .map_err(|e| err(&format!("`erased` is not a valid time: {e}")))?,
            ),
        };
        if erased.is_some() && doc.get("version").and_then(J::as_u64) == Some(1) {
            return Err(err(
                "`erased` needs version 2 (older engines would ignore it)",
            ));
        }
        let mut m = Memory {
            newest,
            erased,
            events,
            firings,
            seen,
            exposures,
        };
        m.normalize();
        Ok(m)
    }
}

fn check_time(t: Millis) -> Result<(), MemoryError> {
    if time_in_range(t) {
        Ok(())
    } else {
        Err(MemoryError::Decode(format!("time {t} is out of range")))
    }
}

/// A time in the JSON form: RFC 3339 text for the years 0000 to 9999, integer milliseconds
/// beyond (RFC 3339 has four-digit years; the reader takes both). Found by the memory fuzzer:
/// a tombstone dated in the year 10116 did not read back.
fn time_json(t: Millis) -> serde_json::Value {
    const FIRST: Millis = -62_167_219_200_000; // 0000-01-01T00:00:00Z
    const LAST: Millis = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    if (FIRST..=LAST).contains(&t) {
        serde_json::Value::String(format_time(t))
    } else {
        serde_json::Value::from(t)
    }
}

/// A JSON object of these members, in this order.
fn object<const N: usize>(members: [(&str, serde_json::Value); N]) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for (k, v) in members {
        out.insert(k.into(), v);
    }
    serde_json::Value::Object(out)
}

fn field_to_json(v: &Value) -> serde_json::Value {
    match v {
        Value::Time(t) => object([("time", time_json(*t))]),
        Value::Duration(d) => object([("duration_ms", serde_json::Value::from(*d))]),
        Value::List(items) => serde_json::Value::Array(items.iter().map(field_to_json).collect()),
        Value::Number(n) => number_json(*n),
        other => other.to_json(),
    }
}

fn field_from_json(j: &serde_json::Value, depth: usize) -> Result<Value, String> {
    use serde_json::Value as J;
    if depth > MAX_VALUE_DEPTH {
        return Err("nested too deeply".into());
    }
    Ok(match j {
        J::Null => Value::Missing,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => crate::value::number(n.as_f64().unwrap_or(f64::NAN)),
        J::String(s) => Value::string(s),
        J::Array(items) => Value::List(
            items
                .iter()
                .map(|i| field_from_json(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(o) => match (o.get("time"), o.get("duration_ms"), o.len()) {
            (Some(t), None, 1) => Value::Time(crate::input::time_from_json(t)?),
            (None, Some(d), 1) => {
                Value::Duration(d.as_i64().ok_or("`duration_ms` must be an integer")?)
            }
            _ => return Err("an object must be {\"time\": ...} or {\"duration_ms\": ...}".into()),
        },
    })
}

/// A value as a flat prefix-order tape (`List(n)` is followed by its `n` elements), so that
/// decoding hostile bytes is iterative and depth-limited rather than recursive.
#[derive(Debug, Clone, PartialEq)]
enum Atom {
    Missing,
    Bool(bool),
    Number(f64),
    String(Arc<str>),
    Duration(Millis),
    Time(Millis),
    List(u32),
}

fn to_tape(v: &Value, out: &mut Vec<Atom>) {
    match v {
        Value::Missing | Value::Event(_) => out.push(Atom::Missing),
        Value::Bool(b) => out.push(Atom::Bool(*b)),
        Value::Number(n) => out.push(Atom::Number(*n)),
        Value::String(s) => out.push(Atom::String(s.clone())),
        Value::Duration(d) => out.push(Atom::Duration(*d)),
        Value::Time(t) => out.push(Atom::Time(*t)),
        Value::List(items) => {
            out.push(Atom::List(u32::try_from(items.len()).unwrap_or(u32::MAX)));
            for i in items {
                to_tape(i, out);
            }
        }
    }
}

fn from_tape(tape: &[Atom]) -> Result<Value, MemoryError> {
    // Stack of open lists: (elements so far, elements expected).
    let mut stack: Vec<(Vec<Value>, usize)> = Vec::new();
    let mut done: Option<Value> = None;
    for atom in tape {
        if done.is_some() {
            return Err(MemoryError::Decode(
                "a field value has trailing data".into(),
            ));
        }
        let v = match atom {
            Atom::Missing => Value::Missing,
            Atom::Bool(b) => Value::Bool(*b),
            Atom::Number(n) => crate::value::number(*n),
            Atom::String(s) => Value::String(s.clone()),
            Atom::Duration(d) => Value::Duration(*d),
            Atom::Time(t) => Value::Time(*t),
            Atom::List(n) => {
                if stack.len() >= MAX_VALUE_DEPTH {
                    return Err(MemoryError::Decode("a field value nests too deeply".into()));
                }
                let n = *n as usize;
                if n > tape.len() {
                    return Err(MemoryError::Decode("a list is longer than its data".into()));
                }
                stack.push((Vec::with_capacity(n.min(64)), n));
                // An empty list is complete at once.
                if n != 0 {
                    continue;
                }
                match stack.pop() {
                    Some((items, _)) => Value::List(items),
                    None => Value::Missing,
                }
            }
        };
        // Attach the value to its parent, closing every list it completes.
        let mut v = v;
        loop {
            match stack.last_mut() {
                None => {
                    done = Some(v);
                    break;
                }
                Some((items, want)) => {
                    items.push(v);
                    if items.len() < *want {
                        break;
                    }
                    match stack.pop() {
                        Some((items, _)) => v = Value::List(items),
                        None => break,
                    }
                }
            }
        }
    }
    if !stack.is_empty() {
        return Err(MemoryError::Decode("a field value is truncated".into()));
    }
    done.ok_or_else(|| MemoryError::Decode("a field value is empty".into()))
}
