//! The host protocol: one JSON-level call that every runtime makes the same way.
//!
//! The CLI, the browser package, the edge worker and the store module all take a profile and an
//! event as JSON from their surroundings, evaluate, and hand decisions back as JSON. If each
//! did its own conversion, the runtimes could drift apart in exactly the places conformance is
//! hardest (number printing, missing values, field order). So the conversion lives here, once:
//! hosts pass JSON in and get [`Tracked::to_json`] out, whose text is canonical
//! ([`omnirule_text::canonical`]) and therefore byte-identical on every runtime.
//!
//! Wire shape of one call's result:
//! `{"conversions":[..],"decisions":[{"action":"offer","experiment":null,"group":null,"params":{..},"rule":"r","variant":null}],
//!   "explanation":{..}}` (`conversions` only when the event met a goal, `explanation` only
//! when asked for).

use crate::bundle::Bundle;
use crate::decision::{Conversion, Decision, decisions_value, write_decisions};
use crate::eval::{evaluate, evaluate_in_place, explain, explain_in_place};
use crate::explain::Explanation;
use crate::input::{Event, InputError, Profile};
use crate::memory::Memory;
use omnirule_text::canonical::canonical_json;

/// The outcome of one tracked event.
#[derive(Debug, Clone, PartialEq)]
pub struct Tracked {
    pub decisions: Vec<Decision>,
    /// Goals the event met.
    pub conversions: Vec<Conversion>,
    /// Present when the caller asked for it.
    pub explanation: Option<Explanation>,
    /// The customer's memory after the event.
    pub memory: Memory,
}

impl Tracked {
    /// `{"decisions": [...], "explanation": {...}?}` as a JSON value.
    pub fn output(&self) -> serde_json::Value {
        output(
            &self.decisions,
            &self.conversions,
            self.explanation.as_ref(),
        )
    }

    /// [`Tracked::output`] as canonical JSON text: what runtimes compare byte for byte.
    pub fn to_json(&self) -> String {
        to_json(
            &self.decisions,
            &self.conversions,
            self.explanation.as_ref(),
        )
    }
}

/// The outcome of one event tracked in place ([`track_in_place`]): the memory was updated
/// where it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Decided {
    pub decisions: Vec<Decision>,
    /// Goals the event met.
    pub conversions: Vec<Conversion>,
    /// Present when the caller asked for it.
    pub explanation: Option<Explanation>,
}

impl Decided {
    /// As [`Tracked::output`].
    pub fn output(&self) -> serde_json::Value {
        output(
            &self.decisions,
            &self.conversions,
            self.explanation.as_ref(),
        )
    }

    /// As [`Tracked::to_json`].
    pub fn to_json(&self) -> String {
        to_json(
            &self.decisions,
            &self.conversions,
            self.explanation.as_ref(),
        )
    }
}

fn output(
    decisions: &[Decision],
    conversions: &[Conversion],
    explanation: Option<&Explanation>,
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    out.insert("decisions".into(), decisions_value(decisions));
    if !conversions.is_empty() {
        out.insert(
            "conversions".into(),
            serde_json::Value::Array(conversions.iter().map(Conversion::to_json).collect()),
        );
    }
    if let Some(why) = explanation {
        out.insert("explanation".into(), why.to_json());
    }
    serde_json::Value::Object(out)
}

fn to_json(
    decisions: &[Decision],
    conversions: &[Conversion],
    explanation: Option<&Explanation>,
) -> String {
    match explanation {
        _ if explanation.is_some() || !conversions.is_empty() => {
            canonical_json(&output(decisions, conversions, explanation))
        }
        _ => {
            let mut out = String::with_capacity(64 + 160 * decisions.len());
            out.push_str("{\"decisions\":");
            write_decisions(decisions, &mut out);
            out.push('}');
            out
        }
    }
}

/// Validates `profile` and `event` against the bundle's schema and evaluates the event.
///
/// An invalid profile or event is an error and evaluates nothing: the memory a host stores
/// stays as it was.
pub fn track(
    bundle: &Bundle,
    memory: &Memory,
    profile: &serde_json::Value,
    event: &serde_json::Value,
    with_explanation: bool,
) -> Result<Tracked, InputError> {
    track_at(bundle, memory, profile, event, None, with_explanation)
}

/// [`track`] for an event observed at `place` (see [`Event::set_place`]).
pub fn track_at(
    bundle: &Bundle,
    memory: &Memory,
    profile: &serde_json::Value,
    event: &serde_json::Value,
    place: Option<Place<'_>>,
    with_explanation: bool,
) -> Result<Tracked, InputError> {
    let profile = Profile::from_json(bundle, profile)?;
    let mut event = Event::from_json(bundle, event)?;
    if let Some(p) = place {
        event.set_place(Some(p.channel), p.host);
    }
    Ok(track_parsed(
        bundle,
        memory,
        &profile,
        &event,
        with_explanation,
    ))
}

/// [`track`] for a profile and event already validated.
pub fn track_parsed(
    bundle: &Bundle,
    memory: &Memory,
    profile: &Profile,
    event: &Event,
    with_explanation: bool,
) -> Tracked {
    if with_explanation {
        let (evaluation, why) = explain(bundle, memory, profile, event);
        Tracked {
            decisions: evaluation.decisions,
            conversions: evaluation.conversions,
            explanation: Some(why),
            memory: evaluation.memory,
        }
    } else {
        let evaluation = evaluate(bundle, memory, profile, event);
        Tracked {
            decisions: evaluation.decisions,
            conversions: evaluation.conversions,
            explanation: None,
            memory: evaluation.memory,
        }
    }
}

/// [`track_parsed`] updating `memory` in place: for hosts that own the customer's memory (it
/// saves a copy of the memory per event).
pub fn track_in_place(
    bundle: &Bundle,
    memory: &mut Memory,
    profile: &Profile,
    event: &Event,
    with_explanation: bool,
) -> Decided {
    if with_explanation {
        let (decisions, conversions, why) = explain_in_place(bundle, memory, profile, event);
        Decided {
            decisions,
            conversions,
            explanation: Some(why),
        }
    } else {
        let (decisions, conversions) = evaluate_in_place(bundle, memory, profile, event);
        Decided {
            decisions,
            conversions,
            explanation: None,
        }
    }
}

/// Where an exposure happened: the channel (`web`, `store`, `cli`, …) and the host (`edge`,
/// `paris-01`, …), as the host knows itself.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub channel: &'a str,
    pub host: Option<&'a str>,
}

/// The exposure lines of one event's decisions, in the log format of `docs/report.md`: every
/// decision is an exposure, a split's control arm included (its decision has no action, and is
/// there to be logged). A split's arm carries its `weight` (percent), which the report's
/// sample-ratio check compares the exposed counts with. As values; [`write_exposures`] writes
/// the same lines as text (what hosts append to their logs, without building values).
pub fn exposures(
    bundle: &Bundle,
    profile: &Profile,
    event: &Event,
    decisions: &[Decision],
    place: Place<'_>,
) -> Vec<serde_json::Value> {
    let mut text = String::new();
    write_exposures(bundle, profile, event, decisions, place, &mut text);
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// [`exposures`] as text, a line each (`\n`-terminated), appended to `out`: written directly,
/// because a host logs every decision it makes and building JSON values for each cost several
/// times the evaluation itself (`omnirule-bench exposures`).
pub fn write_exposures(
    bundle: &Bundle,
    profile: &Profile,
    event: &Event,
    decisions: &[Decision],
    place: Place<'_>,
    out: &mut String,
) {
    out.reserve(decisions.len() * LINE_BYTES);
    for d in decisions {
        let arm = (d.experiment.as_deref(), d.variant.as_deref());
        write_head("exposure", event.time(), profile.id(), &d.rule, arm, out);
        out.push_str(",\"weight\":");
        write_weight(bundle, d, out);
        write_where(place, event.id(), out);
        out.push_str("}\n");
    }
}

/// The conversion lines of one event, in the log format of `docs/report.md`, appended to
/// `out` a line each: what the host writes beside its exposure lines. `place` is where the
/// conversion happened; the exposure's place comes from memory (where it was recorded).
pub fn write_conversions(
    profile: &Profile,
    event: &Event,
    conversions: &[Conversion],
    place: Place<'_>,
    out: &mut String,
) {
    use omnirule_text::json::write_string;
    out.reserve(conversions.len() * LINE_BYTES);
    for c in conversions {
        let arm = (c.experiment.as_deref(), c.variant.as_deref());
        write_head("conversion", event.time(), profile.id(), &c.rule, arm, out);
        out.push_str(",\"goal\":");
        write_string(&c.goal, out);
        out.push_str(if c.primary {
            ",\"primary\":true"
        } else {
            ",\"primary\":false"
        });
        // A time needs no escaping.
        out.push_str(",\"exposed_at\":\"");
        omnirule_text::time::write_time(c.exposed_at, out);
        out.push('"');
        out.push_str(",\"exposure_event\":");
        write_string(&c.exposure_event, out);
        out.push_str(",\"exposure_channel\":");
        write_opt(c.exposure_channel.as_deref(), out);
        out.push_str(",\"exposure_host\":");
        write_opt(c.exposure_host.as_deref(), out);
        write_where(place, event.id(), out);
        out.push_str(",\"value\":");
        match c.value {
            Some(v) => out.push_str(&crate::value::number_json(v).to_string()),
            None => out.push_str("null"),
        }
        out.push_str("}\n");
    }
}

/// About the length of an exposure or conversion line, reserved up front.
const LINE_BYTES: usize = 320;

/// The members every log line starts with: `{"kind", "time", "customer", "rule",
/// "experiment", "variant"` (the object left open). The kind is one of ours and the time is
/// digits: neither needs escaping, so neither is scanned for it.
fn write_head(
    kind: &str,
    time: i64,
    customer: &str,
    rule: &str,
    (experiment, variant): (Option<&str>, Option<&str>),
    out: &mut String,
) {
    use omnirule_text::json::write_string;
    out.push_str("{\"kind\":\"");
    out.push_str(kind);
    out.push_str("\",\"time\":\"");
    omnirule_text::time::write_time(time, out);
    out.push_str("\",\"customer\":");
    write_string(customer, out);
    out.push_str(",\"rule\":");
    write_string(rule, out);
    out.push_str(",\"experiment\":");
    write_opt(experiment, out);
    out.push_str(",\"variant\":");
    write_opt(variant, out);
}

/// Where a log line's event happened: `"channel", "host", "event"`.
fn write_where(place: Place<'_>, event: &str, out: &mut String) {
    use omnirule_text::json::write_string;
    out.push_str(",\"channel\":");
    write_string(place.channel, out);
    out.push_str(",\"host\":");
    write_opt(place.host, out);
    out.push_str(",\"event\":");
    write_string(event, out);
}

/// A JSON string, or `null`.
fn write_opt(s: Option<&str>, out: &mut String) {
    match s {
        Some(s) => omnirule_text::json::write_string(s, out),
        None => out.push_str("null"),
    }
}

/// An exposure's `weight` as JSON: the share of its split's arm in percent, exactly (an arm of
/// 3333 basis points is `33.33`), or `null` for a decision that is no split's.
pub fn write_weight(bundle: &Bundle, decision: &Decision, out: &mut String) {
    use omnirule_text::json::write_uint;
    // The evaluation that made the decision says; a decision read back from JSON does not,
    // and its rule is looked up.
    let share = decision.share.or_else(|| {
        decision
            .variant
            .as_deref()
            .and_then(|v| split_basis_points(bundle, &decision.rule, v))
    });
    match share {
        Some(bp) => {
            write_uint(u64::from(bp / 100), out);
            if bp % 100 != 0 {
                out.push('.');
                let cents = bp % 100;
                if cents < 10 {
                    out.push('0');
                }
                let digits = if cents % 10 == 0 { cents / 10 } else { cents };
                write_uint(u64::from(digits), out);
            }
        }
        None => out.push_str("null"),
    }
}

/// A split arm's width in basis points (`control` is the arm without a variant name).
fn split_basis_points(bundle: &Bundle, rule: &str, variant: &str) -> Option<u32> {
    let rule = bundle.graph().rules.iter().find(|r| r.name == rule)?;
    let crate::graph::Outcome::Split { arms, .. } = &rule.outcome else {
        return None;
    };
    arms.iter()
        .find(|a| a.variant.as_deref().unwrap_or("control") == variant)
        .map(|a| a.basis_points)
}

/// The arms of the split named `experiment` (`control` for the control arm), in written
/// order; `None` when the bundle has no such split. For hosts that force an arm for quality
/// assurance (`Profile::force_variant`) and check the names first.
pub fn split_arms(bundle: &Bundle, experiment: &str) -> Option<Vec<String>> {
    bundle.graph().rules.iter().find_map(|r| match &r.outcome {
        crate::graph::Outcome::Split { name, arms, .. } if name == experiment => Some(
            arms.iter()
                .map(|a| a.variant.clone().unwrap_or_else(|| "control".to_string()))
                .collect(),
        ),
        _ => None,
    })
}

/// Every split's arms and their shares in percent: `{"rule": {"variant": 33.0, "control":
/// 34.0}}`. For hosts that build exposure lines themselves (the store host, from the wasm
/// module's load result).
pub fn split_weights(bundle: &Bundle) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for rule in &bundle.graph().rules {
        if let crate::graph::Outcome::Split { arms, .. } = &rule.outcome {
            let arms: serde_json::Map<String, serde_json::Value> = arms
                .iter()
                .map(|a| {
                    (
                        a.variant.clone().unwrap_or_else(|| "control".to_string()),
                        serde_json::json!(f64::from(a.basis_points) / 100.0),
                    )
                })
                .collect();
            out.insert(rule.name.clone(), serde_json::Value::Object(arms));
        }
    }
    serde_json::Value::Object(out)
}
