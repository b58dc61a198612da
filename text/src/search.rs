//! Substring search in linear time with little code (Knuth–Morris–Pratt over bytes).
//!
//! Why not `str::contains`: core's Two-Way searcher is fast on long texts, but it brings with
//! it several KB of the browser module (the searcher, and through an unreachable slicing panic,
//! string formatting for panics), for the language's `contains()` on short marketing strings
//! (`docs/performance.md` has the figure). A naive search would be smaller still but quadratic
//! on hostile inputs (`"aaaa…ab"` in `"aaaa…a"`); KMP is linear in the haystack plus the needle
//! whatever the input, with one allocation of the needle's length.
//!
//! Searching UTF-8 by bytes is exact: a valid UTF-8 needle can only match a valid UTF-8
//! haystack at a character boundary (no character's encoding starts inside another's), so the
//! answers are those of `str::contains` (property-tested below).

/// Whether `needle` occurs in `haystack`, as `haystack.contains(needle)`.
pub fn contains(haystack: &str, needle: &str) -> bool {
    let (text, pattern) = (haystack.as_bytes(), needle.as_bytes());
    if pattern.is_empty() {
        return true;
    }
    if pattern.len() > text.len() {
        return false;
    }
    // `border[i]`: the length of the longest proper prefix of `pattern[..=i]` that is also
    // its suffix.
    let mut border = vec![0usize; pattern.len()];
    let mut k = 0;
    for (i, &b) in pattern.iter().enumerate().skip(1) {
        while k > 0 && pattern.get(k) != Some(&b) {
            k = border.get(k - 1).copied().unwrap_or(0);
        }
        if pattern.get(k) == Some(&b) {
            k += 1;
        }
        if let Some(slot) = border.get_mut(i) {
            *slot = k;
        }
    }
    let mut matched = 0;
    for &b in text {
        while matched > 0 && pattern.get(matched) != Some(&b) {
            matched = border.get(matched - 1).copied().unwrap_or(0);
        }
        if pattern.get(matched) == Some(&b) {
            matched += 1;
            if matched == pattern.len() {
                return true;
            }
        }
    }
    false
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn finds_what_str_contains_finds() {
        for (h, n) in [
            ("", ""),
            ("a", ""),
            ("", "a"),
            ("knitwear", "wear"),
            ("knitwear", "knit"),
            ("knitwear", "tw"),
            ("knitwear", "wears"),
            ("aaaaaaaab", "aaab"),
            ("abababac", "ababac"),
            ("ababab", "abac"),
            ("Bonjour 👋🏻 Ana", "👋🏻"),
            ("Bonjour 👋🏻 Ana", "🏻 A"),
            ("早安", "安"),
            ("早安", "\u{89}"),
        ] {
            assert_eq!(contains(h, n), h.contains(n), "{h:?} contains {n:?}");
        }
    }

    proptest! {
        /// Random strings over a small alphabet (so that near-matches and repeats are
        /// common), with multi-byte characters among them.
        #[test]
        fn agrees_with_str_contains(h in "[ab€é]{0,40}", n in "[ab€é]{0,6}") {
            prop_assert_eq!(contains(&h, &n), h.contains(n.as_str()));
        }

        /// A needle taken from the haystack is always found.
        #[test]
        fn a_piece_of_the_text_is_found(h in "\\PC{0,40}", a in 0usize..41, len in 0usize..10) {
            let chars: Vec<char> = h.chars().collect();
            let a = a.min(chars.len());
            let b = (a + len).min(chars.len());
            let n: String = chars[a..b].iter().collect();
            prop_assert!(contains(&h, &n));
        }
    }

    #[test]
    fn hostile_inputs_take_linear_time() {
        // Quadratic searching would make this 10^10 steps; KMP makes it 2 * 10^5.
        let h = "a".repeat(100_000);
        let n = format!("{}b", "a".repeat(99_999));
        assert!(!contains(&h, &n));
        assert!(contains(&format!("{h}b"), &n));
    }
}
