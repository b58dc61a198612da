//! The owned syntax tree of a `.rules` file.
//!
//! The parser converts pest pairs into these types at once; nothing outside `parser` sees pest.
//! Every node carries a [`Span`] so the checker can point at it. Equality used by the
//! format/parse round-trip test ignores spans: see [`Span`]'s `PartialEq`.
//!
//! Parentheses are not kept: the formatter re-inserts them from precedence, so
//! `format(parse(x))` parses back to the same tree.

use std::fmt;

/// Which file of a rule set a span points into (an index into the rule set's file list).
pub type FileId = u32;

/// A byte range in one source file.
///
/// Two spans always compare equal: the AST's derived equality is "the same tree modulo
/// spans", which is what the formatter round trip and the parser tests need. Compare
/// `start`/`end` explicitly when a test is about positions.
#[derive(Clone, Copy, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

impl Eq for Span {}

impl std::hash::Hash for Span {
    // Consistent with `PartialEq`: spans never distinguish trees.
    fn hash<H: std::hash::Hasher>(&self, _: &mut H) {}
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Span {
        Span {
            file,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A `#` comment, kept for the formatter. `text` excludes the `#` and the line end.
///
/// Equality compares `text` only: like spans, the layout flags describe where the comment sat,
/// which the formatter may change.
#[derive(Debug, Clone)]
pub struct Comment {
    pub text: String,
    pub span: Span,
    /// Only whitespace precedes the `#` on its line (otherwise the comment trails code).
    pub own_line: bool,
    /// The line after the comment is blank (the formatter keeps one blank line there).
    pub blank_after: bool,
}

impl PartialEq for Comment {
    fn eq(&self, other: &Comment) -> bool {
        self.text == other.text
    }
}

impl Eq for Comment {}

#[derive(Debug, Clone, PartialEq)]
pub struct SourceFile {
    pub items: Vec<Item>,
    /// All comments of the file in source order (not part of the tree proper).
    pub comments: Vec<Comment>,
}

// Items are built once per parse; boxing the large variants would only add noise.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Schema(Schema),
    Segment(SegmentDef),
    Group(GroupDef),
    Rule(RuleDef),
    Test(TestDef),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Schema {
    pub entries: Vec<SchemaEntry>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SchemaEntry {
    Timezone(StringLit),
    Consent(Vec<Ident>, Span),
    Profile(Vec<FieldDecl>, Span),
    Event {
        name: Ident,
        fields: Vec<FieldDecl>,
        span: Span,
    },
    Action {
        name: Ident,
        params: Vec<FieldDecl>,
        span: Span,
    },
    Retain {
        event: Ident,
        duration: DurationLit,
        span: Span,
    },
}

/// `name: type [pii]`
#[derive(Debug, Clone, PartialEq)]
pub struct FieldDecl {
    pub name: Ident,
    pub ty: TypeExpr,
    pub pii: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeExpr {
    pub kind: TypeKind,
    /// `T?`
    pub optional: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    String,
    Number,
    Bool,
    Duration,
    Time,
    List(Box<TypeExpr>),
    Set(Box<TypeExpr>),
}

/// A string literal without interpolation (titles, timezone names, test names, variants).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StringLit {
    pub value: String,
    pub span: Span,
}

/// `30s 15m 2h 7d 4w`, kept as written so the formatter can print it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurationLit {
    pub amount: u64,
    pub unit: DurationUnit,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DurationUnit {
    Seconds,
    Minutes,
    Hours,
    Days,
    Weeks,
}

impl DurationUnit {
    pub fn millis(self) -> i64 {
        match self {
            DurationUnit::Seconds => 1_000,
            DurationUnit::Minutes => 60_000,
            DurationUnit::Hours => 3_600_000,
            DurationUnit::Days => 86_400_000,
            DurationUnit::Weeks => 7 * 86_400_000,
        }
    }

    pub fn suffix(self) -> char {
        match self {
            DurationUnit::Seconds => 's',
            DurationUnit::Minutes => 'm',
            DurationUnit::Hours => 'h',
            DurationUnit::Days => 'd',
            DurationUnit::Weeks => 'w',
        }
    }
}

impl DurationLit {
    /// The duration in milliseconds, saturating (the checker rejects absurd values).
    pub fn millis(&self) -> i64 {
        i64::try_from(self.amount)
            .unwrap_or(i64::MAX)
            .saturating_mul(self.unit.millis())
    }
}

/// `2026-12-01` (a local date in the rule set's timezone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateLit {
    pub year: i32,
    pub month: u8,
    pub day: u8,
    pub span: Span,
}

/// `09:00` (local clock time). The parser accepts `24:00` only as an `hours` end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockLit {
    pub hour: u8,
    pub minute: u8,
    pub span: Span,
}

/// `2026-12-01T09:00Z`, `2026-12-01T09:00:30Z`, `2026-12-01T09:00+01:00`: an absolute instant,
/// stored as UTC milliseconds since the epoch. `text` is the literal as written (for the
/// formatter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstantLit {
    pub millis: i64,
    pub text: String,
    pub span: Span,
}

/// `segment NAME = expr`
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentDef {
    pub name: Ident,
    pub expr: Expr,
    pub span: Span,
}

/// `group NAME [limit N per D]`
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDef {
    pub name: Ident,
    pub limit: Option<CapClause>,
    pub span: Span,
}

/// `limit N per D` or `once`.
#[derive(Debug, Clone, PartialEq)]
pub enum CapClause {
    Limit {
        count: u64,
        per: DurationLit,
        span: Span,
    },
    Once(Span),
}

impl CapClause {
    pub fn span(&self) -> Span {
        match self {
            CapClause::Limit { span, .. } | CapClause::Once(span) => *span,
        }
    }
}

/// `rule NAME ["title"] { clauses }`. Each clause appears at most once (the parser reports a
/// repeated clause), so clauses are fields; the formatter prints them in one canonical order.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub name: Ident,
    pub title: Option<StringLit>,
    /// `on E1, E2`
    pub on: Option<(Vec<Ident>, Span)>,
    /// `consent p1, p2`
    pub consent: Option<(Vec<Ident>, Span)>,
    /// `when expr`
    pub when: Option<Expr>,
    /// `do ...`
    pub action: Option<DoClause>,
    /// `limit N per D` / `once`
    pub cap: Option<CapClause>,
    /// `priority N` (may be negative)
    pub priority: Option<(i64, Span)>,
    /// `group NAME`
    pub group: Option<Ident>,
    /// `active DATE .. DATE`
    pub active: Option<(DateLit, DateLit, Span)>,
    /// `hours HH:MM .. HH:MM`
    pub hours: Option<(ClockLit, ClockLit, Span)>,
    /// `days mon .. fri` or `days sat, sun` (a list of single days and ranges)
    pub days: Option<(Vec<DaySpec>, Span)>,
    /// `goal ...` clauses, in written order (a rule may have several).
    pub goals: Vec<GoalClause>,
    pub span: Span,
}

/// `goal purchase [as big] within 7d [value amount] [primary] [where cond]`
#[derive(Debug, Clone, PartialEq)]
pub struct GoalClause {
    /// The goal event's type.
    pub event: Ident,
    /// `as NAME`: the goal's name (and the goal event's name in `where`); else the type's.
    pub alias: Option<Ident>,
    /// Required; `None` only so the checker can say so.
    pub within: Option<DurationLit>,
    /// `value FIELD`: a number field of the goal event reported as the conversion's value.
    pub value: Option<Ident>,
    /// `primary`
    pub primary: Option<Span>,
    /// `where cond`
    pub filter: Option<Expr>,
    pub span: Span,
}

impl GoalClause {
    /// The goal's name: its alias, or the event type.
    pub fn name(&self) -> &Ident {
        self.alias.as_ref().unwrap_or(&self.event)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    /// Monday = 0 ... Sunday = 6.
    pub fn index(self) -> u8 {
        self as u8
    }

    pub fn keyword(self) -> &'static str {
        match self {
            Weekday::Mon => "mon",
            Weekday::Tue => "tue",
            Weekday::Wed => "wed",
            Weekday::Thu => "thu",
            Weekday::Fri => "fri",
            Weekday::Sat => "sat",
            Weekday::Sun => "sun",
        }
    }
}

/// `mon` or `mon .. fri` (inclusive; may wrap, `fri .. mon`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySpec {
    pub from: Weekday,
    pub to: Option<Weekday>,
    pub span: Span,
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum DoClause {
    /// `do a {..}, b {..}`
    Actions(Vec<ActionCall>, Span),
    /// `do split NAME by expr { P% control  P% "variant": action {..} ... }`
    Split {
        name: Ident,
        unit: Expr,
        arms: Vec<SplitArm>,
        span: Span,
    },
}

/// `offer { code: "X", percent: 20 }`
#[derive(Debug, Clone, PartialEq)]
pub struct ActionCall {
    pub action: Ident,
    pub params: Vec<Param>,
    pub span: Span,
}

/// `name: expr` inside an action call or an object literal.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Ident,
    pub value: Expr,
    pub span: Span,
}

/// `50% control` or `50% "ten": offer {..}, banner {..}`. `percent` may have decimals
/// (`12.5%`); the checker turns it into basis points and requires the arms to sum to 100.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitArm {
    pub percent: f64,
    /// `None` for `control`.
    pub variant: Option<StringLit>,
    pub actions: Vec<ActionCall>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Number(f64),
    Bool(bool),
    /// A string literal, possibly with `{expr}` interpolation.
    Str(Vec<StrPart>),
    Duration(DurationLit),
    /// A date literal in expression position (compared with `time` values as local midnight).
    Date(DateLit),
    /// An instant literal (tests and comparisons with `time` values).
    Instant(InstantLit),
    /// `[a, b, c]`
    List(Vec<Expr>),
    /// A dotted name: `event.sku`, `profile.tier`, `v.sku`, `v`, a segment name, `purchase`
    /// (the candidate inside a `where`). `now` parses as [`ExprKind::Now`].
    Path(Vec<Ident>),
    Now,
    /// Unary minus.
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `x is present`
    IsPresent(Box<Expr>),
    /// `x is missing`
    IsMissing(Box<Expr>),
    /// `lower(x)` and the other plain functions.
    Call(Ident, Vec<Expr>),
    /// `seen`, `count(...)`, `sum(...)`, `last(...)`, `time_since(...)`.
    History(HistoryExpr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Add,
    Sub,
    Mul,
    Div,
    Coalesce,
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Coalesce => "??",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum StrPart {
    Text(String),
    Interp(Expr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HistoryFunc {
    /// `seen E [as x] [within D] [since y] [where cmp]` (no parentheses)
    Seen,
    /// `count(E [within D] [since y] [where cond])`
    Count,
    /// `sum(E.field [within D] [since y] [where cond])`
    Sum,
    /// `last(E [within D] [since y] [where cond])`
    Last,
    /// `time_since(E [within D] [since y] [where cond])`
    TimeSince,
}

impl HistoryFunc {
    pub fn keyword(self) -> &'static str {
        match self {
            HistoryFunc::Seen => "seen",
            HistoryFunc::Count => "count",
            HistoryFunc::Sum => "sum",
            HistoryFunc::Last => "last",
            HistoryFunc::TimeSince => "time_since",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryExpr {
    pub func: HistoryFunc,
    pub event: Ident,
    /// `sum(E.field ...)`: the summed field. `None` for the other functions.
    pub field: Option<Ident>,
    /// `as x` (only `seen` accepts it).
    pub alias: Option<Ident>,
    pub within: Option<DurationLit>,
    pub since: Option<Ident>,
    pub filter: Option<Box<Expr>>,
}

/// `test "name" { profile {...}  at INSTANT EVENT {...}  expect ... }`
#[derive(Debug, Clone, PartialEq)]
pub struct TestDef {
    pub name: StringLit,
    pub profile: Option<ObjectLit>,
    pub steps: Vec<TestStep>,
    pub span: Span,
}

/// `{ key: value, ... }` in tests; values are literal expressions (strings, numbers, bools,
/// durations, instants, lists).
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectLit {
    pub entries: Vec<Param>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TestStep {
    /// `at 2026-11-20T10:00Z page_view { sku: "SW-1" }`
    At {
        time: InstantLit,
        event: Ident,
        fields: ObjectLit,
        span: Span,
    },
    /// `expect offer { code: "KNIT20" }` (params optional)
    Expect {
        action: Ident,
        params: Option<ObjectLit>,
        span: Span,
    },
    /// `expect no offer [{ ... }]`
    ExpectNo {
        action: Ident,
        params: Option<ObjectLit>,
        span: Span,
    },
    /// `expect nothing`
    ExpectNothing(Span),
    /// `expect conversion RULE [{ goal: "purchase", variant: "ten", ... }]`, or with `no`.
    ExpectConversion {
        rule: Ident,
        fields: Option<ObjectLit>,
        negated: bool,
        span: Span,
    },
}
