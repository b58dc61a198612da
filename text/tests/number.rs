//! Numbers print as JavaScript's `String(x)` prints them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use omnirule_text::number::format_number;

#[test]
fn numbers_print_as_javascript_prints_them() {
    // (value, what `String(value)` gives in JavaScript)
    let table: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (-1.0, "-1"),
        (20.0, "20"),
        (79.9, "79.9"),
        (79.9 * 3.0, "239.70000000000002"),
        (0.1 + 0.2, "0.30000000000000004"),
        (0.5, "0.5"),
        (123.456, "123.456"),
        (1e21, "1e+21"),
        (1e20, "100000000000000000000"),
        (123456789012345680000.0, "123456789012345680000"),
        (1.5e21, "1.5e+21"),
        (1e-6, "0.000001"),
        (1e-7, "1e-7"),
        (1.5e-7, "1.5e-7"),
        (0.000123, "0.000123"),
        (-1.5e-10, "-1.5e-10"),
        (2f64.powi(53), "9007199254740992"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        (5e-324, "5e-324"),
        (1e100, "1e+100"),
        (100.0, "100"),
        (1234.5678, "1234.5678"),
        // Exactly halfway between two shortest candidates (…690.25): JavaScript takes the
        // even one; Rust's `{:e}` takes …690.3. (The literal is the exact double, on purpose.)
        #[allow(clippy::excessive_precision)]
        (862841384698690.25, "862841384698690.2"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
    ];
    for (v, want) in table {
        assert_eq!(format_number(*v), *want, "{v:e}");
    }
}

/// `String(x)` in JavaScript, from Rust's own shortest round-trip digits (`{:e}`): the layout
/// oracle for `format_number`. Where two shortest candidates are equally close, Rust takes the
/// upper one and JavaScript the even one, so the property below allows exactly that.
fn js_string_oracle(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n == 0.0 {
        return "0".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let sign = if n < 0.0 { "-" } else { "" };
    let sci = format!("{:e}", n.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap();
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i64;
    let point = exp.parse::<i64>().unwrap() + 1;
    let body = if k <= point && point <= 21 {
        format!("{digits}{}", "0".repeat((point - k) as usize))
    } else if 0 < point && point <= 21 {
        let (a, b) = digits.split_at(point as usize);
        format!("{a}.{b}")
    } else if -6 < point && point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else {
        let (first, rest) = digits.split_at(1);
        let e = point - 1;
        let dot = if rest.is_empty() { "" } else { "." };
        format!(
            "{first}{dot}{rest}e{}{}",
            if e >= 0 { "+" } else { "-" },
            e.abs()
        )
    };
    format!("{sign}{body}")
}

proptest::proptest! {
    /// Every double prints as JavaScript prints it: random bit patterns (all magnitudes,
    /// subnormals, NaNs) and short decimals.
    #[test]
    fn numbers_print_like_javascript_for_any_double(bits in proptest::num::u64::ANY, small in -1_000_000i64..1_000_000, scale in 0u32..8) {
        for x in [f64::from_bits(bits), small as f64 / 10f64.powi(scale as i32)] {
            let (ours, oracle) = (format_number(x), js_string_oracle(x));
            if ours != oracle {
                // Only a tie, broken to the even digit, may differ.
                let (a, b) = (ours.as_bytes(), oracle.as_bytes());
                let last = a.iter().zip(b).rposition(|(p, q)| p.is_ascii_digit() && p != q);
                let tie = a.len() == b.len()
                    && last.is_some_and(|i| {
                        a[..i] == b[..i] && a[i + 1..] == b[i + 1..] && (a[i] - b'0').is_multiple_of(2)
                            && b[i] == a[i] + 1
                    });
                proptest::prop_assert!(tie, "{x:e}: {ours} vs {oracle}");
            }
            if x.is_finite() {
                let back: f64 = ours.replace("e+", "e").parse().unwrap();
                proptest::prop_assert_eq!(back, x);
            }
        }
    }
}
