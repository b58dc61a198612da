//! A simulated campaign with known truth: customers assigned to a split's arms, exposed on the
//! web or in one of the stores, converting with each arm's true rate, online or offline. The
//! tests feed its log through the report and check that the report recovers the truth as
//! often as its intervals promise; `omnirule report`'s benchmark uses it for volume.
//!
//! The random numbers are SplitMix64 (Steele et al. 2014): a few lines, seeded, the same on
//! every platform, and good enough for a simulation (not for anything secret).

/// One arm of the simulated split.
#[derive(Debug, Clone)]
pub struct SimArm {
    pub variant: String,
    /// The share the split declares (logged as `weight`).
    pub weight: f64,
    /// The share customers are actually assigned with (differs from `weight` to simulate an
    /// assignment fault, which the sample-ratio check must flag).
    pub assigned: f64,
    /// The true conversion rate.
    pub rate: f64,
}

#[derive(Debug, Clone)]
pub struct Campaign {
    pub rule: String,
    pub experiment: String,
    pub arms: Vec<SimArm>,
    pub customers: u64,
    /// Share of customers first exposed on the web (the rest in a store).
    pub web_share: f64,
    /// Share of conversions that happen in a store (the O2O share) for customers exposed on
    /// the web; customers exposed in a store convert there.
    pub o2o_share: f64,
    pub stores: u32,
    pub start_ms: i64,
    pub seed: u64,
}

impl Campaign {
    /// 20,000 customers, a control and two offers (true rates 5 %, 6 % and 7.5 %), 60 % of
    /// them reached on the web, 40 % of the web's conversions in one of five stores.
    pub fn standard(seed: u64) -> Campaign {
        let arm = |variant: &str, weight: f64, rate: f64| SimArm {
            variant: variant.to_string(),
            weight,
            assigned: weight,
            rate,
        };
        Campaign {
            rule: "coat_price_test".into(),
            experiment: "coat_discount".into(),
            arms: vec![
                arm("control", 34.0, 0.05),
                arm("ten", 33.0, 0.06),
                arm("twenty", 33.0, 0.075),
            ],
            customers: 20_000,
            web_share: 0.6,
            o2o_share: 0.4,
            stores: 5,
            start_ms: 1_795_000_000_000,
            seed,
        }
    }

    /// The log's lines, generated as they are consumed.
    pub fn lines(&self) -> impl Iterator<Item = String> + '_ {
        let mut rng = SplitMix64(self.seed);
        let total: f64 = self.arms.iter().map(|a| a.assigned).sum();
        (0..self.customers).flat_map(move |i| {
            let customer = format!("sim-{i}");
            let mut pick = rng.unit() * total;
            let arm = self
                .arms
                .iter()
                .find(|a| {
                    pick -= a.assigned;
                    pick < 0.0
                })
                .or(self.arms.last());
            let mut out = Vec::with_capacity(2);
            let Some(arm) = arm else {
                return out;
            };
            let exposed_at = self.start_ms + (rng.unit() * 14.0 * 86_400_000.0) as i64;
            let (channel, host) = if rng.unit() < self.web_share {
                ("web".to_string(), "edge".to_string())
            } else {
                (
                    "store".to_string(),
                    format!("store-{}", 1 + (rng.next() % u64::from(self.stores.max(1)))),
                )
            };
            out.push(
                serde_json::json!({
                    "kind": "exposure", "time": exposed_at, "customer": customer,
                    "rule": self.rule, "experiment": self.experiment, "variant": arm.variant,
                    "weight": arm.weight, "channel": channel, "host": host,
                    "event": format!("e-{i}"),
                })
                .to_string(),
            );
            if rng.unit() < arm.rate {
                let converted_in_store = channel == "store" || rng.unit() < self.o2o_share;
                let (to, to_host) = if converted_in_store {
                    (
                        "store",
                        format!("store-{}", 1 + (rng.next() % u64::from(self.stores.max(1)))),
                    )
                } else {
                    ("web", "edge".to_string())
                };
                let at = exposed_at + (rng.unit() * 7.0 * 86_400_000.0) as i64;
                let value = 20.0 + (rng.unit() * 100.0).round();
                out.push(
                    serde_json::json!({
                        "kind": "conversion", "time": at, "customer": customer,
                        "rule": self.rule, "experiment": self.experiment, "variant": arm.variant,
                        "goal": "purchase", "primary": true, "exposed_at": exposed_at,
                        "exposure_channel": channel, "channel": to, "host": to_host,
                        "event": format!("p-{i}"), "value": value,
                    })
                    .to_string(),
                );
            }
            out
        })
    }
}

/// SplitMix64: seeded, the same on every platform (also what `examples/11-campaign`'s
/// simulation through the engine draws with).
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}
