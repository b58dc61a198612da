//! "Did you mean ...?" suggestions by edit distance (`strsim`).

/// Edit distance over chars counting a swap of two neighbours as one edit (optimal string
/// alignment, [`strsim::osa_distance`]): `vpi` is one slip away from `vip`, which is how people
/// mistype.
pub fn distance(a: &str, b: &str) -> usize {
    strsim::osa_distance(a, b)
}

/// The closest candidate within a distance that scales with the word's length, if any.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| (distance(word, c), c))
        .filter(|(d, c)| *d <= limit && *c != word)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// `Some("did you mean `x`?")` when a close candidate exists.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(distance("", ""), 0);
        assert_eq!(distance("kitten", "sitting"), 3);
        assert_eq!(distance("categry", "category"), 1);
        assert_eq!(distance("vpi", "vip"), 1);
        assert_eq!(distance("ab", "ba"), 1);
        assert_eq!(distance("abc", ""), 3);
    }

    #[test]
    fn suggests_only_close_words() {
        assert_eq!(
            closest("categry", ["sku", "category", "price"]),
            Some("category")
        );
        assert_eq!(closest("zzz", ["sku", "category", "price"]), None);
    }

    /// The hand-written optimal string alignment distance `strsim` replaced, kept as the
    /// reference: the suggestions must not change with the library.
    #[allow(clippy::indexing_slicing)]
    fn reference(a: &str, b: &str) -> usize {
        let a: Vec<char> = a.chars().collect();
        let b: Vec<char> = b.chars().collect();
        let mut d = vec![vec![0usize; b.len() + 1]; a.len() + 1];
        for (i, row) in d.iter_mut().enumerate() {
            row[0] = i;
        }
        for (j, cell) in d[0].iter_mut().enumerate() {
            *cell = j;
        }
        for i in 1..=a.len() {
            for j in 1..=b.len() {
                let cost = usize::from(a[i - 1] != b[j - 1]);
                let mut best = (d[i - 1][j - 1] + cost)
                    .min(d[i - 1][j] + 1)
                    .min(d[i][j - 1] + 1);
                if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                    best = best.min(d[i - 2][j - 2] + 1);
                }
                d[i][j] = best;
            }
        }
        d[a.len()][b.len()]
    }

    proptest::proptest! {
        #[test]
        fn same_distance_as_the_hand_written_one(a in "[a-dé_早👋]{0,8}", b in "[a-dé_早👋]{0,8}") {
            proptest::prop_assert_eq!(distance(&a, &b), reference(&a, &b));
        }
    }
}
