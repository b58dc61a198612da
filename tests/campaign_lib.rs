//! The simulated campaign of `examples/11-campaign`, played through the engine.
//!
//! Unlike `omnirule_report::simulate` (which writes log lines straight from known truth), this
//! compiles the example's rules and plays every customer's events through the engine, with
//! each event's place, exactly as the hosts do: the engine assigns the split arm, decides,
//! remembers the exposure, and says which later purchase is a conversion; the log lines are
//! the engine's (`host::write_exposures`, `host::write_conversions`). Only the customers'
//! behaviour is simulated: whether they buy the coat (each arm's true rate), where (online, or
//! in one of the stores: the O2O share), and noise that must never convert (another product,
//! the coat after the week).
//!
//! The random numbers are the report's simulation's SplitMix64: seeded, the same on every
//! platform.

use omnirule_dsl::RuleSet;
use omnirule_engine::bundle::Bundle;
use omnirule_engine::host::{Place, track_in_place, write_conversions, write_exposures};
use omnirule_engine::input::{Event, Profile};
use omnirule_engine::memory::Memory;
use omnirule_report::simulate::SplitMix64;
use serde_json::json;
use std::path::Path;

/// What is true about the simulated customers.
#[derive(Debug, Clone)]
pub struct Truth {
    pub customers: u64,
    /// True conversion rate per arm (`control`, `ten`, `twenty`).
    pub rates: Vec<(String, f64)>,
    /// Share of customers who meet the coat on the web (the rest at a store's kiosk).
    pub web_share: f64,
    /// Of the web-exposed customers who buy, the share who buy in a store.
    pub o2o_share: f64,
    pub stores: u32,
    /// Share of one arm's exposure lines a faulty collector loses (`None`: nothing lost): a
    /// skew the sample-ratio check must flag.
    pub lose_exposures: Option<(String, f64)>,
    pub seed: u64,
}

impl Truth {
    /// 20,000 customers; true rates 5 %, 6 % and 7.5 %; 60 % met on the web, 40 % of their
    /// purchases in one of five stores.
    pub fn standard(seed: u64) -> Truth {
        Truth {
            customers: 20_000,
            rates: vec![
                ("control".into(), 0.05),
                ("ten".into(), 0.06),
                ("twenty".into(), 0.075),
            ],
            web_share: 0.6,
            o2o_share: 0.4,
            stores: 5,
            lose_exposures: None,
            seed,
        }
    }

    pub fn rate(&self, variant: &str) -> f64 {
        self.rates
            .iter()
            .find(|(v, _)| v == variant)
            .map_or(0.0, |(_, r)| *r)
    }
}

/// What the simulation did, to hold the engine's log against.
#[derive(Debug, Default, Clone)]
pub struct Played {
    /// Purchases of the coat within the week after the first exposure (each must be one
    /// conversion line).
    pub planned_conversions: u64,
    /// Of those, bought in a store after a web exposure.
    pub planned_o2o: u64,
    /// Purchases that must not convert (another product; the coat after the week).
    pub noise: u64,
    pub lines: u64,
}

/// The example's bundle, compiled from `examples/11-campaign`.
pub fn bundle() -> Bundle {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/11-campaign");
    let set = RuleSet::from_path(&dir).expect("the example's rules");
    let compiled = set.compile().expect("the example compiles");
    Bundle::new(compiled.graph).expect("a valid bundle")
}

const DAY: i64 = 86_400_000;
/// 2026-11-16T00:00:00Z: the campaign runs for two weeks from here.
const START: i64 = 1_795_305_600_000;
const PRICE: f64 = 180.0;

/// Plays the campaign; appends the log (JSON lines) to `log`.
pub fn play(bundle: &Bundle, truth: &Truth, log: &mut String) -> Played {
    let mut rng = SplitMix64(truth.seed);
    let mut played = Played::default();
    for i in 0..truth.customers {
        let customer = format!("cust-{i}");
        let profile =
            Profile::from_json(bundle, &json!({"id": customer, "consents": ["marketing"]}))
                .expect("a valid profile");
        let store = |rng: &mut SplitMix64| {
            format!("store-{}", 1 + rng.next() % u64::from(truth.stores.max(1)))
        };
        let on_web = rng.unit() < truth.web_share;
        let exposure_place = if on_web {
            ("web".to_string(), "edge".to_string())
        } else {
            ("store".to_string(), store(&mut rng))
        };
        let exposed_at = START + (rng.unit() * 14.0 * DAY as f64) as i64;
        // The events this customer will send, with where each happens.
        let mut events: Vec<(i64, serde_json::Value, (String, String))> = vec![(
            exposed_at,
            json!({"type": "product_view", "id": format!("v-{i}"), "time": exposed_at,
                   "sku": "COAT-1", "category": "coats"}),
            exposure_place.clone(),
        )];
        // The arm is the engine's: a first run of the view tells which one.
        let variant = arm_of(bundle, &profile, &events[0].1);
        let discount = match variant.as_str() {
            "ten" => 0.1,
            "twenty" => 0.2,
            _ => 0.0,
        };
        if rng.unit() < truth.rate(&variant) {
            let at = exposed_at + 1 + (rng.unit() * (7 * DAY - 1) as f64) as i64;
            let in_store = !on_web || rng.unit() < truth.o2o_share;
            let place = if in_store {
                ("store".to_string(), store(&mut rng))
            } else {
                ("web".to_string(), "edge".to_string())
            };
            played.planned_conversions += 1;
            if on_web && in_store {
                played.planned_o2o += 1;
            }
            events.push((
                at,
                json!({"type": "purchase", "id": format!("p-{i}"), "time": at, "sku": "COAT-1",
                       "amount": PRICE * (1.0 - discount)}),
                place,
            ));
        }
        // Noise: another product within the week, the coat after it.
        if rng.unit() < 0.03 {
            let at = exposed_at + 1 + (rng.unit() * (7 * DAY - 1) as f64) as i64;
            played.noise += 1;
            events.push((
                at,
                json!({"type": "purchase", "id": format!("o-{i}"), "time": at, "sku": "SCARF-3", "amount": 35}),
                ("web".to_string(), "edge".to_string()),
            ));
        }
        if rng.unit() < 0.02 && events.len() == 1 {
            let at = exposed_at + 7 * DAY + 1 + (rng.unit() * 3.0 * DAY as f64) as i64;
            played.noise += 1;
            events.push((
                at,
                json!({"type": "purchase", "id": format!("l-{i}"), "time": at, "sku": "COAT-1", "amount": PRICE}),
                ("store".to_string(), store(&mut rng)),
            ));
        }
        events.sort_by_key(|(at, _, _)| *at);
        let mut memory = Memory::default();
        for (_, event, (channel, host)) in &events {
            let mut event = Event::from_json(bundle, event).expect("a valid event");
            event.set_place(Some(channel), Some(host));
            let decided = track_in_place(bundle, &mut memory, &profile, &event, false);
            let place = Place {
                channel,
                host: Some(host),
            };
            let mut lines = String::new();
            write_exposures(
                bundle,
                &profile,
                &event,
                &decided.decisions,
                place,
                &mut lines,
            );
            if let Some((arm, share)) = &truth.lose_exposures
                && *arm == variant
                && rng.unit() < *share
            {
                lines.clear();
            }
            write_conversions(&profile, &event, &decided.conversions, place, &mut lines);
            played.lines += lines.lines().count() as u64;
            log.push_str(&lines);
        }
    }
    played
}

/// The arm the engine puts this customer in (the split hashes the profile's id).
fn arm_of(bundle: &Bundle, profile: &Profile, view: &serde_json::Value) -> String {
    let event = Event::from_json(bundle, view).expect("a valid event");
    let decided = track_in_place(bundle, &mut Memory::default(), profile, &event, false);
    decided
        .decisions
        .first()
        .and_then(|d| d.variant.as_deref())
        .unwrap_or("none")
        .to_string()
}
