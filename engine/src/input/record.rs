//! Records: profiles and events in a compact binary layout a host writes straight into the
//! engine's memory, instead of JSON text the engine then parses.
//!
//! The browser package uses it: turning a JavaScript object into JSON text, copying the text
//! into wasm and parsing it there was most of the cost of a call. A record holds only what the
//! engine reads, in an order both sides know from the schema ([`profile_keys`],
//! [`event_keys`]), so neither side looks anything up by name.
//!
//! A record is an optimisation, never a second meaning: [`Profile::from_record`] and
//! [`Event::from_record`] return `None` whenever the record is not exactly what the JSON path
//! would accept (a type mismatch, a missing required field, a bad time, a value the layout does
//! not carry), and the host then sends the JSON text, whose checks give the error. So a
//! record decodes to the profile or event [`Profile::from_json`] would build for the same
//! values, or to nothing.
//!
//! Layout (little-endian): a profile is the values of [`profile_keys`] in order; an event is
//! its event type's index (`u32`) and then the values of [`event_keys`] in order. A value is a
//! tag byte and its payload:
//!
//! | tag | value | payload |
//! |---:|---|---|
//! | 0 | absent (`undefined` or `null`) | none |
//! | 1 | `false` | none |
//! | 2 | `true` | none |
//! | 3 | a finite number | `f64` |
//! | 4 | a string | `u32` byte length, UTF-8 |
//! | 5 | an array of strings | `u32` count, then each string as for tag 4 |
//!
//! Numbers are as JSON text carries them: a writer sends `-0` as it likes (it is read as `0`,
//! as `JSON.stringify(-0)` gives `0`), and a number whose JSON digits would not round-trip
//! through an integer (beyond ±2^53) as JSON text instead.

use super::Profile;
use crate::bundle::Bundle;
use crate::fields::{Fields, Presence};
use crate::graph::{Field, Millis, Type};
use crate::input::{Event, MAX_FIELD_BYTES, MAX_ID_BYTES};
use crate::value::{Value, time_in_range};
use omnirule_text::time::parse_time;
use std::sync::Arc;

const ABSENT: u8 = 0;
const FALSE: u8 = 1;
const TRUE: u8 = 2;
const NUMBER: u8 = 3;
const STRING: u8 = 4;
const STRINGS: u8 = 5;

/// Integers up to this magnitude are exact in an `f64` and in JSON's integer digits alike.
const MAX_EXACT: f64 = 9_007_199_254_740_992.0;

/// The members a profile record holds, in order: `id`, `consents`, then the declared fields
/// in name order.
pub fn profile_keys(bundle: &Bundle) -> Vec<&str> {
    let declared = &bundle.graph().schema.profile;
    let order = bundle.plan().names().profile_order();
    ["id", "consents"]
        .into_iter()
        .chain(in_order(declared, order).map(|f| f.name.as_str()))
        .collect()
}

/// The members an event record holds after its type, in order: `id`, `time`, then the event
/// type's declared fields in name order (its `type` is the index before them). `None` for an
/// unknown type.
pub fn event_keys(bundle: &Bundle, event_type: usize) -> Option<Vec<&str>> {
    let declared = &bundle.graph().schema.events.get(event_type)?.fields;
    let order = bundle
        .plan()
        .names()
        .event_order(u32::try_from(event_type).ok()?);
    Some(
        ["id", "time"]
            .into_iter()
            .chain(in_order(declared, order).map(|f| f.name.as_str()))
            .collect(),
    )
}

/// Declared fields with their shared names, in `order` (indices into both).
fn in_order<'a>(declared: &'a [Field], order: &'a [u32]) -> impl Iterator<Item = &'a Field> {
    order.iter().filter_map(|&i| declared.get(i as usize))
}

/// One value of a record.
enum Item<'a> {
    Absent,
    Bool(bool),
    Number(f64),
    String(&'a str),
    Strings(Vec<&'a str>),
}

/// Reads a record front to back; every read is bounds-checked. (The small reads are inlined
/// even in the size-optimised browser build: calls to them were most of decoding there.)
struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline(always)]
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.bytes.len() {
            return None;
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(head)
    }

    #[inline(always)]
    fn u8(&mut self) -> Option<u8> {
        self.take(1)?.first().copied()
    }

    #[inline(always)]
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    #[inline(always)]
    fn str(&mut self) -> Option<&'a str> {
        let len = usize::try_from(self.u32()?).ok()?;
        std::str::from_utf8(self.take(len)?).ok()
    }

    fn item(&mut self) -> Option<Item<'a>> {
        Some(match self.u8()? {
            ABSENT => Item::Absent,
            FALSE => Item::Bool(false),
            TRUE => Item::Bool(true),
            NUMBER => {
                let n = f64::from_le_bytes(self.take(8)?.try_into().ok()?);
                if !n.is_finite() {
                    return None;
                }
                // JSON text has no negative zero.
                Item::Number(n + 0.0)
            }
            STRING => Item::String(self.str()?),
            STRINGS => {
                let count = usize::try_from(self.u32()?).ok()?;
                // Each string takes at least its 4-byte length: a count the bytes cannot hold
                // is refused before anything is reserved for it.
                if count > self.bytes.len() / 4 {
                    return None;
                }
                let mut items = Vec::with_capacity(count);
                for _ in 0..count {
                    items.push(self.str()?);
                }
                Item::Strings(items)
            }
            _ => return None,
        })
    }

    fn string(&mut self) -> Option<&'a str> {
        match self.item()? {
            Item::String(s) => Some(s),
            _ => None,
        }
    }
}

/// Whole milliseconds, as JSON's integer digits carry them.
fn integer_ms(n: f64) -> Option<Millis> {
    #[allow(clippy::cast_possible_truncation)]
    (n.fract() == 0.0 && n.abs() <= MAX_EXACT).then_some(n as Millis)
}

fn time(item: &Item<'_>) -> Option<Millis> {
    let ms = match item {
        Item::String(s) => parse_time(s).ok()?,
        Item::Number(n) => integer_ms(*n)?,
        _ => return None,
    };
    time_in_range(ms).then_some(ms)
}

/// The value a declared field of type `t` holds, when the item is one the JSON path accepts.
fn value(t: &Type, item: &Item<'_>) -> Option<Value> {
    match (t, item) {
        (Type::String, Item::String(s)) => Some(Value::string(s)),
        (Type::Number, Item::Number(n)) => Some(Value::Number(*n)),
        (Type::Bool, Item::Bool(b)) => Some(Value::Bool(*b)),
        (Type::Duration, Item::Number(n)) => integer_ms(*n).map(Value::Duration),
        (Type::Time, Item::String(_) | Item::Number(_)) => time(item).map(Value::Time),
        (Type::List(inner) | Type::Set(inner), Item::Strings(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for s in items {
                out.push(value(inner, &Item::String(s))?);
            }
            if matches!(t, Type::Set(_)) {
                omnirule_text::sort::sort_small_by(&mut out, Value::total_cmp);
                out.dedup_by(|a, b| a.total_cmp(b).is_eq());
            }
            Some(Value::List(out))
        }
        _ => None,
    }
}

/// The declared fields that are present, typed, read in name order (`order`); `None` when one
/// does not type-check or a required one is absent.
fn declared_fields(
    reader: &mut Reader<'_>,
    declared: &[Field],
    names: &[Arc<str>],
    order: &[u32],
    enforce_required: bool,
) -> Option<Fields> {
    let mut out: Fields = Vec::with_capacity(declared.len());
    for &i in order {
        let f = declared.get(i as usize)?;
        match reader.item()? {
            Item::Absent if enforce_required && !f.optional => return None,
            Item::Absent => {}
            item => {
                let name = names
                    .get(i as usize)
                    .cloned()
                    .unwrap_or_else(|| Arc::from(f.name.as_str()));
                // Over the limit: the JSON path reports it (`TooLong`).
                let v = value(&f.ty, &item).filter(|v| v.footprint() <= MAX_FIELD_BYTES)?;
                out.push((name, v));
            }
        }
    }
    // Names are unique (the bundle is validated) and read in order: the fields are sorted.
    debug_assert!(out.windows(2).all(|w| matches!(w, [a, b] if a.0 < b.0)));
    // A record is exactly its members: trailing bytes mean a writer with another layout.
    reader.bytes.is_empty().then_some(out)
}

impl Profile {
    /// The profile a record holds (see the [module documentation](self)), or `None` when it
    /// is not one [`Profile::from_json`] would accept as it stands: the host then sends JSON.
    pub fn from_record(bundle: &Bundle, record: &[u8]) -> Option<Profile> {
        let mut reader = Reader { bytes: record };
        let id = reader.string().filter(|id| id.len() <= MAX_ID_BYTES)?;
        let mut consents: Vec<Arc<str>> = match reader.item()? {
            Item::Absent => Vec::new(),
            Item::Strings(items) => items.into_iter().map(Arc::from).collect(),
            _ => return None,
        };
        let declared = &bundle.graph().schema.profile;
        let names = bundle.plan().names();
        let order = names.profile_order();
        let shared = names.profile_fields();
        let fields = declared_fields(&mut reader, declared, shared, order, false)?;
        omnirule_text::sort::sort(&mut consents);
        consents.dedup();
        Some(Profile {
            id: Arc::from(id),
            consents,
            present: Presence::of(&fields, shared, order),
            fields,
            forced: Vec::new(),
        })
    }
}

impl Event {
    /// The event a record holds (see the [module documentation](self)), or `None` when it is
    /// not one [`Event::from_json`] would accept as it stands: the host then sends JSON.
    pub fn from_record(bundle: &Bundle, record: &[u8]) -> Option<Event> {
        let mut reader = Reader { bytes: record };
        let event_type = reader.u32()?;
        let declared = bundle.graph().schema.events.get(event_type as usize)?;
        let id = reader.string().filter(|id| id.len() <= MAX_ID_BYTES)?;
        let time = time(&reader.item()?)?;
        let names = bundle.plan().names();
        let (shared, order) = (
            names.event_fields(event_type),
            names.event_order(event_type),
        );
        let fields = declared_fields(&mut reader, &declared.fields, shared, order, true)?;
        Some(Event {
            event_type,
            id: Arc::from(id),
            time,
            present: Presence::of(&fields, shared, order),
            fields,
            place: super::Place::default(),
        })
    }
}
