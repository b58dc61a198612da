//! Bundles: a validated rule graph, its versioned byte and JSON forms, and the per-bundle
//! evaluation plan.
//!
//! Binary layout (all integers little-endian), 48 bytes of header then the body:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0  | 8  | magic `b"OMNIRULE"` |
//! | 8  | 2  | format version (`2`) |
//! | 10 | 2  | flags: must be 0 in format 2. Bit 0 is reserved for "a signature follows the body" (a later format will define the signature block after the body; this engine refuses flags it does not know rather than ignore a signature) |
//! | 12 | 32 | SHA-256 of the body |
//! | 44 | 4  | body length |
//! | 48 | n  | body: the [`Graph`] (see [`body`](self::body) for its encoding) |
//!
//! The hash makes corruption a clear error instead of a strange graph; the version lets an old
//! engine refuse a newer bundle with a sentence telling the operator to upgrade. Every decoder
//! ends in [`Graph::validate`], so a [`Bundle`] value is always safe to evaluate.
//!
//! The JSON form (`to_json`/`from_json`) carries the same header fields (`format`, `version`,
//! `hash`) and the graph, for debugging; its hash is checked too.
//!
//! A bundle also carries a [`Plan`]: facts derived once from the graph at load time (name
//! indexes, which expression nodes and queries are independent of binding slots and so can be
//! memoised per event) so that evaluation does not recompute them per event.

mod body;

use crate::eval::{CallNumber, Decision, Params};
use crate::graph::{ActionId, EventTypeId, Graph, GroupId, Node, RuleId};
use crate::validate::{self, GraphError};
use crate::value::Value;
use crate::value::hex;
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::{Arc, OnceLock};

/// `b"OMNIRULE"`.
pub const MAGIC: &[u8; 8] = b"OMNIRULE";
/// The bundle format this engine writes and the only one it reads. Format 1 carried the graph
/// in postcard; format 2 (this engine) in the hand-written encoding of [`body`](self::body), a
/// third smaller and faster to load. Bundles are rebuilt from their `.rules` sources by
/// `omnirule build`, so an engine reads one format and says which it wants.
pub const FORMAT_VERSION: u16 = 2;
/// Header length in bytes.
pub const HEADER_LEN: usize = 48;
/// The `format` field of the JSON form.
pub const JSON_FORMAT: &str = "omnirule-bundle";

/// Why a bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleError {
    /// The bytes do not start with the magic (or the JSON has no bundle `format`).
    NotABundle,
    /// Fewer bytes than the header or the declared body length need.
    Truncated { expected: usize, got: usize },
    /// Bytes after the declared body.
    TrailingBytes { extra: usize },
    /// A format version this engine does not read.
    UnsupportedVersion { found: u16, supported: u16 },
    /// Header flags this engine does not know (e.g. a signature).
    UnsupportedFlags(u16),
    /// The body does not match the header's hash.
    Corrupted { expected: String, actual: String },
    /// The body (or the JSON) could not be decoded.
    Decode(String),
    /// The graph decoded but is not valid.
    InvalidGraph(GraphError),
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::NotABundle => f.write_str("not an Omnirule bundle"),
            BundleError::Truncated { expected, got } => write!(
                f,
                "the bundle is truncated: expected {expected} bytes, got {got}"
            ),
            BundleError::TrailingBytes { extra } => {
                write!(f, "the bundle has {extra} unexpected bytes after its body")
            }
            BundleError::UnsupportedVersion { found, supported } if found > supported => write!(
                f,
                "bundle format {found} is newer than this engine supports ({supported}); upgrade the engine"
            ),
            BundleError::UnsupportedVersion { found, supported } => write!(
                f,
                "bundle format {found} is older than this engine reads (format {supported}); rebuild the bundle from its rules with `omnirule build`"
            ),
            BundleError::UnsupportedFlags(flags) => write!(
                f,
                "the bundle has header flags {flags:#06x} (e.g. a signature) that this engine does not support; upgrade the engine"
            ),
            BundleError::Corrupted { expected, actual } => write!(
                f,
                "the bundle is corrupted: its content hash is {actual} but its header says {expected}"
            ),
            BundleError::Decode(e) => write!(f, "the bundle could not be decoded: {e}"),
            BundleError::InvalidGraph(e) => write!(f, "the bundle's rule graph is invalid: {e}"),
        }
    }
}

impl std::error::Error for BundleError {}

impl From<GraphError> for BundleError {
    fn from(e: GraphError) -> Self {
        BundleError::InvalidGraph(e)
    }
}

/// A validated rule graph, ready to evaluate.
#[derive(Debug, Clone)]
pub struct Bundle {
    graph: Graph,
    body: Vec<u8>,
    hash: [u8; 32],
    plan: Plan,
}

impl PartialEq for Bundle {
    fn eq(&self, other: &Self) -> bool {
        self.hash == other.hash && self.body == other.body
    }
}

#[derive(serde::Serialize, serde::Deserialize)]
struct JsonBundle {
    format: String,
    version: u16,
    hash: String,
    graph: Graph,
}

impl Bundle {
    /// Validates the graph and wraps it.
    pub fn new(graph: Graph) -> Result<Bundle, BundleError> {
        graph.validate()?;
        let body = body::encode(&graph);
        let hash = content_hash(&body);
        let plan = Plan::new(&graph);
        Ok(Bundle {
            graph,
            body,
            hash,
            plan,
        })
    }

    /// Decodes bundle bytes (see the module documentation for the layout).
    pub fn from_bytes(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let magic_len = MAGIC.len().min(bytes.len());
        if bytes.get(..magic_len) != MAGIC.get(..magic_len) || bytes.is_empty() {
            return Err(BundleError::NotABundle);
        }
        let header = bytes.get(..HEADER_LEN).ok_or(BundleError::Truncated {
            expected: HEADER_LEN,
            got: bytes.len(),
        })?;
        let u16_at = |i: usize| {
            header
                .get(i..i + 2)
                .and_then(|s| <[u8; 2]>::try_from(s).ok())
                .map_or(0, u16::from_le_bytes)
        };
        let version = u16_at(8);
        if version != FORMAT_VERSION {
            return Err(BundleError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let flags = u16_at(10);
        if flags != 0 {
            return Err(BundleError::UnsupportedFlags(flags));
        }
        let mut expected_hash = [0u8; 32];
        if let Some(h) = header.get(12..44) {
            expected_hash.copy_from_slice(h);
        }
        let body_len = header
            .get(44..48)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map_or(0, u32::from_le_bytes) as usize;
        let total = HEADER_LEN.saturating_add(body_len);
        if bytes.len() < total {
            return Err(BundleError::Truncated {
                expected: total,
                got: bytes.len(),
            });
        }
        if bytes.len() > total {
            return Err(BundleError::TrailingBytes {
                extra: bytes.len() - total,
            });
        }
        let body = bytes.get(HEADER_LEN..total).unwrap_or_default();
        let hash = content_hash(body);
        if hash != expected_hash {
            return Err(BundleError::Corrupted {
                expected: hex(&expected_hash),
                actual: hex(&hash),
            });
        }
        let graph = body::decode(body).map_err(|e| BundleError::Decode(e.to_string()))?;
        graph.validate()?;
        let plan = Plan::new(&graph);
        Ok(Bundle {
            graph,
            body: body.to_vec(),
            hash,
            plan,
        })
    }

    /// The body bytes a bundle of `graph` carries, valid or not: for tools and tests that
    /// build damaged or hostile bundles by hand.
    pub fn encode_body(graph: &Graph) -> Vec<u8> {
        body::encode(graph)
    }

    /// The bundle's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&self.hash);
        let len = u32::try_from(self.body.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// The JSON form: `{"format": "omnirule-bundle", "version": 2, "hash": "<sha-256 hex of
    /// the binary body>", "graph": {...}}`, pretty-printed.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            format: &'a str,
            version: u16,
            hash: String,
            graph: &'a Graph,
        }
        serde_json::to_string_pretty(&Out {
            format: JSON_FORMAT,
            version: FORMAT_VERSION,
            hash: self.hash_hex(),
            graph: &self.graph,
        })
        .unwrap_or_default()
    }

    /// Decodes the JSON form; the hash in it must match the graph.
    pub fn from_json(text: &str) -> Result<Bundle, BundleError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| BundleError::Decode(e.to_string()))?;
        if value.get("format").and_then(serde_json::Value::as_str) != Some(JSON_FORMAT) {
            return Err(BundleError::NotABundle);
        }
        match value.get("version").and_then(serde_json::Value::as_u64) {
            Some(v) if v == u64::from(FORMAT_VERSION) => {}
            Some(v) => {
                return Err(BundleError::UnsupportedVersion {
                    found: u16::try_from(v).unwrap_or(u16::MAX),
                    supported: FORMAT_VERSION,
                });
            }
            None => return Err(BundleError::Decode("the `version` field is missing".into())),
        }
        let parsed: JsonBundle =
            serde_json::from_value(value).map_err(|e| BundleError::Decode(e.to_string()))?;
        let bundle = Bundle::new(parsed.graph)?;
        if bundle.hash_hex() != parsed.hash.to_ascii_lowercase() {
            return Err(BundleError::Corrupted {
                expected: parsed.hash,
                actual: bundle.hash_hex(),
            });
        }
        Ok(bundle)
    }

    pub fn graph(&self) -> &Graph {
        &self.graph
    }

    /// SHA-256 of the binary body, lower-case hex: the bundle's identity.
    pub fn hash_hex(&self) -> String {
        hex(&self.hash)
    }

    /// A number for `decision` among the decisions this loaded bundle can only make one way:
    /// those of action calls whose params are all literals. Every decision of such a call is
    /// the same (its rule, action, group, split and arm are fixed by the call), shares the
    /// bundle's params, and gets the call's number here; decisions with computed params, and
    /// a split's control, get `None`.
    ///
    /// Hosts use it to convert each such decision into their own form once and reuse it (the
    /// browser package does). Numbers are below [`Bundle::constant_decisions`] and hold for
    /// this loaded bundle only; they are not a stable identifier.
    pub fn constant_decision(&self, decision: &Decision) -> Option<u32> {
        self.plan.names.constant_id(decision)
    }

    /// How many numbers [`Bundle::constant_decision`] can return.
    pub fn constant_decisions(&self) -> usize {
        self.plan.names.calls()
    }

    /// This bundle evaluating every condition through the general evaluator, or (`true`, the
    /// default) with the conditions that compile taking the fast path. Results are identical
    /// either way; differential tests and benchmarks compare the two.
    pub fn with_compiled_conditions(mut self, on: bool) -> Bundle {
        self.plan.compiled = on;
        self.plan.triggers = self
            .graph
            .triggers
            .iter()
            .map(|_| OnceLock::new())
            .collect();
        self
    }

    /// How many of the graph's conditions compile to the fast path (compiling every trigger's
    /// now, if they were not yet).
    pub fn compiled_conditions(&self) -> usize {
        let g = &self.graph;
        let mut compiled = vec![false; g.conds.len()];
        for t in 0..g.triggers.len() {
            for c in self
                .plan
                .trigger(g, t)
                .into_iter()
                .flat_map(|x| x.preds.compiled())
            {
                if let Some(x) = compiled.get_mut(c) {
                    *x = true;
                }
            }
        }
        compiled.iter().filter(|x| **x).count()
    }

    /// How many triggers have their fast path built: those whose event type has been
    /// evaluated since the bundle was loaded (loading builds none).
    pub fn prepared_triggers(&self) -> usize {
        self.plan
            .triggers
            .iter()
            .filter(|t| t.get().is_some())
            .count()
    }

    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The id of an event type by name.
    pub fn event_type(&self, name: &str) -> Option<EventTypeId> {
        self.plan.event_id(&self.graph, name)
    }
}

/// The SHA-256 of a bundle's body, fed in 4 KiB pieces. Why pieces: a browser runs a freshly
/// loaded wasm module in its baseline compiler and swaps in optimised code only between
/// calls, so one call hashing the whole body (the first bundle load, exactly when a page waits
/// on it) runs unoptimised to the end; in pieces the block function is called again and again,
/// and the optimised version takes over part way through. The first load of a 186 KB bundle in
/// Node: 9.0 ms hashing in one call, 3.7 ms in pieces (median of nine fresh processes).
fn content_hash(body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for piece in body.chunks(4096) {
        hasher.update(piece);
    }
    hasher.finalize().into()
}

/// Facts derived from a valid graph once, at load time.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    event_by_name: ByName,
    /// Built on first use (pruning a memory with firings of capped rules): a bundle's load
    /// need not sort every rule's name.
    rule_by_name: OnceLock<ByName>,
    group_by_name: ByName,
    /// Per event type: index into `graph.triggers`.
    pub trigger_of: Vec<Option<usize>>,
    /// Per query: its matches do not depend on binding slots.
    pub query_pure: Vec<bool>,
    /// The queries whose filters require a field to equal a literal, and their buckets
    /// (see `history`).
    pub keys: crate::history::Keys,
    /// The distinct consent sets of the rules (empty when a rule needs no consent). A
    /// customer who holds none of them can be decided nothing, so nothing is kept about them.
    pub rule_consents: Vec<Vec<crate::graph::ConsentId>>,
    /// Per node: worth memoising. It reads no binding slot (directly or through a query's
    /// `since`/`where`), so its value is the same everywhere during one event; and it is more
    /// than a leaf, whose lookup costs what recomputing it does.
    pub node_memo: Vec<bool>,
    /// Per node: the value of a literal node, built once here rather than on every event
    /// (`Missing` for other nodes).
    pub literal: Vec<crate::value::Value>,
    pub names: Names,
    /// Whether conditions take the fast path (see [`Bundle::with_compiled_conditions`]).
    compiled: bool,
    /// Per trigger (index into `graph.triggers`): its conditions and rules compiled for the
    /// fast path, on the first event that needs them, so loading a bundle does not pay for
    /// the triggers a page or a store never sees.
    triggers: Vec<OnceLock<TriggerPlan>>,
    /// The compiled conditions of an event no rule is triggered by (or of every event when
    /// compiled conditions are off): none.
    pub no_preds: crate::pred::Preds,
}

/// One trigger's fast path.
#[derive(Debug, Clone)]
pub(crate) struct TriggerPlan {
    /// The conditions its rules reach, compiled (see `pred`).
    pub preds: crate::pred::Preds,
    /// Its rules laid out for the fast path (see `program`).
    pub program: crate::program::Program,
}

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
    fn new(g: &Graph) -> Names {
        let mut all: Vec<&str> = g
            .schema
            .profile
            .iter()
            .chain(g.schema.events.iter().flat_map(|e| e.fields.iter()))
            .map(|f| f.name.as_str())
            .collect();
        crate::sort::sort(&mut all);
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
        let by_name = |fields: &[crate::graph::Field]| -> Vec<u32> {
            let mut order: Vec<u32> = (0..).take(fields.len()).collect();
            let name = |i: &u32| fields.get(*i as usize).map(|f| f.name.as_str());
            crate::sort::sort_by(&mut order, |a, b| name(a).cmp(&name(b)));
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
/// `input::Presence`.
fn rank(names: &[Arc<str>], order: &[u32], name: &str) -> u8 {
    order
        .iter()
        .position(|i| names.get(*i as usize).is_some_and(|n| **n == *name))
        .and_then(|r| u8::try_from(r).ok())
        .unwrap_or(u8::MAX)
}

/// A set of binding slots (at most [`validate::MAX_SLOTS`]).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Slots([u64; 4]);

impl Slots {
    fn with(mut self, s: u16) -> Self {
        let s = usize::from(s);
        if let Some(w) = self.0.get_mut(s / 64) {
            *w |= 1u64 << (s % 64);
        }
        self
    }
    fn without(mut self, s: u16) -> Self {
        let s = usize::from(s);
        if let Some(w) = self.0.get_mut(s / 64) {
            *w &= !(1u64 << (s % 64));
        }
        self
    }
    fn union(mut self, o: Slots) -> Self {
        for (a, b) in self.0.iter_mut().zip(o.0.iter()) {
            *a |= *b;
        }
        self
    }
    fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }
}

/// The binding slots a query's matches depend on: its filter's, less the slot the query binds
/// itself, plus the one its `since` reads.
fn query_free(query: &crate::graph::Query, free: &[Slots]) -> Slots {
    let qf = query
        .filter
        .and_then(|n| free.get(n as usize).copied())
        .unwrap_or_default()
        .without(query.slot);
    match query.since {
        Some(s) => qf.with(s),
        None => qf,
    }
}

impl Plan {
    /// The rule named `name`.
    pub(crate) fn rule_id(&self, g: &Graph, name: &str) -> Option<RuleId> {
        let rule = |i: usize| g.rules.get(i).map(|r| r.name.as_str());
        self.rule_by_name
            .get_or_init(|| ByName::new(g.rules.len(), rule))
            .get(name, rule)
    }

    /// The event type named `name`.
    pub(crate) fn event_id(&self, g: &Graph, name: &str) -> Option<EventTypeId> {
        let events = &g.schema.events;
        self.event_by_name
            .get(name, |i| events.get(i).map(|e| e.name.as_str()))
    }

    /// The group named `name`.
    pub(crate) fn group_id(&self, g: &Graph, name: &str) -> Option<GroupId> {
        self.group_by_name
            .get(name, |i| g.groups.get(i).map(|x| x.name.as_str()))
    }

    /// Trigger `t`'s fast path (built now if this is its first use); `None` when compiled
    /// conditions are off.
    pub(crate) fn trigger(&self, g: &Graph, t: usize) -> Option<&TriggerPlan> {
        if !self.compiled {
            return None;
        }
        let cell = self.triggers.get(t)?;
        let trigger = g.triggers.get(t)?;
        Some(cell.get_or_init(|| {
            let preds =
                crate::pred::Preds::for_rules(g, &self.names, trigger.event, &trigger.rules);
            let program = crate::program::Program::new(g, &trigger.rules, &preds, self);
            TriggerPlan { preds, program }
        }))
    }

    fn new(g: &Graph) -> Plan {
        let (free, qfree) = free_slots(g);
        let mut trigger_of = vec![None; g.schema.events.len()];
        for (i, t) in g.triggers.iter().enumerate() {
            if let Some(x) = trigger_of.get_mut(t.event as usize) {
                *x = Some(i);
            }
        }
        let literal: Vec<Value> = g.nodes.iter().map(literal_of).collect();
        let names = Names::new(g);
        let keys = crate::history::Keys::new(&g.nodes, &g.queries, &literal);
        Plan {
            event_by_name: ByName::new(g.schema.events.len(), |i| {
                g.schema.events.get(i).map(|e| e.name.as_str())
            }),
            rule_by_name: OnceLock::new(),
            group_by_name: ByName::new(g.groups.len(), |i| {
                g.groups.get(i).map(|x| x.name.as_str())
            }),
            trigger_of,
            rule_consents: {
                let mut sets: Vec<Vec<crate::graph::ConsentId>> = g
                    .rules
                    .iter()
                    .map(|r| {
                        let mut c = r.consents.clone();
                        crate::sort::sort(&mut c);
                        c.dedup();
                        c
                    })
                    .collect();
                crate::sort::sort(&mut sets);
                sets.dedup();
                sets
            },
            node_memo: g
                .nodes
                .iter()
                .zip(&free)
                .map(|(n, f)| {
                    f.is_empty()
                        && !matches!(
                            n,
                            Node::Lit(_)
                                | Node::Now
                                | Node::EventField(_)
                                | Node::EventMeta(_)
                                | Node::ProfileField(_)
                                | Node::Bound(_)
                        )
                })
                .collect(),
            query_pure: qfree.iter().map(Slots::is_empty).collect(),
            keys,
            compiled: true,
            triggers: g.triggers.iter().map(|_| OnceLock::new()).collect(),
            no_preds: crate::pred::Preds::none(),
            names,
            literal,
        }
    }
}

/// Per node and per query, the binding slots it reads (directly or through its children and
/// queries). A function per node, called from a short loop: in a browser a load runs in
/// baseline code, and a long loop with its work inline makes the engine spend a background
/// compile (competing for the page's cores) on a function that is never called again.
fn free_slots(g: &Graph) -> (Vec<Slots>, Vec<Slots>) {
    let mut free = vec![Slots::default(); g.nodes.len()];
    let mut qfree = vec![Slots::default(); g.queries.len()];
    let mut qdone = vec![false; g.queries.len()];
    for (i, node) in g.nodes.iter().enumerate() {
        let f = node_free(g, node, &free, &mut qfree, &mut qdone);
        if let Some(x) = free.get_mut(i) {
            *x = f;
        }
    }
    // Queries only used by binding conditions were not reached through a node.
    for (q, query) in g.queries.iter().enumerate() {
        if qdone.get(q) == Some(&true) {
            continue;
        }
        if let Some(x) = qfree.get_mut(q) {
            *x = query_free(query, &free);
        }
    }
    (free, qfree)
}

/// A node's free slots, given its children's (`free`); records its query's in `qfree`.
#[inline(never)]
fn node_free(
    g: &Graph,
    node: &Node,
    free: &[Slots],
    qfree: &mut [Slots],
    qdone: &mut [bool],
) -> Slots {
    let mut f = Slots::default();
    for c in validate::node_children(node) {
        f = f.union(free.get(c as usize).copied().unwrap_or_default());
    }
    if let Node::Bound(s) = node {
        f = f.with(*s);
    }
    if let Some(q) = validate::node_query(node) {
        let qf = g
            .queries
            .get(q as usize)
            .map_or_else(Slots::default, |query| query_free(query, free));
        if let Some(x) = qfree.get_mut(q as usize) {
            *x = qf;
        }
        if let Some(x) = qdone.get_mut(q as usize) {
            *x = true;
        }
        f = f.union(qf);
    }
    f
}

/// A literal node's value (`Missing` for other nodes); see [`free_slots`] for why a call each.
#[inline(never)]
fn literal_of(n: &Node) -> Value {
    match n {
        Node::Lit(l) => Value::from_literal(l),
        _ => Value::Missing,
    }
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
struct ByName(Vec<u32>);

impl ByName {
    /// Of the `len` items whose names `name_of` gives.
    fn new<'g>(len: usize, name_of: impl Fn(usize) -> Option<&'g str>) -> ByName {
        let mut order: Vec<u32> = (0..).take(len).collect();
        crate::sort::sort_by(&mut order, |a, b| {
            name_of(*a as usize).cmp(&name_of(*b as usize))
        });
        ByName(order)
    }

    fn get<'g>(&self, name: &str, name_of: impl Fn(usize) -> Option<&'g str>) -> Option<u32> {
        let i = self
            .0
            .binary_search_by(|&i| name_of(i as usize).unwrap_or_default().cmp(name))
            .ok()?;
        self.0.get(i).copied()
    }
}
