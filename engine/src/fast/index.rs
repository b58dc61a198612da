//! The rule index of a compiled trigger: which of its plain rules an event's field values
//! leave standing, decided for all of them at once.
//!
//! A plain rule's condition is a conjunction, and most of its parts are *leaves* that test one
//! field against literals (`profile.tier in ["gold", "platinum"]`, `event.price > 100`). For one
//! field, the literals every leaf on it mentions cut the field's values into a few *classes*
//! (each string compared with, any other string, each number compared with, the open ranges
//! between those numbers, true, false, missing, ...) within which no leaf can change its answer.
//! So at compile time each class gets a row of bits, one per step of the trigger: set when every
//! leaf of that step on that field holds for the class (a step with no leaf on the field has
//! its bit set in every row). At evaluation, each indexed field's value picks its class's row
//! and the rows are ANDed: the bits left are the steps whose indexed leaves all hold, and only
//! those are visited, in order. An event then costs a lookup per field and a word per 64 steps
//! per field, instead of a test per rule, however many rules it does not fire.
//!
//! Exactness does not rest on reasoning about each kind of leaf: a class's bit is computed by
//! testing the leaf itself on a representative value of the class, and the classes are built
//! from the leaf's own literals ([`Pred::leaf_literals`]). Leaves of a field whose table would be
//! too large stay ordinary tests.

use super::pred::{Pred, SlotValue, UNKNOWN};

/// A field is left unindexed (its leaves stay tests) when its rows would take more words than
/// this (256 KiB): a trigger with thousands of rules and thousands of distinct numbers on one
/// field.
const MAX_WORDS_PER_FIELD: usize = 1 << 15;

/// At most this many fields are indexed per trigger, so that evaluation can keep each field's
/// chosen row on the stack.
pub(crate) const MAX_FIELDS: usize = 32;

/// Classes every field has, before its strings and numbers.
const MISSING: usize = 0;
const OTHER: usize = 1;
const FALSE: usize = 2;
const TRUE: usize = 3;
const NAN: usize = 4;
/// A string no leaf on the field compares with.
const OTHER_STRING: usize = 5;
const FIXED: usize = 6;

/// One indexed field.
#[derive(Debug, Clone)]
struct FieldIndex {
    field: u16,
    /// The strings (symbols) leaves compare this field with, sorted: class `FIXED + i`.
    syms: Box<[u32]>,
    /// The numbers leaves compare this field with, sorted, distinct: class `num0 + 2i` holds the
    /// values below `bounds[i]` (and above the bound before it), `num0 + 2i + 1` exactly
    /// `bounds[i]`, and `num0 + 2 * bounds.len()` the values above the last.
    bounds: Box<[f64]>,
    /// `classes × words` bits.
    rows: Box<[u64]>,
}

/// The leaves that test one field, as (field, leaf number) grouped by field in field order,
/// leaves in their own order within a group: a counting sort, since fields are slot numbers
/// (a comparison sort of the leaves was a large part of compiling a trigger, which its
/// first event waits on; `docs/performance.md`).
fn group_by_field(leaves: &[Leaf<'_>]) -> Vec<(u16, usize)> {
    let keyed: Vec<(u16, usize)> = leaves
        .iter()
        .enumerate()
        .filter_map(|(i, l)| Some((l.pred.leaf_field()?, i)))
        .collect();
    let slots = keyed
        .iter()
        .map(|(f, _)| usize::from(*f) + 1)
        .max()
        .unwrap_or(0);
    // `next[f]`: where the next leaf of field `f` goes.
    let mut next = vec![0usize; slots + 1];
    for (f, _) in &keyed {
        if let Some(n) = next.get_mut(usize::from(*f) + 1) {
            *n += 1;
        }
    }
    for f in 1..next.len() {
        let before = next.get(f - 1).copied().unwrap_or(0);
        if let Some(n) = next.get_mut(f) {
            *n += before;
        }
    }
    let mut out = vec![(0u16, 0usize); keyed.len()];
    for &(f, i) in &keyed {
        if let Some(n) = next.get_mut(usize::from(f))
            && let Some(slot) = out.get_mut(*n)
        {
            *slot = (f, i);
            *n += 1;
        }
    }
    out
}

impl FieldIndex {
    fn classes(syms: usize, bounds: usize) -> usize {
        FIXED + syms + 2 * bounds + 1
    }

    fn num0(&self) -> usize {
        FIXED + self.syms.len()
    }

    /// The class of a value of this field.
    #[inline]
    fn class_of(&self, v: SlotValue) -> usize {
        match v {
            SlotValue::Missing | SlotValue::Unresolved => MISSING,
            SlotValue::Other => OTHER,
            SlotValue::Bool(false) => FALSE,
            SlotValue::Bool(true) => TRUE,
            SlotValue::Sym(s) => match self.syms.binary_search(&s) {
                Ok(i) => FIXED + i,
                Err(_) => OTHER_STRING,
            },
            SlotValue::Num(x) if x.is_nan() => NAN,
            SlotValue::Num(x) => {
                let i = self.bounds.partition_point(|b| *b < x);
                let exact = self.bounds.get(i).is_some_and(|b| *b == x);
                self.num0() + 2 * i + usize::from(exact)
            }
        }
    }

    /// A value of class `c` (for classes that hold no value, such as the range between two
    /// neighbouring doubles, any value: no event can reach that row).
    fn representative(&self, c: usize) -> SlotValue {
        match c {
            MISSING => SlotValue::Missing,
            OTHER => SlotValue::Other,
            FALSE => SlotValue::Bool(false),
            TRUE => SlotValue::Bool(true),
            NAN => SlotValue::Num(f64::NAN),
            OTHER_STRING => SlotValue::Sym(UNKNOWN),
            c if c < self.num0() => {
                SlotValue::Sym(self.syms.get(c - FIXED).copied().unwrap_or(UNKNOWN))
            }
            c => {
                let k = c - self.num0();
                let bound = |i: usize| self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
                let x = if k % 2 == 1 {
                    bound(k / 2)
                } else if k == 0 {
                    bound(0).next_down()
                } else {
                    bound(k / 2 - 1).next_up()
                };
                SlotValue::Num(x)
            }
        }
    }
}

/// The index of one trigger's steps.
#[derive(Debug, Clone, Default)]
pub(crate) struct Index {
    steps: usize,
    words: usize,
    fields: Box<[FieldIndex]>,
}

/// A leaf to index: step `step`'s part `pred`.
pub(crate) struct Leaf<'p> {
    pub step: usize,
    pub pred: &'p Pred,
}

impl Index {
    /// Indexes `leaves` (parts of plain steps' conjunctions) for a trigger of `steps` steps.
    /// Returns the index and, per leaf, whether the index decides it (the step need not test
    /// it again).
    pub(crate) fn new(steps: usize, leaves: &[Leaf<'_>]) -> (Index, Vec<bool>) {
        let words = steps.div_ceil(64);
        let mut absorbed = vec![false; leaves.len()];
        let by_field = group_by_field(leaves);
        let mut fields = Vec::new();
        let mut rest = by_field.as_slice();
        while let Some(&(field, _)) = rest.first() {
            let n = rest.partition_point(|(f, _)| *f == field);
            let (group, tail) = rest.split_at(n);
            rest = tail;
            if fields.len() == MAX_FIELDS {
                break;
            }
            let of_field: Vec<&Leaf<'_>> =
                group.iter().filter_map(|(_, i)| leaves.get(*i)).collect();
            if let Some(f) = FieldIndex::build(field, words, &of_field) {
                fields.push(f);
                for (_, i) in group {
                    if let Some(a) = absorbed.get_mut(*i) {
                        *a = true;
                    }
                }
            }
        }
        let index = Index {
            steps,
            words,
            fields: fields.into_boxed_slice(),
        };
        (index, absorbed)
    }

    /// The steps whose indexed leaves all hold for these field values (every field the
    /// indexed leaves read must be looked up already), in order.
    #[inline]
    pub(crate) fn candidates(&self, values: &[SlotValue]) -> Candidates<'_> {
        let mut rows = [0usize; MAX_FIELDS];
        for (row, f) in rows.iter_mut().zip(self.fields.iter()) {
            let v = values
                .get(usize::from(f.field))
                .copied()
                .unwrap_or(SlotValue::Missing);
            *row = f.class_of(v) * self.words;
        }
        Candidates {
            index: self,
            rows,
            word: 0,
            bits: self.word(0, &rows),
        }
    }

    /// Word `w` of the candidates: every step in it, less those an indexed field rules out.
    #[inline]
    fn word(&self, w: usize, rows: &[usize; MAX_FIELDS]) -> u64 {
        let in_range = match self.steps.checked_sub(w * 64) {
            None | Some(0) => return 0,
            Some(n) if n >= 64 => u64::MAX,
            Some(n) => (1u64 << n) - 1,
        };
        self.fields
            .iter()
            .zip(rows.iter())
            .fold(in_range, |bits, (f, row)| {
                bits & f.rows.get(row + w).copied().unwrap_or(0)
            })
    }

    /// How many fields are indexed (for tests).
    #[cfg(test)]
    pub(crate) fn fields(&self) -> usize {
        self.fields.len()
    }
}

impl FieldIndex {
    /// The index of one field's leaves, or `None` when its table would be too large.
    fn build(field: u16, words: usize, leaves: &[&Leaf<'_>]) -> Option<FieldIndex> {
        let (mut nums, mut syms) = (Vec::new(), Vec::new());
        for l in leaves {
            l.pred.leaf_literals(&mut nums, &mut syms);
        }
        omnirule_text::sort::sort(&mut syms);
        syms.dedup();
        nums.retain(|x| !x.is_nan());
        omnirule_text::sort::sort_by(&mut nums, f64::total_cmp);
        // Equal as numbers (0 and -0) is one bound: leaves cannot tell them apart.
        nums.dedup_by(|a, b| a == b);
        let classes = FieldIndex::classes(syms.len(), nums.len());
        if classes.saturating_mul(words) > MAX_WORDS_PER_FIELD {
            return None;
        }
        let mut f = FieldIndex {
            field,
            syms: syms.into_boxed_slice(),
            bounds: nums.into_boxed_slice(),
            rows: Box::default(),
        };
        // Every step passes until one of its leaves fails the class.
        let mut rows = vec![u64::MAX; classes * words];
        // The leaves read only this field: a table with just its slot filled.
        let mut probe = vec![SlotValue::Missing; usize::from(field) + 1];
        for c in 0..classes {
            if let Some(v) = probe.get_mut(usize::from(field)) {
                *v = f.representative(c);
            }
            for l in leaves {
                let holds = l.pred.holds_in(&probe);
                if !holds && let Some(w) = rows.get_mut(c * words + l.step / 64) {
                    *w &= !(1u64 << (l.step % 64));
                }
            }
        }
        f.rows = rows.into_boxed_slice();
        Some(f)
    }
}

/// The steps left standing, in order (see [`Index::candidates`]).
pub(crate) struct Candidates<'i> {
    index: &'i Index,
    rows: [usize; MAX_FIELDS],
    word: usize,
    bits: u64,
}

impl Iterator for Candidates<'_> {
    type Item = usize;

    #[inline]
    fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.word += 1;
            if self.word >= self.index.words {
                return None;
            }
            self.bits = self.index.word(self.word, &self.rows);
        }
        let bit = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.word * 64 + bit)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::fast::pred::Scalar;
    use crate::graph::CmpOp;
    use proptest::prelude::*;

    /// Numbers where classes meet: literals, their neighbours, zeros of both signs, infinities.
    const NUMS: [f64; 9] = [
        -1.0,
        0.0,
        -0.0,
        1.0,
        2.5,
        100.0,
        f64::INFINITY,
        f64::NEG_INFINITY,
        7.0,
    ];
    const FIELDS: u16 = 3;

    fn num() -> impl Strategy<Value = f64> {
        prop::sample::select(NUMS.to_vec())
    }

    fn scalar() -> impl Strategy<Value = Scalar> {
        prop_oneof![
            num()
                .prop_filter("finite", |x| x.is_finite())
                .prop_map(Scalar::Num),
            (0u32..4).prop_map(Scalar::Sym),
            any::<bool>().prop_map(Scalar::Bool),
        ]
    }

    fn op() -> impl Strategy<Value = CmpOp> {
        prop::sample::select(vec![
            CmpOp::Eq,
            CmpOp::Ne,
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
        ])
    }

    /// Every kind of leaf, plus the parts the index leaves alone.
    fn part() -> impl Strategy<Value = Pred> {
        let field = 0..FIELDS;
        prop_oneof![
            (field.clone(), op(), num()).prop_map(|(field, op, x)| Pred::number(field, op, x)),
            (field.clone(), 0u32..4, any::<bool>()).prop_map(|(field, sym, negate)| Pred::Sym {
                field,
                sym,
                negate
            }),
            (field.clone(), any::<bool>(), any::<bool>()).prop_map(|(field, value, negate)| {
                Pred::Bool {
                    field,
                    value,
                    negate,
                }
            }),
            (field.clone(), prop::collection::vec(0u32..4, 0..3)).prop_map(|(field, s)| {
                Pred::InSyms {
                    field,
                    syms: s.into(),
                }
            }),
            (field.clone(), op(), scalar()).prop_map(|(field, op, lit)| Pred::Cmp {
                field,
                op,
                lit
            }),
            (field.clone(), prop::collection::vec(scalar(), 0..3)).prop_map(|(field, s)| {
                Pred::In {
                    field,
                    set: s.into(),
                }
            }),
            (field.clone(), any::<bool>())
                .prop_map(|(field, present)| Pred::Present { field, present }),
            any::<bool>().prop_map(Pred::Const),
            (field, op(), num())
                .prop_map(|(field, op, x)| { Pred::Not(Box::new(Pred::number(field, op, x))) }),
        ]
    }

    fn value() -> impl Strategy<Value = SlotValue> {
        prop_oneof![
            Just(SlotValue::Missing),
            Just(SlotValue::Other),
            any::<bool>().prop_map(SlotValue::Bool),
            (0u32..6).prop_map(SlotValue::Sym),
            Just(SlotValue::Sym(UNKNOWN)),
            Just(SlotValue::Num(f64::NAN)),
            num().prop_map(SlotValue::Num),
            num().prop_map(|x| SlotValue::Num(x.next_up())),
            num().prop_map(|x| SlotValue::Num(x.next_down())),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Visiting the index's candidates and testing what it did not absorb decides every
        /// step exactly as testing each step's whole conjunction.
        #[test]
        fn the_index_decides_as_the_leaves(
            steps in prop::collection::vec(prop::collection::vec(part(), 0..4), 0..150),
            values in prop::collection::vec(value(), FIELDS as usize),
        ) {
            let leaves: Vec<Leaf<'_>> = steps
                .iter()
                .enumerate()
                .flat_map(|(step, parts)| parts.iter().map(move |pred| Leaf { step, pred }))
                .collect();
            let (index, absorbed) = Index::new(steps.len(), &leaves);
            let mut rest = vec![Vec::new(); steps.len()];
            for (leaf, a) in leaves.iter().zip(&absorbed) {
                if !a {
                    rest[leaf.step].push(leaf.pred);
                }
            }
            let got: Vec<usize> = index
                .candidates(&values)
                .filter(|s| rest[*s].iter().all(|p| p.holds_in(&values)))
                .collect();
            let want: Vec<usize> = (0..steps.len())
                .filter(|s| steps[*s].iter().all(|p| p.holds_in(&values)))
                .collect();
            prop_assert_eq!(got, want);
            // Leaves of a field are all absorbed or none; nested parts and constants never.
            for (leaf, a) in leaves.iter().zip(&absorbed) {
                if leaf.pred.leaf_field().is_none() {
                    prop_assert!(!a);
                }
            }
            prop_assert!(index.fields() <= FIELDS as usize);
        }
    }

    /// A field whose table would be too large stays tests, and the answer is unchanged.
    #[test]
    fn a_field_too_large_to_index_stays_tests() {
        let steps = 4000;
        let preds: Vec<Pred> = (0..steps)
            .map(|i| Pred::number(0, CmpOp::Gt, f64::from(i)))
            .collect();
        let leaves: Vec<Leaf<'_>> = preds
            .iter()
            .enumerate()
            .map(|(step, pred)| Leaf { step, pred })
            .collect();
        let (index, absorbed) = Index::new(steps as usize, &leaves);
        assert_eq!(index.fields(), 0);
        assert!(absorbed.iter().all(|a| !a));
        assert_eq!(index.candidates(&[SlotValue::Num(10.0)]).count(), 4000);
        // Small enough: the same shape at 100 steps is indexed and exact.
        let (index, absorbed) = Index::new(100, &leaves[..100]);
        assert_eq!(index.fields(), 1);
        assert!(absorbed.iter().all(|a| *a));
        let got: Vec<usize> = index.candidates(&[SlotValue::Num(10.0)]).collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
    }
}
