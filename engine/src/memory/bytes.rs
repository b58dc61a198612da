//! The memory's binary form, written and read by hand.
//!
//! The bytes are postcard's encoding of this shape (format version 1 was written with
//! postcard and serde; the bytes are unchanged, `the_bytes_are_postcards`):
//!
//! ```text
//! memory  = newest: option<int>, events: seq<event>, firings: seq<firing>, seen: seq<(str, int)>
//! event   = type: str, id: str, time: int, fields: seq<(str, seq<atom>)>
//! firing  = rule: str, group: option<str>, time: int, event: str
//! atom    = 0 missing | 1 bool | 2 number: f64 | 3 string: str | 4 duration: int
//!         | 5 time: int | 6 list: count (then its count atoms, see `Atom`)
//! ```
//!
//! Format 2 (a memory with a tombstone) is format 1 followed by `erased: int`. Format 3 (a
//! memory with exposures) is format 1 followed by `erased: option<int>, exposures:
//! seq<exposure>`, where
//!
//! ```text
//! exposure = rule: str, variant: option<str>, time: int, event: str, channel: option<str>,
//!            host: option<str>, captures: seq<seq<atom>>, converted: seq<str>
//! ```
//!
//! `seq` and `str` start with their length as a LEB128 varint, `int` is a zigzag varint,
//! `option` a byte (0 or 1) before its value, `f64` eight bytes little-endian, `bool` a byte.
//! By hand because serde's derived code and postcard's were a large part of what the memory
//! cost the browser package in size (`docs/performance.md`), and because the memory is written
//! on every event a browser stores.

use super::{
    Atom, Exposure, Firing, Memory, MemoryError, RememberedEvent, check_time, from_tape, to_tape,
};
use crate::graph::Millis;
use crate::value::Value;
use std::sync::Arc;

pub(super) fn write(m: &Memory, out: &mut Vec<u8>) {
    let mut w = Writer { out };
    w.option(m.newest.as_ref(), |w, t| w.int(*t));
    w.len(m.events.len());
    let mut tape = Vec::new();
    for e in &m.events {
        w.str(&e.event_type);
        w.str(&e.id);
        w.int(e.time);
        w.len(e.fields.len());
        for (name, value) in &e.fields {
            w.str(name);
            tape.clear();
            to_tape(value, &mut tape);
            w.len(tape.len());
            for atom in &tape {
                w.atom(atom);
            }
        }
    }
    w.len(m.firings.len());
    for f in &m.firings {
        w.str(&f.rule);
        w.option(f.group.as_ref(), |w, g| w.str(g));
        w.int(f.time);
        w.str(&f.event);
    }
    w.len(m.seen.len());
    for (id, t) in &m.seen {
        w.str(id);
        w.int(*t);
    }
    if m.exposures.is_empty() {
        if let Some(at) = m.erased {
            w.int(at);
        }
        return;
    }
    w.option(m.erased.as_ref(), |w, t| w.int(*t));
    w.len(m.exposures.len());
    for x in &m.exposures {
        w.str(&x.rule);
        w.option(x.variant.as_ref(), |w, s| w.str(s));
        w.int(x.time);
        w.str(&x.event);
        w.option(x.channel.as_ref(), |w, s| w.str(s));
        w.option(x.host.as_ref(), |w, s| w.str(s));
        w.len(x.captures.len());
        for value in &x.captures {
            tape.clear();
            to_tape(value, &mut tape);
            w.len(tape.len());
            for atom in &tape {
                w.atom(atom);
            }
        }
        w.len(x.converted.len());
        for g in &x.converted {
            w.str(g);
        }
    }
}

struct Writer<'a> {
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.out.push((n as u8) | 0x80);
            n >>= 7;
        }
        self.out.push(n as u8);
    }

    fn len(&mut self, n: usize) {
        self.varint(n as u64);
    }

    fn int(&mut self, n: i64) {
        self.varint(((n << 1) ^ (n >> 63)) as u64);
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.out.extend_from_slice(s.as_bytes());
    }

    fn option<T>(&mut self, v: Option<&T>, put: impl FnOnce(&mut Self, &T)) {
        match v {
            None => self.out.push(0),
            Some(v) => {
                self.out.push(1);
                put(self, v);
            }
        }
    }

    fn atom(&mut self, atom: &Atom) {
        match atom {
            Atom::Missing => self.out.push(0),
            Atom::Bool(b) => self.out.extend_from_slice(&[1, u8::from(*b)]),
            Atom::Number(n) => {
                self.out.push(2);
                self.out.extend_from_slice(&n.to_le_bytes());
            }
            Atom::String(s) => {
                self.out.push(3);
                self.str(s);
            }
            Atom::Duration(d) => {
                self.out.push(4);
                self.int(*d);
            }
            Atom::Time(t) => {
                self.out.push(5);
                self.int(*t);
            }
            Atom::List(n) => {
                self.out.push(6);
                self.varint(u64::from(*n));
            }
        }
    }
}

/// `version` is 1, 2 or 3 (the caller checked).
pub(super) fn read(bytes: &[u8], version: u16) -> Result<Memory, MemoryError> {
    let mut r = Reader { bytes };
    let newest = r.option(Reader::time)?;
    let count = r.len()?;
    let mut events = Vec::with_capacity(count);
    let mut tape = Vec::new();
    for _ in 0..count {
        let event_type = r.str()?;
        let id = r.str()?;
        let time = r.time()?;
        let count = r.len()?;
        let mut fields = Vec::with_capacity(count);
        for _ in 0..count {
            let name = r.str()?;
            tape.clear();
            for _ in 0..r.len()? {
                tape.push(r.atom()?);
            }
            fields.push((name, from_tape(&tape)?));
        }
        omnirule_text::sort::sort_by(&mut fields, |a: &(Arc<str>, Value), b| a.0.cmp(&b.0));
        fields.dedup_by(|a, b| a.0 == b.0);
        events.push(Arc::new(RememberedEvent::new(event_type, id, time, fields)));
    }
    let count = r.len()?;
    let mut firings = Vec::with_capacity(count);
    for _ in 0..count {
        let rule = r.str()?;
        let group = r.option(Reader::str)?;
        let time = r.time()?;
        let event = r.str()?;
        firings.push(Firing {
            rule,
            group,
            time,
            event,
        });
    }
    let count = r.len()?;
    let mut seen = Vec::with_capacity(count);
    for _ in 0..count {
        let id = r.str()?;
        let time = r.time()?;
        seen.push((id, time));
    }
    let (erased, exposures) = match version {
        1 => (None, Vec::new()),
        2 => (Some(r.time()?), Vec::new()),
        _ => {
            let erased = r.option(Reader::time)?;
            let count = r.len()?;
            let mut exposures = Vec::with_capacity(count);
            for _ in 0..count {
                let rule = r.str()?;
                let variant = r.option(Reader::str)?;
                let time = r.time()?;
                let event = r.str()?;
                let channel = r.option(Reader::str)?;
                let host = r.option(Reader::str)?;
                let n = r.len()?;
                let mut captures = Vec::with_capacity(n);
                for _ in 0..n {
                    tape.clear();
                    for _ in 0..r.len()? {
                        tape.push(r.atom()?);
                    }
                    captures.push(from_tape(&tape)?);
                }
                let n = r.len()?;
                let mut converted = Vec::with_capacity(n);
                for _ in 0..n {
                    converted.push(r.str()?);
                }
                exposures.push(Exposure {
                    rule,
                    variant,
                    time,
                    event,
                    channel,
                    host,
                    captures,
                    converted,
                });
            }
            (erased, exposures)
        }
    };
    if !r.bytes.is_empty() {
        return Err(MemoryError::Decode(format!(
            "{} unexpected trailing bytes",
            r.bytes.len()
        )));
    }
    Ok(Memory {
        newest,
        erased,
        events,
        firings,
        seen,
        exposures,
    })
}

fn truncated() -> MemoryError {
    MemoryError::Decode("the memory is truncated".into())
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], MemoryError> {
        if n > self.bytes.len() {
            return Err(truncated());
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, MemoryError> {
        let (&b, rest) = self.bytes.split_first().ok_or_else(truncated)?;
        self.bytes = rest;
        Ok(b)
    }

    /// A LEB128 varint of at most `max_bits` bits (postcard's: at most as many bytes as the
    /// bits need, and no bits beyond them in the last one).
    fn varint(&mut self, max_bits: u32) -> Result<u64, MemoryError> {
        let mut n: u64 = 0;
        let mut shift = 0;
        loop {
            let b = self.byte()?;
            let bits = u64::from(b & 0x7F);
            if shift + 7 > max_bits && bits >> (max_bits - shift) != 0 {
                return Err(bad_varint());
            }
            n |= bits << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
            shift += 7;
            if shift >= max_bits {
                return Err(bad_varint());
            }
        }
    }

    /// A length: no more than the bytes left could hold (each item takes a byte at least),
    /// so a hostile length reserves nothing.
    fn len(&mut self) -> Result<usize, MemoryError> {
        let n = usize::try_from(self.varint(usize::BITS)?).map_err(|_| bad_varint())?;
        if n > self.bytes.len() {
            return Err(truncated());
        }
        Ok(n)
    }

    fn u32(&mut self) -> Result<u32, MemoryError> {
        u32::try_from(self.varint(32)?).map_err(|_| bad_varint())
    }

    fn int(&mut self) -> Result<Millis, MemoryError> {
        let z = self.varint(64)?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A time, within the range every time must be in.
    fn time(&mut self) -> Result<Millis, MemoryError> {
        let t = self.int()?;
        check_time(t)?;
        Ok(t)
    }

    fn str(&mut self) -> Result<Arc<str>, MemoryError> {
        let n = self.len()?;
        let text = std::str::from_utf8(self.take(n)?)
            .map_err(|_| MemoryError::Decode("a string is not UTF-8".into()))?;
        Ok(Arc::from(text))
    }

    fn option<T>(
        &mut self,
        get: impl FnOnce(&mut Self) -> Result<T, MemoryError>,
    ) -> Result<Option<T>, MemoryError> {
        match self.byte()? {
            0 => Ok(None),
            1 => get(self).map(Some),
            _ => Err(MemoryError::Decode("an option tag is not 0 or 1".into())),
        }
    }

    fn atom(&mut self) -> Result<Atom, MemoryError> {
        Ok(match self.u32()? {
            0 => Atom::Missing,
            1 => match self.byte()? {
                0 => Atom::Bool(false),
                1 => Atom::Bool(true),
                _ => return Err(MemoryError::Decode("a boolean is not 0 or 1".into())),
            },
            2 => {
                let raw = self.take(8)?;
                Atom::Number(f64::from_le_bytes(
                    <[u8; 8]>::try_from(raw).map_err(|_| truncated())?,
                ))
            }
            3 => Atom::String(self.str()?),
            4 => Atom::Duration(self.int()?),
            5 => Atom::Time(self.int()?),
            6 => Atom::List(self.u32()?),
            tag => return Err(MemoryError::Decode(format!("unknown value tag {tag}"))),
        })
    }
}

fn bad_varint() -> MemoryError {
    MemoryError::Decode("a number is not a valid varint".into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    /// The shape format version 1 was written in, with serde and postcard: the oracle.
    #[derive(Serialize, Deserialize)]
    struct Wire {
        newest: Option<Millis>,
        events: Vec<WireEvent>,
        firings: Vec<WireFiring>,
        seen: Vec<(String, Millis)>,
    }

    #[derive(Serialize, Deserialize)]
    struct WireEvent {
        event_type: String,
        id: String,
        time: Millis,
        fields: Vec<(String, Vec<WireAtom>)>,
    }

    #[derive(Serialize, Deserialize)]
    struct WireFiring {
        rule: String,
        group: Option<String>,
        time: Millis,
        event: String,
    }

    #[derive(Serialize, Deserialize)]
    enum WireAtom {
        Missing,
        Bool(bool),
        Number(f64),
        String(String),
        Duration(Millis),
        Time(Millis),
        List(u32),
    }

    fn wire_of(m: &Memory) -> Wire {
        let atom = |a: Atom| match a {
            Atom::Missing => WireAtom::Missing,
            Atom::Bool(b) => WireAtom::Bool(b),
            Atom::Number(n) => WireAtom::Number(n),
            Atom::String(s) => WireAtom::String(s.to_string()),
            Atom::Duration(d) => WireAtom::Duration(d),
            Atom::Time(t) => WireAtom::Time(t),
            Atom::List(n) => WireAtom::List(n),
        };
        let tape = |v: &Value| {
            let mut out = Vec::new();
            to_tape(v, &mut out);
            out.into_iter().map(atom).collect()
        };
        Wire {
            newest: m.newest,
            events: m
                .events
                .iter()
                .map(|e| WireEvent {
                    event_type: e.event_type.to_string(),
                    id: e.id.to_string(),
                    time: e.time,
                    fields: e
                        .fields
                        .iter()
                        .map(|(k, v)| (k.to_string(), tape(v)))
                        .collect(),
                })
                .collect(),
            firings: m
                .firings
                .iter()
                .map(|f| WireFiring {
                    rule: f.rule.to_string(),
                    group: f.group.as_ref().map(|g| g.to_string()),
                    time: f.time,
                    event: f.event.to_string(),
                })
                .collect(),
            seen: m.seen.iter().map(|(id, t)| (id.to_string(), *t)).collect(),
        }
    }

    /// What version 1's reader made of a wire: the memory, or that it was refused.
    fn memory_of(w: Wire) -> Option<Memory> {
        let atom = |a: WireAtom| match a {
            WireAtom::Missing => Atom::Missing,
            WireAtom::Bool(b) => Atom::Bool(b),
            WireAtom::Number(n) => Atom::Number(n),
            WireAtom::String(s) => Atom::String(Arc::from(s)),
            WireAtom::Duration(d) => Atom::Duration(d),
            WireAtom::Time(t) => Atom::Time(t),
            WireAtom::List(n) => Atom::List(n),
        };
        let time = |t: Millis| check_time(t).ok().map(|()| t);
        let mut events = Vec::new();
        for e in w.events {
            let mut fields = Vec::new();
            for (k, tape) in e.fields {
                let tape: Vec<Atom> = tape.into_iter().map(atom).collect();
                fields.push((Arc::from(k), from_tape(&tape).ok()?));
            }
            omnirule_text::sort::sort_by(&mut fields, |a: &(Arc<str>, Value), b| a.0.cmp(&b.0));
            fields.dedup_by(|a, b| a.0 == b.0);
            events.push(Arc::new(RememberedEvent::new(
                Arc::from(e.event_type),
                Arc::from(e.id),
                time(e.time)?,
                fields,
            )));
        }
        let mut firings = Vec::new();
        for f in w.firings {
            firings.push(Firing {
                rule: Arc::from(f.rule),
                group: f.group.map(Arc::from),
                time: time(f.time)?,
                event: Arc::from(f.event),
            });
        }
        let mut seen = Vec::new();
        for (id, t) in w.seen {
            seen.push((Arc::from(id), time(t)?));
        }
        let newest = match w.newest {
            Some(t) => Some(time(t)?),
            None => None,
        };
        Some(Memory {
            newest,
            erased: None,
            events,
            firings,
            seen,
            exposures: Vec::new(),
        })
    }

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Missing),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(crate::value::number),
            "[a-zé]{0,6}".prop_map(|s| Value::string(&s)),
            any::<i64>().prop_map(Value::Duration),
            (-MAX_TIME..MAX_TIME).prop_map(Value::Time),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop::collection::vec(inner, 0..4).prop_map(Value::List)
        })
    }

    const MAX_TIME: Millis = crate::value::MAX_TIME_MS;

    /// Times at the ends of `i64` (damaged or hostile bytes) are refused, not overflowed: the
    /// range check must not negate `i64::MIN`.
    #[test]
    fn times_at_the_ends_of_i64_are_refused() {
        for t in [i64::MIN, i64::MAX, -MAX_TIME - 1, MAX_TIME + 1] {
            let m = Memory {
                newest: Some(t),
                erased: None,
                events: Vec::new(),
                firings: Vec::new(),
                seen: vec![(Arc::from("e1"), t)],
                exposures: Vec::new(),
            };
            assert!(Memory::from_bytes(&m.to_bytes()).is_err(), "{t}");
        }
        let edge = Memory {
            newest: Some(-MAX_TIME),
            erased: None,
            events: Vec::new(),
            firings: Vec::new(),
            seen: vec![(Arc::from("e1"), -MAX_TIME)],
            exposures: Vec::new(),
        };
        assert_eq!(Memory::from_bytes(&edge.to_bytes()).ok(), Some(edge));
    }

    fn arb_memory() -> impl Strategy<Value = Memory> {
        let name = "[a-z]{0,5}".prop_map(Arc::<str>::from);
        let time = prop_oneof![(-MAX_TIME..=MAX_TIME), Just(0i64), Just(-1i64)];
        let event = (
            name.clone(),
            name.clone(),
            time.clone(),
            prop::collection::vec((name.clone(), arb_value()), 0..4),
        )
            .prop_map(|(event_type, id, time, fields)| {
                Arc::new(RememberedEvent::new(event_type, id, time, fields))
            });
        let firing = (
            name.clone(),
            prop::option::of(name.clone()),
            time.clone(),
            name.clone(),
        )
            .prop_map(|(rule, group, time, event)| Firing {
                rule,
                group,
                time,
                event,
            });
        (
            prop::option::of(time.clone()),
            prop::collection::vec(event, 0..4),
            prop::collection::vec(firing, 0..4),
            prop::collection::vec((name, time), 0..4),
        )
            .prop_map(|(newest, events, firings, seen)| Memory {
                newest,
                erased: None,
                events,
                firings,
                seen,
                exposures: Vec::new(),
            })
    }

    fn encoded(m: &Memory) -> Vec<u8> {
        let mut out = Vec::new();
        write(m, &mut out);
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn the_bytes_are_postcards(m in arb_memory()) {
            let bytes = encoded(&m);
            prop_assert_eq!(&bytes, &postcard::to_allocvec(&wire_of(&m)).unwrap());
            let back = read(&bytes, 1).unwrap();
            let (wire, rest) = postcard::take_from_bytes::<Wire>(&bytes).unwrap();
            prop_assert!(rest.is_empty());
            prop_assert_eq!(Some(back.clone()), memory_of(wire));
            prop_assert_eq!(read(&encoded(&back), 1).unwrap(), back);
        }

        #[test]
        fn damaged_bytes_are_read_as_postcard_read_them(
            m in arb_memory(),
            cuts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            truncate in any::<Option<prop::sample::Index>>(),
        ) {
            let mut bytes = encoded(&m);
            for (at, b) in cuts {
                if !bytes.is_empty() {
                    let i = at.index(bytes.len());
                    bytes[i] = b;
                }
            }
            if let Some(t) = truncate {
                bytes.truncate(t.index(bytes.len() + 1));
            }
            let theirs = match postcard::take_from_bytes::<Wire>(&bytes) {
                Ok((w, [])) => memory_of(w),
                _ => None,
            };
            let ours = read(&bytes, 1).ok();
            prop_assert_eq!(ours, theirs);
        }
    }

    #[test]
    fn lengths_beyond_the_bytes_left_are_refused_before_anything_is_reserved() {
        // A memory claiming 2^62 events in a few bytes.
        let mut bytes = vec![0];
        bytes.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x3f]);
        assert!(read(&bytes, 1).is_err());
        assert!(read(&[], 1).is_err());
        assert!(read(&[0, 0, 0, 0], 1).is_ok());
        assert!(read(&[2, 0, 0, 0], 1).is_err());
    }
}
