//! Decimal numbers to the nearest `f64` (ties to even): how the engine reads a JSON number
//! that is not an integer, exactly as `Number("…")` in JavaScript and serde_json read it.
//!
//! Not `str::parse::<f64>`: its algorithm carries a table of powers of five that gzip cannot
//! shrink, which with its code was a large share of the browser package
//! (`docs/performance.md`). Numbers in profiles and events are short (`12.5`, `0.2`), and
//! those take the exact fast path here: the digits as an integer of at most 2^53 scaled by an
//! exact power of ten, one rounding (Clinger). Anything else takes an exact big-integer path:
//! slower, small, and rare.
//!
//! Property-tested against the standard library's parser (below), midpoints between
//! adjacent doubles included.

/// Digits beyond these cannot change the rounding (a double, or a midpoint between two, has at
/// most 767 significant digits), once a nonzero digit after them stands for the rest.
const MAX_DIGITS: usize = 800;

/// Powers of ten an `f64` holds exactly.
const EXACT: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The `f64` nearest to `int.frac × 10^exp` (`int` and `frac` are ASCII digits), ties to
/// even; infinite when it is beyond the largest double.
pub(crate) fn to_f64(negative: bool, int: &[u8], frac: &[u8], exp: i64) -> f64 {
    let x = magnitude(int, frac, exp);
    if negative { -x } else { x }
}

fn magnitude(int: &[u8], frac: &[u8], exp: i64) -> f64 {
    let frac_len = i64::try_from(frac.len()).unwrap_or(i64::MAX);
    let scale = exp.saturating_sub(frac_len);
    // The fast path: at most 19 significant digits in a u64.
    let mut w: u64 = 0;
    let mut n = 0usize;
    for &d in int.iter().chain(frac) {
        if n == 0 && d == b'0' {
            continue;
        }
        n += 1;
        if n > 19 {
            break;
        }
        w = w * 10 + u64::from(d - b'0');
    }
    if n == 0 {
        return 0.0;
    }
    if n <= 19 && w <= 1 << 53 {
        let w = w as f64;
        if let Some(&p) = usize::try_from(scale).ok().and_then(|s| EXACT.get(s)) {
            return w * p;
        }
        if let Some(&p) = scale
            .checked_neg()
            .and_then(|s| usize::try_from(s).ok())
            .and_then(|s| EXACT.get(s))
        {
            return w / p;
        }
    }
    slow(int, frac, scale)
}

/// The exact path: the digits as a big integer `D`, the value `D × 10^scale`.
fn slow(int: &[u8], frac: &[u8], mut scale: i64) -> f64 {
    let mut digits: Vec<u8> = int
        .iter()
        .chain(frac)
        .map(|d| d - b'0')
        .skip_while(|&d| d == 0)
        .collect();
    while digits.last() == Some(&0) {
        digits.pop();
        scale = scale.saturating_add(1);
    }
    if digits.is_empty() {
        return 0.0;
    }
    if digits.len() > MAX_DIGITS {
        let extra = i64::try_from(digits.len() - MAX_DIGITS).unwrap_or(i64::MAX);
        digits.truncate(MAX_DIGITS);
        digits.push(1);
        scale = scale.saturating_add(extra - 1);
    }
    let n = i64::try_from(digits.len()).unwrap_or(i64::MAX);
    // 10^(top - 1) <= value < 10^top.
    let top = n.saturating_add(scale);
    if top > 309 {
        return f64::INFINITY;
    }
    if top <= -324 {
        return 0.0;
    }
    let d = Big::from_digits(&digits);
    // Here |scale| <= 309 + 324 + MAX_DIGITS.
    let k = u32::try_from(scale.unsigned_abs()).unwrap_or(u32::MAX);
    if scale >= 0 {
        // D × 5^k × 2^k: its top 64 bits, the rest as a sticky bit.
        let mut m = d;
        m.mul_pow5(k);
        let bits = m.bits();
        if bits <= 64 {
            return compose(m.low_u128(), i64::from(k), false);
        }
        let cut = bits - 64;
        let sticky = m.any_below(cut);
        m.shr(cut);
        compose(m.low_u128(), i64::from(k) + i64::from(cut), sticky)
    } else {
        // D / (5^k × 2^k): 66 bits of the quotient D × 2^t / 5^k, the remainder as a sticky bit.
        let mut p = Big::from_digits(&[1]);
        p.mul_pow5(k);
        let t = 66 + i64::from(p.bits()) - i64::from(d.bits());
        let (mut a, mut b) = (d, p);
        let shift = u32::try_from(t.unsigned_abs()).unwrap_or(u32::MAX);
        if t >= 0 {
            a.shl(shift);
        } else {
            b.shl(shift);
        }
        let (q, rest) = a.div_small_quotient(b);
        compose(q, -t - i64::from(k), rest)
    }
}

/// The double nearest to `q × 2^s` (`q` with 53 bits or more when `sticky`), where `sticky`
/// says the true value is a little above it.
fn compose(q: u128, s: i64, sticky: bool) -> f64 {
    if q == 0 {
        return 0.0;
    }
    // Bring q to at least 53 bits (exactly: only when nothing was cut).
    let b = 128 - i64::from(q.leading_zeros());
    let (q, s, b) = if b < 53 {
        (q << (53 - b), s - (53 - b), 53)
    } else {
        (q, s, b)
    };
    // The exponent of q's top bit.
    let mut e = b - 1 + s;
    if e > 1023 {
        return f64::INFINITY;
    }
    if e >= -1022 {
        let mut m = round(q, b - 53, sticky);
        if m == 1 << 53 {
            m >>= 1;
            e += 1;
            if e > 1023 {
                return f64::INFINITY;
            }
        }
        let biased = u64::try_from(e + 1023).unwrap_or(0);
        let fraction = u64::try_from(m & ((1 << 52) - 1)).unwrap_or(0);
        f64::from_bits(biased << 52 | fraction)
    } else {
        // Subnormal: in units of 2^-1074. (m = 2^52 is the smallest normal, and its bits.)
        let m = round(q, -(s + 1074), sticky);
        f64::from_bits(u64::try_from(m).unwrap_or(0))
    }
}

/// `q` without its `drop` low bits, rounded to nearest, ties to even (`sticky`: a little more
/// than `q`).
fn round(q: u128, drop: i64, sticky: bool) -> u128 {
    let Ok(drop) = u32::try_from(drop) else {
        return q;
    };
    if drop == 0 {
        return q;
    }
    if drop >= 128 {
        return 0;
    }
    let half = 1u128 << (drop - 1);
    let rest = q & ((half << 1) - 1);
    let m = q >> drop;
    let up = rest > half || (rest == half && (sticky || m & 1 == 1));
    m + u128::from(up)
}

/// An unsigned big integer, 32-bit limbs, least significant first, no high zero limbs.
#[derive(Clone)]
struct Big(Vec<u32>);

impl Big {
    fn from_digits(digits: &[u8]) -> Big {
        let mut big = Big(Vec::with_capacity(digits.len() / 9 + 1));
        for chunk in digits.chunks(9) {
            let mut scale = 1;
            let mut add = 0;
            for &d in chunk {
                scale *= 10;
                add = add * 10 + u32::from(d);
            }
            big.mul_add(scale, add);
        }
        big
    }

    /// `self × mul + add`.
    fn mul_add(&mut self, mul: u32, add: u32) {
        let mut carry = u64::from(add);
        for limb in &mut self.0 {
            let x = u64::from(*limb) * u64::from(mul) + carry;
            *limb = x as u32;
            carry = x >> 32;
        }
        if carry > 0 {
            self.0.push(carry as u32);
        }
    }

    fn mul_pow5(&mut self, mut k: u32) {
        const POW5_13: u32 = 1_220_703_125;
        while k >= 13 {
            self.mul_add(POW5_13, 0);
            k -= 13;
        }
        self.mul_add(5u32.pow(k), 0);
    }

    fn bits(&self) -> u32 {
        match self.0.last() {
            None => 0,
            Some(&top) => 32 * (self.0.len() as u32 - 1) + (32 - top.leading_zeros()),
        }
    }

    fn shl(&mut self, n: u32) {
        let (limbs, bits) = ((n / 32) as usize, n % 32);
        if bits > 0 {
            let mut carry = 0;
            for limb in &mut self.0 {
                let x = (*limb << bits) | carry;
                carry = *limb >> (32 - bits);
                *limb = x;
            }
            if carry > 0 {
                self.0.push(carry);
            }
        }
        if limbs > 0 && !self.0.is_empty() {
            self.0.splice(0..0, std::iter::repeat_n(0, limbs));
        }
    }

    fn shr(&mut self, n: u32) {
        let (limbs, bits) = ((n / 32) as usize, n % 32);
        self.0.drain(..limbs.min(self.0.len()));
        if bits > 0 {
            let mut carry = 0;
            for limb in self.0.iter_mut().rev() {
                let x = (*limb >> bits) | carry;
                carry = *limb << (32 - bits);
                *limb = x;
            }
        }
        self.trim();
    }

    fn trim(&mut self) {
        while self.0.last() == Some(&0) {
            self.0.pop();
        }
    }

    /// Whether any of the `n` low bits is set.
    fn any_below(&self, n: u32) -> bool {
        let (limbs, bits) = ((n / 32) as usize, n % 32);
        let mut low = self.0.iter();
        if low.by_ref().take(limbs).any(|&l| l != 0) {
            return true;
        }
        bits > 0 && low.next().is_some_and(|&l| l & ((1 << bits) - 1) != 0)
    }

    /// The low 128 bits.
    fn low_u128(&self) -> u128 {
        self.0
            .iter()
            .take(4)
            .rev()
            .fold(0, |acc, &l| (acc << 32) | u128::from(l))
    }

    fn cmp(&self, other: &Big) -> std::cmp::Ordering {
        self.0
            .len()
            .cmp(&other.0.len())
            .then_with(|| self.0.iter().rev().cmp(other.0.iter().rev()))
    }

    /// `self -= other` (`other <= self`).
    fn sub(&mut self, other: &Big) {
        let mut borrow = 0i64;
        let mut theirs = other.0.iter();
        for limb in &mut self.0 {
            let x = i64::from(*limb) - i64::from(theirs.next().copied().unwrap_or(0)) - borrow;
            borrow = i64::from(x < 0);
            *limb = (x + (borrow << 32)) as u32;
        }
        self.trim();
    }

    /// `self / divisor` when the quotient is below 2^68 (restoring division, one quotient bit
    /// at a time), and whether there is a remainder.
    fn div_small_quotient(mut self, divisor: Big) -> (u128, bool) {
        let mut shifted = divisor;
        shifted.shl(67);
        let mut q = 0u128;
        for i in (0..=67).rev() {
            if self.cmp(&shifted).is_ge() {
                self.sub(&shifted);
                q |= 1 << i;
            }
            shifted.shr(1);
        }
        (q, !self.0.is_empty())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Reads a decimal text of the JSON grammar.
    fn read(text: &str) -> f64 {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (mantissa, exp) = match rest.split_once(['e', 'E']) {
            Some((m, e)) => (m, e.parse::<i64>().unwrap()),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        to_f64(negative, int.as_bytes(), frac.as_bytes(), exp)
    }

    fn agrees(text: &str) {
        let ours = read(text);
        let std = text.parse::<f64>().unwrap();
        assert_eq!(
            ours.to_bits(),
            std.to_bits(),
            "{text}: {ours:e} against {std:e}"
        );
    }

    /// `m × 5^k` in decimal, by schoolbook arithmetic on digit strings (independent of `Big`).
    fn times_pow5(m: u128, k: u32) -> String {
        let mut digits: Vec<u32> = m
            .to_string()
            .bytes()
            .rev()
            .map(|b| u32::from(b - b'0'))
            .collect();
        for _ in 0..k {
            let mut carry = 0;
            for d in &mut digits {
                let x = *d * 5 + carry;
                *d = x % 10;
                carry = x / 10;
            }
            while carry > 0 {
                digits.push(carry % 10);
                carry /= 10;
            }
        }
        digits
            .iter()
            .rev()
            .map(|d| char::from_digit(*d, 10).unwrap())
            .collect()
    }

    #[test]
    fn hard_cases_round_as_the_standard_library_rounds_them() {
        for text in [
            "0.1",
            "0.2",
            "0.3",
            "1.5",
            "9007199254740993",
            "9007199254740995",
            "1e22",
            "1e23",
            "123456789012345678901234567890",
            "2.2250738585072011e-308",
            "2.2250738585072014e-308",
            "4.9406564584124654e-324",
            "2.4703282292062327e-324",
            "2.4703282292062328e-324",
            "1e-324",
            "5e-324",
            "1.7976931348623157e308",
            "1.7976931348623158e308",
            "1.7976931348623159e308",
            "1e309",
            "0.000001",
            "1e-7",
            "8.98846567431158e307",
            "4503599627370496.5",
            "4503599627370497.5",
            "7.2057594037927933e16",
            "3.0e-5",
            "1448997445238699",
            "0.30000000000000004",
            "100000000000000000000000",
            "1e-400",
            "0.0",
            "0e10",
            "000123.4500",
            "1.000000000000000000000000000000000000001",
        ] {
            agrees(text);
        }
        // A midpoint, and a hair above it a thousand digits down.
        agrees(&format!("9007199254740993.{}1", "0".repeat(1000)));
        agrees(&format!("9007199254740993.{}", "0".repeat(1000)));
        agrees(&format!("9007199254740993{}1e-1001", "0".repeat(1000)));
        agrees(&format!("0.{}1e-300", "0".repeat(900)));
    }

    #[test]
    fn midpoints_of_subnormals_round_to_even() {
        // (2m + 1) × 2^-1075 = (2m + 1) × 5^1075 × 10^-1075.
        for m in [0u128, 1, 2, 3, 1 << 51, (1 << 52) - 1, (1 << 52) - 2] {
            let digits = times_pow5(2 * m + 1, 1075);
            agrees(&format!("{digits}e-1075"));
            agrees(&format!("{digits}1e-1076"));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn decimals_round_as_the_standard_library_rounds_them(
            negative in any::<bool>(),
            int in "[0-9]{1,30}",
            frac in "[0-9]{1,30}",
            exp in -400i64..400,
        ) {
            let sign = if negative { "-" } else { "" };
            agrees(&format!("{sign}{int}.{frac}e{exp}"));
            agrees(&format!("{sign}{int}e{exp}"));
        }

        #[test]
        fn doubles_read_back(bits in any::<u64>()) {
            let x = f64::from_bits(bits);
            if x.is_finite() {
                agrees(&format!("{x:e}"));
                // Its exact expansion, and a hair above and below it.
                let exact = format!("{:.800e}", x.abs());
                agrees(&exact);
                let (m, e) = exact.split_once('e').unwrap();
                agrees(&format!("{m}1e{e}"));
            }
        }

        #[test]
        fn midpoints_between_doubles_round_to_even(m in (1u128 << 52)..(1u128 << 53), k in 0u32..60) {
            // (2m + 1) × 2^-(k+1) = (2m + 1) × 5^(k+1) × 10^-(k+1): between m × 2^-k and the
            // next double.
            let digits = times_pow5(2 * m + 1, k + 1);
            agrees(&format!("{digits}e-{}", k + 1));
            // A hair above and below the midpoint.
            agrees(&format!("{digits}1e-{}", k + 2));
            agrees(&format!("{}9e-{}", times_pow5(2 * m, k + 1), k + 2));
            // And scaled up: (2m + 1) × 2^k, an integer.
            agrees(&((2 * m + 1) << k.min(70)).to_string());
        }
    }
}
