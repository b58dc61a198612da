//! `omnirule inspect BUNDLE`: what a bundle holds, without the rules' source (as `opa inspect`
//! does for OPA bundles): its format, content hash and signer, the schema (consents, profile,
//! events with what memory keeps of each, actions), the rules (triggers, consents, caps,
//! splits, goals) and the limits. For an operator holding a bundle file and wondering which
//! rules it is, and for a review of what a bundle may remember.

use omnirule_dsl::dot::duration;
use omnirule_engine::bundle::Bundle;
use omnirule_engine::graph::{Cap, Field, Graph, Outcome};
use serde_json::{Value, json};

/// How the bundle's bytes were read.
pub struct Source {
    pub name: String,
    /// The format version in the bytes (binary header, or the JSON form's `version`).
    pub format: u64,
    pub encoding: &'static str,
    pub bytes: usize,
}

fn field_text(f: &Field) -> String {
    format!(
        "{}: {}{}{}",
        f.name,
        omnirule_engine::input::type_name(&f.ty),
        if f.optional { "?" } else { "" },
        if f.pii { " pii" } else { "" }
    )
}

fn names<'a>(g: &'a Graph, ids: &[u32]) -> Vec<&'a str> {
    ids.iter()
        .filter_map(|c| g.schema.consents.get(*c as usize).map(String::as_str))
        .collect()
}

/// The bundle as JSON (`--format json`).
pub fn to_json(bundle: &Bundle, source: &Source) -> Value {
    let g = bundle.graph();
    let event_name = |e: u32| {
        g.schema
            .events
            .get(e as usize)
            .map_or("?", |e| e.name.as_str())
    };
    let fields = |fs: &[Field]| fs.iter().map(field_text).collect::<Vec<_>>();
    json!({
        "file": source.name,
        "format": source.format,
        "encoding": source.encoding,
        "bytes": source.bytes,
        "hash": bundle.hash_hex(),
        "signed_by": bundle.signature().map(|s| s.key.to_string()),
        "timezone": g.schema.timezone,
        "consents": g.schema.consents,
        "profile": fields(&g.schema.profile),
        "events": g.schema.events.iter().enumerate().map(|(i, e)| {
            let kept = g.retention.get(i).and_then(|r| r.keep.map(|k| (k, r)));
            json!({
                "name": e.name,
                "fields": fields(&e.fields),
                "remembered": kept.map(|(k, r)| json!({
                    "for": duration(k),
                    "fields": r.fields,
                    "with_consents": r.consents.iter().map(|set| names(g, set)).collect::<Vec<_>>(),
                })),
            })
        }).collect::<Vec<_>>(),
        "actions": g.schema.actions.iter().map(|a| json!({"name": a.name, "params": fields(&a.params)})).collect::<Vec<_>>(),
        "segments": g.segments.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        "groups": g.groups.iter().map(|grp| json!({"name": grp.name, "cap": grp.cap.as_ref().map(cap_text)})).collect::<Vec<_>>(),
        "rules": g.rules.iter().enumerate().map(|(ri, r)| json!({
            "name": r.name,
            "title": r.title,
            "on": r.on.iter().map(|e| event_name(*e)).collect::<Vec<_>>(),
            "consents": names(g, &r.consents),
            "priority": r.priority,
            "group": r.group.and_then(|x| g.groups.get(x as usize)).map(|x| x.name.clone()),
            "cap": r.cap.as_ref().map(cap_text),
            "split": match &r.outcome {
                Outcome::Split { name, arms, .. } => json!({
                    "name": name,
                    "arms": arms.iter().map(|a| json!({
                        "variant": a.variant.clone().unwrap_or_else(|| "control".into()),
                        "percent": f64::from(a.basis_points) / 100.0,
                    })).collect::<Vec<_>>(),
                }),
                Outcome::Actions(_) => Value::Null,
            },
            "actions": r.action_calls()
                .filter_map(|c| g.schema.actions.get(c.action as usize).map(|a| a.name.clone()))
                .collect::<std::collections::BTreeSet<_>>(),
            "goals": g.goals.iter().filter(|x| x.rule as usize == ri).map(|x| json!({
                "name": x.name, "event": event_name(x.event), "within": duration(x.within),
                "primary": x.primary, "value": x.value,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "limits": {
            "max_events_per_type": g.limits.max_events_per_type,
            "dedup_window": duration(g.limits.dedup_window),
            "max_dedup_ids": g.limits.max_dedup_ids,
        },
    })
}

fn cap_text(c: &Cap) -> String {
    match c {
        Cap::Once => "once".into(),
        Cap::Limit { count, per } => format!("limit {count} per {}", duration(*per)),
    }
}

/// The bundle for a person (`--format human`), from its JSON form.
pub fn to_text(v: &Value) -> String {
    use std::fmt::Write as _;
    let s = |v: &Value| v.as_str().unwrap_or("").to_string();
    let list = |v: &Value| {
        v.as_array()
            .map(|a| {
                a.iter()
                    .map(|x| x.as_str().unwrap_or("").to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default()
    };
    let mut o = String::new();
    let _ = writeln!(o, "bundle    {}", s(&v["file"]));
    let _ = writeln!(
        o,
        "format    {} ({}, {} bytes)",
        v["format"],
        s(&v["encoding"]),
        v["bytes"]
    );
    let _ = writeln!(o, "hash      {}", s(&v["hash"]));
    let _ = writeln!(
        o,
        "signed    {}",
        v["signed_by"]
            .as_str()
            .map_or("no".to_string(), |k| format!("by key {k}"))
    );
    let _ = writeln!(o, "timezone  {}", s(&v["timezone"]));
    let _ = writeln!(o, "consents  {}", list(&v["consents"]));
    let _ = writeln!(o, "profile   {}", list(&v["profile"]));
    let _ = writeln!(o, "\nevents");
    for e in v["events"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "  {} {{ {} }}", s(&e["name"]), list(&e["fields"]));
        match &e["remembered"] {
            Value::Null => {
                let _ = writeln!(o, "    not remembered");
            }
            r => {
                let consents: Vec<String> = r["with_consents"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|set| {
                        if list(set).is_empty() {
                            "anyone".into()
                        } else {
                            list(set)
                        }
                    })
                    .collect();
                let _ = writeln!(
                    o,
                    "    remembered {}: {} (for customers with: {})",
                    s(&r["for"]),
                    if list(&r["fields"]).is_empty() {
                        "no fields".into()
                    } else {
                        list(&r["fields"])
                    },
                    consents.join(" | ")
                );
            }
        }
    }
    let _ = writeln!(o, "\nactions");
    for a in v["actions"].as_array().into_iter().flatten() {
        let _ = writeln!(o, "  {} {{ {} }}", s(&a["name"]), list(&a["params"]));
    }
    let rules = v["rules"].as_array().cloned().unwrap_or_default();
    let _ = writeln!(o, "\nrules ({})", rules.len());
    for r in &rules {
        let mut line = format!("  {}  on {}", s(&r["name"]), list(&r["on"]));
        if !list(&r["consents"]).is_empty() {
            let _ = write!(line, "  consent {}", list(&r["consents"]));
        }
        if r["priority"].as_i64().unwrap_or(0) != 0 {
            let _ = write!(line, "  priority {}", r["priority"]);
        }
        if let Some(grp) = r["group"].as_str() {
            let _ = write!(line, "  group {grp}");
        }
        if let Some(cap) = r["cap"].as_str() {
            let _ = write!(line, "  {cap}");
        }
        let _ = write!(line, "  -> {}", list(&r["actions"]));
        let _ = writeln!(o, "{line}");
        if let Some(split) = r["split"].as_object() {
            let arms: Vec<String> = split
                .get("arms")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|a| format!("{}% {}", a["percent"], s(&a["variant"])))
                .collect();
            let _ = writeln!(
                o,
                "    split {}: {}",
                split.get("name").map(s).unwrap_or_default(),
                arms.join(", ")
            );
        }
        for goal in r["goals"].as_array().into_iter().flatten() {
            let _ = writeln!(
                o,
                "    goal {} ({} within {}){}",
                s(&goal["name"]),
                s(&goal["event"]),
                s(&goal["within"]),
                if goal["primary"] == true {
                    ", primary"
                } else {
                    ""
                }
            );
        }
    }
    if let Some(segments) = v["segments"].as_array().filter(|a| !a.is_empty()) {
        let names: Vec<String> = segments.iter().map(s).collect();
        let _ = writeln!(o, "\nsegments  {}", names.join(", "));
    }
    let l = &v["limits"];
    let _ = writeln!(
        o,
        "\nlimits    {} events per type, ids de-duplicated for {} (at most {})",
        l["max_events_per_type"],
        s(&l["dedup_window"]),
        l["max_dedup_ids"]
    );
    o
}
