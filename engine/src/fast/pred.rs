//! Compiled conditions: the fast path for the shape most marketing rules have.
//!
//! Most conditions compare the profile's and the event's own fields with literals, joined by
//! `and`/`or`/`not` (`profile.tier in ["gold", "platinum"] and event.price > 100`). The general
//! evaluator walks the graph for them: a memo lookup per node, a field lookup by name per
//! access, strings compared byte by byte. At bundle load such a condition (with any segment it
//! names, inlined) is compiled here into a [`Pred`] over *field slots* and *interned strings*:
//! each field the compiled conditions read is looked up at most once per event, a string field
//! is interned once into the bundle's symbol table, and a comparison is then an integer or
//! float compare. Conditions outside this shape (history, bindings, arithmetic, calls, times)
//! keep using the general evaluator; a compiled condition is exactly equivalent to it (the
//! engine's tests run every evaluation both ways and compare).

use crate::fields::{FieldView, Presence, lookup};
use crate::graph::{
    CmpOp, Cond, CondId, EventTypeId, Graph, Literal, Node, NodeId, Outcome, QueryId, RuleId,
};
use crate::names::Names;
use crate::value::Value;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

/// A compiled condition is abandoned beyond this many parts (a segment inlined into many
/// places could otherwise multiply), and beyond this nesting (keeps evaluation's recursion
/// shallow; validation keeps real conditions far below it).
const MAX_PARTS: usize = 4096;
const MAX_NESTING: u32 = 128;

/// The symbol of a string that is no literal of any compiled condition: equal to none of them.
pub(crate) const UNKNOWN: u32 = u32::MAX;

/// A literal a field is compared with.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Scalar {
    Bool(bool),
    Num(f64),
    /// An interned string.
    Sym(u32),
}

/// A condition over field slots. Evaluates to what `Cond`'s solution (no bindings) or the
/// truthiness of the boolean node would be.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Pred {
    /// A number field within `lo..=hi`: `<`, `<=`, `>`, `>=` and `==` with a number literal
    /// (the most common leaf), one shape so that evaluating it does not branch on the operator.
    /// Built by [`Pred::number`].
    Range {
        field: u16,
        lo: f64,
        hi: f64,
    },
    /// A field compared with a number, for `!=` (see [`Pred::number`]).
    Num {
        field: u16,
        op: CmpOp,
        x: f64,
    },
    /// A field `==` (or, `negate`d, `!=`) an interned string.
    Sym {
        field: u16,
        sym: u32,
        negate: bool,
    },
    Const(bool),
    /// A field `==` (or, `negate`d, `!=`) a boolean.
    Bool {
        field: u16,
        value: bool,
        negate: bool,
    },
    /// A field `in` a list of strings only (interned).
    InSyms {
        field: u16,
        syms: Box<[u32]>,
    },
    /// Any other comparison with a scalar.
    Cmp {
        field: u16,
        op: CmpOp,
        lit: Scalar,
    },
    In {
        field: u16,
        set: Box<[Scalar]>,
    },
    /// `is present` (`true`) / `is missing` (`false`).
    Present {
        field: u16,
        present: bool,
    },
    Not(Box<Pred>),
    All(Box<[Pred]>),
    Any(Box<[Pred]>),
}

/// Where a field slot's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FieldRef {
    /// A declared field's shared name and its rank in name order (see [`Presence`]).
    Profile(Arc<str>, u8),
    Event(Arc<str>, u8),
    /// `profile.id` and `profile.consents`, which are not in the profile's fields (told apart
    /// when compiling, not on every event).
    ProfileId,
    ProfileConsents,
}

/// A field's value as compiled conditions see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum SlotValue {
    /// Not looked up yet.
    Unresolved,
    Missing,
    Bool(bool),
    Num(f64),
    Sym(u32),
    /// A time, duration or list: equal to no scalar literal and not ordered against one.
    Other,
}

/// FNV-1a over the bytes: strings here are short, and the table is fixed at load (lookups
/// only), so there is nothing for a hash-flooding input to grow.
#[derive(Default)]
struct StrHasher(u64);

impl Hasher for StrHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The compiled conditions of one graph.
#[derive(Debug, Clone, Default)]
pub(crate) struct Preds {
    /// The fields compiled conditions read, one slot each.
    fields: Vec<FieldRef>,
    symbols: HashMap<Box<str>, u32, BuildHasherDefault<StrHasher>>,
    /// Per condition: its compiled form, when it has one.
    of_cond: Vec<Option<Pred>>,
}

impl Preds {
    /// The compiled conditions the given rules can reach: their `when`, every part of it,
    /// the segments and query filters its tests read, and their params' nodes. One trigger's
    /// rules at a time, on the trigger's first event: a bundle's load does not compile the
    /// conditions of triggers a page never sees. A condition left out only takes the general
    /// path (which decides identically).
    #[inline(never)]
    pub(crate) fn for_rules(
        g: &Graph,
        names: &Names,
        event: EventTypeId,
        rules: &[RuleId],
    ) -> Preds {
        let wanted = reachable_conds(g, rules);
        let mut c = Compiler {
            g,
            names,
            event,
            preds: Preds::default(),
            node_fields: vec![None; g.nodes.len()],
            nodes: vec![None; g.nodes.len()],
        };
        // Ascending ids: a condition's parts (smaller ids) compile before it.
        let of_cond = wanted
            .iter()
            .enumerate()
            .map(|(i, &want)| {
                if !want {
                    return None;
                }
                let id = CondId::try_from(i).ok()?;
                let done = c.cond(id, 0)?;
                (done.parts <= MAX_PARTS).then_some(done.pred)
            })
            .collect();
        let mut preds = c.preds;
        preds.of_cond = of_cond;
        preds
    }

    /// Without compiled conditions: every condition takes the general path (for tests that
    /// check the two agree).
    pub(crate) fn none() -> Preds {
        Preds::default()
    }

    pub(crate) fn of_cond(&self, c: CondId) -> Option<&Pred> {
        self.of_cond.get(c as usize).and_then(Option::as_ref)
    }

    /// The ids of the conditions that compiled.
    pub(crate) fn compiled(&self) -> impl Iterator<Item = usize> + '_ {
        self.of_cond
            .iter()
            .enumerate()
            .filter_map(|(i, p)| p.as_ref().map(|_| i))
    }
}

/// Per condition: whether evaluating `rules` can reach it (see [`Preds::for_rules`]).
fn reachable_conds(g: &Graph, rules: &[RuleId]) -> Vec<bool> {
    let mut conds = vec![false; g.conds.len()];
    let mut nodes = vec![false; g.nodes.len()];
    let mut cond_stack: Vec<CondId> = Vec::new();
    let mut node_stack: Vec<NodeId> = Vec::new();
    for rule in rules.iter().filter_map(|r| g.rules.get(*r as usize)) {
        cond_stack.extend(rule.when);
        if let Outcome::Split { unit, .. } = &rule.outcome {
            node_stack.push(*unit);
        }
        node_stack.extend(
            rule.action_calls()
                .flat_map(|c| c.params.iter().map(|(_, n)| *n)),
        );
    }
    let query_filter = |q: QueryId| g.queries.get(q as usize).and_then(|q| q.filter);
    loop {
        if let Some(c) = cond_stack.pop() {
            match conds.get_mut(c as usize) {
                Some(seen @ false) => *seen = true,
                _ => continue,
            }
            match g.conds.get(c as usize) {
                Some(Cond::Test(n)) => node_stack.push(*n),
                Some(Cond::And(parts) | Cond::Or(parts)) => cond_stack.extend(parts),
                Some(Cond::Not(inner)) => cond_stack.push(*inner),
                Some(Cond::Bind { query, .. }) => node_stack.extend(query_filter(*query)),
                None => {}
            }
        } else if let Some(n) = node_stack.pop() {
            match nodes.get_mut(n as usize) {
                Some(seen @ false) => *seen = true,
                _ => continue,
            }
            let Some(node) = g.nodes.get(n as usize) else {
                continue;
            };
            node_stack.extend(crate::validate::node_children(node));
            if let Node::Segment(s) = node {
                cond_stack.extend(g.segments.get(*s as usize).map(|s| s.cond));
            }
            node_stack.extend(crate::validate::node_query(node).and_then(query_filter));
        } else {
            return conds;
        }
    }
}

struct Compiler<'g> {
    g: &'g Graph,
    names: &'g Names,
    /// The event type of the trigger compiled.
    event: EventTypeId,
    preds: Preds,
    /// Per node: the field slot it reads (`Some(None)`: it reads no plain field).
    node_fields: Vec<Option<Option<u16>>>,
    /// Per node: compiled once (the graph shares nodes between rules); `Some(None)`: it does
    /// not compile.
    nodes: Vec<Option<Option<Compiled>>>,
}

impl Compiler<'_> {
    /// The slot of a field, a new one on its first use. A search: a trigger's conditions
    /// read a few dozen fields at most, and a map here was a hash table instantiated (and
    /// SipHash linked) for the wasm modules for this one use.
    fn field(&mut self, f: FieldRef) -> Option<u16> {
        let fields = &mut self.preds.fields;
        let i = match fields.iter().position(|x| *x == f) {
            Some(i) => i,
            None => {
                fields.push(f);
                fields.len() - 1
            }
        };
        u16::try_from(i).ok()
    }

    fn symbol(&mut self, s: &str) -> u32 {
        if let Some(i) = self.preds.symbols.get(s) {
            return *i;
        }
        let i = u32::try_from(self.preds.symbols.len()).unwrap_or(UNKNOWN);
        self.preds.symbols.insert(Box::from(s), i);
        i
    }

    /// The field slot a node reads, when it is a plain field of the profile or the event.
    fn field_of(&mut self, n: NodeId) -> Option<u16> {
        if let Some(Some(done)) = self.node_fields.get(n as usize) {
            return *done;
        }
        let f = self.compile_field(n);
        if let Some(slot) = self.node_fields.get_mut(n as usize) {
            *slot = Some(f);
        }
        f
    }

    fn compile_field(&mut self, n: NodeId) -> Option<u16> {
        match self.g.nodes.get(n as usize)? {
            Node::EventField(name) => self.field(FieldRef::Event(
                self.names.field_name(name),
                self.names.event_rank(self.event, name),
            )),
            // As the general evaluator: `profile.id` is the id, `profile.consents` a list.
            Node::ProfileField(name) => self.field(match name.as_str() {
                "id" => FieldRef::ProfileId,
                "consents" => FieldRef::ProfileConsents,
                _ => FieldRef::Profile(self.names.field_name(name), self.names.profile_rank(name)),
            }),
            _ => None,
        }
    }

    fn literal_of(&self, n: NodeId) -> Option<&'_ Literal> {
        match self.g.nodes.get(n as usize)? {
            Node::Lit(l) => Some(l),
            _ => None,
        }
    }

    /// A scalar literal; strings only where the comparison is (in)equality, since symbols
    /// carry no order.
    fn scalar(&mut self, l: &Literal, ordered: bool) -> Option<Scalar> {
        match l {
            Literal::Bool(b) => Some(Scalar::Bool(*b)),
            Literal::Number(x) if x.is_finite() => Some(Scalar::Num(*x)),
            Literal::String(s) if !ordered => Some(Scalar::Sym(self.symbol(s))),
            _ => None,
        }
    }

    fn cond(&mut self, c: CondId, depth: u32) -> Option<Compiled> {
        if depth > MAX_NESTING {
            return None;
        }
        let g = self.g;
        match g.conds.get(c as usize)? {
            Cond::Test(n) => self.node(*n, depth + 1),
            Cond::And(parts) => self.all(parts.iter().map(|p| Part::Cond(*p)), depth, true),
            Cond::Or(parts) => self.all(parts.iter().map(|p| Part::Cond(*p)), depth, false),
            Cond::Not(inner) => self.cond(*inner, depth + 1)?.not(),
            Cond::Bind { .. } => None,
        }
    }

    fn all(
        &mut self,
        parts: impl Iterator<Item = Part>,
        depth: u32,
        and: bool,
    ) -> Option<Compiled> {
        let mut out = Vec::new();
        let (mut total, mut height) = (1, 0);
        for part in parts {
            let c = match part {
                Part::Cond(c) => self.cond(c, depth + 1)?,
                Part::Node(x) => self.node(x, depth + 1)?,
            };
            total += c.parts;
            height = height.max(c.height);
            if total > MAX_PARTS {
                return None;
            }
            // `a and (b and c)` is one list: fewer indirections per event.
            match c.pred {
                Pred::All(inner) if and => out.extend(inner.into_vec()),
                Pred::Any(inner) if !and => out.extend(inner.into_vec()),
                p => out.push(p),
            }
        }
        let list = out.into_boxed_slice();
        Compiled {
            pred: if and {
                Pred::All(list)
            } else {
                Pred::Any(list)
            },
            parts: total,
            height,
        }
        .above()
    }

    fn node(&mut self, n: NodeId, depth: u32) -> Option<Compiled> {
        if let Some(Some(done)) = self.nodes.get(n as usize) {
            return done.clone();
        }
        let p = self.compile_node(n, depth);
        if let Some(slot) = self.nodes.get_mut(n as usize) {
            *slot = Some(p.clone());
        }
        p
    }

    fn compile_node(&mut self, n: NodeId, depth: u32) -> Option<Compiled> {
        if depth > MAX_NESTING {
            return None;
        }
        let g = self.g;
        let (pred, parts) = match g.nodes.get(n as usize)? {
            // Only `true` is truthy.
            Node::Lit(l) => (Pred::Const(matches!(l, Literal::Bool(true))), 1),
            Node::Not(x) => return self.node(*x, depth + 1)?.not(),
            Node::And(a, b) => {
                return self.all([Part::Node(*a), Part::Node(*b)].into_iter(), depth, true);
            }
            Node::Or(a, b) => {
                return self.all([Part::Node(*a), Part::Node(*b)].into_iter(), depth, false);
            }
            Node::Segment(s) => {
                let seg = g.segments.get(*s as usize)?;
                return self.cond(seg.cond, depth + 1);
            }
            Node::Present(x) => (
                Pred::Present {
                    field: self.field_of(*x)?,
                    present: true,
                },
                1,
            ),
            Node::Missing(x) => (
                Pred::Present {
                    field: self.field_of(*x)?,
                    present: false,
                },
                1,
            ),
            Node::Cmp(op, a, b) => {
                let ordered = !matches!(op, CmpOp::Eq | CmpOp::Ne);
                let (field, op, lit) = if let Some(l) = self.literal_of(*b).cloned() {
                    (self.field_of(*a)?, *op, self.scalar(&l, ordered)?)
                } else {
                    let l = self.literal_of(*a).cloned()?;
                    (self.field_of(*b)?, flip(*op), self.scalar(&l, ordered)?)
                };
                let pred = match (op, lit) {
                    (op, Scalar::Num(x)) => Pred::number(field, op, x),
                    (CmpOp::Eq | CmpOp::Ne, Scalar::Sym(sym)) => Pred::Sym {
                        field,
                        sym,
                        negate: op == CmpOp::Ne,
                    },
                    (CmpOp::Eq | CmpOp::Ne, Scalar::Bool(value)) => Pred::Bool {
                        field,
                        value,
                        negate: op == CmpOp::Ne,
                    },
                    (op, lit) => Pred::Cmp { field, op, lit },
                };
                (pred, 1)
            }
            Node::In(x, list) => {
                let Literal::List(items) = self.literal_of(*list)?.clone() else {
                    return None;
                };
                let field = self.field_of(*x)?;
                let set = items
                    .iter()
                    .map(|i| self.scalar(i, false))
                    .collect::<Option<Vec<_>>>()?;
                let k = set.len().max(1);
                let syms: Option<Vec<u32>> = set
                    .iter()
                    .map(|lit| match lit {
                        Scalar::Sym(s) => Some(*s),
                        _ => None,
                    })
                    .collect();
                let pred = match syms {
                    Some(syms) => Pred::InSyms {
                        field,
                        syms: syms.into_boxed_slice(),
                    },
                    None => Pred::In {
                        field,
                        set: set.into_boxed_slice(),
                    },
                };
                (pred, k)
            }
            _ => return None,
        };
        Some(Compiled {
            pred,
            parts,
            height: 0,
        })
    }
}

/// A compiled part, with its size and its nesting (evaluation recurses once per level).
#[derive(Clone)]
struct Compiled {
    pred: Pred,
    parts: usize,
    height: u32,
}

impl Compiled {
    /// This part one level further down.
    fn above(mut self) -> Option<Compiled> {
        self.height += 1;
        (self.height <= MAX_NESTING && self.parts <= MAX_PARTS).then_some(self)
    }

    fn not(self) -> Option<Compiled> {
        Compiled {
            pred: Pred::Not(Box::new(self.pred)),
            parts: self.parts + 1,
            height: self.height,
        }
        .above()
    }
}

enum Part {
    Cond(CondId),
    Node(NodeId),
}

/// `lit op field` as `field op' lit`.
fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Eq => CmpOp::Eq,
        CmpOp::Ne => CmpOp::Ne,
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
    }
}

/// The field slots of one evaluation, each looked up on first use.
pub(crate) struct FieldValues<'a> {
    preds: &'a Preds,
    inputs: Inputs<'a>,
    /// The slots, in place when a trigger's conditions read few fields (most do: a schema
    /// has a few dozen fields), so an evaluation allocates nothing for them.
    values: Slots,
    /// Every slot has been looked up.
    all: bool,
}

/// How many field slots fit in place.
const INLINE_SLOTS: usize = 24;

// Large in place on purpose: it lives on the stack for one evaluation, never boxed or moved
// around in collections.
#[allow(clippy::large_enum_variant)]
enum Slots {
    /// Before first use.
    None,
    Inline([SlotValue; INLINE_SLOTS], usize),
    Heap(Vec<SlotValue>),
}

impl Slots {
    fn as_slice(&self) -> &[SlotValue] {
        match self {
            Slots::None => &[],
            Slots::Inline(values, n) => values.get(..*n).unwrap_or_default(),
            Slots::Heap(values) => values,
        }
    }

    /// The slots, `n` of them, made on first use.
    fn get_or_make(&mut self, n: usize) -> &mut [SlotValue] {
        if let Slots::None = self {
            *self = if n <= INLINE_SLOTS {
                Slots::Inline([SlotValue::Unresolved; INLINE_SLOTS], n)
            } else {
                Slots::Heap(vec![SlotValue::Unresolved; n])
            };
        }
        match self {
            Slots::None => &mut [],
            Slots::Inline(values, n) => values.get_mut(..*n).unwrap_or_default(),
            Slots::Heap(values) => values,
        }
    }
}

impl<'a> FieldValues<'a> {
    pub(crate) fn new(
        preds: &'a Preds,
        profile_id: &'a str,
        profile: FieldView<'a>,
        event: FieldView<'a>,
    ) -> Self {
        FieldValues {
            preds,
            inputs: Inputs {
                profile_id,
                profile,
                event,
            },
            values: Slots::None,
            all: false,
        }
    }

    /// The slots looked up so far (`Unresolved` for the others).
    #[inline]
    pub(crate) fn resolved(&self) -> &[SlotValue] {
        self.values.as_slice()
    }

    /// Looks up the given field slots (those not looked up yet).
    #[inline]
    pub(crate) fn prefetch(&mut self, fields: &[u16]) {
        self.fill(fields.iter().map(|i| usize::from(*i)));
    }

    /// Looks up every field slot: for a condition met outside a compiled trigger (a segment or
    /// a part of a condition that also binds), which is rare enough not to track its fields.
    fn prefetch_all(&mut self) {
        if !self.all {
            self.all = true;
            self.fill(0..self.preds.fields.len());
        }
    }

    fn fill(&mut self, slots: impl Iterator<Item = usize>) {
        let (preds, inputs) = (self.preds, &self.inputs);
        let values = self.values.get_or_make(preds.fields.len());
        for i in slots {
            if let Some(slot) = values.get_mut(i)
                && *slot == SlotValue::Unresolved
            {
                *slot = resolve(preds, inputs, i);
            }
        }
    }
}

/// What field slots are read from: the profile's id and fields, and the event's fields.
struct Inputs<'a> {
    profile_id: &'a str,
    profile: FieldView<'a>,
    event: FieldView<'a>,
}

fn resolve(preds: &Preds, inputs: &Inputs<'_>, i: usize) -> SlotValue {
    let Inputs {
        profile_id,
        profile,
        event,
    } = inputs;
    let value = match preds.fields.get(i) {
        None => None,
        Some(FieldRef::Event(name, rank)) => field(event.fields, event.present, name, *rank),
        Some(FieldRef::Profile(name, rank)) => field(profile.fields, profile.present, name, *rank),
        Some(FieldRef::ProfileId) => return sym(preds, profile_id),
        Some(FieldRef::ProfileConsents) => return SlotValue::Other,
    };
    match value {
        None | Some(Value::Missing) => SlotValue::Missing,
        Some(Value::Bool(b)) => SlotValue::Bool(*b),
        Some(Value::Number(x)) => SlotValue::Num(*x),
        Some(Value::String(s)) => sym(preds, s),
        Some(_) => SlotValue::Other,
    }
}

/// A declared field: where the input's presence hint puts it, else by name.
#[inline]
fn field<'v>(
    fields: &'v [(Arc<str>, Value)],
    present: Presence,
    name: &Arc<str>,
    rank: u8,
) -> Option<&'v Value> {
    present
        .find(fields, name, rank)
        .or_else(|| shared_lookup(fields, name))
}

/// A field by name. Parsed inputs name their fields with the bundle's shared names, so a
/// pointer comparison finds it without reading any name; inputs built otherwise (from Rust)
/// take the search by name.
fn shared_lookup<'v>(fields: &'v [(Arc<str>, Value)], name: &Arc<str>) -> Option<&'v Value> {
    match fields.iter().find(|(k, _)| Arc::ptr_eq(k, name)) {
        Some((_, v)) => Some(v),
        None => lookup(fields, name),
    }
}

fn sym(preds: &Preds, s: &str) -> SlotValue {
    SlotValue::Sym(preds.symbols.get(s).copied().unwrap_or(UNKNOWN))
}

impl Pred {
    /// Whether the condition holds, looking fields up on first use.
    /// `field op x` for a number literal. A strict bound becomes an inclusive one on the next
    /// double (`a < x` is `a <= x.next_down()` for every double `a`, NaN included), so all
    /// but `!=` are one range test.
    pub(crate) fn number(field: u16, op: CmpOp, x: f64) -> Pred {
        let (lo, hi) = match op {
            CmpOp::Ne => return Pred::Num { field, op, x },
            // Nothing is below -∞ or above +∞ (`next_down`/`next_up` would stay there).
            CmpOp::Lt if x == f64::NEG_INFINITY => return Pred::Const(false),
            CmpOp::Gt if x == f64::INFINITY => return Pred::Const(false),
            CmpOp::Lt => (f64::NEG_INFINITY, x.next_down()),
            CmpOp::Le => (f64::NEG_INFINITY, x),
            CmpOp::Gt => (x.next_up(), f64::INFINITY),
            CmpOp::Ge => (x, f64::INFINITY),
            CmpOp::Eq => (x, x),
        };
        Pred::Range { field, lo, hi }
    }

    pub(crate) fn holds(&self, f: &mut FieldValues<'_>) -> bool {
        f.prefetch_all();
        self.holds_in(f.values.as_slice())
    }

    /// Whether the condition holds, given every field it reads already looked up (see
    /// [`FieldValues::prefetch`]). Leaves are decided here; nested conditions go through
    /// [`Pred::holds_nested`], out of line, so this stays small enough to inline.
    #[inline]
    pub(crate) fn holds_in(&self, v: &[SlotValue]) -> bool {
        let at = |i: &u16| slot(v, *i);
        match self {
            Pred::Range { field, lo, hi } => match at(field) {
                SlotValue::Num(a) => *lo <= a && a <= *hi,
                // Missing, or another kind: not ordered against a number, equal to none.
                _ => false,
            },
            Pred::Num { field, op, x } => match at(field) {
                SlotValue::Num(a) => match op {
                    CmpOp::Eq => a == *x,
                    CmpOp::Ne => a != *x,
                    CmpOp::Lt => a < *x,
                    CmpOp::Le => a <= *x,
                    CmpOp::Gt => a > *x,
                    CmpOp::Ge => a >= *x,
                },
                SlotValue::Missing | SlotValue::Unresolved => false,
                // Another kind: equal to no number, not ordered against one.
                _ => *op == CmpOp::Ne,
            },
            Pred::Sym { field, sym, negate } => match at(field) {
                SlotValue::Sym(a) => (a == *sym) != *negate,
                SlotValue::Missing | SlotValue::Unresolved => false,
                _ => *negate,
            },
            Pred::Bool {
                field,
                value,
                negate,
            } => match at(field) {
                SlotValue::Bool(a) => (a == *value) != *negate,
                SlotValue::Missing | SlotValue::Unresolved => false,
                _ => *negate,
            },
            Pred::InSyms { field, syms } => match at(field) {
                SlotValue::Sym(a) => syms.contains(&a),
                _ => false,
            },
            Pred::Const(b) => *b,
            Pred::Cmp { field, op, lit } => compare(*op, at(field), *lit),
            Pred::In { field, set } => {
                let x = at(field);
                set.iter().any(|lit| equal(x, *lit))
            }
            Pred::Present { field, present } => {
                !matches!(at(field), SlotValue::Missing | SlotValue::Unresolved) == *present
            }
            Pred::Not(_) | Pred::All(_) | Pred::Any(_) => self.holds_nested(v),
        }
    }

    /// [`Pred::holds_in`] for nested conditions.
    #[inline(never)]
    fn holds_nested(&self, v: &[SlotValue]) -> bool {
        match self {
            Pred::Not(p) => !p.holds_in(v),
            Pred::All(ps) => ps.iter().all(|p| p.holds_in(v)),
            Pred::Any(ps) => ps.iter().any(|p| p.holds_in(v)),
            leaf => leaf.holds_in(v),
        }
    }

    /// A rough chance that this condition holds, for ordering the parts of a conjunction
    /// (see `Program`); `distinct(f)` is how many strings field `f` is compared with across the
    /// conditions being ordered, as a stand-in for how many values it takes.
    pub(crate) fn odds(&self, distinct: &impl Fn(u16) -> usize) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let one_in = |field: u16| 1.0 / (distinct(field) + 1) as f64;
        match self {
            Pred::Const(b) => f64::from(u8::from(*b)),
            Pred::Sym { field, negate, .. } => {
                let p = one_in(*field);
                if *negate { 1.0 - p } else { p }
            }
            #[allow(clippy::cast_precision_loss)]
            Pred::In { field, set } => (set.len() as f64 * one_in(*field)).min(1.0),
            #[allow(clippy::cast_precision_loss)]
            Pred::InSyms { field, syms } => (syms.len() as f64 * one_in(*field)).min(1.0),
            Pred::Range { lo, hi, .. } if lo == hi => 0.1,
            Pred::Num { .. } => 0.9,
            Pred::Range { .. } | Pred::Cmp { .. } | Pred::Present { .. } | Pred::Bool { .. } => 0.5,
            // Nested conditions also cost more to test: last.
            Pred::Not(_) | Pred::All(_) | Pred::Any(_) => 0.95,
        }
    }

    /// The `(field, string)` pairs this condition compares (strings as symbols).
    pub(crate) fn strings(&self, out: &mut Vec<(u16, u32)>) {
        match self {
            Pred::Sym { field, sym, .. } => out.push((*field, *sym)),
            Pred::In { field, set } => out.extend(set.iter().filter_map(|lit| match lit {
                Scalar::Sym(s) => Some((*field, *s)),
                _ => None,
            })),
            Pred::InSyms { field, syms } => out.extend(syms.iter().map(|s| (*field, *s))),
            Pred::Not(p) => p.strings(out),
            Pred::All(ps) | Pred::Any(ps) => ps.iter().for_each(|p| p.strings(out)),
            _ => {}
        }
    }

    /// The field a leaf tests (a comparison, membership or presence test of one field), for
    /// the rule index; `None` for constants and nested conditions.
    pub(crate) fn leaf_field(&self) -> Option<u16> {
        match self {
            Pred::Num { field, .. }
            | Pred::Range { field, .. }
            | Pred::Sym { field, .. }
            | Pred::Cmp { field, .. }
            | Pred::In { field, .. }
            | Pred::InSyms { field, .. }
            | Pred::Bool { field, .. }
            | Pred::Present { field, .. } => Some(*field),
            Pred::Const(_) | Pred::Not(_) | Pred::All(_) | Pred::Any(_) => None,
        }
    }

    /// The numbers and strings (as symbols) a leaf compares its field with: between two
    /// neighbouring ones, and at each, the leaf's answer cannot change (see `index`).
    pub(crate) fn leaf_literals(&self, nums: &mut Vec<f64>, syms: &mut Vec<u32>) {
        let mut scalar = |lit: &Scalar| match lit {
            Scalar::Num(x) => nums.push(*x),
            Scalar::Sym(s) => syms.push(*s),
            Scalar::Bool(_) => {}
        };
        match self {
            Pred::Range { lo, hi, .. } => {
                nums.push(*lo);
                nums.push(*hi);
            }
            Pred::Num { x, .. } => nums.push(*x),
            Pred::Sym { sym, .. } => syms.push(*sym),
            Pred::InSyms { syms: s, .. } => syms.extend(s.iter().copied()),
            Pred::Cmp { lit, .. } => scalar(lit),
            Pred::In { set, .. } => set.iter().for_each(scalar),
            Pred::Bool { .. }
            | Pred::Present { .. }
            | Pred::Const(_)
            | Pred::Not(_)
            | Pred::All(_)
            | Pred::Any(_) => {}
        }
    }

    /// The field slots this condition reads.
    pub(crate) fn fields(&self, out: &mut Vec<u16>) {
        match self {
            Pred::Not(p) => p.fields(out),
            Pred::All(ps) | Pred::Any(ps) => ps.iter().for_each(|p| p.fields(out)),
            leaf => out.extend(leaf.leaf_field()),
        }
    }
}

/// A slot's value (missing past the end). Inlined even in the size-optimised browser build, as
/// is [`equal`]: a call per leaf there was a large part of evaluating conditions
/// (`docs/performance.md`).
#[inline(always)]
fn slot(v: &[SlotValue], i: u16) -> SlotValue {
    v.get(usize::from(i)).copied().unwrap_or(SlotValue::Missing)
}

/// `Value::lang_eq` on a slot and a literal.
#[inline(always)]
fn equal(v: SlotValue, lit: Scalar) -> bool {
    match (v, lit) {
        (SlotValue::Bool(a), Scalar::Bool(b)) => a == b,
        (SlotValue::Num(a), Scalar::Num(b)) => a == b,
        (SlotValue::Sym(a), Scalar::Sym(b)) => a == b,
        _ => false,
    }
}

/// The evaluator's `compare`: false when the field is missing (`!=` too); otherwise
/// `Value::lang_eq`/`Value::lang_cmp`.
fn compare(op: CmpOp, v: SlotValue, lit: Scalar) -> bool {
    use std::cmp::Ordering;
    if matches!(v, SlotValue::Missing | SlotValue::Unresolved) {
        return false;
    }
    let order: Option<Ordering> = match (v, lit) {
        (SlotValue::Bool(a), Scalar::Bool(b)) => Some(a.cmp(&b)),
        (SlotValue::Num(a), Scalar::Num(b)) => a.partial_cmp(&b),
        // Strings are compiled for `==`/`!=` only.
        _ => None,
    };
    match op {
        CmpOp::Eq => equal(v, lit),
        CmpOp::Ne => !equal(v, lit),
        CmpOp::Lt => order.is_some_and(Ordering::is_lt),
        CmpOp::Le => order.is_some_and(Ordering::is_le),
        CmpOp::Gt => order.is_some_and(Ordering::is_gt),
        CmpOp::Ge => order.is_some_and(Ordering::is_ge),
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// A number leaf decides as the comparison it was built from, on the doubles where a
    /// strict bound turned inclusive could go wrong: zeros of both signs, infinities, NaN,
    /// subnormals and neighbours one step apart.
    #[test]
    fn number_leaves_decide_as_the_comparison() {
        let mut xs = vec![
            0.0,
            -0.0,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
            5e-324,
            -5e-324,
            1.0,
            -1.0,
            0.1,
            100.0,
            f64::MAX,
            f64::MIN,
        ];
        for x in xs.clone() {
            xs.push(x.next_up());
            xs.push(x.next_down());
        }
        let ops = [
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ];
        for &x in &xs {
            for op in ops {
                let pred = Pred::number(0, op, x);
                for &a in &xs {
                    let want = match op {
                        CmpOp::Eq => a == x,
                        CmpOp::Ne => a != x,
                        CmpOp::Lt => a < x,
                        CmpOp::Le => a <= x,
                        CmpOp::Gt => a > x,
                        CmpOp::Ge => a >= x,
                    };
                    assert_eq!(pred.holds_in(&[SlotValue::Num(a)]), want, "{a} {op:?} {x}");
                }
                // A missing field satisfies no comparison; another kind only `!=`.
                assert!(!pred.holds_in(&[SlotValue::Missing]), "missing {op:?} {x}");
                assert_eq!(
                    pred.holds_in(&[SlotValue::Sym(0)]),
                    op == CmpOp::Ne,
                    "string {op:?} {x}"
                );
            }
        }
    }

    /// The specialised boolean and string-list leaves decide as the general comparison and
    /// membership they replace, on values of every kind (missing and unknown strings included).
    #[test]
    fn bool_and_string_list_leaves_decide_as_the_general_forms() {
        let values = [
            SlotValue::Missing,
            SlotValue::Unresolved,
            SlotValue::Bool(true),
            SlotValue::Bool(false),
            SlotValue::Num(0.0),
            SlotValue::Num(1.0),
            SlotValue::Sym(0),
            SlotValue::Sym(1),
            SlotValue::Sym(2),
            SlotValue::Sym(UNKNOWN),
            SlotValue::Other,
        ];
        for value in [true, false] {
            for op in [CmpOp::Eq, CmpOp::Ne] {
                let special = Pred::Bool {
                    field: 0,
                    value,
                    negate: op == CmpOp::Ne,
                };
                let general = Pred::Cmp {
                    field: 0,
                    op,
                    lit: Scalar::Bool(value),
                };
                for v in values {
                    assert_eq!(
                        special.holds_in(&[v]),
                        general.holds_in(&[v]),
                        "{v:?} {op:?} {value}"
                    );
                }
            }
        }
        for syms in [vec![], vec![0], vec![1, 2], vec![2, 0, 1]] {
            let special = Pred::InSyms {
                field: 0,
                syms: syms.clone().into_boxed_slice(),
            };
            let general = Pred::In {
                field: 0,
                set: syms.iter().map(|s| Scalar::Sym(*s)).collect(),
            };
            for v in values {
                assert_eq!(
                    special.holds_in(&[v]),
                    general.holds_in(&[v]),
                    "{v:?} in {syms:?}"
                );
            }
        }
    }
}
