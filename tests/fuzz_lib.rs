//! The differential fuzzer's generator: random rule sets and event streams, seeded.
//!
//! Each generated vector file holds one random rule set over a fixed schema and one vector of
//! random events (times out of order, repeated ids, unicode and awkward numbers included). Its
//! expectations are what the native engine decides: the fuzzer's question is not "is native
//! right?" (the hand-written and oracle vectors ask that) but "does every runtime agree?".
//! `omnirule-vectors check` answers it; `omnirule-vectors minimise` shrinks a disagreement and
//! saves it under `tests/vectors/found/` for a person to work out the right answer.

use serde_json::{Value, json};
use std::fmt::Write as _;

/// xorshift64*: small, seeded, the same everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = self.below(items.len());
        &items[i]
    }
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

pub const SCHEMA: &str = r#"schema {
  timezone "Europe/Paris"
  consent marketing, location
  profile { first_name: string? pii, tier: string, score: number?, labels: set<string> }
  event page_view    { sku: string, category: string, price: number, tag: string? }
  event purchase     { sku: string, amount: number, channel: string }
  event beacon_enter { store: string, zone: string }
  action offer  { code: string, sku: string?, percent: number?, message: string? }
  action banner { slot: string, text: string }
}
"#;

const CATEGORIES: [&str; 6] = ["knitwear", "Strickwaren", "été", "毛衣", "🧶", ""];
const SKUS: [&str; 5] = ["SW-1", "SW-2", "sc-9", "ß-1", "Ü"];
const TIERS: [&str; 4] = ["gold", "silver", "Gold", "bronze"];
const NUMBERS: [&str; 10] = [
    "0",
    "1",
    "-1",
    "0.1",
    "79.9",
    "100",
    "1000000000000000000000",
    "0.000001",
    "-273.15",
    "9007199254740993",
];
const DURATIONS: [&str; 6] = ["1h", "90m", "1d", "7d", "30d", "2d"];

fn number(rng: &mut Rng) -> String {
    rng.pick(&NUMBERS).to_string()
}

fn string_lit(rng: &mut Rng, pool: &[&str]) -> String {
    serde_json::to_string(rng.pick(pool)).unwrap_or_default()
}

/// A boolean condition for a rule triggered by `on` (which decides what `event.*` means).
fn condition(rng: &mut Rng, on: &str, depth: usize) -> String {
    let choices = if depth > 1 { 7 } else { 10 };
    match rng.below(choices) {
        0 => format!("profile.tier == {}", string_lit(rng, &TIERS)),
        1 => format!(
            "profile.score {} {}",
            rng.pick(&[">", "<=", "!=", "=="]),
            number(rng)
        ),
        2 => format!("(profile.score ?? {}) * 2 > {}", number(rng), number(rng)),
        3 => match on {
            "page_view" => format!(
                "event.price {} {}",
                rng.pick(&[">", "<", ">=", "=="]),
                number(rng)
            ),
            "purchase" => format!("event.amount + {} > {}", number(rng), number(rng)),
            _ => format!("event.zone == {}", string_lit(rng, &["entrance", "till"])),
        },
        4 => format!(
            "{} in profile.labels",
            string_lit(rng, &["vip", "new", "🧶"])
        ),
        5 => format!(
            "seen page_view within {} where page_view.category == {}",
            rng.pick(&DURATIONS),
            string_lit(rng, &CATEGORIES)
        ),
        6 => match rng.below(5) {
            0 => format!(
                "profile.tier in [{}, {}]",
                string_lit(rng, &TIERS),
                string_lit(rng, &TIERS)
            ),
            1 => format!("profile.score is {}", rng.pick(&["missing", "present"])),
            2 => format!("{} < profile.score", number(rng)),
            3 => format!("profile.tier != {}", string_lit(rng, &TIERS)),
            _ => rng.pick(&["true", "false"]).to_string(),
        },
        7 => format!(
            "count(purchase within {}) >= {}",
            rng.pick(&DURATIONS),
            rng.below(3)
        ),
        8 => format!("not {}", condition(rng, on, depth + 1)),
        _ => format!(
            "({} {} {})",
            condition(rng, on, depth + 1),
            rng.pick(&["and", "or"]),
            condition(rng, on, depth + 1)
        ),
    }
}

/// Text that interpolates awkward values: numbers, strings, missing ones.
fn text(rng: &mut Rng, on: &str) -> String {
    let piece = match (rng.below(5), on) {
        (0, "page_view") => "{event.price * 3}",
        (0, "purchase") => "{event.amount / 3}",
        (1, "page_view") => "{upper(event.category)}",
        (1, _) => "{profile.tier}",
        (2, _) => "{profile.score ?? -0.5}",
        (3, "page_view") => "{event.tag}",
        (3, _) => "{len(profile.labels)}",
        _ => "{profile.score + 0.1}",
    };
    format!("t {piece} <b>&</b>")
}

fn rule(rng: &mut Rng, i: usize, groups: usize) -> String {
    let on = *rng.pick(&["page_view", "purchase", "beacon_enter"]);
    let mut s = format!("rule r{i} {{\n  on {on}\n");
    if rng.chance(40) {
        let _ = writeln!(
            s,
            "  consent {}",
            rng.pick(&["marketing", "location", "marketing, location"])
        );
    }
    if rng.chance(80) {
        let _ = writeln!(s, "  when {}", condition(rng, on, 0));
    }
    if rng.chance(25) {
        // Three arms of at least 1% each.
        let a = 1 + rng.below(98);
        let b = 1 + rng.below(99 - a);
        let _ = write!(
            s,
            "  do split exp{i} by profile.id {{\n    {a}% control\n    {b}% \"a\": banner {{ slot: \"s{}\", text: \"A\" }}\n    {}% \"b\": offer {{ code: \"B\" }}\n  }}\n",
            rng.below(2),
            100 - a - b
        );
    } else {
        let _ = writeln!(
            s,
            "  do banner {{ slot: \"s{}\", text: \"{}\" }}",
            rng.below(2),
            text(rng, on).replace('"', "\\\"")
        );
    }
    match rng.below(4) {
        0 => {
            let _ = writeln!(
                s,
                "  limit {} per {}",
                1 + rng.below(2),
                rng.pick(&DURATIONS)
            );
        }
        1 => s.push_str("  once\n"),
        _ => {}
    }
    if rng.chance(30) {
        let _ = writeln!(s, "  priority {}", rng.below(5) as i64 - 2);
    }
    if groups > 0 && rng.chance(40) {
        let _ = writeln!(s, "  group g{}", rng.below(groups));
    }
    if rng.chance(15) {
        let _ = writeln!(
            s,
            "  hours {}",
            rng.pick(&["09:00 .. 21:00", "22:00 .. 02:00", "00:00 .. 24:00"])
        );
    }
    if rng.chance(10) {
        let _ = writeln!(
            s,
            "  days {}",
            rng.pick(&["sat, sun", "mon .. fri", "fri .. mon"])
        );
    }
    s.push_str("}\n");
    s
}

/// 2026-03-28T10:00:00Z: DST in Paris starts the next night, inside the generated span.
const T0: i64 = 1_774_692_000_000;

fn event(rng: &mut Rng, i: usize, t: i64) -> Value {
    let id = if i > 0 && rng.chance(8) {
        format!("e{}", i - 1)
    } else {
        format!("e{i}")
    };
    match rng.below(3) {
        0 => {
            let mut e = json!({"type": "page_view", "id": id, "time": t, "sku": rng.pick(&SKUS),
                "category": rng.pick(&CATEGORIES), "price": rng.pick(&[0.1, 79.9, 1e21, -2.5, 100.0, 0.0])});
            if rng.chance(50) {
                e["tag"] = json!(rng.pick(&["new", "sale", "ünï"]));
            }
            e
        }
        1 => json!({"type": "purchase", "id": id, "time": t, "sku": rng.pick(&SKUS),
            "amount": rng.pick(&[10.0, 0.3, 1e-7, 250.0]), "channel": rng.pick(&["web", "store"])}),
        _ => json!({"type": "beacon_enter", "id": id, "time": t, "store": "paris-01",
            "zone": rng.pick(&["entrance", "till"])}),
    }
}

/// An event built to be refused or to sit on a limit: ids and field values at and one past
/// their byte limits, times at the ends of the range and malformed, unknown types, wrong and
/// missing fields. Every runtime must refuse (or accept) it alike, with the same message.
fn hostile_event(rng: &mut Rng, i: usize, t: i64) -> Value {
    let mut e = json!({"type": "page_view", "id": format!("e{i}"), "time": t, "sku": "SW-1",
        "category": "knitwear", "price": 79.9});
    match rng.below(9) {
        0 => e["id"] = json!("i".repeat(255 + rng.below(3))),
        1 => {
            let n = 16 * 1024 - 1 + rng.below(3);
            e["sku"] = json!(if rng.chance(50) {
                "x".repeat(n)
            } else {
                format!("{}{}", "é".repeat(n / 2), "x".repeat(n % 2))
            });
        }
        2 => {
            e["time"] = match rng.below(8) {
                0 => json!(i64::MIN),
                1 => json!(i64::MAX),
                2 => json!(8_640_000_000_000_000_i64),
                3 => json!(8_640_000_000_000_001_i64),
                4 => json!("9999-12-31T23:59:59Z"),
                5 => json!("2026-02-30T10:00:00Z"),
                6 => json!(-1.5),
                _ => json!("1969-12-31T23:59:59.999Z"),
            }
        }
        3 => e["type"] = json!(rng.pick(&["", "page_vieW", "beacon_enter ", "🧶"])),
        4 => e["price"] = json!(rng.pick(&["79.9", "NaN"])),
        5 => {
            if let Some(o) = e.as_object_mut() {
                o.remove(*rng.pick(&["sku", "id", "time", "type"]));
            }
        }
        6 => e["category"] = Value::Null,
        7 => e["extra"] = json!({"nested": [1, 2, {"deep": "x".repeat(100)}]}),
        _ => e["id"] = json!(rng.below(1000)),
    }
    e
}

/// A memory to start from, in the JSON form: remembered views and purchases, firings of the
/// generated rules (some in groups), ids kept for de-duplication, sometimes a deletion.
fn memory(rng: &mut Rng, rules: usize, groups: usize) -> Value {
    let when = |rng: &mut Rng| T0 - rng.below(60) as i64 * 3_600_000 + rng.below(3) as i64;
    let events: Vec<Value> = (0..rng.below(6))
        .map(|i| {
            let t = when(rng);
            if rng.chance(60) {
                json!({"type": "page_view", "id": format!("m{i}"), "time": t,
                       "fields": {"category": rng.pick(&CATEGORIES), "sku": rng.pick(&SKUS)}})
            } else {
                json!({"type": "purchase", "id": format!("m{i}"), "time": t,
                       "fields": {"amount": rng.pick(&[10.0, 0.3, 250.0])}})
            }
        })
        .collect();
    let firings: Vec<Value> = (0..rng.below(4))
        .map(|i| {
            let group = if groups > 0 && rng.chance(50) {
                json!(format!("g{}", rng.below(groups)))
            } else {
                Value::Null
            };
            json!({"rule": format!("r{}", rng.below(rules.max(1))), "group": group,
                   "time": when(rng), "event": format!("m{i}")})
        })
        .collect();
    // Ids the events will reuse (e0, e1...) are among them: a duplicate of a past event.
    let seen: Vec<Value> = (0..rng.below(4))
        .map(|i| json!({"id": format!("e{}", i * 2), "time": when(rng)}))
        .collect();
    let erased = rng.chance(15).then(|| when(rng));
    json!({"format": "omnirule-memory", "version": if erased.is_some() { 2 } else { 1 },
           "newest": Value::Null, "erased": erased,
           "events": events, "firings": firings, "seen": seen})
}

/// One generated vector file (expectations left empty: [`crate::vectors`] fills them from the
/// native engine).
pub fn generate(seed: u64) -> Value {
    let mut rng = Rng::new(seed);
    let groups = rng.below(3);
    let mut rules = String::from(SCHEMA);
    for g in 0..groups {
        if rng.chance(50) {
            let _ = writeln!(rules, "group g{g} limit {} per 1d", 1 + rng.below(2));
        } else {
            let _ = writeln!(rules, "group g{g}");
        }
    }
    let rule_count = 1 + rng.below(8);
    for i in 0..rule_count {
        rules.push_str(&rule(&mut rng, i, groups));
    }
    let mut profile = json!({"id": format!("c{}", rng.below(50)), "tier": rng.pick(&TIERS),
        "labels": if rng.chance(50) { json!(["vip"]) } else { json!([]) },
        "consents": rng.pick(&[json!([]), json!(["marketing"]), json!(["marketing", "location"])])});
    if rng.chance(60) {
        profile["score"] = json!(rng.pick(&[0.0, 10.5, -3.0, 1e21]));
    }
    let mut t = T0;
    let events: Vec<Value> = (0..2 + rng.below(9))
        .map(|i| {
            // Mostly forward in time, sometimes back (out of order), sometimes the same instant.
            t += match rng.below(10) {
                0 => -(rng.below(48) as i64) * 3_600_000,
                1 => 0,
                _ => rng.below(40) as i64 * 3_600_000 + 1,
            };
            if rng.chance(10) {
                hostile_event(&mut rng, i, t)
            } else {
                event(&mut rng, i, t)
            }
        })
        .collect();
    let memory = if rng.chance(50) {
        memory(&mut rng, rule_count, groups)
    } else {
        Value::Null
    };
    json!({
        "format": "omnirule-vectors", "version": 1,
        "topic": format!("fuzz_{seed}"),
        "about": "generated by the differential fuzzer; expectations are the native engine's",
        "rules": rules,
        "vectors": [{"name": "random events", "profile": profile, "memory": memory, "events": events, "expect": []}],
    })
}
