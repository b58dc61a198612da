//! Bundles: the container of a validated rule graph, its versioned byte and JSON forms.
//!
//! Binary layout (all integers little-endian), 48 bytes of header then the body:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0  | 8  | magic `b"OMNIRULE"` |
//! | 8  | 2  | format version (`3`, or `4` for a graph with goals) |
//! | 10 | 2  | flags: bit 0 set when a signature block follows the body; other bits must be 0 (an engine refuses flags it does not know rather than ignore them) |
//! | 12 | 32 | SHA-256 of the body |
//! | 44 | 4  | body length |
//! | 48 | n  | body: the [`Graph`] (see [`body`](self::body) for its encoding) |
//! | 48 + n | 72 | only with flag bit 0: the signer's key id (8 bytes), then the Ed25519 signature (64 bytes); see [`signature`] |
//!
//! The hash makes corruption a clear error instead of a strange graph; the version lets an old
//! engine refuse a newer bundle with a sentence telling the operator to upgrade. Every decoder
//! ends in [`Graph::validate`], so a [`Bundle`] value is always safe to evaluate.
//!
//! The JSON form (`to_json`/`from_json`) carries the same header fields (`format`, `version`,
//! `hash`, and `signature` when signed) and the graph, for debugging; its hash is checked too.
//!
//! Engines before flag bit 0 was defined refuse a signed bundle (unknown flags), so a signed
//! bundle never runs where its signature would go unread.
//!
//! A loaded bundle also carries its [`Plan`](crate::plan::Plan) (facts derived once from the
//! graph at load time) and its fast path's [`Cache`](crate::fast::Cache) (built per trigger on
//! first use); this module only holds them.

mod body;
pub mod signature;

use crate::decision::Decision;
use crate::fast::Cache;
use crate::graph::{EventTypeId, Graph};
use crate::plan::Plan;
use crate::validate::GraphError;
use omnirule_text::hex;
use sha2::{Digest, Sha256};
use signature::{BundleSignature, KeyId, SecretKey, SignatureError, TrustedKeys};
use std::fmt;

/// `b"OMNIRULE"`.
pub const MAGIC: &[u8; 8] = b"OMNIRULE";
/// The bundle format this engine writes and the only one it reads. Format 1 carried the graph
/// in postcard; format 2 in the hand-written encoding of [`body`](self::body), smaller and
/// faster to load (`docs/performance.md`); format 3 (this engine) adds the timezone's
/// recurring rule (local time right after the offset table ends); format 4 adds the rules'
/// goals after the graph. A graph without goals is still written as format 3, so bundles
/// that do not use goals load in engines that predate them, and an older engine refuses a
/// bundle with goals (it would silently measure nothing) by its version. Bundles are rebuilt
/// from their `.rules` sources by `omnirule build`.
pub const FORMAT_VERSION: u16 = 4;
/// The format of a bundle without goals.
const FORMAT_NO_GOALS: u16 = 3;

/// The format a graph is written in.
fn format_of(graph: &Graph) -> u16 {
    if graph.goals.is_empty() {
        FORMAT_NO_GOALS
    } else {
        FORMAT_VERSION
    }
}
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
    /// The host trusts only signed bundles and this one's signature does not satisfy it.
    Untrusted(SignatureError),
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
                "bundle format {found} is older than this engine reads (formats {FORMAT_NO_GOALS} to {supported}); rebuild the bundle from its rules with `omnirule build`"
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
            BundleError::Untrusted(e) => e.fmt(f),
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
    signature: Option<BundleSignature>,
    plan: Plan,
    fast: Cache,
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
    #[serde(default)]
    signature: Option<JsonSignature>,
    graph: Graph,
}

/// A signature in the JSON form: hex of the key id and of the signature.
#[derive(serde::Serialize, serde::Deserialize)]
struct JsonSignature {
    key: String,
    value: String,
}

fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let mut out = [0u8; N];
    if text.len() != 2 * N || !text.is_ascii() {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl Bundle {
    /// Validates the graph and wraps it.
    pub fn new(graph: Graph) -> Result<Bundle, BundleError> {
        graph.validate()?;
        let body = body::encode(&graph);
        let hash = content_hash(&body);
        let plan = Plan::new(&graph);
        let fast = Cache::new(&graph, true);
        Ok(Bundle {
            graph,
            body,
            hash,
            signature: None,
            plan,
            fast,
        })
    }

    /// Decodes bundle bytes (binary, or the JSON form: text whose first non-blank character
    /// is `{`) and, when `trusted` is given, refuses them unless signed by one of its keys:
    /// what a host calls with whatever it was handed.
    pub fn load(bytes: &[u8], trusted: Option<&TrustedKeys>) -> Result<Bundle, BundleError> {
        let json = (!bytes.starts_with(MAGIC))
            .then(|| std::str::from_utf8(bytes).ok())
            .flatten()
            .filter(|text| text.trim_start().starts_with('{'));
        let bundle = match json {
            Some(text) => Bundle::from_json(text)?,
            None => Bundle::from_bytes(bytes)?,
        };
        if let Some(keys) = trusted {
            bundle.verify(keys).map_err(BundleError::Untrusted)?;
        }
        Ok(bundle)
    }

    /// The same bundle, signed with `key` (replacing any signature it had).
    pub fn signed(mut self, key: &SecretKey) -> Bundle {
        self.signature = Some(key.sign(&self.hash));
        self
    }

    /// The bundle's signature, if it is signed.
    pub fn signature(&self) -> Option<&BundleSignature> {
        self.signature.as_ref()
    }

    /// Checks the signature against the keys a host trusts: the signer's key id, or why not.
    pub fn verify(&self, trusted: &TrustedKeys) -> Result<KeyId, SignatureError> {
        trusted.verify(&self.hash, self.signature.as_ref())
    }

    /// What a host that verifies with its own Ed25519 (WebCrypto in a browser or a worker)
    /// checks: the trusted key the signature names, the signed message and the signature.
    pub fn signature_to_check<'k>(
        &self,
        trusted: &'k TrustedKeys,
    ) -> Result<(&'k signature::PublicKey, Vec<u8>, [u8; 64]), SignatureError> {
        let (key, s) = trusted.signer(self.signature.as_ref())?;
        Ok((key, signature::signed_message(s.key, &self.hash), s.value))
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
        if version != FORMAT_VERSION && version != FORMAT_NO_GOALS {
            return Err(BundleError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let flags = u16_at(10);
        if flags & !1 != 0 {
            return Err(BundleError::UnsupportedFlags(flags));
        }
        let block = if flags & 1 == 1 {
            signature::BLOCK_LEN
        } else {
            0
        };
        let mut expected_hash = [0u8; 32];
        if let Some(h) = header.get(12..44) {
            expected_hash.copy_from_slice(h);
        }
        let body_len = header
            .get(44..48)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map_or(0, u32::from_le_bytes) as usize;
        let body_end = HEADER_LEN.saturating_add(body_len);
        let total = body_end.saturating_add(block);
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
        let body = bytes.get(HEADER_LEN..body_end).unwrap_or_default();
        let signature = bytes.get(body_end..total).and_then(|b| {
            let key = <[u8; 8]>::try_from(b.get(..8)?).ok()?;
            let value = <[u8; 64]>::try_from(b.get(8..)?).ok()?;
            Some(BundleSignature {
                key: KeyId(key),
                value,
            })
        });
        let hash = content_hash(body);
        if hash != expected_hash {
            return Err(BundleError::Corrupted {
                expected: hex(&expected_hash),
                actual: hex(&hash),
            });
        }
        let graph = body::decode(body).map_err(|e| BundleError::Decode(e.to_string()))?;
        graph.validate()?;
        if format_of(&graph) != version {
            return Err(BundleError::Decode(format!(
                "a format {version} bundle {} goals",
                if graph.goals.is_empty() {
                    "without"
                } else {
                    "with"
                }
            )));
        }
        let plan = Plan::new(&graph);
        let fast = Cache::new(&graph, true);
        Ok(Bundle {
            graph,
            body: body.to_vec(),
            hash,
            signature,
            plan,
            fast,
        })
    }

    /// The body bytes a bundle of `graph` carries, valid or not: for tools and tests that
    /// build damaged or hostile bundles by hand.
    pub fn encode_body(graph: &Graph) -> Vec<u8> {
        body::encode(graph)
    }

    /// The bundle's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN + self.body.len() + signature::BLOCK_LEN);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&format_of(&self.graph).to_le_bytes());
        let flags: u16 = if self.signature.is_some() { 1 } else { 0 };
        out.extend_from_slice(&flags.to_le_bytes());
        out.extend_from_slice(&self.hash);
        let len = u32::try_from(self.body.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&self.body);
        if let Some(s) = &self.signature {
            out.extend_from_slice(&s.key.0);
            out.extend_from_slice(&s.value);
        }
        out
    }

    /// The JSON form: `{"format": "omnirule-bundle", "version": 3, "hash": "<sha-256 hex of
    /// the binary body>", "graph": {...}}`, pretty-printed.
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            format: &'a str,
            version: u16,
            hash: String,
            #[serde(skip_serializing_if = "Option::is_none")]
            signature: Option<JsonSignature>,
            graph: &'a Graph,
        }
        serde_json::to_string_pretty(&Out {
            format: JSON_FORMAT,
            version: format_of(&self.graph),
            hash: self.hash_hex(),
            signature: self.signature.as_ref().map(|s| JsonSignature {
                key: s.key.to_string(),
                value: hex(&s.value),
            }),
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
            Some(v) if v == u64::from(FORMAT_VERSION) || v == u64::from(FORMAT_NO_GOALS) => {}
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
        let mut bundle = Bundle::new(parsed.graph)?;
        if bundle.hash_hex() != parsed.hash.to_ascii_lowercase() {
            return Err(BundleError::Corrupted {
                expected: parsed.hash,
                actual: bundle.hash_hex(),
            });
        }
        if let Some(s) = parsed.signature {
            let (Some(key), Some(value)) = (
                unhex::<8>(&s.key.to_ascii_lowercase()),
                unhex::<64>(&s.value.to_ascii_lowercase()),
            ) else {
                return Err(BundleError::Decode(
                    "`signature` must hold `key` (16 hex digits) and `value` (128)".into(),
                ));
            };
            bundle.signature = Some(BundleSignature {
                key: KeyId(key),
                value,
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
        self.plan.names().constant_id(decision)
    }

    /// How many numbers [`Bundle::constant_decision`] can return.
    pub fn constant_decisions(&self) -> usize {
        self.plan.names().calls()
    }

    /// This bundle evaluating every condition through the general evaluator, or (`true`, the
    /// default) with the conditions that compile taking the fast path. Results are identical
    /// either way; differential tests and benchmarks compare the two.
    pub fn with_compiled_conditions(mut self, on: bool) -> Bundle {
        self.fast = Cache::new(&self.graph, on);
        self
    }

    /// How many of the graph's conditions compile to the fast path (compiling every trigger's
    /// now, if they were not yet).
    pub fn compiled_conditions(&self) -> usize {
        self.fast.compiled_conditions(&self.graph, &self.plan)
    }

    /// How many triggers have their fast path built: those whose event type has been
    /// evaluated since the bundle was loaded (loading builds none).
    pub fn prepared_triggers(&self) -> usize {
        self.fast.prepared()
    }

    pub(crate) fn plan(&self) -> &Plan {
        &self.plan
    }

    pub(crate) fn fast(&self) -> &Cache {
        &self.fast
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
/// and the optimised version takes over part way through (`docs/performance.md` has the
/// figure).
fn content_hash(body: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for piece in body.chunks(4096) {
        hasher.update(piece);
    }
    hasher.finalize().into()
}
