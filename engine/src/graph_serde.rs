//! Depth-limited deserialisation of the two recursive graph types, [`Literal`] and [`Type`].
//!
//! Everything else in the graph refers to other parts by index, so it is flat; these two nest
//! by value. A derived `Deserialize` would recurse once per level of a hostile bundle's
//! `List(List(List(...)))` and overflow the stack (an abort, worse than a panic) on a few
//! kilobytes of input. These impls read exactly the derived (externally tagged) format of the
//! bundle's JSON form, but carry the depth in a `DeserializeSeed` and refuse more than
//! [`MAX_NESTING`] levels. (The binary body has its own reader, `bundle/body.rs`, with the same
//! limit.)

use crate::graph::{Literal, Type};
use serde::de::{self, DeserializeSeed, EnumAccess, SeqAccess, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// Deepest nesting of `list<...>`/`set<...>` types and list literals a bundle may contain.
pub const MAX_NESTING: u32 = 32;

/// A variant tag: its name in JSON (an index from other formats).
struct Tag {
    index: u32,
}

struct TagSeed(&'static [&'static str]);

impl<'de> DeserializeSeed<'de> for TagSeed {
    type Value = Tag;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Tag, D::Error> {
        d.deserialize_identifier(TagVisitor(self.0))
    }
}

struct TagVisitor(&'static [&'static str]);

impl Visitor<'_> for TagVisitor {
    type Value = Tag;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "one of {:?}", self.0)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Tag, E> {
        match u32::try_from(v) {
            Ok(index) if (index as usize) < self.0.len() => Ok(Tag { index }),
            _ => Err(E::invalid_value(de::Unexpected::Unsigned(v), &self)),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Tag, E> {
        match self.0.iter().position(|n| *n == v) {
            Some(i) => Ok(Tag {
                index: u32::try_from(i).unwrap_or(u32::MAX),
            }),
            None => Err(E::unknown_variant(v, self.0)),
        }
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Tag, E> {
        match std::str::from_utf8(v) {
            Ok(s) => self.visit_str(s),
            Err(_) => Err(E::invalid_value(de::Unexpected::Bytes(v), &self)),
        }
    }
}

const LITERAL_VARIANTS: &[&str] = &["Bool", "Number", "String", "Duration", "Time", "List"];
const TYPE_VARIANTS: &[&str] = &[
    "String", "Number", "Bool", "Duration", "Time", "List", "Set",
];

fn too_deep<E: de::Error>() -> E {
    E::custom(format!("values nest more than {MAX_NESTING} levels deep"))
}

// ----- Literal -------------------------------------------------------------------------------

struct LiteralSeed(u32);

impl<'de> DeserializeSeed<'de> for LiteralSeed {
    type Value = Literal;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Literal, D::Error> {
        if self.0 > MAX_NESTING {
            return Err(too_deep());
        }
        d.deserialize_enum("Literal", LITERAL_VARIANTS, LiteralVisitor(self.0))
    }
}

struct LiteralVisitor(u32);

impl<'de> Visitor<'de> for LiteralVisitor {
    type Value = Literal;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a literal")
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Literal, A::Error> {
        let (tag, v) = data.variant_seed(TagSeed(LITERAL_VARIANTS))?;
        match tag.index {
            0 => v.newtype_variant().map(Literal::Bool),
            1 => v.newtype_variant().map(Literal::Number),
            2 => v.newtype_variant().map(Literal::String),
            3 => v.newtype_variant().map(Literal::Duration),
            4 => v.newtype_variant().map(Literal::Time),
            _ => v
                .newtype_variant_seed(LiteralListSeed(self.0 + 1))
                .map(Literal::List),
        }
    }
}

struct LiteralListSeed(u32);

impl<'de> DeserializeSeed<'de> for LiteralListSeed {
    type Value = Vec<Literal>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Vec<Literal>, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for LiteralListSeed {
    type Value = Vec<Literal>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of literals")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Literal>, A::Error> {
        // Never trust a length prefix for preallocation.
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
        while let Some(item) = seq.next_element_seed(LiteralSeed(self.0))? {
            out.push(item);
        }
        Ok(out)
    }
}

impl<'de> Deserialize<'de> for Literal {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Literal, D::Error> {
        LiteralSeed(0).deserialize(d)
    }
}

// ----- Type ------------------------------------------------------------------------------------

struct TypeSeed(u32);

impl<'de> DeserializeSeed<'de> for TypeSeed {
    type Value = Type;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Type, D::Error> {
        if self.0 > MAX_NESTING {
            return Err(too_deep());
        }
        d.deserialize_enum("Type", TYPE_VARIANTS, TypeVisitor(self.0))
    }
}

struct TypeVisitor(u32);

impl<'de> Visitor<'de> for TypeVisitor {
    type Value = Type;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a type")
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Type, A::Error> {
        let (tag, v) = data.variant_seed(TagSeed(TYPE_VARIANTS))?;
        let unit = |v: A::Variant, t: Type| v.unit_variant().map(|()| t);
        match tag.index {
            0 => unit(v, Type::String),
            1 => unit(v, Type::Number),
            2 => unit(v, Type::Bool),
            3 => unit(v, Type::Duration),
            4 => unit(v, Type::Time),
            5 => v
                .newtype_variant_seed(TypeSeed(self.0 + 1))
                .map(|t| Type::List(Box::new(t))),
            _ => v
                .newtype_variant_seed(TypeSeed(self.0 + 1))
                .map(|t| Type::Set(Box::new(t))),
        }
    }
}

impl<'de> Deserialize<'de> for Type {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Type, D::Error> {
        TypeSeed(0).deserialize(d)
    }
}
