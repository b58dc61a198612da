//! The bundle body (format 3; format 2 lacked the timezone rule): the rule graph in a compact binary form, written and read by
//! hand.
//!
//! Why not a generic serialiser: loading a bundle stands between a page's first script and its
//! first decision, and in a browser it runs before the engine's wasm is optimised, so every
//! instruction and allocation of it counts several times over. Format 1 (the graph in postcard
//! through serde) spent a large share of loading in serde's visitors, which were also a large
//! share of the runtime module; and the conditions' source text, kept for explanations, was
//! most of a bundle's bytes, much of it twice (a rule's whole condition, then each of its
//! parts), all of which the integrity hash reads (`docs/performance.md` has the figures). Here
//! names and literals are written once in a string table, and a condition part's text is a
//! span of its parent's.
//!
//! Layout, in order:
//!
//! | section | encoding |
//! |---|---|
//! | strings | count, each string's byte length, then all their bytes (UTF-8, one run) |
//! | condition sources | the text's byte length and bytes (UTF-8), a count, then per condition its start and length in the text |
//! | the graph | [`Graph`]'s fields in declaration order (`cond_sources` excepted), every string as its index in the table |
//!
//! Integers are unsigned LEB128 (signed ones zigzag-encoded first), `f64` eight bytes
//! little-endian, `bool` one byte (0 or 1), `Option` a byte (0 or 1) then the value, a sequence
//! its length then its items, an enum a tag byte (its variant's declaration index) then the
//! variant's fields. Decoding never trusts a length further than the bytes left, refuses nesting
//! deeper than [`MAX_NESTING`], and ends in [`Graph::validate`] (by the caller).

use crate::graph::*;
use crate::graph_serde::MAX_NESTING;
use std::collections::BTreeMap;
use std::fmt;

/// Why a body could not be decoded: what was wrong, a number that says more, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError {
    what: &'static str,
    detail: Option<u64>,
    at: usize,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)?;
        if let Some(n) = self.detail {
            write!(f, ": {n}")?;
        }
        write!(f, " (at byte {} of the body)", self.at)
    }
}

/// A failed read. Zero-sized, so that every `?` of the decoder stays as cheap as an `Option`'s
/// (the runtime module carries this code); the reader keeps the [`DecodeError`] itself.
#[derive(Debug)]
struct Fail;

type Read<T> = Result<T, Fail>;

/// The body of a graph. Deterministic: the same graph always gives the same bytes (the
/// bundle's hash is its identity).
pub(crate) fn encode(g: &Graph) -> Vec<u8> {
    let mut w = Writer::default();
    g.put(&mut w);
    let (text, spans) = sources(g);
    let table_bytes: usize = w.table.iter().map(|s| s.len()).sum();
    let mut out = Vec::with_capacity(
        16 + 3 * w.table.len() + table_bytes + text.len() + 4 * spans.len() + w.out.len(),
    );
    uint(&mut out, w.table.len() as u64);
    for s in &w.table {
        uint(&mut out, s.len() as u64);
    }
    for s in &w.table {
        out.extend_from_slice(s.as_bytes());
    }
    uint(&mut out, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
    uint(&mut out, spans.len() as u64);
    for (start, len) in spans {
        uint(&mut out, start as u64);
        uint(&mut out, len as u64);
    }
    out.extend_from_slice(&w.out);
    out
}

/// Decodes a body written by [`encode`]. The graph is not validated yet.
pub(crate) fn decode(body: &[u8]) -> Result<Graph, DecodeError> {
    let mut r = Reader::new(body);
    match r.graph() {
        Ok(g) => Ok(g),
        Err(Fail) => Err(r.failure.unwrap_or(DecodeError {
            what: "the body could not be read",
            detail: None,
            at: r.pos,
        })),
    }
}

/// The conditions' source text with shared bytes: a part of a condition whose text occurs in its
/// parent's (`a` in `a and b`) is a span of the parent's text, and equal texts are one span.
fn sources(g: &Graph) -> (String, Vec<(usize, usize)>) {
    let texts = &g.cond_sources;
    let mut spans: Vec<Option<(usize, usize)>> = vec![None; texts.len()];
    let mut placed: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    let mut text = String::new();
    // Parents come after their parts (validation checks it), so walking backwards meets a
    // parent's text before its parts look for themselves in it.
    for (c, source) in texts.iter().enumerate().rev() {
        let span = match spans.get(c).copied().flatten() {
            Some(span) => span,
            None => *placed.entry(source).or_insert_with(|| {
                let at = text.len();
                text.push_str(source);
                (at, source.len())
            }),
        };
        if let Some(slot) = spans.get_mut(c) {
            *slot = Some(span);
        }
        let parts: &[CondId] = match g.conds.get(c) {
            Some(Cond::And(parts) | Cond::Or(parts)) => parts,
            Some(Cond::Not(part)) => std::slice::from_ref(part),
            _ => &[],
        };
        for &p in parts {
            let p = p as usize;
            if let (Some(slot @ None), Some(part)) = (spans.get_mut(p), texts.get(p))
                && let Some(offset) = source.find(part)
            {
                *slot = Some((span.0 + offset, part.len()));
            }
        }
    }
    (
        text,
        spans.into_iter().map(Option::unwrap_or_default).collect(),
    )
}

// ----- writing --------------------------------------------------------------------------------

#[derive(Default)]
struct Writer<'g> {
    out: Vec<u8>,
    index: BTreeMap<&'g str, u32>,
    table: Vec<&'g str>,
}

fn uint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

impl<'g> Writer<'g> {
    fn uint(&mut self, n: u64) {
        uint(&mut self.out, n);
    }
    fn int(&mut self, n: i64) {
        self.uint(((n << 1) ^ (n >> 63)) as u64);
    }
    fn tag(&mut self, t: u8) {
        self.out.push(t);
    }
    fn len(&mut self, n: usize) {
        self.uint(n as u64);
    }
    fn str(&mut self, s: &'g str) {
        let next = u32::try_from(self.table.len()).unwrap_or(u32::MAX);
        let i = *self.index.entry(s).or_insert(next);
        if i == next {
            self.table.push(s);
        }
        self.uint(u64::from(i));
    }
}

// ----- reading --------------------------------------------------------------------------------

struct Reader<'b> {
    bytes: &'b [u8],
    pos: usize,
    strings: Vec<&'b str>,
    failure: Option<DecodeError>,
}

impl<'b> Reader<'b> {
    fn new(bytes: &'b [u8]) -> Self {
        Reader {
            bytes,
            pos: 0,
            strings: Vec::new(),
            failure: None,
        }
    }

    fn graph(&mut self) -> Read<Graph> {
        self.strings = self.string_table()?;
        let cond_sources = self.sources()?;
        let mut g = Graph::get(self)?;
        g.cond_sources = cond_sources;
        match self.left() {
            0 => Ok(g),
            n => Err(self.fail("bytes left over after the graph", n as u64)),
        }
    }

    /// Records why reading stops (at the current position) and stops it.
    #[cold]
    fn fail(&mut self, what: &'static str, detail: u64) -> Fail {
        self.failure = Some(DecodeError {
            what,
            detail: Some(detail),
            at: self.pos,
        });
        Fail
    }

    #[cold]
    fn end(&mut self) -> Fail {
        self.failure = Some(DecodeError {
            what: "the body ends too early",
            detail: None,
            at: self.pos,
        });
        Fail
    }

    fn left(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    fn take(&mut self, n: usize) -> Read<&'b [u8]> {
        let bytes = self.bytes;
        match self
            .pos
            .checked_add(n)
            .and_then(|end| bytes.get(self.pos..end))
        {
            Some(taken) => {
                self.pos += n;
                Ok(taken)
            }
            None => Err(self.end()),
        }
    }

    fn byte(&mut self) -> Read<u8> {
        match self.bytes.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(self.end()),
        }
    }

    fn uint(&mut self) -> Read<u64> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7f);
            if shift == 63 && bits > 1 {
                break;
            }
            n |= bits << shift;
            if b < 0x80 {
                return Ok(n);
            }
        }
        Err(self.fail("a number longer than 64 bits", 64))
    }

    fn int(&mut self) -> Read<i64> {
        let z = self.uint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    fn small<T: TryFrom<u64>>(&mut self) -> Read<T> {
        let n = self.uint()?;
        T::try_from(n).map_err(|_| self.fail("a number out of range here", n))
    }

    /// A sequence's length: never more than the bytes left, each item taking one at least.
    fn len(&mut self) -> Read<usize> {
        let n: usize = self.small()?;
        if n > self.left() {
            return Err(self.fail("a length longer than the bytes left", n as u64));
        }
        Ok(n)
    }

    /// A tag byte that names no variant.
    #[cold]
    fn unknown(&mut self, what: &'static str, tag: u8) -> Fail {
        self.pos = self.pos.saturating_sub(1);
        self.fail(what, u64::from(tag))
    }

    fn string(&mut self) -> Read<String> {
        let i: usize = self.small()?;
        match self.strings.get(i) {
            Some(s) => Ok((*s).to_string()),
            None => Err(self.fail("a string index beyond the table", i as u64)),
        }
    }

    fn string_table(&mut self) -> Read<Vec<&'b str>> {
        let count = self.len()?;
        let mut lens = Vec::with_capacity(count);
        let mut total = 0usize;
        for _ in 0..count {
            let n: usize = self.small()?;
            total = match total.checked_add(n) {
                Some(total) => total,
                None => return Err(self.end()),
            };
            lens.push(n);
        }
        let bytes = self.take(total)?;
        // One UTF-8 check for the run; each string must then start and end on a character.
        let Ok(run) = std::str::from_utf8(bytes) else {
            return Err(self.fail("the string table is not UTF-8; its length is", total as u64));
        };
        let mut strings = Vec::with_capacity(count);
        let mut at = 0usize;
        for n in lens {
            match run.get(at..at + n) {
                Some(s) => strings.push(s),
                None => {
                    return Err(self.fail(
                        "a string of the table splits a character; its index is",
                        strings.len() as u64,
                    ));
                }
            }
            at += n;
        }
        Ok(strings)
    }

    fn sources(&mut self) -> Read<CondSources> {
        let n = self.len()?;
        let bytes = self.take(n)?;
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Err(self.fail(
                "the condition sources are not UTF-8; their length is",
                n as u64,
            ));
        };
        let count = self.len()?;
        let mut spans = Vec::with_capacity(count);
        for _ in 0..count {
            let start: usize = self.small()?;
            let len: usize = self.small()?;
            spans.push((start, len));
        }
        CondSources::from_spans(text.to_string(), spans).map_err(|start| {
            self.fail(
                "a condition source outside the text, or splitting a character; it starts at",
                start as u64,
            )
        })
    }
}

// ----- the graph ------------------------------------------------------------------------------

/// A graph type's encoding.
trait Wire<'g>: Sized {
    fn put(&'g self, w: &mut Writer<'g>);
    fn get(r: &mut Reader<'_>) -> Read<Self>;
}

impl Wire<'_> for u32 {
    fn put(&self, w: &mut Writer<'_>) {
        w.uint(u64::from(*self));
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        r.small()
    }
}

impl Wire<'_> for u16 {
    fn put(&self, w: &mut Writer<'_>) {
        w.uint(u64::from(*self));
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        r.small()
    }
}

impl Wire<'_> for u8 {
    fn put(&self, w: &mut Writer<'_>) {
        w.tag(*self);
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        r.byte()
    }
}

impl Wire<'_> for i64 {
    fn put(&self, w: &mut Writer<'_>) {
        w.int(*self);
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        r.int()
    }
}

impl Wire<'_> for i32 {
    fn put(&self, w: &mut Writer<'_>) {
        w.int(i64::from(*self));
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        let n = r.int()?;
        i32::try_from(n).map_err(|_| r.fail("a number out of range here", n as u64))
    }
}

impl Wire<'_> for f64 {
    fn put(&self, w: &mut Writer<'_>) {
        w.out.extend_from_slice(&self.to_le_bytes());
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        let bytes = r.take(8)?;
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        Ok(f64::from_le_bytes(b))
    }
}

impl Wire<'_> for bool {
    fn put(&self, w: &mut Writer<'_>) {
        w.tag(u8::from(*self));
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        match r.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            t => Err(r.unknown("a boolean byte other than 0 or 1", t)),
        }
    }
}

impl<'g> Wire<'g> for String {
    fn put(&'g self, w: &mut Writer<'g>) {
        w.str(self);
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        r.string()
    }
}

impl<'g, T: Wire<'g>> Wire<'g> for Option<T> {
    fn put(&'g self, w: &mut Writer<'g>) {
        match self {
            None => w.tag(0),
            Some(x) => {
                w.tag(1);
                x.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        match r.byte()? {
            0 => Ok(None),
            1 => T::get(r).map(Some),
            t => Err(r.unknown("an option byte other than 0 or 1", t)),
        }
    }
}

impl<'g, T: Wire<'g>> Wire<'g> for Vec<T> {
    fn put(&'g self, w: &mut Writer<'g>) {
        w.len(self.len());
        for x in self {
            x.put(w);
        }
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        let n = r.len()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(T::get(r)?);
        }
        Ok(out)
    }
}

impl<'g, A: Wire<'g>, B: Wire<'g>> Wire<'g> for (A, B) {
    fn put(&'g self, w: &mut Writer<'g>) {
        self.0.put(w);
        self.1.put(w);
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        Ok((A::get(r)?, B::get(r)?))
    }
}

/// Struct encodings: the fields in order (`put` takes the fields, `get` builds the struct).
macro_rules! wire_struct {
    ($ty:ident { $($field:ident),* $(,)? }) => {
        impl<'g> Wire<'g> for $ty {
            fn put(&'g self, w: &mut Writer<'g>) {
                $(self.$field.put(w);)*
            }
            fn get(r: &mut Reader<'_>) -> Read<Self> {
                Ok($ty { $($field: Wire::get(r)?,)* })
            }
        }
    };
}

/// Enums without fields: the tag alone.
macro_rules! wire_unit_enum {
    ($ty:ident, $what:literal, [$($variant:ident),* $(,)?]) => {
        impl Wire<'_> for $ty {
            fn put(&self, w: &mut Writer<'_>) {
                w.tag(*self as u8);
            }
            fn get(r: &mut Reader<'_>) -> Read<Self> {
                const ALL: &[$ty] = &[$($ty::$variant),*];
                let t = r.byte()?;
                match ALL.get(usize::from(t)) {
                    Some(v) => Ok(*v),
                    None => Err(r.unknown($what, t)),
                }
            }
        }
    };
}

wire_unit_enum!(Meta, "an unknown event attribute kind", [Id, Time, Type]);
wire_unit_enum!(
    CmpOp,
    "an unknown comparison kind",
    [Eq, Ne, Lt, Le, Gt, Ge]
);
wire_unit_enum!(ArithOp, "an unknown arithmetic kind", [Add, Sub, Mul, Div]);
wire_unit_enum!(
    Func,
    "an unknown function kind",
    [Lower, Upper, Len, Contains, StartsWith, EndsWith]
);

wire_struct!(Schema {
    timezone,
    consents,
    profile,
    events,
    actions
});
wire_struct!(Field {
    name,
    ty,
    optional,
    pii
});
wire_struct!(EventType {
    name,
    fields,
    retain
});
wire_struct!(ActionType { name, params });
wire_struct!(Query {
    event,
    within,
    since,
    slot,
    filter
});
wire_struct!(Segment { name, cond, slots });
wire_struct!(Group { name, cap });
wire_struct!(Schedule {
    active,
    hours,
    days
});
wire_struct!(ActionCall { action, params });
wire_struct!(Arm {
    basis_points,
    variant,
    actions
});
wire_struct!(Rule {
    name,
    title,
    on,
    consents,
    when,
    outcome,
    cap,
    priority,
    group,
    schedule,
    slots
});
wire_struct!(Trigger { event, rules });
wire_struct!(Retention {
    event,
    keep,
    fields,
    consents
});
wire_struct!(TzTable {
    name,
    initial_offset,
    transitions,
    rule
});
wire_struct!(TzRule {
    std_offset,
    dst_offset,
    start,
    start_time,
    end,
    end_time
});

impl<'g> Wire<'g> for TzDay {
    fn put(&'g self, w: &mut Writer<'g>) {
        match self {
            TzDay::MonthWeek {
                month,
                week,
                weekday,
            } => {
                w.tag(0);
                month.put(w);
                week.put(w);
                weekday.put(w);
            }
            TzDay::Julian { day } => {
                w.tag(1);
                day.put(w);
            }
            TzDay::Ordinal { day } => {
                w.tag(2);
                day.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        Ok(match r.byte()? {
            0 => TzDay::MonthWeek {
                month: Wire::get(r)?,
                week: Wire::get(r)?,
                weekday: Wire::get(r)?,
            },
            1 => TzDay::Julian { day: Wire::get(r)? },
            2 => TzDay::Ordinal { day: Wire::get(r)? },
            t => return Err(r.unknown("an unknown kind of day in a timezone rule", t)),
        })
    }
}
wire_struct!(Goal {
    rule,
    name,
    event,
    within,
    primary,
    value,
    captures,
    filter
});
wire_struct!(Limits {
    max_events_per_type,
    dedup_window,
    max_dedup_ids
});

impl<'g> Wire<'g> for Graph {
    fn put(&'g self, w: &mut Writer<'g>) {
        self.schema.put(w);
        self.nodes.put(w);
        self.queries.put(w);
        self.conds.put(w);
        self.segments.put(w);
        self.groups.put(w);
        self.rules.put(w);
        self.triggers.put(w);
        self.retention.put(w);
        self.timezone.put(w);
        self.limits.put(w);
        // Format 4: goals follow (a graph without goals writes format 3's bytes).
        if !self.goals.is_empty() {
            self.goals.put(w);
        }
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        Ok(Graph {
            schema: Wire::get(r)?,
            nodes: Wire::get(r)?,
            queries: Wire::get(r)?,
            conds: Wire::get(r)?,
            cond_sources: CondSources::default(),
            segments: Wire::get(r)?,
            groups: Wire::get(r)?,
            rules: Wire::get(r)?,
            triggers: Wire::get(r)?,
            retention: Wire::get(r)?,
            timezone: Wire::get(r)?,
            limits: Wire::get(r)?,
            goals: match r.left() {
                0 => Vec::new(),
                // A goal section is never empty: a zero count is a stray byte.
                n if r.bytes.get(r.pos) == Some(&0) => {
                    return Err(r.fail("bytes left over after the graph", n as u64));
                }
                _ => Wire::get(r)?,
            },
        })
    }
}

impl<'g> Wire<'g> for Type {
    fn put(&'g self, w: &mut Writer<'g>) {
        match self {
            Type::String => w.tag(0),
            Type::Number => w.tag(1),
            Type::Bool => w.tag(2),
            Type::Duration => w.tag(3),
            Type::Time => w.tag(4),
            Type::List(t) => {
                w.tag(5);
                t.put(w);
            }
            Type::Set(t) => {
                w.tag(6);
                t.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        ty(r, 0)
    }
}

fn too_deep(r: &mut Reader<'_>) -> Fail {
    r.fail("values nest deeper than the limit", u64::from(MAX_NESTING))
}

fn ty(r: &mut Reader<'_>, depth: u32) -> Read<Type> {
    if depth > MAX_NESTING {
        return Err(too_deep(r));
    }
    Ok(match r.byte()? {
        0 => Type::String,
        1 => Type::Number,
        2 => Type::Bool,
        3 => Type::Duration,
        4 => Type::Time,
        5 => Type::List(Box::new(ty(r, depth + 1)?)),
        6 => Type::Set(Box::new(ty(r, depth + 1)?)),
        t => return Err(r.unknown("an unknown type kind", t)),
    })
}

impl<'g> Wire<'g> for Literal {
    fn put(&'g self, w: &mut Writer<'g>) {
        match self {
            Literal::Bool(b) => {
                w.tag(0);
                b.put(w);
            }
            Literal::Number(x) => {
                w.tag(1);
                x.put(w);
            }
            Literal::String(s) => {
                w.tag(2);
                w.str(s);
            }
            Literal::Duration(d) => {
                w.tag(3);
                w.int(*d);
            }
            Literal::Time(t) => {
                w.tag(4);
                w.int(*t);
            }
            Literal::List(items) => {
                w.tag(5);
                items.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        literal(r, 0)
    }
}

fn literal(r: &mut Reader<'_>, depth: u32) -> Read<Literal> {
    if depth > MAX_NESTING {
        return Err(too_deep(r));
    }
    Ok(match r.byte()? {
        0 => Literal::Bool(Wire::get(r)?),
        1 => Literal::Number(Wire::get(r)?),
        2 => Literal::String(r.string()?),
        3 => Literal::Duration(r.int()?),
        4 => Literal::Time(r.int()?),
        5 => {
            let n = r.len()?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(literal(r, depth + 1)?);
            }
            Literal::List(items)
        }
        t => return Err(r.unknown("an unknown literal kind", t)),
    })
}

impl<'g> Wire<'g> for Piece {
    fn put(&'g self, w: &mut Writer<'g>) {
        match self {
            Piece::Text(s) => {
                w.tag(0);
                w.str(s);
            }
            Piece::Value(n) => {
                w.tag(1);
                n.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        match r.byte()? {
            0 => Ok(Piece::Text(r.string()?)),
            1 => Ok(Piece::Value(Wire::get(r)?)),
            t => Err(r.unknown("an unknown text piece kind", t)),
        }
    }
}

impl<'g> Wire<'g> for Cond {
    fn put(&'g self, w: &mut Writer<'g>) {
        match self {
            Cond::Test(n) => {
                w.tag(0);
                n.put(w);
            }
            Cond::And(parts) => {
                w.tag(1);
                parts.put(w);
            }
            Cond::Or(parts) => {
                w.tag(2);
                parts.put(w);
            }
            Cond::Not(c) => {
                w.tag(3);
                c.put(w);
            }
            Cond::Bind { query, slot } => {
                w.tag(4);
                query.put(w);
                slot.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        Ok(match r.byte()? {
            0 => Cond::Test(Wire::get(r)?),
            1 => Cond::And(Wire::get(r)?),
            2 => Cond::Or(Wire::get(r)?),
            3 => Cond::Not(Wire::get(r)?),
            4 => Cond::Bind {
                query: Wire::get(r)?,
                slot: Wire::get(r)?,
            },
            t => return Err(r.unknown("an unknown condition kind", t)),
        })
    }
}

impl<'g> Wire<'g> for Cap {
    fn put(&'g self, w: &mut Writer<'g>) {
        match self {
            Cap::Once => w.tag(0),
            Cap::Limit { count, per } => {
                w.tag(1);
                count.put(w);
                per.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        Ok(match r.byte()? {
            0 => Cap::Once,
            1 => Cap::Limit {
                count: Wire::get(r)?,
                per: Wire::get(r)?,
            },
            t => return Err(r.unknown("an unknown cap kind", t)),
        })
    }
}

impl<'g> Wire<'g> for Outcome {
    fn put(&'g self, w: &mut Writer<'g>) {
        match self {
            Outcome::Actions(calls) => {
                w.tag(0);
                calls.put(w);
            }
            Outcome::Split { name, unit, arms } => {
                w.tag(1);
                w.str(name);
                unit.put(w);
                arms.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        Ok(match r.byte()? {
            0 => Outcome::Actions(Wire::get(r)?),
            1 => Outcome::Split {
                name: r.string()?,
                unit: Wire::get(r)?,
                arms: Wire::get(r)?,
            },
            t => return Err(r.unknown("an unknown outcome kind", t)),
        })
    }
}

impl<'g> Wire<'g> for Node {
    fn put(&'g self, w: &mut Writer<'g>) {
        match self {
            Node::Lit(l) => {
                w.tag(0);
                l.put(w);
            }
            Node::Now => w.tag(1),
            Node::EventField(name) => {
                w.tag(2);
                w.str(name);
            }
            Node::EventMeta(m) => {
                w.tag(3);
                m.put(w);
            }
            Node::ProfileField(name) => {
                w.tag(4);
                w.str(name);
            }
            Node::Bound(s) => {
                w.tag(5);
                s.put(w);
            }
            Node::Field { of, name } => {
                w.tag(6);
                of.put(w);
                w.str(name);
            }
            Node::FieldMeta { of, meta } => {
                w.tag(7);
                of.put(w);
                meta.put(w);
            }
            Node::Segment(s) => {
                w.tag(8);
                s.put(w);
            }
            Node::Neg(a) => {
                w.tag(9);
                a.put(w);
            }
            Node::Not(a) => {
                w.tag(10);
                a.put(w);
            }
            Node::And(a, b) => {
                w.tag(11);
                a.put(w);
                b.put(w);
            }
            Node::Or(a, b) => {
                w.tag(12);
                a.put(w);
                b.put(w);
            }
            Node::Cmp(op, a, b) => {
                w.tag(13);
                op.put(w);
                a.put(w);
                b.put(w);
            }
            Node::Arith(op, a, b) => {
                w.tag(14);
                op.put(w);
                a.put(w);
                b.put(w);
            }
            Node::Coalesce(a, b) => {
                w.tag(15);
                a.put(w);
                b.put(w);
            }
            Node::Present(a) => {
                w.tag(16);
                a.put(w);
            }
            Node::Missing(a) => {
                w.tag(17);
                a.put(w);
            }
            Node::In(a, b) => {
                w.tag(18);
                a.put(w);
                b.put(w);
            }
            Node::Call(f, args) => {
                w.tag(19);
                f.put(w);
                args.put(w);
            }
            Node::Interp(pieces) => {
                w.tag(20);
                pieces.put(w);
            }
            Node::List(items) => {
                w.tag(21);
                items.put(w);
            }
            Node::Seen(q) => {
                w.tag(22);
                q.put(w);
            }
            Node::Count(q) => {
                w.tag(23);
                q.put(w);
            }
            Node::Sum(q, field) => {
                w.tag(24);
                q.put(w);
                w.str(field);
            }
            Node::Last(q) => {
                w.tag(25);
                q.put(w);
            }
            Node::TimeSince(q) => {
                w.tag(26);
                q.put(w);
            }
            Node::Captured(i) => {
                w.tag(27);
                i.put(w);
            }
        }
    }
    fn get(r: &mut Reader<'_>) -> Read<Self> {
        let id = |r: &mut Reader<'_>| -> Read<NodeId> { r.small() };
        Ok(match r.byte()? {
            0 => Node::Lit(Wire::get(r)?),
            1 => Node::Now,
            2 => Node::EventField(r.string()?),
            3 => Node::EventMeta(Wire::get(r)?),
            4 => Node::ProfileField(r.string()?),
            5 => Node::Bound(Wire::get(r)?),
            6 => Node::Field {
                of: id(r)?,
                name: r.string()?,
            },
            7 => Node::FieldMeta {
                of: id(r)?,
                meta: Wire::get(r)?,
            },
            8 => Node::Segment(id(r)?),
            9 => Node::Neg(id(r)?),
            10 => Node::Not(id(r)?),
            11 => Node::And(id(r)?, id(r)?),
            12 => Node::Or(id(r)?, id(r)?),
            13 => Node::Cmp(Wire::get(r)?, id(r)?, id(r)?),
            14 => Node::Arith(Wire::get(r)?, id(r)?, id(r)?),
            15 => Node::Coalesce(id(r)?, id(r)?),
            16 => Node::Present(id(r)?),
            17 => Node::Missing(id(r)?),
            18 => Node::In(id(r)?, id(r)?),
            19 => Node::Call(Wire::get(r)?, Wire::get(r)?),
            20 => Node::Interp(Wire::get(r)?),
            21 => Node::List(Wire::get(r)?),
            22 => Node::Seen(id(r)?),
            23 => Node::Count(id(r)?),
            24 => Node::Sum(id(r)?, r.string()?),
            25 => Node::Last(id(r)?),
            26 => Node::TimeSince(id(r)?),
            27 => Node::Captured(Wire::get(r)?),
            t => return Err(r.unknown("an unknown node kind", t)),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn reader(bytes: &[u8]) -> Reader<'_> {
        Reader::new(bytes)
    }

    #[test]
    fn integers_round_trip_at_their_edges() {
        for n in [
            0u64,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = Vec::new();
            uint(&mut out, n);
            let mut r = reader(&out);
            assert_eq!(r.uint().unwrap(), n);
            assert_eq!(r.pos, out.len());
        }
        for n in [0i64, -1, 1, -64, 64, i64::MIN, i64::MAX, -1_795_168_800_000] {
            let mut w = Writer::default();
            w.int(n);
            assert_eq!(reader(&w.out).int().unwrap(), n);
        }
    }

    #[test]
    fn malformed_numbers_are_errors() {
        // Eleven continuation bytes: more than 64 bits.
        assert!(reader(&[0xff; 11]).uint().is_err());
        // The tenth byte may carry only the top bit.
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert!(reader(&too_big).uint().is_err());
        assert!(reader(&[0x80]).uint().is_err());
        assert!(reader(&[0x80, 0x80, 0x04]).small::<u16>().is_err());
    }

    fn small_graph() -> Graph {
        Graph {
            schema: Schema {
                timezone: "UTC".into(),
                consents: vec![],
                profile: vec![],
                events: vec![],
                actions: vec![],
            },
            nodes: vec![],
            queries: vec![],
            conds: vec![Cond::Test(0), Cond::Test(0), Cond::And(vec![0, 1])],
            cond_sources: ["a < 1", "b", "a < 1 and b"].into_iter().collect(),
            segments: vec![],
            groups: vec![],
            rules: vec![],
            triggers: vec![],
            retention: vec![],
            timezone: TzTable {
                name: "UTC".into(),
                initial_offset: 0,
                transitions: vec![],
                rule: None,
            },
            limits: Limits::default(),
            goals: vec![],
        }
    }

    #[test]
    fn parts_of_a_condition_share_their_parents_text() {
        let mut g = small_graph();
        let (text, spans) = sources(&g);
        assert_eq!(text, "a < 1 and b");
        assert_eq!(spans, vec![(0, 5), (10, 1), (0, 11)]);
        // A text found nowhere else is written out; equal texts are one span.
        g.conds.push(Cond::Test(0));
        g.cond_sources.push("b");
        g.conds.push(Cond::Test(0));
        g.cond_sources.push("c");
        let (text, spans) = sources(&g);
        assert_eq!(text, "cba < 1 and b");
        assert_eq!(spans[3], (1, 1));
        let body = encode(&g);
        assert_eq!(decode(&body).unwrap(), g);
    }

    #[test]
    fn damaged_bodies_say_what_and_where() {
        let mut g = small_graph();
        g.nodes.push(Node::Lit(Literal::String("knitwear".into())));
        let body = encode(&g);
        for n in 0..body.len() {
            assert!(decode(&body[..n]).is_err(), "{n} bytes decoded");
        }
        let cut = decode(&body[..body.len() - 1]).unwrap_err().to_string();
        assert!(cut.starts_with("the body ends too early (at byte"), "{cut}");
        let mut longer = body.clone();
        longer.push(0);
        let e = decode(&longer).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "bytes left over after the graph: 1 (at byte {} of the body)",
                body.len()
            )
        );
        // The node list: its length (1), then the node: a literal (tag 0) of a string (tag 2),
        // then the string's index in the table.
        let at = body.windows(3).position(|w| w == [1, 0, 2]).unwrap() + 1;
        let mut bad = body.clone();
        bad[at] = 99;
        let e = decode(&bad).unwrap_err().to_string();
        assert_eq!(
            e,
            format!("an unknown node kind: 99 (at byte {at} of the body)")
        );
        let mut bad = body.clone();
        bad[at + 2] = 77;
        let e = decode(&bad).unwrap_err().to_string();
        assert!(e.starts_with("a string index beyond the table: 77"), "{e}");
    }
}
