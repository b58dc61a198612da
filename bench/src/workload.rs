//! The peers' shared synthetic workload (`N/rules.json`, `events.json`, written by the peers'
//! seeded generator), translated into Omnirule's language and into the hand-written Rust a
//! developer would write for the same rules.

use serde_json::Value;
use std::fmt::Write as _;

pub const PROFILE_FIELDS: [(&str, &str); 9] = [
    ("consent_marketing", "bool"),
    ("tier", "string"),
    ("country", "string"),
    ("segment", "string"),
    ("age", "number"),
    ("ltv", "number"),
    ("days_since_purchase", "number"),
    ("days_since_offer", "number"),
    ("days_since_browse", "number"),
];

pub const EVENT_FIELDS: [(&str, &str); 6] = [
    ("channel", "string"),
    ("store_id", "string"),
    ("category", "string"),
    ("price", "number"),
    ("cart_value", "number"),
    ("hour", "number"),
];

pub const EVENT_TYPES: [&str; 20] = [
    "page_view",
    "product_view",
    "search",
    "add_to_cart",
    "remove_from_cart",
    "checkout_start",
    "purchase",
    "beacon_enter",
    "beacon_exit",
    "store_checkin",
    "app_open",
    "push_open",
    "email_open",
    "email_click",
    "wishlist_add",
    "review_submit",
    "login",
    "signup",
    "coupon_redeem",
    "cart_abandon",
];

fn literal(v: &Value) -> String {
    match v {
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(literal).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

fn op(o: &str) -> Option<&'static str> {
    Some(match o {
        "eq" => "==",
        "gt" => ">",
        "gte" => ">=",
        "lt" => "<",
        "lte" => "<=",
        "in" => "in",
        _ => return None,
    })
}

/// The schema every translated rule set shares.
pub fn schema() -> String {
    let fields = |fs: &[(&str, &str)]| {
        fs.iter()
            .map(|(n, t)| format!("{n}: {t}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut s = String::from("schema {\n  timezone \"UTC\"\n");
    let _ = writeln!(s, "  profile {{ {} }}", fields(&PROFILE_FIELDS));
    for t in EVENT_TYPES {
        let _ = writeln!(s, "  event {t} {{ {} }}", fields(&EVENT_FIELDS));
    }
    s.push_str("  action offer { rule: string, discount_pct: number, channel: string }\n}\n");
    s
}

/// The abstract rules as a `.rules` file. `suffix` renames rules (for the replicated 10,000).
pub fn to_rules(rules: &[Value], suffix: &str) -> Result<String, String> {
    let mut s = String::new();
    for r in rules {
        let id = r["id"].as_str().ok_or("a rule without id")?;
        let name = format!("{id}{suffix}");
        let trigger = r["trigger"].as_str().ok_or("a rule without trigger")?;
        let mut conds = Vec::new();
        for c in r["conditions"].as_array().into_iter().flatten() {
            let field = c["field"].as_str().ok_or("a condition without field")?;
            let o = op(c["op"].as_str().unwrap_or_default()).ok_or("an unknown operator")?;
            conds.push(format!("{field} {o} {}", literal(&c["value"])));
        }
        let a = &r["action"];
        let _ = write!(
            s,
            "rule {name} {{\n  on {trigger}\n  when {}\n  do offer {{ rule: \"{name}\", discount_pct: {}, channel: {} }}\n}}\n",
            conds.join(" and "),
            a["discount_pct"],
            a["channel"]
        );
    }
    Ok(s)
}

/// The same rules as hand-written Rust: a `match` on the event type, then plain comparisons.
/// This is the limit an interpreter is measured against.
pub fn to_rust(rules: &[Value], fn_name: &str) -> Result<String, String> {
    let mut by_trigger: Vec<(&str, Vec<String>)> = Vec::new();
    for (i, r) in rules.iter().enumerate() {
        let trigger = r["trigger"].as_str().ok_or("a rule without trigger")?;
        let mut conds = Vec::new();
        for c in r["conditions"].as_array().into_iter().flatten() {
            let field = c["field"].as_str().ok_or("a condition without field")?;
            let (_, name) = field.split_once('.').ok_or("a field without object")?;
            let v = &c["value"];
            let o = c["op"].as_str().unwrap_or_default();
            let cond = match (o, v) {
                ("in", Value::Array(items)) => {
                    let alts: Vec<String> = items.iter().map(|x| x.to_string()).collect();
                    format!("matches!(x.{name}.as_str(), {})", alts.join(" | "))
                }
                ("eq", Value::Bool(b)) => format!("x.{name} == {b}"),
                ("eq", Value::String(t)) => format!("x.{name} == {t:?}"),
                (o, Value::Number(n)) => format!(
                    "x.{name} {} {:?}",
                    op(o).ok_or("op")?,
                    n.as_f64().unwrap_or(0.0)
                ),
                _ => return Err(format!("cannot translate {c}")),
            };
            conds.push(cond);
        }
        let body = format!("if {} {{ out.push({i}); }}", conds.join(" && "));
        match by_trigger.iter_mut().find(|(t, _)| *t == trigger) {
            Some((_, v)) => v.push(body),
            None => by_trigger.push((trigger, vec![body])),
        }
    }
    let mut s = format!(
        "// Generated by `omnirule-bench translate` from the peers' seeded workload ({} rules).\n\
         #[allow(clippy::bool_comparison, clippy::collapsible_match, clippy::float_cmp)]\n\
         pub fn {fn_name}(x: &Input, out: &mut Vec<u16>) {{\n    match x.event_type.as_str() {{\n",
        rules.len()
    );
    for (t, bodies) in by_trigger {
        let _ = writeln!(s, "        {t:?} => {{");
        for b in bodies {
            let _ = writeln!(s, "            {b}");
        }
        s.push_str("        }\n");
    }
    s.push_str("        _ => {}\n    }\n}\n");
    Ok(s)
}
