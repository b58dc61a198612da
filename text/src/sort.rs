//! Stable sorting with one copy of the sort code.
//!
//! Why not `slice::sort_by`: the standard sorts are large generic functions, instantiated once
//! per element type and comparator, which costs the browser module size
//! (`docs/performance.md`) for sorts that are almost all short (an event's fields, a
//! decision's params) or already in order (memory). Here the sorting itself works on indices
//! through a `dyn` comparator, in one non-generic function for the whole program (an order
//! check, an insertion sort for short input, the standard unstable sort of indices for long
//! input); each element type adds only a small function that moves its elements into the order
//! found (and nothing at all when they are in order already).
//!
//! Every function here is stable: equal elements keep their order.

use std::cmp::Ordering;

/// Above this length an unsorted slice is sorted by the standard sort rather than by insertion.
const INSERTION_MAX: usize = 24;

/// Sorts `v` by `cmp`, keeping equal elements in order.
pub fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    let order = sorted_order(v.len(), &mut |a, b| match (v.get(a), v.get(b)) {
        (Some(x), Some(y)) => cmp(x, y),
        _ => Ordering::Equal,
    });
    if let Some(mut order) = order {
        permute(v, &mut order);
    }
}

/// Sorts `v` by precomputed keys (`keys[i]` is `v[i]`'s), keeping equal elements in order:
/// for keys that cost something to compute, once each rather than once per comparison.
pub fn sort_by_keys<T, K>(v: &mut [T], keys: &[K], mut cmp: impl FnMut(&K, &K) -> Ordering) {
    let order = sorted_order(
        v.len().min(keys.len()),
        &mut |a, b| match (keys.get(a), keys.get(b)) {
            (Some(x), Some(y)) => cmp(x, y),
            _ => Ordering::Equal,
        },
    );
    if let Some(mut order) = order {
        permute(v, &mut order);
    }
}

/// Sorts `v` by `cmp` like [`sort_by`], but a short slice in place, with no allocation: for the
/// few hot paths that sort a handful of items per event (an input's fields and sets). Each
/// element type it is used with adds an insertion sort to the wasm modules, so it is kept for
/// those.
pub fn sort_small_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if v.len() > SMALL_MAX {
        sort_by(v, cmp);
        return;
    }
    for i in 1..v.len() {
        let mut j = i;
        while j > 0 {
            let greater = match (v.get(j - 1), v.get(j)) {
                (Some(a), Some(b)) => cmp(a, b) == Ordering::Greater,
                _ => false,
            };
            if !greater {
                break;
            }
            v.swap(j - 1, j);
            j -= 1;
        }
    }
}

/// Up to this length [`sort_small_by`] sorts in place.
const SMALL_MAX: usize = 16;

/// Sorts `v` in its natural order, keeping equal elements in order.
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

/// The positions of `len` items in sorted order (ties in their original order), or `None`
/// when they are in order already. Items are compared by position.
#[inline(never)]
fn sorted_order(len: usize, cmp: &mut dyn FnMut(usize, usize) -> Ordering) -> Option<Vec<usize>> {
    if (1..len).all(|i| cmp(i - 1, i) != Ordering::Greater) {
        return None;
    }
    let mut order: Vec<usize> = (0..len).collect();
    if len <= INSERTION_MAX {
        for i in 1..order.len() {
            let mut j = i;
            while j > 0 {
                let greater = match (order.get(j - 1), order.get(j)) {
                    (Some(&a), Some(&b)) => cmp(a, b) == Ordering::Greater,
                    _ => false,
                };
                if !greater {
                    break;
                }
                order.swap(j - 1, j);
                j -= 1;
            }
        }
    } else {
        order.sort_unstable_by(|&a, &b| cmp(a, b).then(a.cmp(&b)));
    }
    Some(order)
}

/// Puts the element at `order[k]` at position `k`, following each cycle of the permutation
/// (`order` is used up: each entry placed is marked `usize::MAX`).
fn permute<T>(v: &mut [T], order: &mut [usize]) {
    for start in 0..v.len() {
        let mut at = start;
        while let Some(slot) = order.get_mut(at) {
            let from = std::mem::replace(slot, usize::MAX);
            if from == usize::MAX || from == start || from >= v.len() {
                break;
            }
            // Position `at` takes the element from `from`; the element that started the cycle
            // travels on to `from`, whose own element comes next.
            v.swap(at, from);
            at = from;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Each sort here equals the standard stable sort, on short, long, sorted and unsorted
        /// input (elements carry their original position, so stability is checked too).
        #[test]
        fn equals_the_standard_stable_sort(
            keys in prop::collection::vec(0u8..16, 0..200),
            presorted in any::<bool>(),
        ) {
            let mut keys = keys;
            if presorted {
                keys.sort_unstable();
            }
            let items: Vec<(u8, usize)> = keys.iter().copied().zip(0..).collect();
            let mut ours = items.clone();
            sort_by(&mut ours, |a, b| a.0.cmp(&b.0));
            let mut small = items.clone();
            sort_small_by(&mut small, |a, b| a.0.cmp(&b.0));
            let mut keyed = items.clone();
            let keys: Vec<u8> = items.iter().map(|x| x.0).collect();
            sort_by_keys(&mut keyed, &keys, u8::cmp);
            let mut std_sorted = items;
            std_sorted.sort_by_key(|a| a.0);
            prop_assert_eq!(&ours, &std_sorted);
            prop_assert_eq!(&small, &std_sorted);
            prop_assert_eq!(&keyed, &std_sorted);
        }
    }

    #[test]
    fn reversed_long_input() {
        let mut v: Vec<u32> = (0..1000).rev().collect();
        sort(&mut v);
        assert_eq!(v, (0..1000).collect::<Vec<u32>>());
    }
}
