//! Helpers for tests that compile a rule set and play events through the engine.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "vectors_lib.rs"]
pub mod vectors;

#[path = "fuzz_lib.rs"]
pub mod fuzz;

#[path = "campaign_lib.rs"]
pub mod campaign;

#[path = "fuzz_targets.rs"]
pub mod fuzz_targets;

use omnirule_dsl::RuleSet;
use omnirule_engine::bundle::Bundle;
use omnirule_engine::input::{Event, Profile};
use omnirule_engine::memory::Memory;
use omnirule_engine::{Decision, evaluate};
use serde_json::{Value, json};

/// A schema most semantic tests share; tests append their segments, groups and rules.
pub const SHOP: &str = r#"
schema {
  timezone "Europe/Paris"
  consent marketing, location
  profile {
    first_name: string? pii
    tier: string
    score: number?
    labels: set<string>
  }
  event page_view    { sku: string, category: string, price: number, tag: string? }
  event purchase     { sku: string, amount: number, channel: string }
  event beacon_enter { store: string, zone: string }
  action offer  { code: string, sku: string?, percent: number?, message: string? }
  action banner { slot: string, text: string }
  retain purchase 365d
}
"#;

/// Compile `SHOP` + `rules`, panicking with rendered diagnostics on error.
pub fn bundle(rules: &str) -> Bundle {
    bundle_of(&format!("{SHOP}\n{rules}"))
}

pub fn bundle_of(source: &str) -> Bundle {
    let set = RuleSet::from_texts([("test.rules", source)]);
    match set.compile() {
        Ok(c) => Bundle::new(c.graph).unwrap(),
        Err(d) => panic!(
            "does not compile:\n{}",
            omnirule_dsl::render::render_all(&d, &set.sources, Default::default())
        ),
    }
}

/// A customer with every consent.
pub fn customer() -> Value {
    json!({"id": "c1", "tier": "silver", "labels": [], "consents": ["marketing", "location"]})
}

/// A page view at an RFC 3339 instant (the id is derived from the time and sku).
pub fn view(time: &str, sku: &str, category: &str) -> Value {
    json!({"type": "page_view", "id": format!("v-{time}-{sku}"), "time": time,
           "sku": sku, "category": category, "price": 10})
}

pub fn purchase(time: &str, sku: &str) -> Value {
    json!({"type": "purchase", "id": format!("p-{time}-{sku}"), "time": time,
           "sku": sku, "amount": 10, "channel": "store"})
}

pub fn beacon(time: &str) -> Value {
    json!({"type": "beacon_enter", "id": format!("b-{time}"), "time": time,
           "store": "paris-01", "zone": "entrance"})
}

/// One customer's journey: evaluate events in order, keeping memory between them.
pub struct Journey {
    pub bundle: Bundle,
    pub profile: Profile,
    pub memory: Memory,
}

impl Journey {
    pub fn new(bundle: Bundle, profile: Value) -> Journey {
        let profile = Profile::from_json(&bundle, &profile).unwrap();
        Journey {
            bundle,
            profile,
            memory: Memory::default(),
        }
    }

    /// Evaluate one event; returns its decisions.
    pub fn send(&mut self, event: Value) -> Vec<Decision> {
        let event = Event::from_json(&self.bundle, &event).unwrap();
        let out = evaluate(&self.bundle, &self.memory, &self.profile, &event);
        self.memory = out.memory;
        out.decisions
    }

    /// Evaluate events and return the decisions of the last one.
    pub fn play(&mut self, events: impl IntoIterator<Item = Value>) -> Vec<Decision> {
        let mut last = Vec::new();
        for e in events {
            last = self.send(e);
        }
        last
    }
}

/// The names of the rules that decided, in decision order.
pub fn rules(decisions: &[Decision]) -> Vec<&str> {
    decisions.iter().map(|d| &*d.rule).collect()
}

/// The value of a param of the first decision of `rule`.
pub fn param<'a>(decisions: &'a [Decision], rule: &str, name: &str) -> &'a Value {
    decisions
        .iter()
        .find(|d| &*d.rule == rule)
        .and_then(|d| d.params.get(name))
        .unwrap_or(&Value::Null)
}
