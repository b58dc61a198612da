//! Wire-format input: profiles and events, type-checked against the bundle's schema.
//!
//! All checking of host input happens here, once, with errors that name the field, the type
//! it should have and what was sent; evaluation then never fails. Undeclared fields are
//! ignored (hosts send more than rules read), so a rule set can evolve without breaking hosts.
//! The Rust constructors ([`Event::new`], [`Profile::new`]) skip the schema check: evaluation is
//! defined (never panics) on any event, an ill-typed field simply compares false.
//!
//! Fields are kept as a sorted vector of `(name, value)` ([`crate::fields`]).

use crate::bundle::Bundle;
use crate::fields::{FieldView, Fields, Presence, lookup, sort_fields};
use crate::graph::{EventTypeId, Field, Millis, Type};
use crate::value::{MAX_TIME_MS, Value, time_in_range};
use omnirule_text::json::{Top, number_text};
use omnirule_text::time::parse_time;
use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

pub mod record;

/// The longest event id and customer id accepted, in bytes. Ids are remembered (for
/// de-duplication, in firings, as the store's key), so their length bounds what one event can
/// add to a customer's memory; a UUID is 36 bytes, a POS receipt number fewer.
pub const MAX_ID_BYTES: usize = 256;

/// The largest declared field value accepted, by [`Value::footprint`] (a string's bytes; a
/// list's strings plus 8 bytes an item): 16 KiB. Remembered events keep field values, so this
/// bounds what one event can add to a memory; a product name or a list of labels is far
/// smaller.
pub const MAX_FIELD_BYTES: usize = 16 * 1024;

/// Why a profile or event was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputError {
    /// The input is not a JSON object.
    NotAnObject { what: &'static str, got: String },
    /// The event's `type` names no event type of the schema.
    UnknownEventType { name: String, known: Vec<String> },
    /// A required field (`id`, `type`, `time`, or a non-optional declared event field) is
    /// absent or null.
    MissingField { what: &'static str, field: String },
    /// A field has the wrong type.
    WrongType {
        what: &'static str,
        field: String,
        expected: String,
        got: String,
    },
    /// An id longer than [`MAX_ID_BYTES`], or a field value larger than [`MAX_FIELD_BYTES`].
    TooLong {
        what: &'static str,
        field: String,
        bytes: usize,
        max: usize,
    },
    /// A time that is not RFC 3339 nor integer milliseconds in range.
    BadTime {
        what: &'static str,
        field: String,
        reason: String,
    },
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InputError::NotAnObject { what, got } => {
                write!(f, "the {what} must be a JSON object, got {got}")
            }
            InputError::UnknownEventType { name, known } => {
                write!(f, "unknown event type `{name}`")?;
                if !known.is_empty() {
                    write!(f, " (the schema declares: {})", known.join(", "))?;
                }
                Ok(())
            }
            InputError::MissingField { what, field } => {
                write!(f, "the {what} lacks the required field `{field}`")
            }
            InputError::WrongType {
                what,
                field,
                expected,
                got,
            } => write!(
                f,
                "the {what}'s field `{field}` should be {expected}, got {got}"
            ),
            InputError::TooLong {
                what,
                field,
                bytes,
                max,
            } => write!(
                f,
                "the {what}'s field `{field}` is {bytes} bytes long; at most {max} are accepted"
            ),
            InputError::BadTime {
                what,
                field,
                reason,
            } => write!(
                f,
                "the {what}'s field `{field}` is not a valid time ({reason}); send an RFC 3339 string like \"2026-11-20T10:00:00Z\" or integer milliseconds since the epoch"
            ),
        }
    }
}

impl std::error::Error for InputError {}

/// One event, as evaluation sees it. Equal when type, id, time and fields are.
#[derive(Debug, Clone)]
pub struct Event {
    pub(crate) event_type: EventTypeId,
    pub(crate) id: Arc<str>,
    pub(crate) time: Millis,
    pub(crate) fields: Fields,
    pub(crate) present: Presence,
    /// Where the event was observed, as the host says ([`Event::set_place`]): recorded with
    /// exposures, so a conversion elsewhere can say where its exposure happened.
    pub(crate) place: Place,
}

/// A channel (`web`, `store`) and a host (`edge`, `paris-01`).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Place {
    pub channel: Option<Arc<str>>,
    pub host: Option<Arc<str>>,
}

impl PartialEq for Event {
    fn eq(&self, other: &Event) -> bool {
        // `present` is a lookup hint derived from `fields` (see `Presence`).
        self.event_type == other.event_type
            && self.id == other.id
            && self.time == other.time
            && self.fields == other.fields
            && self.place == other.place
    }
}

impl Event {
    /// An event built from Rust, without a schema check (see the module documentation).
    /// `event_type` indexes the bundle's `schema.events`; an unknown index triggers no rule
    /// and is never remembered.
    pub fn new(
        event_type: EventTypeId,
        id: &str,
        time: Millis,
        fields: impl IntoIterator<Item = (String, Value)>,
    ) -> Event {
        Event {
            event_type,
            id: Arc::from(id),
            time,
            fields: sort_fields(fields.into_iter().map(|(k, v)| (Arc::from(k), v)).collect()),
            present: Presence::default(),
            place: Place::default(),
        }
    }

    /// Says where the event was observed: the channel (`web`, `store`, ...) and the host
    /// (`edge`, `paris-01`, ...), as the host calling the engine knows itself. Recorded with
    /// the exposures the event makes, and reported with the conversions they lead to
    /// elsewhere; it changes no decision.
    pub fn set_place(&mut self, channel: Option<&str>, host: Option<&str>) {
        self.place = Place {
            channel: channel.map(Arc::from),
            host: host.map(Arc::from),
        };
    }

    /// Parses and type-checks a wire-format event: `{"type": "page_view", "id": "e-1",
    /// "time": "2026-11-20T10:00:00Z", "sku": "SW-1", ...}`. `type` must be declared by the
    /// schema, `id` is a required string, `time` an RFC 3339 string (with `Z` or an offset,
    /// optional fraction) or integer milliseconds. Declared fields are type-checked; a
    /// non-optional declared field must be present (null counts as absent); undeclared fields
    /// are ignored.
    pub fn from_json(bundle: &Bundle, json: &serde_json::Value) -> Result<Event, InputError> {
        match json.as_object() {
            Some(obj) => Event::from_members(bundle, obj),
            None => Err(not_an_object("event", json)),
        }
    }

    /// [`Event::from_json`] for a document parsed shallowly from its text ([`Document`]): the
    /// same checks and errors, without building a tree for the top-level object.
    pub fn from_document(bundle: &Bundle, doc: &Document<'_>) -> Result<Event, InputError> {
        match &doc.0 {
            Top::Object(members) => Event::from_members(bundle, members),
            Top::Other(json) => Err(not_an_object("event", json)),
        }
    }

    fn from_members(bundle: &Bundle, obj: &impl Members) -> Result<Event, InputError> {
        const WHAT: &str = "event";
        let name = match obj.member("type") {
            None | Some(serde_json::Value::Null) => {
                return Err(InputError::MissingField {
                    what: WHAT,
                    field: "type".into(),
                });
            }
            Some(serde_json::Value::String(s)) => s,
            Some(other) => {
                return Err(InputError::WrongType {
                    what: WHAT,
                    field: "type".into(),
                    expected: "a string".into(),
                    got: describe(other),
                });
            }
        };
        let schema = &bundle.graph().schema;
        let Some(event_type) = bundle.event_type(name) else {
            return Err(InputError::UnknownEventType {
                name: name.clone(),
                known: schema.events.iter().map(|e| e.name.clone()).collect(),
            });
        };
        let id = required_id(obj, WHAT)?;
        let time = match obj.member("time") {
            None | Some(serde_json::Value::Null) => {
                return Err(InputError::MissingField {
                    what: WHAT,
                    field: "time".into(),
                });
            }
            Some(t) => time_from_json(t).map_err(|reason| InputError::BadTime {
                what: WHAT,
                field: "time".into(),
                reason,
            })?,
        };
        let declared = schema
            .events
            .get(event_type as usize)
            .map_or(&[][..], |e| e.fields.as_slice());
        let names = bundle.plan().names();
        let shared = names.event_fields(event_type);
        let fields = sort_fields(declared_fields(obj, declared, shared, WHAT, true)?);
        Ok(Event {
            event_type,
            id: Arc::from(id),
            time,
            present: Presence::of(&fields, shared, names.event_order(event_type)),
            place: Place::default(),
            fields,
        })
    }

    pub(crate) fn view(&self) -> FieldView<'_> {
        FieldView {
            fields: &self.fields,
            present: self.present,
        }
    }

    pub fn event_type(&self) -> EventTypeId {
        self.event_type
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn time(&self) -> Millis {
        self.time
    }

    /// A field's value (`None` when absent).
    pub fn field(&self, name: &str) -> Option<&Value> {
        lookup(&self.fields, name)
    }

    /// All fields, sorted by name.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.fields.iter().map(|(k, v)| (k.as_ref(), v))
    }
}

/// The customer, as evaluation sees it. Equal when id, consents and fields are.
#[derive(Debug, Clone)]
pub struct Profile {
    pub(crate) id: Arc<str>,
    /// Sorted, unique.
    pub(crate) consents: Vec<Arc<str>>,
    pub(crate) fields: Fields,
    pub(crate) present: Presence,
    /// Split arms forced for quality assurance ([`Profile::force_variant`]): experiment name,
    /// variant (`control` for the control arm).
    pub(crate) forced: Vec<(Arc<str>, Arc<str>)>,
}

impl PartialEq for Profile {
    fn eq(&self, other: &Profile) -> bool {
        // `present` is a lookup hint derived from `fields` (see `Presence`).
        self.id == other.id && self.consents == other.consents && self.fields == other.fields
    }
}

impl Profile {
    /// A profile built from Rust, without a schema check.
    pub fn new<'a>(
        id: &str,
        consents: impl IntoIterator<Item = &'a str>,
        fields: impl IntoIterator<Item = (String, Value)>,
    ) -> Profile {
        let mut consents: Vec<Arc<str>> = consents.into_iter().map(Arc::from).collect();
        omnirule_text::sort::sort(&mut consents);
        consents.dedup();
        Profile {
            id: Arc::from(id),
            consents,
            fields: sort_fields(fields.into_iter().map(|(k, v)| (Arc::from(k), v)).collect()),
            present: Presence::default(),
            forced: Vec::new(),
        }
    }

    /// Puts this customer in `variant` of the split `experiment`, whatever the hash says: for
    /// quality assurance (a tester sees each arm). A host sets it; it is not part of the wire
    /// profile. Unknown names change nothing (hosts check them against the bundle first:
    /// `Bundle::split_arms`).
    pub fn force_variant(&mut self, experiment: &str, variant: &str) {
        self.forced.retain(|(e, _)| e.as_ref() != experiment);
        self.forced
            .push((Arc::from(experiment), Arc::from(variant)));
    }

    /// The arm forced for `experiment`, if any.
    pub(crate) fn forced_variant(&self, experiment: &str) -> Option<&str> {
        self.forced
            .iter()
            .find(|(e, _)| e.as_ref() == experiment)
            .map(|(_, v)| v.as_ref())
    }

    /// Parses and type-checks a wire-format profile: `{"id": "c1", "consents": ["marketing"],
    /// "tier": "gold", ...}`. `id` is a required string; `consents` an optional array of
    /// strings (absent: none; purposes the schema does not declare are kept and harmless).
    /// Declared fields are type-checked; absent ones are missing; undeclared ones ignored.
    pub fn from_json(bundle: &Bundle, json: &serde_json::Value) -> Result<Profile, InputError> {
        match json.as_object() {
            Some(obj) => Profile::from_members(bundle, obj),
            None => Err(not_an_object("profile", json)),
        }
    }

    /// [`Profile::from_json`] for a document parsed shallowly from its text ([`Document`]).
    pub fn from_document(bundle: &Bundle, doc: &Document<'_>) -> Result<Profile, InputError> {
        match &doc.0 {
            Top::Object(members) => Profile::from_members(bundle, members),
            Top::Other(json) => Err(not_an_object("profile", json)),
        }
    }

    fn from_members(bundle: &Bundle, obj: &impl Members) -> Result<Profile, InputError> {
        const WHAT: &str = "profile";
        let id = required_id(obj, WHAT)?;
        let consents = match obj.member("consents") {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::Array(items)) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    match item {
                        serde_json::Value::String(s) => out.push(s.as_str()),
                        other => {
                            return Err(InputError::WrongType {
                                what: WHAT,
                                field: "consents".into(),
                                expected: "an array of strings".into(),
                                got: format!("an array containing {}", describe(other)),
                            });
                        }
                    }
                }
                out
            }
            Some(other) => {
                return Err(InputError::WrongType {
                    what: WHAT,
                    field: "consents".into(),
                    expected: "an array of strings".into(),
                    got: describe(other),
                });
            }
        };
        let names = bundle.plan().names();
        let shared = names.profile_fields();
        let fields = sort_fields(declared_fields(
            obj,
            &bundle.graph().schema.profile,
            shared,
            WHAT,
            false,
        )?);
        let mut consents: Vec<Arc<str>> = consents.into_iter().map(Arc::from).collect();
        omnirule_text::sort::sort(&mut consents);
        consents.dedup();
        Ok(Profile {
            id: Arc::from(id),
            consents,
            present: Presence::of(&fields, shared, names.profile_order()),
            fields,
            forced: Vec::new(),
        })
    }

    pub(crate) fn view(&self) -> FieldView<'_> {
        FieldView {
            fields: &self.fields,
            present: self.present,
        }
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn consents(&self) -> impl Iterator<Item = &str> {
        self.consents.iter().map(AsRef::as_ref)
    }

    pub fn has_consent(&self, purpose: &str) -> bool {
        self.consents
            .binary_search_by(|c| c.as_ref().cmp(purpose))
            .is_ok()
    }

    /// A declared field's value (`None` when absent).
    pub fn field(&self, name: &str) -> Option<&Value> {
        lookup(&self.fields, name)
    }
}

fn not_an_object(what: &'static str, json: &serde_json::Value) -> InputError {
    InputError::NotAnObject {
        what,
        got: describe(json),
    }
}

/// The input's `id`: a string of at most [`MAX_ID_BYTES`].
fn required_id<'a>(obj: &'a impl Members, what: &'static str) -> Result<&'a str, InputError> {
    let field = "id";
    match obj.member(field) {
        Some(serde_json::Value::String(s)) if s.len() > MAX_ID_BYTES => Err(InputError::TooLong {
            what,
            field: field.into(),
            bytes: s.len(),
            max: MAX_ID_BYTES,
        }),
        None | Some(serde_json::Value::Null) => Err(InputError::MissingField {
            what,
            field: field.into(),
        }),
        Some(serde_json::Value::String(s)) => Ok(s),
        Some(other) => Err(InputError::WrongType {
            what,
            field: field.into(),
            expected: "a string".into(),
            got: describe(other),
        }),
    }
}

/// The declared fields present in `obj`, type-checked. `names` holds the bundle's shared
/// copy of each declared name (parallel to `declared`): fields name themselves with it instead
/// of allocating, and lookups then read names every event shares.
fn declared_fields(
    obj: &impl Members,
    declared: &[Field],
    names: &[Arc<str>],
    what: &'static str,
    enforce_required: bool,
) -> Result<Fields, InputError> {
    let mut out = Vec::with_capacity(declared.len());
    for (i, f) in declared.iter().enumerate() {
        match obj.member(&f.name) {
            None | Some(serde_json::Value::Null) => {
                if enforce_required && !f.optional {
                    return Err(InputError::MissingField {
                        what,
                        field: f.name.clone(),
                    });
                }
            }
            Some(j) => {
                let v = value_from_json(&f.ty, j).map_err(|e| match e {
                    Mismatch::Type { expected, got } => InputError::WrongType {
                        what,
                        field: f.name.clone(),
                        expected,
                        got,
                    },
                    Mismatch::Time(reason) => InputError::BadTime {
                        what,
                        field: f.name.clone(),
                        reason,
                    },
                })?;
                let bytes = v.footprint();
                if bytes > MAX_FIELD_BYTES {
                    return Err(InputError::TooLong {
                        what,
                        field: f.name.clone(),
                        bytes,
                        max: MAX_FIELD_BYTES,
                    });
                }
                let name = names
                    .get(i)
                    .cloned()
                    .unwrap_or_else(|| Arc::from(f.name.as_str()));
                out.push((name, v));
            }
        }
    }
    Ok(out)
}

enum Mismatch {
    Type { expected: String, got: String },
    Time(String),
}

/// How a type is described in errors.
pub fn type_name(t: &Type) -> String {
    match t {
        Type::String => "string".into(),
        Type::Number => "number".into(),
        Type::Bool => "bool".into(),
        Type::Duration => "duration".into(),
        Type::Time => "time".into(),
        Type::List(t) => format!("list<{}>", type_name(t)),
        Type::Set(t) => format!("set<{}>", type_name(t)),
    }
}

fn expected(t: &Type) -> String {
    match t {
        Type::String => "a string".into(),
        Type::Number => "a number".into(),
        Type::Bool => "a boolean".into(),
        Type::Duration => "a duration (integer milliseconds)".into(),
        Type::Time => "a time (an RFC 3339 string or integer milliseconds)".into(),
        Type::List(_) | Type::Set(_) => format!("a {} (an array)", type_name(t)),
    }
}

/// A short description of a JSON value for error messages.
fn describe(j: &serde_json::Value) -> String {
    match j {
        serde_json::Value::Null => "null".into(),
        serde_json::Value::Bool(b) => format!("the boolean {b}"),
        serde_json::Value::Number(n) => format!("the number {}", number_text(n)),
        serde_json::Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            let more = if short.len() < s.len() { "..." } else { "" };
            format!("the string \"{short}{more}\"")
        }
        serde_json::Value::Array(_) => "an array".into(),
        serde_json::Value::Object(_) => "an object".into(),
    }
}

fn integer_ms(n: &serde_json::Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    if f.fract() == 0.0 && f.abs() <= MAX_TIME_MS as f64 {
        #[allow(clippy::cast_possible_truncation)]
        return Some(f as i64);
    }
    None
}

/// A time: an RFC 3339 string or integer milliseconds, within ±8.64e15 ms.
pub(crate) fn time_from_json(j: &serde_json::Value) -> Result<Millis, String> {
    let ms = match j {
        serde_json::Value::String(s) => parse_time(s)?,
        // Out of range is said first, whatever the digits: a JavaScript host holds a large
        // integer as a double and sends other digits, and must get the same message.
        serde_json::Value::Number(n)
            if n.as_f64().is_some_and(|f| f.abs() > MAX_TIME_MS as f64) =>
        {
            return Err("it is outside the range of ±8.64e15 ms".into());
        }
        serde_json::Value::Number(n) => integer_ms(n)
            .ok_or_else(|| format!("{} is not a whole number of milliseconds", number_text(n)))?,
        other => return Err(format!("got {}", describe(other))),
    };
    if !time_in_range(ms) {
        return Err("it is outside the range of ±8.64e15 ms".into());
    }
    Ok(ms)
}

fn value_from_json(t: &Type, j: &serde_json::Value) -> Result<Value, Mismatch> {
    let wrong = || Mismatch::Type {
        expected: expected(t),
        got: describe(j),
    };
    match (t, j) {
        (Type::String, serde_json::Value::String(s)) => Ok(Value::string(s)),
        (Type::Number, serde_json::Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(Value::Number)
            .ok_or_else(wrong),
        (Type::Bool, serde_json::Value::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Duration, serde_json::Value::Number(n)) => {
            integer_ms(n).map(Value::Duration).ok_or_else(wrong)
        }
        (Type::Time, serde_json::Value::String(_) | serde_json::Value::Number(_)) => {
            time_from_json(j).map(Value::Time).map_err(Mismatch::Time)
        }
        (Type::List(inner) | Type::Set(inner), serde_json::Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match value_from_json(inner, item) {
                    Ok(v) => out.push(v),
                    Err(Mismatch::Type { .. }) => {
                        return Err(Mismatch::Type {
                            expected: expected(t),
                            got: format!("an array containing {}", describe(item)),
                        });
                    }
                    Err(e) => return Err(e),
                }
            }
            if matches!(t, Type::Set(_)) {
                omnirule_text::sort::sort_small_by(&mut out, Value::total_cmp);
                out.dedup_by(|a, b| a.total_cmp(b).is_eq());
            }
            Ok(Value::List(out))
        }
        _ => Err(wrong()),
    }
}

/// The members of a JSON object, looked up by name.
trait Members {
    fn member(&self, name: &str) -> Option<&serde_json::Value>;
}

impl Members for serde_json::Map<String, serde_json::Value> {
    fn member(&self, name: &str) -> Option<&serde_json::Value> {
        self.get(name)
    }
}

impl Members for Vec<(Cow<'_, str>, serde_json::Value)> {
    fn member(&self, name: &str) -> Option<&serde_json::Value> {
        // The last of duplicate names, as `serde_json::Map` keeps it.
        self.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// A JSON document parsed one level deep: an object's members in a flat list, keys borrowed
/// from the text when they hold no escapes; member values (and any other document) as
/// `serde_json::Value`s.
///
/// It exists for speed on the hosts' per-event path: profiles and events are small flat
/// objects, and building a `serde_json::Map` for them (a B-tree of owned keys, then dropping
/// it) cost more than checking them. [`Event::from_document`] and [`Profile::from_document`]
/// give exactly the results of the `from_json` forms on the parsed tree.
#[derive(Debug, Clone, PartialEq)]
pub struct Document<'a>(Top<'a>);

impl<'a> Document<'a> {
    /// Parses JSON text (the whole of it: trailing characters are an error; the texts
    /// `serde_json::from_str` accepts, see [`crate::json`]).
    pub fn parse(text: &'a str) -> Result<Document<'a>, omnirule_text::json::Error> {
        omnirule_text::json::parse_top(text).map(Document)
    }
}
