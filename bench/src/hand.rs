//! The limit: the workload's rules written as plain Rust over a typed struct, as a developer
//! would hand-write them (generated once from the seeded workload by `omnirule-bench
//! translate`, then compiled like any other code).

use serde_json::Value;

/// One event with its profile, in typed fields (parsed once, outside the timing).
#[derive(Debug, Default)]
pub struct Input {
    pub event_type: String,
    pub channel: String,
    pub store_id: String,
    pub category: String,
    pub price: f64,
    pub cart_value: f64,
    pub hour: f64,
    pub consent_marketing: bool,
    pub tier: String,
    pub country: String,
    pub segment: String,
    pub age: f64,
    pub ltv: f64,
    pub days_since_purchase: f64,
    pub days_since_offer: f64,
    pub days_since_browse: f64,
}

impl Input {
    pub fn from_json(x: &Value) -> Input {
        let e = &x["event"];
        let p = &x["profile"];
        let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
        let n = |v: &Value| v.as_f64().unwrap_or_default();
        Input {
            event_type: s(&e["type"]),
            channel: s(&e["channel"]),
            store_id: s(&e["store_id"]),
            category: s(&e["category"]),
            price: n(&e["price"]),
            cart_value: n(&e["cart_value"]),
            hour: n(&e["hour"]),
            consent_marketing: p["consent_marketing"].as_bool().unwrap_or_default(),
            tier: s(&p["tier"]),
            country: s(&p["country"]),
            segment: s(&p["segment"]),
            age: n(&p["age"]),
            ltv: n(&p["ltv"]),
            days_since_purchase: n(&p["days_since_purchase"]),
            days_since_offer: n(&p["days_since_offer"]),
            days_since_browse: n(&p["days_since_browse"]),
        }
    }
}

include!("generated/hand_10.rs");
include!("generated/hand_100.rs");
include!("generated/hand_1000.rs");

/// The hand-written function for a rule count.
pub fn for_rules(n: usize) -> Option<fn(&Input, &mut Vec<u16>)> {
    match n {
        10 => Some(decide_10),
        100 => Some(decide_100),
        1000 => Some(decide_1000),
        _ => None,
    }
}
