//! The checked, resolved form of a rule set: what the checker hands to the compiler.
//!
//! Every name is resolved (event fields, profile fields, bound names, segments) and every
//! expression carries its type, so the compiler never needs to look anything up or report an
//! error: a [`Model`] exists only for a rule set without errors.

use crate::ast::{HistoryFunc, Span, TestDef};
use omnirule_engine::graph::{
    ArithOp, Cap, CmpOp, ConsentId, EventTypeId, Func, GroupId, Literal, Meta, Millis, Schedule,
    Schema, SegmentId, Slot,
};
use std::collections::BTreeSet;
use std::fmt;

/// Static types of expressions.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ty {
    String,
    Number,
    Bool,
    Duration,
    Time,
    List(Box<Ty>),
    Set(Box<Ty>),
    /// An event of this type (a bound name, a `where` candidate, the result of `last`).
    Event(EventTypeId),
    /// The empty list literal `[]`: fits any list or set.
    Empty,
    /// The type of an expression that already produced an error; fits anything, so one
    /// mistake is reported once.
    Error,
}

impl Ty {
    pub fn from_schema(ty: &omnirule_engine::graph::Type) -> Ty {
        use omnirule_engine::graph::Type;
        match ty {
            Type::String => Ty::String,
            Type::Number => Ty::Number,
            Type::Bool => Ty::Bool,
            Type::Duration => Ty::Duration,
            Type::Time => Ty::Time,
            Type::List(t) => Ty::List(Box::new(Ty::from_schema(t))),
            Type::Set(t) => Ty::Set(Box::new(Ty::from_schema(t))),
        }
    }

    /// Whether a value of type `self` may be used where `want` is expected.
    pub fn fits(&self, want: &Ty) -> bool {
        match (self, want) {
            (Ty::Error, _) | (_, Ty::Error) => true,
            (Ty::Empty, Ty::List(_) | Ty::Set(_) | Ty::Empty) => true,
            (Ty::List(a), Ty::Set(b)) | (Ty::List(a), Ty::List(b)) | (Ty::Set(a), Ty::Set(b)) => {
                a.fits(b)
            }
            (a, b) => a == b,
        }
    }

    /// The element type of a list or set.
    pub fn element(&self) -> Option<&Ty> {
        match self {
            Ty::List(t) | Ty::Set(t) => Some(t),
            _ => None,
        }
    }
}

impl fmt::Display for Ty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ty::String => f.write_str("string"),
            Ty::Number => f.write_str("number"),
            Ty::Bool => f.write_str("bool"),
            Ty::Duration => f.write_str("duration"),
            Ty::Time => f.write_str("time"),
            Ty::List(t) => write!(f, "list<{t}>"),
            Ty::Set(t) => write!(f, "set<{t}>"),
            Ty::Event(_) => f.write_str("event"),
            Ty::Empty => f.write_str("list"),
            Ty::Error => f.write_str("?"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HExpr {
    pub kind: HKind,
    pub ty: Ty,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HKind {
    Lit(Literal),
    Now,
    EventField(String),
    EventMeta(Meta),
    Profile(String),
    Bound(Slot),
    Field(Box<HExpr>, String),
    FieldMeta(Box<HExpr>, Meta),
    Segment(SegmentId),
    Neg(Box<HExpr>),
    Not(Box<HExpr>),
    And(Box<HExpr>, Box<HExpr>),
    Or(Box<HExpr>, Box<HExpr>),
    Cmp(CmpOp, Box<HExpr>, Box<HExpr>),
    Arith(ArithOp, Box<HExpr>, Box<HExpr>),
    Coalesce(Box<HExpr>, Box<HExpr>),
    Present(Box<HExpr>),
    Missing(Box<HExpr>),
    In(Box<HExpr>, Box<HExpr>),
    Call(Func, Vec<HExpr>),
    Interp(Vec<HPiece>),
    List(Vec<HExpr>),
    History(Box<HHistory>),
    /// In a goal's filter: value `i` the goal captured at exposure (see [`HGoal`]).
    Captured(u16),
    /// An expression that failed to check (only inside models with errors, never compiled).
    Error,
}

impl HExpr {
    /// Calls `f` on this expression and every expression inside it, history filters
    /// included, parents before children.
    pub fn walk(&self, f: &mut dyn FnMut(&HExpr)) {
        f(self);
        match &self.kind {
            HKind::Field(x, _)
            | HKind::FieldMeta(x, _)
            | HKind::Neg(x)
            | HKind::Not(x)
            | HKind::Present(x)
            | HKind::Missing(x) => x.walk(f),
            HKind::And(a, b)
            | HKind::Or(a, b)
            | HKind::Cmp(_, a, b)
            | HKind::Arith(_, a, b)
            | HKind::Coalesce(a, b)
            | HKind::In(a, b) => {
                a.walk(f);
                b.walk(f);
            }
            HKind::Call(_, xs) | HKind::List(xs) => xs.iter().for_each(|x| x.walk(f)),
            HKind::Interp(pieces) => {
                for p in pieces {
                    if let HPiece::Value(v) = p {
                        v.walk(f);
                    }
                }
            }
            HKind::History(h) => {
                if let Some(filter) = &h.query.filter {
                    filter.walk(f);
                }
            }
            HKind::Lit(_)
            | HKind::Now
            | HKind::EventField(_)
            | HKind::EventMeta(_)
            | HKind::Profile(_)
            | HKind::Bound(_)
            | HKind::Segment(_)
            | HKind::Captured(_)
            | HKind::Error => {}
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum HPiece {
    Text(String),
    Value(HExpr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HHistory {
    pub func: HistoryFunc,
    pub query: HQuery,
    /// `seen E as x` in a condition position: the slot the binding fills.
    pub bind: Option<Slot>,
    /// `sum(E.field)`
    pub field: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HQuery {
    pub event: EventTypeId,
    pub within: Option<Millis>,
    pub since: Option<Slot>,
    pub slot: Slot,
    pub filter: Option<HExpr>,
    /// How far back this query can reach: `within`, else the window of the `since` binding,
    /// else the event's `retain`. The compiler sizes memory retention from it.
    pub window: Millis,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HAction {
    pub action: omnirule_engine::graph::ActionId,
    /// In the action's declared order.
    pub params: Vec<(String, HExpr)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum HOutcome {
    Actions(Vec<HAction>),
    Split {
        name: String,
        unit: HExpr,
        arms: Vec<HArm>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct HArm {
    pub basis_points: u32,
    pub variant: Option<String>,
    pub actions: Vec<HAction>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HSegment {
    pub name: String,
    pub expr: HExpr,
    pub slots: Slot,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HGroup {
    pub name: String,
    pub cap: Option<Cap>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct HRule {
    pub name: String,
    pub title: Option<String>,
    pub on: Vec<EventTypeId>,
    pub consents: Vec<ConsentId>,
    pub when: Option<HExpr>,
    pub outcome: HOutcome,
    pub cap: Option<Cap>,
    pub priority: i64,
    pub group: Option<GroupId>,
    pub schedule: Schedule,
    pub slots: Slot,
    pub goals: Vec<HGoal>,
    /// Segments the rule uses, directly or through other segments.
    pub segments: BTreeSet<SegmentId>,
    pub span: Span,
}

/// A rule's goal, split for the engine (`graph::Goal`): the parts of its `where` that do not
/// mention the goal event are `captures`, evaluated in the rule's environment when it fires;
/// the `filter` reads them as [`HKind::Captured`] and the goal event's fields as the current
/// event's ([`HKind::EventField`], [`HKind::EventMeta`]).
#[derive(Debug, Clone, PartialEq)]
pub struct HGoal {
    pub name: String,
    pub event: EventTypeId,
    pub within: Millis,
    pub primary: bool,
    pub value: Option<String>,
    pub captures: Vec<HExpr>,
    pub filter: Option<HExpr>,
}

/// A checked rule set.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    pub schema: Schema,
    pub segments: Vec<HSegment>,
    pub groups: Vec<HGroup>,
    pub rules: Vec<HRule>,
    /// Per event type (schema order): the fields that history queries and bound names read.
    pub reads: Vec<BTreeSet<String>>,
    /// The span of local dates `active` clauses mention (days since the epoch), if any, and
    /// whether any rule has a local-time schedule at all (then the timezone table is needed).
    pub active_span: Option<(i32, i32)>,
    pub uses_local_time: bool,
    /// The `test` blocks, checked against the schema.
    pub tests: Vec<TestDef>,
}
