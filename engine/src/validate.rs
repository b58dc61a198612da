//! [`Graph::validate`]: everything the evaluator relies on, checked once when a bundle loads.
//!
//! Bundles come from files and networks, so the engine never trusts the compiler. After
//! validation every index is in range, node and condition children come before their parents
//! (so evaluation cannot loop), segments do not refer to themselves, expression nesting is
//! bounded (so evaluation cannot exhaust the stack), every binding slot fits its rule's or
//! segment's environment, split arms sum to 100%, names that memory stores are unique, and
//! numbers are finite. The evaluator still uses checked access everywhere (defence in depth),
//! but with a valid graph those checks never fail.
//!
//! Traversals here are iterative (explicit stacks), so validating a hostile graph cannot
//! overflow the stack either.

use crate::graph::*;
use std::collections::BTreeSet;
use std::fmt;

/// Most binding slots a rule or segment may use.
pub const MAX_SLOTS: Slot = 256;
/// Deepest expression (node) nesting, and deepest condition nesting, a graph may contain.
pub const MAX_DEPTH: u32 = 512;
/// Deepest chain of segments referring to segments.
pub const MAX_SEGMENT_NESTING: u32 = 16;

/// Why a graph was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphError {
    /// `at` refers to entry `index` of `table`, which has only `len` entries.
    IndexOutOfRange {
        at: String,
        table: &'static str,
        index: u64,
        len: usize,
    },
    /// A node or condition refers to a child that does not come before it.
    ChildNotBeforeParent {
        table: &'static str,
        parent: u32,
        child: u32,
    },
    /// Expressions or conditions nest deeper than the engine allows.
    TooDeep {
        what: &'static str,
        at: String,
        max: u32,
    },
    /// A binding slot outside the environment of its rule or segment.
    SlotOutOfRange { at: String, slot: Slot, slots: Slot },
    /// A split whose arms do not sum to 10,000 basis points.
    SplitArms { rule: String, sum: u64 },
    /// A name that must be unique is not.
    Duplicate { what: &'static str, name: String },
    /// Segments that (indirectly) refer to themselves.
    SegmentCycle { segment: String },
    /// Anything else, described in a sentence.
    Invalid(String),
}

impl fmt::Display for GraphError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GraphError::IndexOutOfRange {
                at,
                table,
                index,
                len,
            } => write!(
                f,
                "{at} refers to {table} {index}, but there are only {len} {table}s"
            ),
            GraphError::ChildNotBeforeParent {
                table,
                parent,
                child,
            } => write!(
                f,
                "{table} {parent} refers to {table} {child}, which does not come before it"
            ),
            GraphError::TooDeep { what, at, max } => {
                write!(f, "{what} in {at} nest deeper than {max} levels")
            }
            GraphError::SlotOutOfRange { at, slot, slots } => write!(
                f,
                "{at} uses binding slot {slot}, but its environment has only {slots} slots"
            ),
            GraphError::SplitArms { rule, sum } => write!(
                f,
                "the split of rule `{rule}` has arms summing to {sum} basis points instead of 10000"
            ),
            GraphError::Duplicate { what, name } => write!(f, "two {what}s are named `{name}`"),
            GraphError::SegmentCycle { segment } => {
                write!(f, "segment `{segment}` refers to itself (through segments)")
            }
            GraphError::Invalid(s) => f.write_str(s),
        }
    }
}

impl std::error::Error for GraphError {}

fn check(
    at: impl Fn() -> String,
    table: &'static str,
    index: u32,
    len: usize,
) -> Result<(), GraphError> {
    if (index as usize) < len {
        Ok(())
    } else {
        Err(GraphError::IndexOutOfRange {
            at: at(),
            table,
            index: u64::from(index),
            len,
        })
    }
}

/// What a check is about, named only when a check fails (a name built per rule eagerly is an
/// allocation per rule on every load, for a message a valid bundle never shows).
#[derive(Clone, Copy)]
enum Owner<'a> {
    Rule(&'a str),
    Segment(&'a str),
    Group(&'a str),
}

impl fmt::Display for Owner<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Rule(name) => write!(f, "rule `{name}`"),
            Owner::Segment(name) => write!(f, "segment `{name}`"),
            Owner::Group(name) => write!(f, "group `{name}`"),
        }
    }
}

/// Sorted, then adjacent names compared: one allocation, where a set of the names allocates as
/// it grows and does more work per name (it was a large part of validation,
/// `docs/performance.md`). A duplicate reported is the first in name order.
fn unique<'a>(what: &'static str, names: impl Iterator<Item = &'a str>) -> Result<(), GraphError> {
    let mut names: Vec<&str> = names.collect();
    omnirule_text::sort::sort(&mut names);
    match names.windows(2).find_map(|w| match w {
        [a, b] if a == b => Some(*a),
        _ => None,
    }) {
        Some(name) => Err(GraphError::Duplicate {
            what,
            name: name.to_string(),
        }),
        None => Ok(()),
    }
}

fn type_depth(t: &Type) -> u32 {
    let mut depth = 1u32;
    let mut t = t;
    while let Type::List(inner) | Type::Set(inner) = t {
        depth = depth.saturating_add(1);
        t = inner;
    }
    depth
}

/// Nesting depth of a literal, and whether all its numbers are finite (iteratively).
fn literal_ok(l: &Literal) -> Result<(), String> {
    // Most literals are scalars: no stack for them (a bundle has thousands).
    match l {
        Literal::List(_) => {}
        Literal::Number(n) if !n.is_finite() => return Err("a number literal is not finite".into()),
        _ => return Ok(()),
    }
    let mut stack = vec![(l, 1u32)];
    while let Some((l, d)) = stack.pop() {
        if d > crate::graph_serde::MAX_NESTING + 1 {
            return Err("a list literal nests too deeply".into());
        }
        match l {
            Literal::Number(n) if !n.is_finite() => {
                return Err("a number literal is not finite".into());
            }
            Literal::List(items) => stack.extend(items.iter().map(|i| (i, d + 1))),
            _ => {}
        }
    }
    Ok(())
}

/// The nodes a node refers to directly (not through queries or segments).
pub(crate) fn node_children(n: &Node) -> Children<'_> {
    match n {
        Node::Lit(_)
        | Node::Now
        | Node::EventField(_)
        | Node::EventMeta(_)
        | Node::ProfileField(_)
        | Node::Bound(_)
        | Node::Segment(_)
        | Node::Seen(_)
        | Node::Count(_)
        | Node::Sum(..)
        | Node::Last(_)
        | Node::TimeSince(_)
        | Node::Captured(_) => Children::Ids(&[]),
        Node::Field { of: x, .. }
        | Node::FieldMeta { of: x, .. }
        | Node::Neg(x)
        | Node::Not(x)
        | Node::Present(x)
        | Node::Missing(x) => Children::Ids(std::slice::from_ref(x)),
        Node::And(a, b)
        | Node::Or(a, b)
        | Node::Cmp(_, a, b)
        | Node::Arith(_, a, b)
        | Node::Coalesce(a, b)
        | Node::In(a, b) => Children::Two(Some(*a), Some(*b)),
        Node::Call(_, args) | Node::List(args) => Children::Ids(args),
        Node::Interp(pieces) => Children::Pieces(pieces),
    }
}

/// The children of a node ([`node_children`]), without allocating: loading a bundle visits
/// every node several times.
pub(crate) enum Children<'a> {
    Ids(&'a [NodeId]),
    Two(Option<NodeId>, Option<NodeId>),
    Pieces(&'a [Piece]),
}

impl Iterator for Children<'_> {
    type Item = NodeId;

    fn next(&mut self) -> Option<NodeId> {
        match self {
            Children::Ids(ids) => {
                let (first, rest) = ids.split_first()?;
                *ids = rest;
                Some(*first)
            }
            Children::Two(a, b) => a.take().or_else(|| b.take()),
            Children::Pieces(pieces) => loop {
                let (first, rest) = pieces.split_first()?;
                *pieces = rest;
                if let Piece::Value(v) = first {
                    return Some(*v);
                }
            },
        }
    }
}

/// The query a node runs, if any.
pub(crate) fn node_query(n: &Node) -> Option<QueryId> {
    match n {
        Node::Seen(q) | Node::Count(q) | Node::Sum(q, _) | Node::Last(q) | Node::TimeSince(q) => {
            Some(*q)
        }
        _ => None,
    }
}

fn cond_children(c: &Cond) -> &[CondId] {
    match c {
        Cond::And(cs) | Cond::Or(cs) => cs,
        Cond::Not(c) => std::slice::from_ref(c),
        Cond::Test(_) | Cond::Bind { .. } => &[],
    }
}

impl Graph {
    /// Checks everything evaluation relies on (see the module documentation). Run by
    /// `Bundle::new` and every bundle decoder.
    pub fn validate(&self) -> Result<(), GraphError> {
        self.check_schema()?;

        // Nodes: children first, depth bounded. Each item is checked by a function of its own,
        // called once per item, here and for conditions and rules below: a browser runs a new
        // module unoptimised and swaps optimised code in only between calls, so a loop whose
        // body is one long call never speeds up during the first load (when a page waits on
        // it), while a function called thousands of times does. And a long loop with its work
        // inline makes the browser spend a background compile, competing for the page's
        // cores, on a function called once.
        let mut depth = vec![0u32; self.nodes.len()];
        for (i, node) in self.nodes.iter().enumerate() {
            let d = self.check_node(i, node, &depth)?;
            if let Some(slot) = depth.get_mut(i) {
                *slot = d;
            }
        }

        for (i, q) in self.queries.iter().enumerate() {
            self.check_query(i, q)?;
        }

        if self.cond_sources.len() != self.conds.len() {
            return Err(GraphError::Invalid(format!(
                "there are {} condition sources for {} conditions",
                self.cond_sources.len(),
                self.conds.len()
            )));
        }
        let mut cdepth = vec![0u32; self.conds.len()];
        for (i, c) in self.conds.iter().enumerate() {
            let d = self.check_cond(i, c, &cdepth)?;
            if let Some(slot) = cdepth.get_mut(i) {
                *slot = d;
            }
        }

        // Segments: slots, and no cycles.
        let mut seg_deps: Vec<Vec<SegmentId>> = Vec::with_capacity(self.segments.len());
        let mut walker = Walker::new(self);
        for sg in &self.segments {
            let owner = Owner::Segment(&sg.name);
            check(|| owner.to_string(), "condition", sg.cond, self.conds.len())?;
            if sg.slots > MAX_SLOTS {
                return Err(GraphError::SlotOutOfRange {
                    at: owner.to_string(),
                    slot: sg.slots,
                    slots: MAX_SLOTS,
                });
            }
            walker.start();
            walker.conds.push(sg.cond);
            let mut deps = Vec::new();
            walker.walk(sg.slots, owner, Some(&mut deps))?;
            seg_deps.push(deps);
        }
        self.check_segment_cycles(&seg_deps)?;

        for g in &self.groups {
            check_cap(g.cap, Owner::Group(&g.name))?;
        }

        for r in &self.rules {
            self.check_rule(r, &mut walker)?;
        }
        self.check_goals(&mut walker)?;

        self.check_triggers()?;
        self.check_retention()?;
        self.check_timezone_and_limits()?;
        self.check_privacy()?;
        Ok(())
    }

    /// Privacy, as the checker enforces it (language.md): a rule that reads a `pii` profile
    /// field, in its condition, through a segment, in a query's filter or in an action's
    /// params, requires a consent. Checked again here so that no bundle (built by hand, by an
    /// older compiler, or altered and re-hashed) evaluates personal data without one.
    #[inline(never)]
    fn check_privacy(&self) -> Result<(), GraphError> {
        let pii = |name: &str| self.schema.profile.iter().any(|f| f.pii && f.name == name);
        if !self.schema.profile.iter().any(|f| f.pii) {
            return Ok(());
        }
        // The pii field each node, condition and segment reads, if any. Segments may use
        // segments declared after them, so this runs to a fixpoint: at most one pass more
        // than the longest chain of segments (they are acyclic, checked above).
        let mut node_pii: Vec<Option<&str>> = vec![None; self.nodes.len()];
        let mut cond_pii: Vec<Option<&str>> = vec![None; self.conds.len()];
        let mut seg_pii: Vec<Option<&str>> = vec![None; self.segments.len()];
        let filter_of = |q: QueryId| {
            self.queries
                .get(q as usize)
                .and_then(|q| q.filter)
                .into_iter()
        };
        for _ in 0..=self.segments.len() {
            let mut changed = false;
            for (i, node) in self.nodes.iter().enumerate() {
                let found = match node {
                    Node::ProfileField(name) if pii(name) => Some(name.as_str()),
                    Node::Segment(s) => seg_pii.get(*s as usize).copied().flatten(),
                    _ => {
                        let query_filter = node_query(node).into_iter().flat_map(filter_of);
                        node_children(node)
                            .chain(query_filter)
                            .find_map(|c| node_pii.get(c as usize).copied().flatten())
                    }
                };
                if let Some(slot) = node_pii.get_mut(i)
                    && slot.is_none()
                    && found.is_some()
                {
                    *slot = found;
                    changed = true;
                }
            }
            for (i, c) in self.conds.iter().enumerate() {
                let found = match c {
                    Cond::Test(n) => node_pii.get(*n as usize).copied().flatten(),
                    Cond::Bind { query, .. } => {
                        filter_of(*query).find_map(|n| node_pii.get(n as usize).copied().flatten())
                    }
                    _ => cond_children(c)
                        .iter()
                        .find_map(|ch| cond_pii.get(*ch as usize).copied().flatten()),
                };
                if let Some(slot) = cond_pii.get_mut(i)
                    && slot.is_none()
                    && found.is_some()
                {
                    *slot = found;
                    changed = true;
                }
            }
            for (i, sg) in self.segments.iter().enumerate() {
                let found = cond_pii.get(sg.cond as usize).copied().flatten();
                if let Some(slot) = seg_pii.get_mut(i)
                    && slot.is_none()
                    && found.is_some()
                {
                    *slot = found;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        for r in &self.rules {
            if !r.consents.is_empty() {
                continue;
            }
            let in_when = r
                .when
                .and_then(|c| cond_pii.get(c as usize).copied().flatten());
            let unit = match &r.outcome {
                Outcome::Split { unit, .. } => Some(*unit),
                Outcome::Actions(_) => None,
            };
            let in_do = r
                .action_calls()
                .flat_map(|call| call.params.iter().map(|(_, n)| *n))
                .chain(unit)
                .find_map(|n| node_pii.get(n as usize).copied().flatten());
            if let Some(field) = in_when.or(in_do) {
                return Err(GraphError::Invalid(format!(
                    "rule `{}` reads the personal field `profile.{field}` but requires no consent",
                    r.name
                )));
            }
        }
        Ok(())
    }

    /// The schema's names are unique, its types not too deep, its retentions not negative.
    #[inline(never)]
    fn check_schema(&self) -> Result<(), GraphError> {
        let s = &self.schema;
        unique("consent purpose", s.consents.iter().map(String::as_str))?;
        unique("event type", s.events.iter().map(|e| e.name.as_str()))?;
        unique("action", s.actions.iter().map(|a| a.name.as_str()))?;
        unique("profile field", s.profile.iter().map(|f| f.name.as_str()))?;
        unique("rule", self.rules.iter().map(|r| r.name.as_str()))?;
        unique("group", self.groups.iter().map(|g| g.name.as_str()))?;
        unique("segment", self.segments.iter().map(|g| g.name.as_str()))?;
        let all_fields = s
            .profile
            .iter()
            .chain(s.events.iter().flat_map(|e| e.fields.iter()))
            .chain(s.actions.iter().flat_map(|a| a.params.iter()));
        for f in all_fields {
            if type_depth(&f.ty) > crate::graph_serde::MAX_NESTING + 1 {
                return Err(GraphError::TooDeep {
                    what: "types",
                    at: format!("field `{}`", f.name),
                    max: crate::graph_serde::MAX_NESTING,
                });
            }
        }
        for e in &s.events {
            unique(
                "field of an event",
                e.fields.iter().map(|f| f.name.as_str()),
            )?;
            if e.retain.is_some_and(|r| r < 0) {
                return Err(GraphError::Invalid(format!(
                    "event `{}` has a negative retention",
                    e.name
                )));
            }
        }

        Ok(())
    }

    /// Checks query `i` (a call per item: see `validate`).
    #[inline(never)]
    fn check_query(&self, i: usize, q: &Query) -> Result<(), GraphError> {
        let n_events = self.schema.events.len();
        let at = || format!("query {i}");
        check(at, "event type", q.event, n_events)?;
        if let Some(f) = q.filter {
            check(at, "node", f, self.nodes.len())?;
        }
        if q.within.is_some_and(|w| w < 0) {
            return Err(GraphError::Invalid(format!(
                "query {i} has a negative `within`"
            )));
        }
        Ok(())
    }

    /// One trigger per event type, naming rules that exist.
    #[inline(never)]
    fn check_triggers(&self) -> Result<(), GraphError> {
        let n_events = self.schema.events.len();
        let mut triggered = BTreeSet::new();
        for t in &self.triggers {
            let at = || format!("the trigger of event type {}", t.event);
            check(at, "event type", t.event, n_events)?;
            if !triggered.insert(t.event) {
                return Err(GraphError::Invalid(format!(
                    "event type {} has two triggers",
                    t.event
                )));
            }
            for r in &t.rules {
                check(at, "rule", *r, self.rules.len())?;
            }
        }

        Ok(())
    }

    /// One retention entry per event type, in order, with windows and consents in range.
    #[inline(never)]
    fn check_retention(&self) -> Result<(), GraphError> {
        let s = &self.schema;
        let n_events = s.events.len();
        if self.retention.len() != n_events {
            return Err(GraphError::Invalid(format!(
                "there are {} retention entries for {} event types",
                self.retention.len(),
                n_events
            )));
        }
        for (i, r) in self.retention.iter().enumerate() {
            if r.event as usize != i {
                return Err(GraphError::Invalid(format!(
                    "retention entry {i} is for event type {} instead of {i}",
                    r.event
                )));
            }
            if r.keep.is_some_and(|k| k < 0) {
                return Err(GraphError::Invalid(format!(
                    "retention entry {i} has a negative window"
                )));
            }
            for set in &r.consents {
                for c in set {
                    check(
                        || format!("retention entry {i}"),
                        "consent purpose",
                        *c,
                        s.consents.len(),
                    )?;
                }
            }
        }

        Ok(())
    }

    /// Timezone offsets within a day and in time order; limits not negative.
    #[inline(never)]
    fn check_timezone_and_limits(&self) -> Result<(), GraphError> {
        let tz = &self.timezone;
        let offset_ok = |o: i32| o.abs() <= 86_400;
        if !offset_ok(tz.initial_offset) || tz.transitions.iter().any(|(_, o)| !offset_ok(*o)) {
            return Err(GraphError::Invalid(
                "a timezone offset exceeds one day".into(),
            ));
        }
        if let Some(rule) = &tz.rule {
            let day_ok = |d: TzDay| match d {
                TzDay::MonthWeek {
                    month,
                    week,
                    weekday,
                } => (1..=12).contains(&month) && (1..=5).contains(&week) && weekday <= 6,
                TzDay::Julian { day } => (1..=365).contains(&day),
                TzDay::Ordinal { day } => day <= 365,
            };
            let time_ok = |t: i32| t.abs() <= 167 * 3600;
            if !offset_ok(rule.std_offset)
                || !offset_ok(rule.dst_offset)
                || !day_ok(rule.start)
                || !day_ok(rule.end)
                || !time_ok(rule.start_time)
                || !time_ok(rule.end_time)
            {
                return Err(GraphError::Invalid(format!(
                    "the timezone rule of `{}` is out of range",
                    tz.name
                )));
            }
        }
        if tz.transitions.windows(2).any(|w| match w {
            [a, b] => a.0 > b.0,
            _ => false,
        }) {
            return Err(GraphError::Invalid(
                "timezone transitions are not sorted by time".into(),
            ));
        }
        if self.limits.dedup_window < 0 {
            return Err(GraphError::Invalid(
                "the de-duplication window is negative".into(),
            ));
        }
        Ok(())
    }

    /// Checks node `i` given its children's depths; returns its own.
    #[inline(never)]
    fn check_node(&self, i: usize, node: &Node, depth: &[u32]) -> Result<u32, GraphError> {
        let id = u32::try_from(i).unwrap_or(u32::MAX);
        let at = || format!("node {id}");
        // A query's filter counts as a child: it is evaluated under this node.
        let filter = match node_query(node) {
            Some(q) => {
                check(at, "query", q, self.queries.len())?;
                self.queries.get(q as usize).and_then(|q| q.filter)
            }
            None => None,
        };
        let mut d = 0u32;
        for c in node_children(node).chain(filter) {
            if c >= id {
                return Err(GraphError::ChildNotBeforeParent {
                    table: "node",
                    parent: id,
                    child: c,
                });
            }
            d = d.max(depth.get(c as usize).copied().unwrap_or(0));
        }
        match node {
            Node::Segment(sg) => check(at, "segment", *sg, self.segments.len())?,
            Node::Captured(i) if usize::from(*i) >= MAX_GOAL_CAPTURES => {
                return Err(GraphError::Invalid(format!(
                    "node {id} reads captured value {i} (a goal keeps at most {MAX_GOAL_CAPTURES})"
                )));
            }
            Node::Bound(slot) if *slot >= MAX_SLOTS => {
                return Err(GraphError::SlotOutOfRange {
                    at: at(),
                    slot: *slot,
                    slots: MAX_SLOTS,
                });
            }
            Node::Lit(l) => {
                literal_ok(l).map_err(|e| GraphError::Invalid(format!("node {id}: {e}")))?
            }
            Node::Call(f, args) => {
                let want = match f {
                    Func::Lower | Func::Upper | Func::Len => 1,
                    Func::Contains | Func::StartsWith | Func::EndsWith => 2,
                };
                if args.len() != want {
                    return Err(GraphError::Invalid(format!(
                        "node {id} calls {f:?} with {} arguments instead of {want}",
                        args.len()
                    )));
                }
            }
            _ => {}
        }
        one_deeper(d, "expressions", at)
    }

    /// Checks condition `i` given its parts' depths; returns its own.
    #[inline(never)]
    fn check_cond(&self, i: usize, c: &Cond, cdepth: &[u32]) -> Result<u32, GraphError> {
        let id = u32::try_from(i).unwrap_or(u32::MAX);
        let at = || format!("condition {id}");
        let mut d = 0u32;
        for ch in cond_children(c) {
            if *ch >= id {
                return Err(GraphError::ChildNotBeforeParent {
                    table: "condition",
                    parent: id,
                    child: *ch,
                });
            }
            d = d.max(cdepth.get(*ch as usize).copied().unwrap_or(0));
        }
        match c {
            Cond::Test(n) => check(at, "node", *n, self.nodes.len())?,
            Cond::Bind { query, .. } => check(at, "query", *query, self.queries.len())?,
            _ => {}
        }
        one_deeper(d, "conditions", at)
    }

    /// Checks the goals: their rule, event type and window; captures walked in their rule's
    /// environment, filters in none (a filter reads the goal event and captured values, no
    /// binding); one primary goal per rule, names unique within it, goals in rule order.
    fn check_goals(&self, walker: &mut Walker<'_>) -> Result<(), GraphError> {
        let n_events = self.schema.events.len();
        let mut previous: Option<RuleId> = None;
        for run in self.goals.chunk_by(|a, b| a.rule == b.rule) {
            let Some(first) = run.first() else { continue };
            check(
                || "a goal".to_string(),
                "rule",
                first.rule,
                self.rules.len(),
            )?;
            if previous.is_some_and(|p| p >= first.rule) {
                return Err(GraphError::Invalid(
                    "goals are not grouped in rule order".into(),
                ));
            }
            previous = Some(first.rule);
            let rule = self.rules.get(first.rule as usize);
            let name = rule.map_or("", |r| r.name.as_str());
            let owner = Owner::Rule(name);
            let at = || owner.to_string();
            unique("goal", run.iter().map(|g| g.name.as_str()))?;
            let primaries = run.iter().filter(|g| g.primary).count();
            if primaries != 1 {
                return Err(GraphError::Invalid(format!(
                    "{owner} has {primaries} primary goals instead of one"
                )));
            }
            for goal in run {
                check(at, "event type", goal.event, n_events)?;
                if goal.within < 0 {
                    return Err(GraphError::Invalid(format!(
                        "goal `{}` of {owner} has a negative window",
                        goal.name
                    )));
                }
                if goal.captures.len() > MAX_GOAL_CAPTURES {
                    return Err(GraphError::Invalid(format!(
                        "goal `{}` of {owner} captures more than {MAX_GOAL_CAPTURES} values",
                        goal.name
                    )));
                }
                walker.start();
                for n in &goal.captures {
                    check(at, "node", *n, self.nodes.len())?;
                    walker.nodes.push(*n);
                }
                walker.walk(rule.map_or(0, |r| r.slots), owner, None)?;
                walker.start();
                if let Some(f) = goal.filter {
                    check(at, "node", f, self.nodes.len())?;
                    walker.nodes.push(f);
                }
                walker.walk(0, owner, None)?;
            }
        }
        Ok(())
    }

    /// Checks one rule: its references, outcome and schedule, and walks its conditions.
    #[inline(never)]
    fn check_rule(&self, r: &Rule, walker: &mut Walker<'_>) -> Result<(), GraphError> {
        let s = &self.schema;
        let n_events = s.events.len();
        let owner = Owner::Rule(&r.name);
        let at = || owner.to_string();
        if r.slots > MAX_SLOTS {
            return Err(GraphError::SlotOutOfRange {
                at: owner.to_string(),
                slot: r.slots,
                slots: MAX_SLOTS,
            });
        }
        for e in &r.on {
            check(at, "event type", *e, n_events)?;
        }
        for c in &r.consents {
            check(at, "consent purpose", *c, s.consents.len())?;
        }
        if let Some(g) = r.group {
            check(at, "group", g, self.groups.len())?;
        }
        check_cap(r.cap, owner)?;
        walker.start();
        if let Some(w) = r.when {
            check(at, "condition", w, self.conds.len())?;
            walker.conds.push(w);
        }
        if let Outcome::Split { unit, arms, .. } = &r.outcome {
            check(at, "node", *unit, self.nodes.len())?;
            walker.nodes.push(*unit);
            if arms.is_empty() {
                return Err(GraphError::Invalid(format!(
                    "the split of {owner} has no arms"
                )));
            }
            let sum: u64 = arms.iter().map(|a| u64::from(a.basis_points)).sum();
            if sum != 10_000 {
                return Err(GraphError::SplitArms {
                    rule: r.name.clone(),
                    sum,
                });
            }
        }
        for c in r.action_calls() {
            check(at, "action", c.action, s.actions.len())?;
            for (_, n) in &c.params {
                check(at, "node", *n, self.nodes.len())?;
                walker.nodes.push(*n);
            }
        }
        let sch = &r.schedule;
        if let Some((a, b)) = sch.hours
            && (a >= 1440 || b >= 1440 || a == b)
        {
            return Err(GraphError::Invalid(format!(
                "{owner} has hours {a}..{b} (minutes after midnight must be below 1440 and differ)"
            )));
        }
        if let Some((a, b)) = sch.active
            && a > b
        {
            return Err(GraphError::Invalid(format!(
                "{owner} is active from day {a} to the earlier day {b}"
            )));
        }
        if sch.days.is_some_and(|d| d & 0x80 != 0) {
            return Err(GraphError::Invalid(format!(
                "{owner} has a days mask with bit 7 set"
            )));
        }
        walker.walk(r.slots, owner, None)
    }

    fn check_segment_cycles(&self, deps: &[Vec<SegmentId>]) -> Result<(), GraphError> {
        // Iterative depth-first search; also measures the longest chain.
        // state: 0 unvisited, 1 on the stack, 2 done.
        let mut state = vec![0u8; deps.len()];
        let mut height = vec![1u32; deps.len()];
        for start in 0..deps.len() {
            if state.get(start) != Some(&0) {
                continue;
            }
            let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
            if let Some(s) = state.get_mut(start) {
                *s = 1;
            }
            while let Some((node, next)) = stack.last_mut() {
                let node = *node;
                let list = deps.get(node).map_or(&[][..], Vec::as_slice);
                if let Some(&dep) = list.get(*next) {
                    *next += 1;
                    let dep = dep as usize;
                    match state.get(dep) {
                        Some(0) => {
                            if let Some(s) = state.get_mut(dep) {
                                *s = 1;
                            }
                            stack.push((dep, 0));
                        }
                        Some(1) => {
                            return Err(GraphError::SegmentCycle {
                                segment: self
                                    .segments
                                    .get(dep)
                                    .map_or_else(String::new, |s| s.name.clone()),
                            });
                        }
                        _ => {}
                    }
                } else {
                    let h = list
                        .iter()
                        .map(|d| height.get(*d as usize).copied().unwrap_or(1))
                        .max()
                        .unwrap_or(0)
                        .saturating_add(1);
                    if h > MAX_SEGMENT_NESTING {
                        return Err(GraphError::TooDeep {
                            what: "segments",
                            at: self
                                .segments
                                .get(node)
                                .map_or_else(String::new, |s| format!("segment `{}`", s.name)),
                            max: MAX_SEGMENT_NESTING,
                        });
                    }
                    if let Some(x) = height.get_mut(node) {
                        *x = h;
                    }
                    if let Some(s) = state.get_mut(node) {
                        *s = 2;
                    }
                    stack.pop();
                }
            }
        }
        Ok(())
    }
}

fn check_cap(cap: Option<Cap>, owner: Owner<'_>) -> Result<(), GraphError> {
    match cap {
        Some(Cap::Limit { per, .. }) if per < 0 => Err(GraphError::Invalid(format!(
            "{owner} has a cap with a negative window"
        ))),
        _ => Ok(()),
    }
}

/// The depth of a node or condition whose deepest child is at `deepest`, refused past
/// [`MAX_DEPTH`].
fn one_deeper(
    deepest: u32,
    what: &'static str,
    at: impl Fn() -> String,
) -> Result<u32, GraphError> {
    let d = deepest.saturating_add(1);
    if d > MAX_DEPTH {
        return Err(GraphError::TooDeep {
            what,
            at: at(),
            max: MAX_DEPTH,
        });
    }
    Ok(d)
}

/// Walks what one rule or segment reaches (not entering segments), checking slots and
/// collecting the segments it uses. Marks are generation counters, so each walk is linear in
/// what it reaches; the stacks are reused, so a walk allocates nothing.
struct Walker<'g> {
    g: &'g Graph,
    node_mark: Vec<u32>,
    cond_mark: Vec<u32>,
    generation: u32,
    /// The walk's roots, then its work.
    conds: Vec<CondId>,
    nodes: Vec<NodeId>,
}

impl<'g> Walker<'g> {
    fn new(g: &'g Graph) -> Self {
        Walker {
            g,
            node_mark: vec![0; g.nodes.len()],
            cond_mark: vec![0; g.conds.len()],
            generation: 0,
            conds: Vec::new(),
            nodes: Vec::new(),
        }
    }

    /// Begins a walk: push its roots onto `conds` and `nodes`, then [`Walker::walk`].
    fn start(&mut self) {
        self.conds.clear();
        self.nodes.clear();
    }

    /// Walks from the roots; the segments reached go to `segments` (sorted, once each).
    fn walk(
        &mut self,
        slots: Slot,
        owner: Owner<'_>,
        mut segments: Option<&mut Vec<SegmentId>>,
    ) -> Result<(), GraphError> {
        self.generation = self.generation.wrapping_add(1);
        let gen_ = self.generation;
        let slot_ok = |slot: Slot| {
            if slot < slots {
                Ok(())
            } else {
                Err(GraphError::SlotOutOfRange {
                    at: owner.to_string(),
                    slot,
                    slots,
                })
            }
        };
        while let Some(c) = self.conds.pop() {
            match self.cond_mark.get_mut(c as usize) {
                Some(m) if *m != gen_ => *m = gen_,
                _ => continue,
            }
            match self.g.conds.get(c as usize) {
                Some(Cond::Test(n)) => self.nodes.push(*n),
                Some(Cond::Bind { query, slot }) => {
                    slot_ok(*slot)?;
                    Self::query(self.g, *query, &mut self.nodes, &slot_ok)?;
                }
                Some(other) => self.conds.extend_from_slice(cond_children(other)),
                None => {}
            }
        }
        while let Some(n) = self.nodes.pop() {
            match self.node_mark.get_mut(n as usize) {
                Some(m) if *m != gen_ => *m = gen_,
                _ => continue,
            }
            let Some(node) = self.g.nodes.get(n as usize) else {
                continue;
            };
            match node {
                Node::Bound(s) => slot_ok(*s)?,
                Node::Segment(s) => {
                    if let Some(out) = segments.as_deref_mut() {
                        out.push(*s);
                    }
                }
                _ => {}
            }
            if let Some(q) = node_query(node) {
                Self::query(self.g, q, &mut self.nodes, &slot_ok)?;
            }
            self.nodes.extend(node_children(node));
        }
        if let Some(out) = segments {
            omnirule_text::sort::sort(out);
            out.dedup();
        }
        Ok(())
    }

    fn query(
        g: &Graph,
        q: QueryId,
        nstack: &mut Vec<NodeId>,
        slot_ok: &dyn Fn(Slot) -> Result<(), GraphError>,
    ) -> Result<(), GraphError> {
        if let Some(q) = g.queries.get(q as usize) {
            slot_ok(q.slot)?;
            if let Some(s) = q.since {
                slot_ok(s)?;
            }
            if let Some(f) = q.filter {
                nstack.push(f);
            }
        }
        Ok(())
    }
}
