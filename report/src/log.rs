//! The exposure and conversion log: one JSON object per line, the same from every host (see
//! `docs/report.md`). Unknown members are ignored, so hosts may add their own.
//!
//! ```json
//! {"kind":"exposure","time":"2026-11-20T10:00:00Z","customer":"c1","rule":"coat_price_test","experiment":"coat_discount","variant":"ten","weight":33,"channel":"web","host":"edge","event":"v-1"}
//! {"kind":"conversion","time":"2026-11-22T15:50:00Z","customer":"c1","rule":"coat_price_test","experiment":"coat_discount","variant":"ten","goal":"purchase","primary":true,"exposed_at":"2026-11-20T10:00:00Z","exposure_channel":"web","channel":"store","host":"paris-01","event":"pos-1","value":63.2}
//! ```

use serde::Deserialize;

/// A time as the engine's wire format has it: RFC 3339 or epoch milliseconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Time {
    Ms(i64),
    Text(String),
}

impl Time {
    fn ms(&self) -> Result<i64, String> {
        match self {
            Time::Ms(ms) => Ok(*ms),
            Time::Text(t) => omnirule_text::time::parse_time(t).map_err(|e| format!("`{t}`: {e}")),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum Raw {
    Exposure {
        time: Time,
        customer: String,
        rule: String,
        #[serde(default)]
        experiment: Option<String>,
        #[serde(default)]
        variant: Option<String>,
        #[serde(default)]
        weight: Option<f64>,
        channel: String,
    },
    Conversion {
        time: Time,
        customer: String,
        rule: String,
        #[serde(default)]
        experiment: Option<String>,
        #[serde(default)]
        variant: Option<String>,
        goal: String,
        #[serde(default = "yes")]
        primary: bool,
        exposure_channel: String,
        channel: String,
        #[serde(default)]
        value: Option<f64>,
    },
}

fn yes() -> bool {
    true
}

/// What a report is made of: a rule's arm (the rule alone, or one variant of its split).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Arm {
    pub rule: String,
    pub experiment: Option<String>,
    pub variant: Option<String>,
}

impl Arm {
    /// The control arm of a split (the engine's decision with no action).
    pub fn is_control(&self) -> bool {
        self.variant.as_deref() == Some("control")
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub enum Line {
    Exposure {
        time: i64,
        customer: String,
        arm: Arm,
        weight: Option<f64>,
        channel: String,
    },
    Conversion {
        time: i64,
        customer: String,
        arm: Arm,
        goal: String,
        primary: bool,
        exposure_channel: String,
        channel: String,
        value: Option<f64>,
    },
}

/// Reads one line of the log. Blank lines are `Ok(None)`.
pub fn parse(text: &str) -> Result<Option<Line>, String> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let raw: Raw = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(Some(match raw {
        Raw::Exposure {
            time,
            customer,
            rule,
            experiment,
            variant,
            weight,
            channel,
        } => Line::Exposure {
            time: time.ms()?,
            customer,
            arm: Arm {
                rule,
                experiment,
                variant,
            },
            weight: weight.filter(|w| w.is_finite() && *w > 0.0),
            channel,
        },
        Raw::Conversion {
            time,
            customer,
            rule,
            experiment,
            variant,
            goal,
            primary,
            exposure_channel,
            channel,
            value,
        } => Line::Conversion {
            time: time.ms()?,
            customer,
            arm: Arm {
                rule,
                experiment,
                variant,
            },
            goal,
            primary,
            exposure_channel,
            channel,
            value: value.filter(|v| v.is_finite()),
        },
    }))
}
