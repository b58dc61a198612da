//! Stable sorting with one copy of the sort code.
//!
//! Why not `slice::sort_by`: the standard sorts are large generic functions, instantiated once
//! per element type and comparator. In the browser module that was over 300 functions and
//! about 85 KB of code before `wasm-opt`, for sorts that are almost all short (an event's
//! fields, a decision's params) or already in order (memory). Here a short or already sorted
//! slice is handled by an insertion sort (a few instructions per type), and anything else
//! sorts a permutation of indices with a `dyn` comparator (one instantiation for the whole
//! program), then moves the elements into place.
//!
//! Every function here is stable: equal elements keep their order.

use std::cmp::Ordering;

/// Above this length an unsorted slice is sorted by index rather than by insertion.
const INSERTION_MAX: usize = 24;

/// Sorts `v` by `cmp`, keeping equal elements in order.
pub fn sort_by<T>(v: &mut [T], mut cmp: impl FnMut(&T, &T) -> Ordering) {
    if is_sorted(v, &mut cmp) {
        return;
    }
    if v.len() <= INSERTION_MAX {
        insertion_sort(v, &mut cmp);
        return;
    }
    let mut order: Vec<usize> = (0..v.len()).collect();
    sort_indices(&mut order, &mut |a, b| match (v.get(a), v.get(b)) {
        (Some(x), Some(y)) => cmp(x, y),
        _ => Ordering::Equal,
    });
    permute(v, &order);
}

/// Sorts `v` in its natural order, keeping equal elements in order.
pub fn sort<T: Ord>(v: &mut [T]) {
    sort_by(v, T::cmp);
}

fn is_sorted<T>(v: &[T], cmp: &mut impl FnMut(&T, &T) -> Ordering) -> bool {
    v.windows(2).all(|w| match w {
        [a, b] => cmp(a, b) != Ordering::Greater,
        _ => true,
    })
}

fn insertion_sort<T>(v: &mut [T], cmp: &mut impl FnMut(&T, &T) -> Ordering) {
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

/// The one instantiation of the standard sort: indices, ties broken by index (so stable).
#[inline(never)]
fn sort_indices(order: &mut [usize], cmp: &mut dyn FnMut(usize, usize) -> Ordering) {
    order.sort_unstable_by(|&a, &b| cmp(a, b).then(a.cmp(&b)));
}

/// Puts the element at `order[k]` at position `k`, following each cycle of the permutation.
fn permute<T>(v: &mut [T], order: &[usize]) {
    let mut placed = vec![false; v.len()];
    for start in 0..v.len() {
        if placed.get(start) != Some(&false) {
            continue;
        }
        let mut at = start;
        loop {
            if let Some(p) = placed.get_mut(at) {
                *p = true;
            }
            let from = order.get(at).copied().unwrap_or(start);
            if from == start || from >= v.len() {
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
        /// Equal to the standard stable sort, on short, long, sorted and unsorted input
        /// (elements carry their original position, so stability is checked too).
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
            let mut std_sorted = items;
            std_sorted.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(ours, std_sorted);
        }
    }

    #[test]
    fn reversed_long_input() {
        let mut v: Vec<u32> = (0..1000).rev().collect();
        sort(&mut v);
        assert_eq!(v, (0..1000).collect::<Vec<u32>>());
    }
}
