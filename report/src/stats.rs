//! The statistics of a conversion report, on counts: a proportion's interval, the difference
//! and ratio of two proportions with their intervals and test, the Bayesian chance that one
//! beats the other, and the sample-ratio check. Distributions come from `statrs`; the formulas
//! are the published ones, named where they are used, and `tests` checks them against values
//! computed independently (published tables, exact closed forms).

use statrs::distribution::{Beta, ChiSquared, Continuous, ContinuousCDF, Normal};

/// A two-sided interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }
}

/// The standard normal quantile for a two-sided interval at `level` (0.95 → 1.959964).
pub fn z_for(level: f64) -> f64 {
    Normal::standard().inverse_cdf(1.0 - (1.0 - level) / 2.0)
}

fn standard_normal_cdf(x: f64) -> f64 {
    Normal::standard().cdf(x)
}

/// Wilson's score interval for `k` successes in `n` trials (Wilson 1927; Newcombe 1998, method
/// 3). Better than the Wald interval for small counts and rates near 0 or 1, where a campaign's
/// conversion rates live. `None` when `n` is 0.
pub fn wilson(k: u64, n: u64, z: f64) -> Option<Interval> {
    if n == 0 || k > n {
        return None;
    }
    let n = n as f64;
    let p = k as f64 / n;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denominator;
    let half = z / denominator * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At 0 and n the bounds are exactly 0 and 1; computed, they miss by a rounding error.
    Some(Interval {
        low: if p == 0.0 {
            0.0
        } else {
            (centre - half).max(0.0)
        },
        high: if p == 1.0 {
            1.0
        } else {
            (centre + half).min(1.0)
        },
    })
}

/// The difference of two proportions `k1/n1 − k2/n2` with Newcombe's hybrid score interval
/// (Newcombe 1998b, method 10: built from the two Wilson intervals), which keeps its coverage
/// where the Wald interval for a difference does not (small counts, rates near 0).
pub fn difference(k1: u64, n1: u64, k2: u64, n2: u64, z: f64) -> Option<(f64, Interval)> {
    let w1 = wilson(k1, n1, z)?;
    let w2 = wilson(k2, n2, z)?;
    let p1 = k1 as f64 / n1 as f64;
    let p2 = k2 as f64 / n2 as f64;
    let d = p1 - p2;
    let low = d - ((p1 - w1.low).powi(2) + (w2.high - p2).powi(2)).sqrt();
    let high = d + ((w1.high - p1).powi(2) + (p2 - w2.low).powi(2)).sqrt();
    Some((d, Interval { low, high }))
}

/// The relative lift `(k1/n1) / (k2/n2) − 1` with the interval of the log ratio (Katz et al.
/// 1978). `None` when either side has no conversion (the ratio has no finite interval then).
pub fn relative_lift(k1: u64, n1: u64, k2: u64, n2: u64, z: f64) -> Option<(f64, Interval)> {
    if k1 == 0 || k2 == 0 || n1 == 0 || n2 == 0 || k1 > n1 || k2 > n2 {
        return None;
    }
    let (k1, n1, k2, n2) = (k1 as f64, n1 as f64, k2 as f64, n2 as f64);
    let ratio = (k1 / n1) / (k2 / n2);
    let se = (1.0 / k1 - 1.0 / n1 + 1.0 / k2 - 1.0 / n2).sqrt();
    let ln = ratio.ln();
    Some((
        ratio - 1.0,
        Interval {
            low: (ln - z * se).exp() - 1.0,
            high: (ln + z * se).exp() - 1.0,
        },
    ))
}

/// The two-sided p-value of the pooled two-proportion z-test of `k1/n1` against `k2/n2`.
/// `None` when a side is empty or the pooled rate is 0 or 1 (no variance: no test).
pub fn two_proportion_p(k1: u64, n1: u64, k2: u64, n2: u64) -> Option<f64> {
    if n1 == 0 || n2 == 0 || k1 > n1 || k2 > n2 {
        return None;
    }
    let (k1, n1, k2, n2) = (k1 as f64, n1 as f64, k2 as f64, n2 as f64);
    let pooled = (k1 + k2) / (n1 + n2);
    let variance = pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2);
    if variance <= 0.0 {
        return None;
    }
    let z = (k1 / n1 - k2 / n2) / variance.sqrt();
    Some((2.0 * (1.0 - standard_normal_cdf(z.abs()))).clamp(0.0, 1.0))
}

/// The posterior probability that the first rate is higher than the second, each with a
/// uniform prior (posterior Beta(1 + k, 1 + n − k)): ∫ f₁(x) F₂(x) dx, by Simpson's rule over
/// the span where the first posterior has its mass (its mean ± 12 standard deviations, clipped
/// to [0, 1]); outside it the integrand is below 1e-30.
pub fn chance_to_beat(k1: u64, n1: u64, k2: u64, n2: u64) -> Option<f64> {
    if k1 > n1 || k2 > n2 {
        return None;
    }
    let (a1, b1) = (1.0 + k1 as f64, 1.0 + (n1 - k1) as f64);
    let (a2, b2) = (1.0 + k2 as f64, 1.0 + (n2 - k2) as f64);
    let first = Beta::new(a1, b1).ok()?;
    let second = Beta::new(a2, b2).ok()?;
    let mean = a1 / (a1 + b1);
    let sd = (a1 * b1 / ((a1 + b1).powi(2) * (a1 + b1 + 1.0))).sqrt();
    let low = (mean - 12.0 * sd).max(0.0);
    let high = (mean + 12.0 * sd).min(1.0);
    // Even, and fine enough for the narrowest posterior of a campaign (millions of trials):
    // the span is 24 standard deviations, so a step is 0.006 of one.
    let steps = 4_000usize;
    let h = (high - low) / steps as f64;
    let f = |x: f64| {
        let density = first.pdf(x);
        if density.is_finite() {
            density * second.cdf(x)
        } else {
            0.0
        }
    };
    let mut sum = f(low) + f(high);
    for i in 1..steps {
        let x = low + h * i as f64;
        sum += if i % 2 == 1 { 4.0 } else { 2.0 } * f(x);
    }
    Some((sum * h / 3.0).clamp(0.0, 1.0))
}

/// The sample-ratio-mismatch check: Pearson's chi-square goodness of fit of the observed
/// counts to the expected shares (`weights`, any positive scale), and its p-value. A p-value
/// below 0.001 flags an assignment or logging fault, not an effect of the treatment.
pub fn sample_ratio(observed: &[u64], weights: &[f64]) -> Option<(f64, f64)> {
    if observed.len() != weights.len() || observed.len() < 2 {
        return None;
    }
    let total: f64 = observed.iter().map(|&o| o as f64).sum();
    let weight: f64 = weights.iter().sum();
    if total <= 0.0 || weight <= 0.0 || weights.iter().any(|w| *w <= 0.0) {
        return None;
    }
    let chi2: f64 = observed
        .iter()
        .zip(weights)
        .map(|(&o, w)| {
            let expected = total * w / weight;
            (o as f64 - expected).powi(2) / expected
        })
        .sum();
    let df = (observed.len() - 1) as f64;
    let p = 1.0 - ChiSquared::new(df).ok()?.cdf(chi2);
    Some((chi2, p.clamp(0.0, 1.0)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use statrs::function::beta::ln_beta;

    const Z95: f64 = 1.959_963_984_540_054;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance
    }

    #[test]
    fn the_95_percent_quantile_is_1_96() {
        assert!(close(z_for(0.95), Z95, 1e-9));
    }

    /// Newcombe (1998), "Two-sided confidence intervals for the single proportion", Statistics
    /// in Medicine 17:857–872, Table II, method 3 (Wilson score), to its four decimals.
    #[test]
    fn wilson_matches_newcombes_published_intervals() {
        for (k, n, low, high) in [
            (81, 263, 0.2553, 0.3662),
            (15, 148, 0.0624, 0.1605),
            (0, 20, 0.0000, 0.1611),
            (1, 29, 0.0061, 0.1718),
        ] {
            let w = wilson(k, n, Z95).unwrap();
            assert!(
                close(w.low, low, 5e-5) && close(w.high, high, 5e-5),
                "{k}/{n}: {w:?}, published {low}–{high}"
            );
        }
        assert_eq!(wilson(1, 0, Z95), None);
    }

    /// Newcombe (1998b), "Interval estimation for the difference between independent
    /// proportions", Statistics in Medicine 17:873–890, Table II, method 10.
    #[test]
    fn the_difference_interval_matches_newcombes_published_examples() {
        for ((k1, n1, k2, n2), (low, high)) in [
            ((56, 70, 48, 80), (0.0524, 0.3339)),
            ((9, 10, 3, 10), (0.1705, 0.8090)),
        ] {
            let (_, i) = difference(k1, n1, k2, n2, Z95).unwrap();
            assert!(
                close(i.low, low, 5e-5) && close(i.high, high, 5e-5),
                "{k1}/{n1} − {k2}/{n2}: {i:?}, published {low}–{high}"
            );
        }
    }

    /// Evan Miller's closed form of P(pB > pA) for Beta posteriors with integer parameters
    /// ("Formulas for Bayesian A/B testing", 2015): an exact sum, independent of the
    /// integration above.
    fn exact_chance(k1: u64, n1: u64, k2: u64, n2: u64) -> f64 {
        // P(pB > pA) = Σ_{i=0}^{αB−1} B(αA+i, βA+βB) / ((βB+i) B(1+i, βB) B(αA, βA)).
        let (alpha_b, b_b) = (1 + k1, 1.0 + (n1 - k1) as f64);
        let (a_a, b_a) = (1.0 + k2 as f64, 1.0 + (n2 - k2) as f64);
        (0..alpha_b)
            .map(|i| {
                let i = i as f64;
                (ln_beta(a_a + i, b_b + b_a)
                    - (b_b + i).ln()
                    - ln_beta(1.0 + i, b_b)
                    - ln_beta(a_a, b_a))
                .exp()
            })
            .sum()
    }

    #[test]
    fn the_chance_to_beat_matches_the_exact_sum() {
        for (k1, n1, k2, n2) in [
            (12, 100, 8, 100),
            (8, 100, 12, 100),
            (30, 1000, 30, 1000),
            (150, 2000, 120, 2000),
            (0, 50, 3, 40),
        ] {
            let got = chance_to_beat(k1, n1, k2, n2).unwrap();
            let exact = exact_chance(k1, n1, k2, n2);
            assert!(
                close(got, exact, 1e-6),
                "{k1}/{n1} vs {k2}/{n2}: {got} vs exact {exact}"
            );
        }
        // Equal data: one half; and the two orders sum to one.
        assert!(close(
            chance_to_beat(30, 1000, 30, 1000).unwrap(),
            0.5,
            1e-6
        ));
        let ab = chance_to_beat(150, 2000, 120, 2000).unwrap();
        let ba = chance_to_beat(120, 2000, 150, 2000).unwrap();
        assert!(close(ab + ba, 1.0, 1e-6));
    }

    #[test]
    fn the_two_proportion_test_agrees_with_the_normal_tail() {
        // z = 1.959964 exactly gives p = 0.05: 2,000 per arm, rates chosen to land there.
        let p = two_proportion_p(120, 1000, 120, 1000).unwrap();
        assert!(close(p, 1.0, 1e-12));
        // A published worked example (Fleiss, Statistical Methods for Rates and Proportions,
        // 3rd ed., §2.3): 15/100 vs 30/100 gives chi-square 6.45 without continuity correction,
        // i.e. z = 2.54 and p = 0.0111.
        let p = two_proportion_p(15, 100, 30, 100).unwrap();
        assert!(close(p, 0.0111, 2e-4), "{p}");
        assert_eq!(two_proportion_p(0, 10, 0, 10), None);
    }

    #[test]
    fn the_sample_ratio_check_is_pearsons_chi_square() {
        // 50/50 expected, 5,100 vs 4,900 observed: chi-square 4.0, df 1, p = 0.0455.
        let (chi2, p) = sample_ratio(&[5_100, 4_900], &[50.0, 50.0]).unwrap();
        assert!(close(chi2, 4.0, 1e-9));
        assert!(close(p, 0.0455, 1e-4), "{p}");
        // A deliberately skewed split is flagged.
        let (_, p) = sample_ratio(&[5_400, 4_600], &[1.0, 1.0]).unwrap();
        assert!(p < 0.001);
        assert_eq!(sample_ratio(&[1], &[1.0]), None);
    }

    #[test]
    fn the_relative_lift_interval_is_the_log_ratios() {
        let (lift, i) = relative_lift(150, 1000, 100, 1000, Z95).unwrap();
        assert!(close(lift, 0.5, 1e-12));
        // ln(1.5) ± 1.96 · sqrt(1/150 − 1/1000 + 1/100 − 1/1000)
        let se: f64 = (1.0 / 150.0 - 1.0 / 1000.0 + 1.0 / 100.0 - 1.0 / 1000.0_f64).sqrt();
        assert!(close(i.low, (1.5f64.ln() - Z95 * se).exp() - 1.0, 1e-12));
        assert!(i.contains(lift));
        assert_eq!(relative_lift(0, 10, 1, 10, Z95), None);
    }

    proptest::proptest! {
        #[test]
        fn intervals_hold_their_estimate_and_stay_in_range(
            n1 in 1u64..5_000, n2 in 1u64..5_000, f1 in 0.0f64..1.0, f2 in 0.0f64..1.0,
        ) {
            let k1 = ((n1 as f64) * f1) as u64;
            let k2 = ((n2 as f64) * f2) as u64;
            let w = wilson(k1, n1, Z95).unwrap();
            proptest::prop_assert!(w.low >= 0.0 && w.high <= 1.0 && w.contains(k1 as f64 / n1 as f64));
            let (d, i) = difference(k1, n1, k2, n2, Z95).unwrap();
            proptest::prop_assert!(i.contains(d) && i.low >= -1.0 - 1e-12 && i.high <= 1.0 + 1e-12);
            let c = chance_to_beat(k1, n1, k2, n2).unwrap();
            proptest::prop_assert!((0.0..=1.0).contains(&c));
        }
    }
}
