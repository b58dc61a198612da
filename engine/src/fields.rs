//! An input's fields as evaluation reads them: a sorted list of `(name, value)` pairs, plus a
//! hint of which declared fields it holds.
//!
//! Events have few fields, and sorted order makes lookups logarithmic and the representation
//! canonical. Below the bundle and the fast path, which both read fields; the inputs
//! themselves ([`crate::input`]) are decoded against a bundle, above it.

use crate::value::Value;
use std::sync::Arc;

/// Sorted, unique `(name, value)` pairs.
pub(crate) type Fields = Vec<(Arc<str>, Value)>;

pub(crate) fn sort_fields(mut fields: Fields) -> Fields {
    omnirule_text::sort::sort_small_by(&mut fields, |a, b| a.0.cmp(&b.0));
    // Keep the last of duplicate names.
    let mut out: Fields = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        match out.last_mut() {
            Some(last) if last.0 == k => last.1 = v,
            _ => out.push((k, v)),
        }
    }
    out
}

pub(crate) fn lookup<'a>(fields: &'a [(Arc<str>, Value)], name: &str) -> Option<&'a Value> {
    fields
        .binary_search_by(|(k, _)| cmp_names(k, name))
        .ok()
        .and_then(|i| fields.get(i))
        .map(|(_, v)| v)
}

/// `str`'s order, for field names. They are short, and a byte loop the compiler inlines beats
/// a call to `memcmp` per probe (field lookups were the top of the evaluation profile).
#[inline]
fn cmp_names(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    for (x, y) in a.iter().zip(b) {
        if x != y {
            return x.cmp(y);
        }
    }
    a.len().cmp(&b.len())
}

/// Which declared fields an input parsed against a bundle holds: bit `r` set when the
/// declared field `r`-th in name order is in its fields, under the bundle's shared copy of the
/// name. Evaluation then finds a field by counting bits instead of searching (searching made
/// field lookups a large part of an event's cost, `docs/performance.md`), checking the name it
/// lands on by identity. A hint derived from the fields, not part of the input: inputs built
/// from Rust carry none (and are searched), so [`Event`](crate::input::Event) and
/// [`Profile`](crate::input::Profile) compare their fields, not their hints.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Presence(u64);

impl Presence {
    /// The hint for `fields` (sorted by name) parsed with the declared `names`, whose name
    /// order `order` gives.
    pub(crate) fn of(fields: &[(Arc<str>, Value)], names: &[Arc<str>], order: &[u32]) -> Presence {
        let mut bits = 0u64;
        let mut rest = fields.iter().peekable();
        for (rank, i) in order.iter().enumerate().take(64) {
            let Some(name) = names.get(*i as usize) else {
                continue;
            };
            if rest.peek().is_some_and(|(k, _)| Arc::ptr_eq(k, name)) {
                bits |= 1 << rank;
                rest.next();
            }
        }
        Presence(bits)
    }

    /// The value of the field named `name`, ranked `rank` in name order, when the hint has it.
    #[inline]
    pub(crate) fn find<'v>(
        self,
        fields: &'v [(Arc<str>, Value)],
        name: &Arc<str>,
        rank: u8,
    ) -> Option<&'v Value> {
        let bit = 1u64.checked_shl(u32::from(rank))?;
        if self.0 & bit == 0 {
            return None;
        }
        let below = self.0 & (bit - 1);
        // With every field ranked before it present (hosts mostly send them all) the field
        // is at its rank: no bit count, which is a loop on CPUs without `popcnt`.
        let at = if below == bit - 1 {
            usize::from(rank)
        } else {
            below.count_ones() as usize
        };
        match fields.get(at) {
            Some((k, v)) if Arc::ptr_eq(k, name) => Some(v),
            _ => None,
        }
    }
}

/// An input's fields and their presence hint: what the fast path reads of an event or a
/// profile, without knowing how the input was decoded.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FieldView<'a> {
    pub(crate) fields: &'a [(Arc<str>, Value)],
    pub(crate) present: Presence,
}
