//! "Did you mean ...?" suggestions by edit distance.

/// Edit distance over chars counting a swap of two neighbours as one edit (optimal string
/// alignment): `vpi` is one slip away from `vip`, which is how people mistype.
pub fn distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let width = b.len() + 1;
    // Rows i-2, i-1 and i of the dynamic-programming table.
    let mut before: Vec<usize> = vec![0; width];
    let mut prev: Vec<usize> = (0..width).collect();
    let mut cur: Vec<usize> = vec![0; width];
    for i in 1..=a.len() {
        let ca = a.get(i - 1).copied().unwrap_or_default();
        if let Some(first) = cur.first_mut() {
            *first = i;
        }
        for j in 1..width {
            let cb = b.get(j - 1).copied().unwrap_or_default();
            let at = |row: &Vec<usize>, k: usize| row.get(k).copied().unwrap_or(usize::MAX / 2);
            let mut best = (at(&prev, j - 1) + usize::from(ca != cb))
                .min(at(&prev, j) + 1)
                .min(at(&cur, j - 1) + 1);
            if i > 1 && j > 1 && a.get(i - 2) == Some(&cb) && b.get(j - 2) == Some(&ca) {
                best = best.min(at(&before, j - 2) + 1);
            }
            if let Some(slot) = cur.get_mut(j) {
                *slot = best;
            }
        }
        std::mem::swap(&mut before, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
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
}
