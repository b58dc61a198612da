//! The rule graph: what the compiler (in `omnirule-dsl`) produces and the engine evaluates.
//!
//! The graph is plain data. It is the only contract between the compiler and the evaluator, and
//! it is what a bundle carries, so every type here is serialisable and every index in it is
//! checked when a bundle is loaded ([`Graph::validate`]): a corrupted bundle is refused with an
//! error instead of reaching an out-of-range index at evaluation time.
//!
//! Shape:
//! - [`Node`]s form one expression DAG shared by every rule and segment. The compiler hash-conses
//!   them, so an expression written in two rules is one node, evaluated once per event.
//!   Children always have smaller ids than their parents (topological order).
//! - [`Query`]s are the distinct history queries (`seen`, `count`, `sum`, ...), also shared.
//! - [`Cond`]s are condition trees: `and`/`or`/`not` over tests and *binding* `seen ... as x`
//!   searches. Bindings need backtracking ("some choice of bindings makes all of it true; the
//!   newest such choice wins"), which plain nodes cannot express.
//! - [`Rule`]s reference conditions, outcomes, caps, groups and schedules; [`Trigger`]s index the
//!   rules by event type, already in decision order.
//! - [`Retention`] says, per event type, what memory keeps and for how long; [`TzTable`] carries
//!   the rule set's timezone as UTC offset transitions (no tz database in the engine).

use serde::{Deserialize, Serialize};

/// Index into [`Graph::nodes`].
pub type NodeId = u32;
/// Index into [`Graph::queries`].
pub type QueryId = u32;
/// Index into [`Graph::conds`].
pub type CondId = u32;
/// Index into [`Schema::events`].
pub type EventTypeId = u32;
/// Index into [`Schema::actions`].
pub type ActionId = u32;
/// Index into [`Schema::consents`].
pub type ConsentId = u32;
/// Index into [`Graph::segments`].
pub type SegmentId = u32;
/// Index into [`Graph::groups`].
pub type GroupId = u32;
/// Index into [`Graph::rules`].
pub type RuleId = u32;
/// A binding slot in the environment of one rule or segment (see [`Rule::slots`]).
pub type Slot = u16;

/// Milliseconds. Durations and instants (UTC, since the Unix epoch) are both kept in ms.
pub type Millis = i64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Graph {
    pub schema: Schema,
    pub nodes: Vec<Node>,
    pub queries: Vec<Query>,
    pub conds: Vec<Cond>,
    /// Source text of each condition (parallel to `conds`), for explanations: "which
    /// condition was false" is reported with the marketer's own words.
    pub cond_sources: CondSources,
    pub segments: Vec<Segment>,
    pub groups: Vec<Group>,
    /// In file order (the tie-break after priority).
    pub rules: Vec<Rule>,
    /// One entry per event type that triggers at least one rule.
    pub triggers: Vec<Trigger>,
    /// One entry per event type (same order as [`Schema::events`]).
    pub retention: Vec<Retention>,
    pub timezone: TzTable,
    pub limits: Limits,
    /// The rules' goals, rule by rule in rule order, each rule's in written order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub goals: Vec<Goal>,
}

/// A rule's goal (`goal purchase within 7d where purchase.sku == v.sku`): a later event of
/// type `event`, within `within` of the customer's first exposure to the rule (and variant),
/// that meets `filter`, is a conversion.
///
/// The filter is evaluated on the goal event as the *current* event (its fields are
/// [`Node::EventField`]s); everything else it mentions (bound names, the exposing event,
/// the profile, segments, history) was evaluated when the rule fired, from the nodes in
/// `captures`, and kept with the exposure in memory; the filter reads them as
/// [`Node::Captured`] `i`, counted from this goal's first capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Goal {
    pub rule: RuleId,
    /// The goal's name: its alias, or the event type's name.
    pub name: String,
    pub event: EventTypeId,
    /// The window after the exposure, inclusive (as `within`).
    pub within: Millis,
    /// The rule's primary goal (the report's conversions); exactly one per rule with goals.
    pub primary: bool,
    /// A number field of the goal event reported as the conversion's value (revenue).
    pub value: Option<String>,
    /// Nodes evaluated in the rule's environment when it fires.
    pub captures: Vec<NodeId>,
    /// `where`: `None` is true. Reads no binding slot.
    pub filter: Option<NodeId>,
}

/// Goals keep at most this many values each from the exposure.
pub const MAX_GOAL_CAPTURES: usize = 64;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    /// IANA name, kept for display; evaluation uses [`Graph::timezone`].
    pub timezone: String,
    pub consents: Vec<String>,
    /// Declared profile fields. `id: string` and `consents: set<string>` are implicit and are
    /// not listed here.
    pub profile: Vec<Field>,
    pub events: Vec<EventType>,
    pub actions: Vec<ActionType>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub name: String,
    pub ty: Type,
    pub optional: bool,
    pub pii: bool,
}

/// Deserialised with a nesting limit (see `graph_serde`), so a hostile bundle cannot overflow
/// the stack with `list<list<...>>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Type {
    String,
    Number,
    Bool,
    Duration,
    Time,
    List(Box<Type>),
    Set(Box<Type>),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventType {
    pub name: String,
    /// Declared fields. `id` (string) and `time` (time) are implicit and are not listed here.
    pub fields: Vec<Field>,
    /// `retain EVENT DURATION` from the schema.
    pub retain: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionType {
    pub name: String,
    pub params: Vec<Field>,
}

/// A constant. Lists keep their written order; a `set<T>` literal is a list whose duplicates
/// the compiler removed.
///
/// Deserialised with a nesting limit (see `graph_serde`), like [`Type`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Literal {
    Bool(bool),
    Number(f64),
    String(String),
    Duration(Millis),
    Time(Millis),
    List(Vec<Literal>),
}

/// Which attribute of an event a [`Node::EventMeta`] or a bound-event access reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Meta {
    Id,
    Time,
    Type,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Func {
    Lower,
    Upper,
    /// Length of a string (in Unicode scalar values), list or set.
    Len,
    /// `contains(haystack, needle)`: substring for strings, membership for lists and sets.
    Contains,
    StartsWith,
    EndsWith,
}

/// A piece of an interpolated string.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Piece {
    Text(String),
    /// The value is rendered as text: strings as is, numbers in the shortest round-trip form
    /// (as JavaScript prints them), booleans as `true`/`false`; a missing value renders as the
    /// empty string.
    Value(NodeId),
}

/// One node of the expression DAG. Evaluation yields a runtime value, possibly *missing*.
///
/// Missing-value rules (language.md): any comparison with a missing operand is false (`!=`
/// too); arithmetic with a missing operand is missing; `??` picks its right side when the left
/// is missing; `and`/`or`/`not` treat missing as false.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Node {
    Lit(Literal),
    /// The current event's time (`now`).
    Now,
    /// `event.NAME` on the current event (missing when the event lacks it).
    EventField(String),
    /// `event.id`, `event.time` of the current event.
    EventMeta(Meta),
    /// `profile.NAME`, including the implicit `id` and `consents`.
    ProfileField(String),
    /// The event bound to a slot (`v` in `seen page_view as v`, or the candidate inside a
    /// query's `where`). Missing when the slot is empty.
    Bound(Slot),
    /// A field of an event-valued node (`v.sku`, `last(purchase).amount`).
    Field {
        of: NodeId,
        name: String,
    },
    /// `id`/`time`/`type` of an event-valued node (`v.time`).
    FieldMeta {
        of: NodeId,
        meta: Meta,
    },
    /// A named segment, as a boolean.
    Segment(SegmentId),
    Neg(NodeId),
    Not(NodeId),
    And(NodeId, NodeId),
    Or(NodeId, NodeId),
    Cmp(CmpOp, NodeId, NodeId),
    /// Numbers with numbers; `time - time` gives a duration; `time ± duration` gives a time;
    /// `duration ± duration` gives a duration; `duration * number`, `duration / number`.
    Arith(ArithOp, NodeId, NodeId),
    /// `a ?? b`
    Coalesce(NodeId, NodeId),
    /// `x is present`
    Present(NodeId),
    /// `x is missing`
    Missing(NodeId),
    /// `x in list_or_set`
    In(NodeId, NodeId),
    Call(Func, Vec<NodeId>),
    Interp(Vec<Piece>),
    List(Vec<NodeId>),
    /// `seen E ...` used as a plain boolean (no binding that outlives it).
    Seen(QueryId),
    Count(QueryId),
    /// `sum(E.field ...)`: the sum of the field over matching events (missing fields skipped);
    /// 0 when nothing matches.
    Sum(QueryId, String),
    /// `last(E ...)`: the newest matching event, or missing.
    Last(QueryId),
    /// `time_since(E ...)`: `now` minus the newest match's time, or missing.
    TimeSince(QueryId),
    /// Value `i` of those a goal captured when its rule fired (see [`Goal`]): only in goal
    /// filters; missing anywhere else.
    Captured(u16),
}

/// A history query over this customer's remembered events of one type, *before* the current
/// event in (time, id) order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Query {
    pub event: EventTypeId,
    /// `within D`: the candidate's time is at least `now - D` (an event exactly D old matches).
    pub within: Option<Millis>,
    /// `since y`: the candidate comes after the event bound to slot `y`, in (time, id) order.
    pub since: Option<Slot>,
    /// The slot the candidate occupies while `filter` is evaluated.
    pub slot: Slot,
    /// `where cond`: evaluated with the candidate in `slot` (other slots as bound outside).
    pub filter: Option<NodeId>,
}

/// A condition tree. Children always have smaller ids than their parents. Solving it enumerates binding environments newest-first and stops at the
/// first that satisfies the whole tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Cond {
    /// A boolean node; true only when the node is `true` (missing is false).
    Test(NodeId),
    And(Vec<CondId>),
    /// Tries its branches in order; the first that can be satisfied wins.
    Or(Vec<CondId>),
    /// True when the inner condition has no solution; bindings inside do not escape.
    Not(CondId),
    /// `seen E as x ...`: binds each matching event, newest first, into `slot`.
    Bind {
        query: QueryId,
        slot: Slot,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    pub name: String,
    pub cond: CondId,
    /// Binding slots the segment's own condition uses (its bindings are local to it).
    pub slots: Slot,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cap {
    /// `once`: at most one firing ever (its record is kept for as long as the memory lives).
    Once,
    /// `limit N per D`: at most `count` firings in the `per` before `now` (inclusive, as
    /// `within`), counting the current one.
    Limit { count: u32, per: Millis },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub cap: Option<Cap>,
}

/// The local-time schedule of a rule. All checks use the rule set's timezone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// `active FROM .. TO`: local dates, both inclusive, as days since 1970-01-01.
    pub active: Option<(i32, i32)>,
    /// `hours FROM .. TO`: minutes after local midnight; `from` included, `to` excluded; wraps
    /// past midnight when `from > to`. Never empty (the checker refuses `from == to`).
    pub hours: Option<(u16, u16)>,
    /// `days ...`: bit `d` set for each allowed weekday, Monday = bit 0 ... Sunday = bit 6.
    pub days: Option<u8>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionCall {
    pub action: ActionId,
    /// Parameters in the order the action declares them; optional params the rule did not
    /// give are absent.
    pub params: Vec<(String, NodeId)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// Width of this arm in basis points (1% = 100); the arms of a split sum to 10,000.
    pub basis_points: u32,
    /// `None` for `control`.
    pub variant: Option<String>,
    /// Empty for `control`.
    pub actions: Vec<ActionCall>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Outcome {
    /// `do a {..}, b {..}`: one decision per action, in written order.
    Actions(Vec<ActionCall>),
    /// `do split NAME by UNIT { ... }`: FNV-1a 32 of `NAME:unit`, modulo 10,000, picks the arm
    /// by cumulative basis points in written order.
    Split {
        name: String,
        unit: NodeId,
        arms: Vec<Arm>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub name: String,
    pub title: Option<String>,
    pub on: Vec<EventTypeId>,
    /// All of these purposes must be in `profile.consents`.
    pub consents: Vec<ConsentId>,
    /// `None`: the condition is true.
    pub when: Option<CondId>,
    pub outcome: Outcome,
    pub cap: Option<Cap>,
    pub priority: i64,
    pub group: Option<GroupId>,
    pub schedule: Schedule,
    /// Number of binding slots the rule's environment needs (bound names and query
    /// candidates of `when` and `do`).
    pub slots: Slot,
}

impl Rule {
    /// Every action call the rule can make, in the order they are numbered: the calls of
    /// `do`, or each split arm's calls, arm after arm. Constant params are cached per call in
    /// this order (`bundle::Names`), so every walker over a rule's calls goes through here.
    pub fn action_calls(&self) -> impl Iterator<Item = &ActionCall> {
        let (calls, arms): (&[ActionCall], &[Arm]) = match &self.outcome {
            Outcome::Actions(calls) => (calls, &[]),
            Outcome::Split { arms, .. } => (&[], arms),
        };
        calls
            .iter()
            .chain(arms.iter().flat_map(|a| a.actions.iter()))
    }
}

/// Rules that an event type triggers, already sorted in decision order (priority descending,
/// then file order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trigger {
    pub event: EventTypeId,
    pub rules: Vec<RuleId>,
}

/// What memory keeps of one event type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    pub event: EventTypeId,
    /// How long a remembered event is kept (relative to the newest time in the memory);
    /// `None` when no query reads this event type: it is never remembered.
    pub keep: Option<Millis>,
    /// The fields that queries read; only these are stored.
    pub fields: Vec<String>,
    /// The event is remembered for a customer who holds *all* purposes of *at least one* of
    /// these sets (one set per rule or segment that reads it; a reader with no consent clause
    /// contributes the empty set, which everyone satisfies). Empty: nobody.
    pub consents: Vec<Vec<ConsentId>>,
}

/// UTC offsets of the rule set's timezone, resolved by the compiler.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TzTable {
    pub name: String,
    /// Offset (seconds east of UTC) in force before the first transition.
    pub initial_offset: i32,
    /// `(utc_ms, offset_seconds)`: from `utc_ms` on, the offset is `offset_seconds`. Sorted by
    /// time. Instants after the last transition use its offset, or [`TzTable::rule`].
    pub transitions: Vec<(Millis, i32)>,
    /// The zone's recurring daylight-saving rule (tzdata's POSIX TZ footer), for instants
    /// after the last transition, when the table runs to the end of time. `None`: the last
    /// offset holds for good.
    #[serde(default)]
    pub rule: Option<TzRule>,
}

/// A recurring daylight-saving rule, as a POSIX TZ string writes it (`CET-1CEST,M3.5.0,
/// M10.5.0/3`), with offsets east of UTC (POSIX writes them west).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TzRule {
    /// Seconds east of UTC in standard time.
    pub std_offset: i32,
    /// Seconds east of UTC in daylight time.
    pub dst_offset: i32,
    /// The day daylight time starts, and the time of day it starts at, in seconds of local
    /// standard time (may be negative or past 24 h: POSIX allows -167 h to 167 h).
    pub start: TzDay,
    pub start_time: i32,
    /// The day daylight time ends, and the time, in seconds of local daylight time.
    pub end: TzDay,
    pub end_time: i32,
}

/// A day of the year in a POSIX TZ rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TzDay {
    /// `Mm.w.d`: weekday `d` (0 = Sunday) of week `w` (1 to 5, 5 = the last) of month `m`.
    MonthWeek { month: u8, week: u8, weekday: u8 },
    /// `Jn`: day `n` of the year, 1 to 365, February 29 never counted.
    Julian { day: u16 },
    /// `n`: day `n` of the year, 0 to 365, February 29 counted.
    Ordinal { day: u16 },
}

/// Bounds that keep a customer's memory small whatever they send.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// At most this many remembered events per event type (the newest are kept).
    pub max_events_per_type: u32,
    /// Event ids are remembered for de-duplication for this long (relative to the newest time
    /// in the memory) ...
    pub dedup_window: Millis,
    /// ... and at most this many of them (the newest are kept).
    pub max_dedup_ids: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events_per_type: 10_000,
            dedup_window: 7 * 24 * 3_600_000,
            max_dedup_ids: 10_000,
        }
    }
}

/// The conditions' source texts, in condition order: one text, each condition's source a span
/// of it. Why not a `Vec<String>`: a bundle has several conditions per rule, and a string each
/// made them a large share of the allocations of loading it (`docs/performance.md`); and a
/// part's text lies inside its parent's (`a` in `a and b`), which a bundle stores once
/// (`bundle/body.rs`).
#[derive(Debug, Clone, Default)]
pub struct CondSources {
    text: String,
    /// Per condition: start and length in `text` (on character boundaries).
    spans: Vec<(usize, usize)>,
}

impl CondSources {
    /// Adds the next condition's source.
    pub fn push(&mut self, source: &str) {
        self.spans.push((self.text.len(), source.len()));
        self.text.push_str(source);
    }

    /// Condition `c`'s source.
    pub fn get(&self, c: usize) -> Option<&str> {
        let (start, len) = *self.spans.get(c)?;
        self.text.get(start..start.checked_add(len)?)
    }

    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Keeps the first `n` conditions' sources.
    pub fn truncate(&mut self, n: usize) {
        self.spans.truncate(n);
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = &str> + ExactSizeIterator + '_ {
        self.spans.iter().map(|&(start, len)| {
            start
                .checked_add(len)
                .and_then(|end| self.text.get(start..end))
                .unwrap_or_default()
        })
    }

    /// Sources as spans of one text; `Err(start)` with the start of the first span outside
    /// the text or splitting a character.
    pub(crate) fn from_spans(text: String, spans: Vec<(usize, usize)>) -> Result<Self, usize> {
        let sources = CondSources { text, spans };
        match (0..sources.len()).find(|&i| sources.get(i).is_none()) {
            Some(bad) => Err(sources.spans.get(bad).map_or(0, |s| s.0)),
            None => Ok(sources),
        }
    }
}

impl<S: AsRef<str>> FromIterator<S> for CondSources {
    fn from_iter<I: IntoIterator<Item = S>>(items: I) -> Self {
        let mut sources = CondSources::default();
        for s in items {
            sources.push(s.as_ref());
        }
        sources
    }
}

/// Equal when the texts are, however they are laid out.
impl PartialEq for CondSources {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// A list of strings, as `Vec<String>` would be.
impl Serialize for CondSources {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for CondSources {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<String>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}
