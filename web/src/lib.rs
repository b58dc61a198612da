//! The browser package: the Omnirule engine for JavaScript through wasm-bindgen.
//!
//! `import init, { Engine, personalise } from "omnirule"`. One [`Engine`] holds a bundle, the
//! current visitor's profile and that visitor's memory. It is a thin layer over
//! [`omnirule_engine::host`], the JSON-level protocol every runtime shares, so the decisions a
//! page gets are the ones the CLI, the edge and the store compute for the same inputs
//! ([`Engine::track_json`] returns the canonical text byte for byte).
//!
//! What lives here and not in the engine:
//! - the values' crossing into JavaScript: profiles, events and decisions cross as JSON text
//!   (one native `JSON.stringify`/`JSON.parse` each way; decisions become plain objects). A
//!   property-by-property walk from wasm (serde-wasm-bindgen, now only in the `compiler` build)
//!   cost a crossing per property and dominated the time of a call;
//! - the clock and event ids: an event without `time` or `id` gets `Date.now()` and a fresh id
//!   in JavaScript (`js/edge.js`), never inside Rust;
//! - consent-gated persistence of the memory in `localStorage` ([`storage`]);
//! - page personalisation: `data-omnirule-slot` elements receive decision text ([`render`]);
//! - with the `compiler` feature, compiling rule sources in the browser ([`compiler`]).

#[cfg(feature = "compiler")]
mod compiler;
mod render;
mod storage;

use omnirule_engine::bundle::Bundle;
use omnirule_engine::bundle::signature::{SignatureError, TrustedKeys};
use omnirule_engine::decision::Decision;
use omnirule_engine::decision::write_decision;
use omnirule_engine::host::{self, Decided};
use omnirule_engine::input::{Document, Event, Profile, record};
use omnirule_engine::memory::Memory;
use omnirule_text::canonical::canonical_json;
use omnirule_text::json::write_uint;
use wasm_bindgen::prelude::*;

pub use render::personalise;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** An event in the wire format shared by every runtime. `type` names an event of the bundle's
 * schema; declared fields are type-checked, others ignored. `time` (RFC 3339 or integer
 * milliseconds since the epoch) defaults to `Date.now()` and `id` to a fresh UUID, both filled
 * in JavaScript before the event reaches the engine. */
export interface OmniruleEvent {
  type: string;
  id?: string;
  time?: string | number;
  [field: string]: unknown;
}

/** The visitor, as the page (or a CRM call it makes) knows them. `consents` lists the purposes
 * the visitor agreed to; rules and storage check them. */
export interface Profile {
  id: string;
  consents: string[];
  [field: string]: unknown;
}

/** One thing the page should do. `action` is null for a split's control arm. */
export interface Decision {
  rule: string;
  action: string | null;
  params: Record<string, unknown>;
  group: string | null;
  experiment: string | null;
  variant: string | null;
}

/** Why each rule the event triggered did or did not fire. */
export interface Explanation {
  event: string;
  duplicate: boolean;
  rules: Array<{
    rule: string;
    outcome: "fired" | "no_consent" | "inactive" | "outside_hours" | "outside_days" |
      "cap_reached" | "group_cap_reached" | "lost_to" | "condition_false" | "split_unit_missing";
    [detail: string]: unknown;
  }>;
}

/** A goal met (a rule's `goal` clause): the goal event came after an exposure to the rule,
 * within the goal's window. */
export interface Conversion {
  rule: string;
  experiment: string | null;
  variant: string | null;
  goal: string;
  primary: boolean;
  exposed_at: string;
  exposure_event: string;
  exposure_channel: string | null;
  exposure_host: string | null;
  value: number | null;
}

/** The result of `engine.explain(event)`. */
export interface Explained {
  decisions: Decision[];
  /** Present when the event met a goal. */
  conversions?: Conversion[];
  explanation: Explanation;
}

/** Memory as compact bytes (`engine.memory()`) or as JSON text (`engine.memoryJson()`). */
export type MemoryData = Uint8Array | string;

export interface EngineOptions {
  /** The visitor; the same as calling `engine.setProfile(profile)` afterwards. */
  profile?: Profile;
  /** Keep the memory in `localStorage` when the profile's consents allow it (default true;
   * ignored where there is no `localStorage`, e.g. in Node). */
  storage?: boolean;
  /** Prefix of the storage key; the key is `${storageKey}:${profile.id}` (default "omnirule"). */
  storageKey?: string;
  /** Storage is allowed when the profile holds *all* these purposes. Default: derived from the
   * bundle (the profile holds every purpose of at least one rule that reads history). */
  storageConsent?: string[];
  /** Load the bundle only if it is signed by one of these public keys (`ed25519:...`, from
   * `omnirule keygen`); an unsigned bundle, or one signed by another key, throws. */
  trustedKeys?: string[];
  /** Called once per decision of `track`/`explain`/`trackJson` (control arms included), with
   * the exposure line `omnirule report` reads (docs/report.md): send it to your collector. Not
   * called for a visitor whose consents do not allow keeping a memory (`storageConsent`). */
  onExposure?: (exposure: Exposure) => void;
  /** Called once per goal an event meets (a rule's `goal` clause), with the conversion line
   * `omnirule report` reads; same consent rule as `onExposure`. */
  onConversion?: (conversion: ConversionLine) => void;
  /** Where this engine's events happen (default "web"): logged with exposures and
   * conversions, and remembered with exposures so a conversion in a store says so. */
  channel?: string;
  /** The host logged with them (default null). */
  host?: string;
  /** For quality assurance: put every visitor in these arms, `{ experiment: variant }`
   * (`"control"` for the control arm), whatever the hash says. Unknown names throw. While
   * set, `onExposure` and `onConversion` are not called (a tester is not an exposure). */
  forceVariants?: Record<string, string>;
}

/** One conversion line: a goal met after an exposure (docs/report.md), with who, when and
 * where the goal event happened. */
export interface ConversionLine extends Conversion {
  kind: "conversion";
  time: string;
  customer: string;
  channel: string;
  host: string | null;
  event: string;
}

/** One exposure: a decision made for a visitor (docs/report.md). */
export interface Exposure {
  kind: "exposure";
  time: string;
  customer: string;
  rule: string;
  experiment: string | null;
  variant: string | null;
  /** The split arm's share in percent, for the report's sample-ratio check. */
  weight: number | null;
  channel: string;
  host: string | null;
  event: string;
}

export interface PersonaliseOptions {
  /** Where to look for `data-omnirule-slot` elements (default: the whole document). */
  root?: Element | Document;
  /** Called for every slot element, with `undefined` when no decision targets the slot;
   * return `true` to skip the built-in text rendering for that element. */
  render?: (slot: string, decision: Decision | undefined, element: Element) => boolean | void;
}
"#;

/// `options.trustedKeys` (an array of `ed25519:...` texts), parsed; `None` when absent.
fn trusted_keys(options: &JsValue) -> Result<Option<TrustedKeys>, JsError> {
    let keys = js_sys::Reflect::get(options, &JsValue::from_str("trustedKeys"))
        .unwrap_or(JsValue::UNDEFINED);
    if keys.is_undefined() || keys.is_null() {
        return Ok(None);
    }
    let text = js_sys::Array::from(&keys)
        .iter()
        .filter_map(|k| k.as_string())
        .collect::<Vec<_>>()
        .join("\n");
    TrustedKeys::parse(&text)
        .map(Some)
        .map_err(|e| error(format!("the option `trustedKeys`: {e}")))
}

/// A JavaScript `Error` with the package's prefix.
pub(crate) fn error(message: impl std::fmt::Display) -> JsError {
    JsError::new(&format!("omnirule: {message}"))
}

#[wasm_bindgen(module = "/js/edge.js")]
extern "C" {
    /// Fills a missing `time` (Date.now()) and `id` (a UUID) in JavaScript.
    #[wasm_bindgen(catch, js_name = stampJson)]
    fn stamp_json(event: &JsValue) -> Result<Option<String>, JsValue>;

    /// Ed25519 verification with WebCrypto: a promise of a boolean.
    #[wasm_bindgen(js_name = verifyEd25519)]
    fn verify_ed25519(key: Vec<u8>, message: Vec<u8>, signature: Vec<u8>) -> js_sys::Promise;

    /// `JSON.stringify`: `None` for what has no JSON text.
    #[wasm_bindgen(catch, js_name = toJson)]
    fn to_json_text(value: &JsValue) -> Result<Option<String>, JsValue>;

    /// Decision objects from the text [`Engine::decisions_text`] wrote at `ptr` (`len` bytes)
    /// in this module's memory (read through a record writer's views of it), keeping the
    /// constant decisions sent for the first time in `templates`.
    #[wasm_bindgen(catch, js_name = decisionsIn)]
    fn decisions_in(
        writer: &JsValue,
        ptr: u32,
        len: u32,
        templates: &js_sys::Array,
    ) -> Result<JsValue, JsValue>;

    /// Calls `onExposure` with an exposure object per decision of `decisions` (the array
    /// [`Engine::track`] returns), from the event's [`exposure_head`].
    #[wasm_bindgen(js_name = exposuresFrom)]
    fn exposures_from(callback: &js_sys::Function, decisions: &JsValue, head: &str);

    /// Calls `callback` with each line of `lines` (JSON lines) as an object.
    #[wasm_bindgen(js_name = linesTo)]
    fn lines_to(callback: &js_sys::Function, lines: &str);

    /// A record writer over this module's memory for a bundle's layout (JSON text).
    #[wasm_bindgen(js_name = recordWriter)]
    fn record_writer(memory: &JsValue, layout: &str) -> JsValue;

    /// Writes a profile's record at `ptr`: its length, [`NO_ROOM`], or -1 (send JSON text).
    #[wasm_bindgen(js_name = writeProfile)]
    fn write_profile(writer: &JsValue, profile: &JsValue, ptr: u32, cap: u32) -> i32;

    /// Writes an event's record (filling in `time` and `id`), as [`write_profile`].
    #[wasm_bindgen(js_name = writeEvent)]
    fn write_event(writer: &JsValue, event: &JsValue, ptr: u32, cap: u32) -> i32;
}

/// The record writer's answer when the value needs more room than it was given.
const NO_ROOM: i32 = -2;
/// Room for records, at first and at most: larger inputs cross as JSON text.
const RECORD_ROOM: usize = 4 << 10;
const MAX_RECORD_ROOM: usize = 16 << 20;

/// The record layout of a bundle, for [`record_writer`]: `{"profile": [names], "events":
/// [[type, [names]], ...]}`.
fn record_layout(bundle: &Bundle) -> String {
    use serde_json::Value;
    let names = |keys: Vec<&str>| Value::Array(keys.into_iter().map(|k| k.into()).collect());
    let events: Vec<Value> = (0..bundle.graph().schema.events.len())
        .filter_map(|i| {
            let name = bundle.graph().schema.events.get(i)?.name.as_str();
            Some(Value::Array(vec![
                name.into(),
                names(record::event_keys(bundle, i)?),
            ]))
        })
        .collect();
    let mut layout = serde_json::Map::new();
    layout.insert("profile".into(), names(record::profile_keys(bundle)));
    layout.insert("events".into(), Value::Array(events));
    canonical_json(&Value::Object(layout))
}

fn no_profile() -> JsError {
    error(
        "no profile: call engine.setProfile(profile) (or pass { profile } to Engine.fromBundle) first",
    )
}

/// Plain JavaScript objects for JSON values (objects, not `Map`s).
fn to_js(value: &serde_json::Value) -> Result<JsValue, JsError> {
    parse_js(&canonical_json(value))
}

/// JSON text into JavaScript values. Values cross as text, one native `JSON.parse`: walking
/// them from wasm costs a crossing per property and was most of the time of a call.
fn parse_js(text: &str) -> Result<JsValue, JsError> {
    js_sys::JSON::parse(text).map_err(|_| error("could not convert a result to JavaScript"))
}

/// A JavaScript value's JSON text (`JSON.stringify`), or why it has none.
fn json_text(text: Result<Option<String>, JsValue>, what: &str) -> Result<String, JsError> {
    text.map_err(|e| {
        let why = js_sys::Error::from(e).message();
        error(format!("the {what} is not a JSON-like value: {why}"))
    })?
    .ok_or_else(|| error(format!("the {what} is not a JSON-like value")))
}

/// JSON text parsed one level deep: profiles and events are checked from it directly,
/// without a `serde_json::Value` tree for the top-level object (see [`Document`]).
fn document<'a>(text: &'a str, what: &str) -> Result<Document<'a>, JsError> {
    Document::parse(text).map_err(|e| error(format!("the {what} is not a JSON-like value: {e}")))
}

/// Memory from bytes (`Uint8Array`) or JSON text.
fn memory_from_js(value: &JsValue) -> Result<Memory, JsError> {
    if let Some(text) = value.as_string() {
        return Memory::from_json(&text).map_err(|e| error(format!("bad memory: {e}")));
    }
    if value.is_instance_of::<js_sys::Uint8Array>() {
        let bytes = js_sys::Uint8Array::new(value).to_vec();
        return Memory::from_bytes(&bytes).map_err(|e| error(format!("bad memory: {e}")));
    }
    Err(error(
        "a memory is a Uint8Array (engine.memory()) or a JSON string (engine.memoryJson())",
    ))
}

/// The current visitor.
/// `options.onExposure`, `options.onConversion`, `options.channel`, `options.host`.
struct ExposureSink {
    exposures: Option<js_sys::Function>,
    conversions: Option<js_sys::Function>,
    channel: String,
    host: Option<String>,
}

impl ExposureSink {
    fn from_options(options: &JsValue) -> ExposureSink {
        let get = |k: &str| js_sys::Reflect::get(options, &JsValue::from_str(k)).ok();
        let callback = |k: &str| get(k).and_then(|f| f.dyn_into::<js_sys::Function>().ok());
        ExposureSink {
            exposures: callback("onExposure"),
            conversions: callback("onConversion"),
            channel: get("channel")
                .and_then(|c| c.as_string())
                .unwrap_or_else(|| "web".to_string()),
            host: get("host").and_then(|h| h.as_string()),
        }
    }

    /// Says where `event` happens (an empty channel: unknown).
    fn stamp(&self, event: &mut Event) {
        let channel = Some(self.channel.as_str()).filter(|c| !c.is_empty());
        event.set_place(channel, self.host.as_deref());
    }

    fn place(&self) -> host::Place<'_> {
        host::Place {
            channel: &self.channel,
            host: self.host.as_deref(),
        }
    }
}

/// `options.forceVariants` (`{ experiment: variant }`), each checked against the bundle's
/// splits: a misspelt name is an error at once, not an arm silently left to chance.
fn forced_variants(bundle: &Bundle, options: &JsValue) -> Result<Vec<(String, String)>, JsError> {
    let given = if options.is_object() {
        js_sys::Reflect::get(options, &JsValue::from_str("forceVariants"))
            .unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    };
    if given.is_undefined() || given.is_null() {
        return Ok(Vec::new());
    }
    let entries = js_sys::Object::entries(given.dyn_ref::<js_sys::Object>().ok_or_else(|| {
        error("the option `forceVariants` must be an object: { experiment: \"variant\" }")
    })?);
    let mut out = Vec::new();
    for entry in entries.iter() {
        let pair = js_sys::Array::from(&entry);
        let (Some(experiment), Some(variant)) = (pair.get(0).as_string(), pair.get(1).as_string())
        else {
            return Err(error(
                "`forceVariants` maps experiment names to variant names (strings)",
            ));
        };
        let Some(arms) = host::split_arms(bundle, &experiment) else {
            return Err(error(format!(
                "`forceVariants`: the bundle has no split named `{experiment}`"
            )));
        };
        if !arms.contains(&variant) {
            return Err(error(format!(
                "`forceVariants`: split `{experiment}` has no arm `{variant}` (its arms: {})",
                arms.join(", ")
            )));
        }
        out.push((experiment, variant));
    }
    Ok(out)
}

/// What an evaluated event still has to tell the page's callbacks.
#[derive(Default)]
struct Due {
    /// [`exposure_head`], for [`Tell::Objects`] when the event's exposures are to be logged.
    exposure_head: Option<String>,
    /// The exposure lines (`host::write_exposures`), for [`Tell::Lines`].
    exposure_lines: String,
    /// The conversion lines (`host::write_conversions`), empty when there are none to tell.
    conversions: String,
}

/// How a call tells `onExposure`: from the decision objects it returns (`track`), or by
/// parsing the lines (`explain`, `trackJson`: no decision objects of their own).
#[derive(Clone, Copy)]
enum Tell {
    Objects,
    Lines,
}

/// What `exposuresFrom` (`js/edge.js`) adds to each decision object to make the exposure
/// `host::write_exposures` would write for it, as a JSON array: `[time, customer, event,
/// channel, host, weight...]`, a weight per decision.
fn exposure_head(
    bundle: &Bundle,
    profile: &Profile,
    event: &Event,
    decisions: &[Decision],
    place: host::Place<'_>,
) -> String {
    use omnirule_text::json::write_string;
    let mut out = String::with_capacity(96);
    out.push_str("[\"");
    omnirule_text::time::write_time(event.time(), &mut out);
    out.push_str("\",");
    write_string(profile.id(), &mut out);
    out.push(',');
    write_string(event.id(), &mut out);
    out.push(',');
    write_string(place.channel, &mut out);
    out.push(',');
    match place.host {
        Some(h) => write_string(h, &mut out),
        None => out.push_str("null"),
    }
    for d in decisions {
        out.push(',');
        host::write_weight(bundle, d, &mut out);
    }
    out.push(']');
    out
}

/// Calls a page's callback with each line as an object (`linesTo` in `js/edge.js`).
fn each_line(callback: &js_sys::Function, lines: &str) {
    if !lines.is_empty() {
        lines_to(callback, lines);
    }
}

struct Visitor {
    /// The profile object as given (for `engine.profile()`).
    given: JsValue,
    profile: Profile,
}

/// Which record the JavaScript writer (`recordWriter` in `js/edge.js`) writes.
#[derive(Clone, Copy)]
enum Input {
    Profile,
    Event,
}

/// One bundle, one visitor, their memory.
#[wasm_bindgen]
pub struct Engine {
    bundle: Bundle,
    memory: Memory,
    visitor: Option<Visitor>,
    storage: storage::Policy,
    /// `options.onExposure` and where exposures are logged.
    /// Where events happen and who hears of exposures and conversions.
    exposures: ExposureSink,
    /// `options.forceVariants`: split arms forced for quality assurance (experiment,
    /// variant), applied to every visitor; while set, nothing is logged as an exposure.
    forced: Vec<(String, String)>,
    /// The bundle's constant decisions ([`Bundle::constant_decision`]) already sent to
    /// JavaScript, as objects (`templates`) and as flags by number (`sent`).
    templates: js_sys::Array,
    sent: Vec<bool>,
    records: Records,
}

/// Profiles and events crossing as records (`engine/src/input/record.rs`): the JavaScript
/// writer and the room it writes into.
struct Records {
    writer: JsValue,
    room: Vec<u8>,
}

impl Records {
    /// The record of `value`, or `None` when it crosses as JSON text instead (the writer says
    /// so, or needs more than [`MAX_RECORD_ROOM`]).
    fn write(&mut self, input: Input, value: &JsValue) -> Option<&[u8]> {
        loop {
            // The writer fills the room in place: it is ours and nothing else runs meanwhile.
            let (ptr, cap) = (
                self.room.as_mut_ptr() as usize as u32,
                self.room.len() as u32,
            );
            let written = match input {
                Input::Profile => write_profile(&self.writer, value, ptr, cap),
                Input::Event => write_event(&self.writer, value, ptr, cap),
            };
            if written == NO_ROOM && self.room.len() < MAX_RECORD_ROOM {
                self.room.resize(self.room.len() * 4, 0);
                continue;
            }
            return self.room.get(..usize::try_from(written).ok()?);
        }
    }
}

#[wasm_bindgen]
impl Engine {
    /// Loads a bundle (the bytes `omnirule build` writes). Throws an `Error` saying what is
    /// wrong with a bad bundle (not a bundle, truncated, corrupted, a newer format...).
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(
        bundle: &[u8],
        #[wasm_bindgen(unchecked_optional_param_type = "EngineOptions")] options: Option<JsValue>,
    ) -> Result<Engine, JsError> {
        Engine::build(bundle, Memory::default(), options)
    }

    /// [`Engine::from_bundle`] starting from a memory kept elsewhere (`engine.memory()` or
    /// `engine.memoryJson()` of another engine, or what an edge or a store host exported).
    #[wasm_bindgen(js_name = withMemory)]
    pub fn with_memory(
        bundle: &[u8],
        #[wasm_bindgen(unchecked_param_type = "MemoryData")] memory: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "EngineOptions")] options: Option<JsValue>,
    ) -> Result<Engine, JsError> {
        let memory = memory_from_js(&memory)?;
        Engine::build(bundle, memory, options)
    }

    /// Loads a bundle only if it is signed by one of `options.trustedKeys` (public keys,
    /// `ed25519:...`): a promise of the engine. Unsigned bundles and bundles signed by another
    /// key are refused at once (a thrown `Error`); the signature itself is checked with the
    /// platform's WebCrypto (so the promise), which rejects a forged or altered bundle.
    #[wasm_bindgen(js_name = fromSignedBundle, unchecked_return_type = "Promise<Engine>")]
    pub fn from_signed_bundle(
        bundle: &[u8],
        #[wasm_bindgen(unchecked_param_type = "EngineOptions")] options: JsValue,
    ) -> Result<js_sys::Promise, JsError> {
        let loaded = Bundle::from_bytes(bundle)
            .map_err(|e| error(format!("the bundle cannot be loaded: {e}")))?;
        let trusted = trusted_keys(&options)?
            .ok_or_else(|| error("fromSignedBundle needs the option `trustedKeys`"))?;
        let untrusted = |e| error(format!("the bundle cannot be loaded: {e}"));
        let (key, message, signature) = loaded.signature_to_check(&trusted).map_err(untrusted)?;
        let key_id = key.id;
        let verified = verify_ed25519(key.bytes.to_vec(), message, signature.to_vec());
        let then = Closure::once_into_js(move |ok: JsValue| -> Result<JsValue, JsValue> {
            if ok.as_bool() != Some(true) {
                let e = SignatureError::BadSignature {
                    key: key_id.to_string(),
                };
                return Err(untrusted(e).into());
            }
            Engine::build_checked(loaded, Memory::default(), &options)
                .map(JsValue::from)
                .map_err(JsValue::from)
        });
        // `promise.then(f)` with a function that may throw (js-sys's `then` takes closures
        // that return nothing).
        js_sys::Reflect::get(&verified, &JsValue::from_str("then"))
            .and_then(|f| {
                f.unchecked_into::<js_sys::Function>()
                    .call1(&verified, &then)
            })
            .map(JsCast::unchecked_into)
            .map_err(|_| error("could not wait for the signature check"))
    }

    fn build(bytes: &[u8], memory: Memory, options: Option<JsValue>) -> Result<Engine, JsError> {
        let bundle = Bundle::from_bytes(bytes)
            .map_err(|e| error(format!("the bundle cannot be loaded: {e}")))?;
        let options = options.unwrap_or(JsValue::UNDEFINED);
        if trusted_keys(&options)?.is_some() {
            return Err(error(
                "the option `trustedKeys` needs `await Engine.fromSignedBundle(bytes, options)`: checking a signature is asynchronous (WebCrypto)",
            ));
        }
        Engine::build_checked(bundle, memory, &options)
    }

    /// An engine of a bundle already checked (decoded, and verified when keys are trusted).
    fn build_checked(bundle: Bundle, memory: Memory, options: &JsValue) -> Result<Engine, JsError> {
        let options = options.clone();
        let storage = storage::Policy::new(&bundle, &options)?;
        let sent = vec![false; bundle.constant_decisions()];
        let records = Records {
            writer: record_writer(&wasm_bindgen::memory(), &record_layout(&bundle)),
            room: vec![0; RECORD_ROOM],
        };
        let forced = forced_variants(&bundle, &options)?;
        let mut engine = Engine {
            bundle,
            memory,
            visitor: None,
            storage,
            forced,
            exposures: ExposureSink::from_options(&options),
            templates: js_sys::Array::new(),
            sent,
            records,
        };
        let profile = js_sys::Reflect::get(&options, &JsValue::from_str("profile"))
            .unwrap_or(JsValue::UNDEFINED);
        if !profile.is_undefined() && !profile.is_null() {
            engine.set_profile(profile)?;
        }
        Ok(engine)
    }

    /// Sets the visitor (checked against the bundle's schema; throws when it does not match).
    ///
    /// When the profile's consents allow storage, the memory stored for this visitor is loaded
    /// and merged in, and the merged memory stored; when they do not, anything stored for this
    /// visitor is removed. A different visitor (another `id`) starts from their own memory, not
    /// the previous visitor's.
    #[wasm_bindgen(js_name = setProfile)]
    pub fn set_profile(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "Profile")] given: JsValue,
    ) -> Result<(), JsError> {
        let record = self.records.write(Input::Profile, &given);
        let mut profile = match record.and_then(|r| Profile::from_record(&self.bundle, r)) {
            Some(profile) => profile,
            None => {
                let json = json_text(to_json_text(&given), "profile")?;
                Profile::from_document(&self.bundle, &document(&json, "profile")?).map_err(error)?
            }
        };
        for (experiment, variant) in &self.forced {
            profile.force_variant(experiment, variant);
        }
        let same_visitor = self
            .visitor
            .as_ref()
            .is_some_and(|v| v.profile.id() == profile.id());
        if !same_visitor && self.visitor.is_some() {
            self.memory = Memory::default();
        }
        if self.storage.allows(&profile)
            && let Some(stored) = self.storage.load(profile.id())
        {
            self.memory = self.memory.merge(&stored, &self.bundle);
        }
        self.visitor = Some(Visitor { given, profile });
        self.persist();
        Ok(())
    }

    /// A copy (through JSON) of the profile object given to `setProfile`, or `undefined`.
    #[wasm_bindgen(unchecked_return_type = "Profile | undefined")]
    pub fn profile(&self) -> Result<JsValue, JsError> {
        match &self.visitor {
            Some(v) => parse_js(&json_text(to_json_text(&v.given), "profile")?),
            None => Ok(JsValue::UNDEFINED),
        }
    }

    /// Evaluates one event for the current visitor and returns the decisions as plain objects,
    /// in decision order. Throws when there is no profile or the event does not match the
    /// schema (the memory is then unchanged).
    #[wasm_bindgen(unchecked_return_type = "Decision[]")]
    pub fn track(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "OmniruleEvent")] event: JsValue,
    ) -> Result<JsValue, JsError> {
        let (tracked, due) = self.run(event, false, Tell::Objects)?;
        let mut first_sent = Vec::new();
        let text = self.decisions_text(&tracked.decisions, &mut first_sent);
        let (ptr, len) = (text.as_ptr() as usize as u32, text.len() as u32);
        let decisions = decisions_in(&self.records.writer, ptr, len, &self.templates)
            .map_err(|_| error("could not convert the decisions to JavaScript"))?;
        // Only now does JavaScript hold these templates.
        for id in first_sent {
            if let Some(sent) = self.sent.get_mut(id as usize) {
                *sent = true;
            }
        }
        // The exposure objects are made in JavaScript from the decision objects it now has:
        // parsing a JSON line per exposure was most of what logging cost (docs/performance.md).
        if let (Some(head), Some(callback)) = (&due.exposure_head, &self.exposures.exposures) {
            exposures_from(callback, &decisions, head);
        }
        self.tell_conversions(&due);
        Ok(decisions)
    }

    /// The decisions for `decisionsIn` (`js/edge.js`): constant decisions by number once
    /// JavaScript has them, `[number, decision]` the first time, the others as canonical JSON.
    fn decisions_text(&self, decisions: &[Decision], first_sent: &mut Vec<u32>) -> String {
        let mut out = String::with_capacity(2 + 8 * decisions.len());
        out.push('[');
        for (i, d) in decisions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let id = self.bundle.constant_decision(d);
            match id.map(|id| (id, self.sent.get(id as usize))) {
                Some((id, Some(true))) => write_uint(u64::from(id), &mut out),
                Some((id, Some(false))) if !first_sent.contains(&id) => {
                    out.push('[');
                    write_uint(u64::from(id), &mut out);
                    out.push(',');
                    write_decision(d, &mut out);
                    out.push(']');
                    first_sent.push(id);
                }
                _ => write_decision(d, &mut out),
            }
        }
        out.push(']');
        out
    }

    /// [`Engine::track`] that also says why each triggered rule did or did not fire. It is a
    /// tracked event like any other (the memory records it).
    #[wasm_bindgen(unchecked_return_type = "Explained")]
    pub fn explain(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "OmniruleEvent")] event: JsValue,
    ) -> Result<JsValue, JsError> {
        let (tracked, due) = self.run(event, true, Tell::Lines)?;
        self.tell_lines(&due);
        to_js(&tracked.output())
    }

    /// The wire protocol itself: an event as JSON text in (it must carry `id` and `time`), the
    /// canonical JSON text `{"decisions":[...]}` (with `"explanation"` when asked) out, byte
    /// for byte what every other runtime returns for the same inputs.
    #[wasm_bindgen(js_name = trackJson)]
    pub fn track_json(&mut self, event: &str, explain: Option<bool>) -> Result<String, JsError> {
        let event = Document::parse(event)
            .map_err(|e| error(format!("the event is not valid JSON: {e}")))?;
        let (tracked, due) = self.evaluate(&event, explain.unwrap_or(false), Tell::Lines)?;
        self.tell_lines(&due);
        Ok(tracked.to_json())
    }

    fn run(
        &mut self,
        event: JsValue,
        explain: bool,
        tell: Tell,
    ) -> Result<(Decided, Due), JsError> {
        if self.visitor.is_none() {
            return Err(no_profile());
        }
        let record = self.records.write(Input::Event, &event);
        match record.and_then(|r| Event::from_record(&self.bundle, r)) {
            Some(mut event) => {
                self.exposures.stamp(&mut event);
                self.decide(&event, explain, tell)
            }
            None => {
                let json = json_text(stamp_json(&event), "event")?;
                self.evaluate(&document(&json, "event")?, explain, tell)
            }
        }
    }

    fn evaluate(
        &mut self,
        event: &Document<'_>,
        explain: bool,
        tell: Tell,
    ) -> Result<(Decided, Due), JsError> {
        if self.visitor.is_none() {
            return Err(no_profile());
        }
        let mut event = Event::from_document(&self.bundle, event).map_err(error)?;
        self.exposures.stamp(&mut event);
        self.decide(&event, explain, tell)
    }

    /// Evaluates `event`, and says what the page's callbacks are still to be told of it (its
    /// caller tells them once the decisions are in JavaScript).
    fn decide(
        &mut self,
        event: &Event,
        explain: bool,
        tell: Tell,
    ) -> Result<(Decided, Due), JsError> {
        let Some(visitor) = &self.visitor else {
            return Err(no_profile());
        };
        let decided = host::track_in_place(
            &self.bundle,
            &mut self.memory,
            &visitor.profile,
            event,
            explain,
        );
        self.persist();
        // Logged only for a visitor whose consents allow keeping a memory (the storage
        // consent, whether or not `localStorage` is there): others are not remembered, and
        // not logged either.
        let sink = &self.exposures;
        let mut due = Due::default();
        // A tester's forced arms are not exposures: they would skew the report.
        let told = self.forced.is_empty()
            && ((sink.exposures.is_some() && !decided.decisions.is_empty())
                || (sink.conversions.is_some() && !decided.conversions.is_empty()));
        if let Some(visitor) = &self.visitor
            && told
            && self.storage.consented(&visitor.profile)
        {
            if sink.exposures.is_some() {
                match tell {
                    Tell::Objects if !decided.decisions.is_empty() => {
                        due.exposure_head = Some(exposure_head(
                            &self.bundle,
                            &visitor.profile,
                            event,
                            &decided.decisions,
                            sink.place(),
                        ));
                    }
                    Tell::Objects => {}
                    Tell::Lines => host::write_exposures(
                        &self.bundle,
                        &visitor.profile,
                        event,
                        &decided.decisions,
                        sink.place(),
                        &mut due.exposure_lines,
                    ),
                }
            }
            if sink.conversions.is_some() {
                host::write_conversions(
                    &visitor.profile,
                    event,
                    &decided.conversions,
                    sink.place(),
                    &mut due.conversions,
                );
            }
        }
        Ok((decided, due))
    }

    /// Tells `onExposure` and `onConversion` the lines `due` holds.
    fn tell_lines(&self, due: &Due) {
        if let Some(callback) = &self.exposures.exposures {
            each_line(callback, &due.exposure_lines);
        }
        self.tell_conversions(due);
    }

    fn tell_conversions(&self, due: &Due) {
        if let Some(callback) = &self.exposures.conversions {
            each_line(callback, &due.conversions);
        }
    }

    /// The visitor's memory as compact versioned bytes (to hand to another runtime).
    pub fn memory(&self) -> Vec<u8> {
        self.memory.to_bytes()
    }

    /// The visitor's memory as JSON text: what is kept about them, for inspection.
    #[wasm_bindgen(js_name = memoryJson)]
    pub fn memory_json(&self) -> String {
        self.memory.to_json()
    }

    /// Merges another memory of the same visitor (from another tab, the edge or a store) into
    /// this one. Merging is commutative, associative and idempotent.
    pub fn merge(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "MemoryData")] other: JsValue,
    ) -> Result<(), JsError> {
        let other = memory_from_js(&other)?;
        self.memory = self.memory.merge(&other, &self.bundle);
        self.persist();
        Ok(())
    }

    /// Where the next events happen: the channel (`"web"`, `"store"`) and host logged with
    /// exposures and conversions and remembered with exposures (the `channel`/`host`
    /// options, changed; `null` channel: unknown). For a host that evaluates events from
    /// several places with one engine.
    #[wasm_bindgen(js_name = setPlace)]
    pub fn set_place(&mut self, channel: Option<String>, host: Option<String>) {
        self.exposures.channel = channel.unwrap_or_default();
        self.exposures.host = host;
    }

    /// Deletes everything kept about the current visitor, for good: the memory becomes a
    /// tombstone dated now (`Date.now()`, or the newest event time it had seen if that is
    /// later), which is what is stored (when storage is allowed). Merging a copy taken before
    /// (from the edge's cookie, another tab, a store) brings nothing back; events dated after
    /// it are remembered as usual.
    pub fn forget(&mut self) {
        let now = js_sys::Date::now();
        let max = omnirule_engine::value::MAX_TIME_MS as f64;
        // `as` saturates; NaN (no clock) becomes 0, and the memory's newest time still wins.
        let at = now.clamp(-max, max) as i64;
        self.memory = self.memory.erase(at);
        self.persist();
    }

    /// Drops the memory this engine holds, recording no deletion and touching no storage: for
    /// a host that reuses one engine for many visitors (the edge worker), before the next one.
    pub fn reset(&mut self) {
        self.memory = Memory::default();
    }

    /// Whether the current profile's consents allow keeping the memory in `localStorage` (false
    /// without a profile, without `localStorage`, or with `storage: false`).
    #[wasm_bindgen(getter, js_name = storageAllowed)]
    pub fn storage_allowed(&self) -> bool {
        self.storage.available()
            && self
                .visitor
                .as_ref()
                .is_some_and(|v| self.storage.allows(&v.profile))
    }

    /// The `localStorage` key of the current visitor's memory.
    #[wasm_bindgen(getter, js_name = storageKey)]
    pub fn storage_key(&self) -> Option<String> {
        self.visitor
            .as_ref()
            .map(|v| self.storage.key(v.profile.id()))
    }

    /// Purpose sets that allow storage: the profile must hold every purpose of one of them.
    #[wasm_bindgen(getter, js_name = storageConsent, unchecked_return_type = "string[][]")]
    pub fn storage_consent(&self) -> Result<JsValue, JsError> {
        let sets =
            self.storage.purposes().iter().map(|set| {
                serde_json::Value::Array(set.iter().map(|p| p.as_str().into()).collect())
            });
        to_js(&serde_json::Value::Array(sets.collect()))
    }

    /// The bundle's content hash (hex).
    #[wasm_bindgen(getter, js_name = bundleHash)]
    pub fn bundle_hash(&self) -> String {
        self.bundle.hash_hex()
    }

    /// Writes the memory to storage when the consents allow it, and removes it otherwise.
    fn persist(&self) {
        if let Some(v) = &self.visitor {
            if self.storage.allows(&v.profile) {
                self.storage.save(v.profile.id(), &self.memory);
            } else {
                self.storage.remove(v.profile.id());
            }
        }
    }
}
