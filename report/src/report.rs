//! From log lines to a report: streamed, one line at a time. Memory grows with the distinct
//! customers per arm (a 64-bit hash each, with the time and channel of their first exposure and
//! of their first primary conversion), never with the number of lines.

use crate::log::{Arm, Line};
use crate::stats::{self, Interval};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

const DAY_MS: i64 = 86_400_000;

/// A customer id's 64-bit hash (SipHash with fixed keys: the same in every run). Two customers
/// share one with probability about n² / 2⁶⁵: one in 90,000 for twenty million customers.
fn customer_hash(id: &str) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    id.hash(&mut h);
    h.finish()
}

type ArmAndState = (Arm, ArmState);

#[derive(Default)]
struct ArmState {
    weight: Option<f64>,
    /// First exposure per customer: time, channel.
    exposed: HashMap<u64, (i64, u32)>,
    /// First primary-goal conversion per customer: time, exposure channel, channel, value.
    converted: HashMap<u64, (i64, u32, u32, Option<f64>)>,
    /// Customers converted per secondary goal.
    secondary: BTreeMap<String, HashMap<u64, ()>>,
}

/// Accumulates log lines.
#[derive(Default)]
pub struct Builder {
    arms: BTreeMap<Arm, ArmState>,
    channels: Vec<String>,
    lines: u64,
}

impl Builder {
    fn channel(&mut self, name: &str) -> u32 {
        if let Some(i) = self.channels.iter().position(|c| c == name) {
            return u32::try_from(i).unwrap_or(u32::MAX);
        }
        self.channels.push(name.to_string());
        u32::try_from(self.channels.len() - 1).unwrap_or(u32::MAX)
    }

    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Adds one line. Order does not matter: the first exposure and conversion are the
    /// earliest by time, whatever order the lines come in.
    pub fn add(&mut self, line: Line) {
        self.lines += 1;
        match line {
            Line::Exposure {
                time,
                customer,
                arm,
                weight,
                channel,
            } => {
                let channel = self.channel(&channel);
                let state = self.arms.entry(arm).or_default();
                if weight.is_some() {
                    state.weight = weight;
                }
                let slot = state
                    .exposed
                    .entry(customer_hash(&customer))
                    .or_insert((time, channel));
                if time < slot.0 {
                    *slot = (time, channel);
                }
            }
            Line::Conversion {
                time,
                customer,
                arm,
                goal,
                primary,
                exposure_channel,
                channel,
                value,
            } => {
                let exposure_channel = self.channel(&exposure_channel);
                let channel = self.channel(&channel);
                let state = self.arms.entry(arm).or_default();
                let who = customer_hash(&customer);
                if primary {
                    let slot = state.converted.entry(who).or_insert((
                        time,
                        exposure_channel,
                        channel,
                        value,
                    ));
                    if time < slot.0 {
                        *slot = (time, exposure_channel, channel, value);
                    }
                } else {
                    state.secondary.entry(goal).or_default().insert(who, ());
                }
            }
        }
    }

    /// The report, at confidence `level` (0.95).
    pub fn finish(mut self, level: f64) -> Report {
        let z = stats::z_for(level);
        // A conversion is evidence of its exposure even where the exposure's line is missing
        // (a host's log lost, a partial export): such customers count as exposed.
        for state in self.arms.values_mut() {
            let converted: Vec<(u64, (i64, u32))> = state
                .converted
                .iter()
                .map(|(who, (t, e, _, _))| (*who, (*t, *e)))
                .collect();
            for (who, first) in converted {
                state.exposed.entry(who).or_insert(first);
            }
        }
        let channels = std::mem::take(&mut self.channels);
        let name = |i: u32| {
            channels
                .get(i as usize)
                .cloned()
                .unwrap_or_else(|| "?".to_string())
        };
        // Arms by rule and split: the arms compared with one control.
        let mut groups: BTreeMap<(String, Option<String>), Vec<ArmAndState>> = BTreeMap::new();
        for (arm, state) in self.arms {
            groups
                .entry((arm.rule.clone(), arm.experiment.clone()))
                .or_default()
                .push((arm, state));
        }
        let mut rules = Vec::new();
        for ((rule, experiment), arms) in groups {
            let control = arms
                .iter()
                .find(|(a, _)| a.is_control())
                .map(|(_, s)| (s.converted.len() as u64, s.exposed.len() as u64));
            let mut out = Vec::new();
            for (arm, state) in &arms {
                let exposed = state.exposed.len() as u64;
                let conversions = state.converted.len() as u64;
                let revenue: Vec<f64> = state.converted.values().filter_map(|c| c.3).collect();
                let vs_control = match control {
                    Some((kc, nc)) if !arm.is_control() => Some(Comparison {
                        absolute: stats::difference(conversions, exposed, kc, nc, z),
                        relative: stats::relative_lift(conversions, exposed, kc, nc, z),
                        p_value: stats::two_proportion_p(conversions, exposed, kc, nc),
                        chance_to_beat: stats::chance_to_beat(conversions, exposed, kc, nc),
                    }),
                    _ => None,
                };
                // Rows per exposure channel × conversion channel (conversions where the
                // customer converted; the denominator is who was exposed on that channel).
                let mut exposed_by: BTreeMap<u32, u64> = BTreeMap::new();
                for (_, c) in state.exposed.values() {
                    *exposed_by.entry(*c).or_default() += 1;
                }
                let mut converted_by: BTreeMap<(u32, u32), u64> = BTreeMap::new();
                for (_, e, c, _) in state.converted.values() {
                    *converted_by.entry((*e, *c)).or_default() += 1;
                }
                let channels_rows = converted_by
                    .iter()
                    .map(|(&(e, c), &k)| {
                        let n = exposed_by.get(&e).copied().unwrap_or(0).max(k);
                        ChannelRow {
                            exposure_channel: name(e),
                            conversion_channel: name(c),
                            exposed: n,
                            conversions: k,
                            rate: rate(k, n),
                            interval: stats::wilson(k, n, z),
                        }
                    })
                    .collect();
                let mut days: BTreeMap<i64, u64> = BTreeMap::new();
                for (t, _, _, _) in state.converted.values() {
                    *days.entry(t.div_euclid(DAY_MS)).or_default() += 1;
                }
                let mut total = 0;
                let cumulative = days
                    .into_iter()
                    .map(|(day, k)| {
                        total += k;
                        (omnirule_text::time::format_time(day * DAY_MS), total)
                    })
                    .collect();
                out.push(ArmReport {
                    variant: arm.variant.clone(),
                    control: arm.is_control(),
                    weight: state.weight,
                    exposed,
                    conversions,
                    rate: rate(conversions, exposed),
                    interval: stats::wilson(conversions, exposed, z),
                    revenue_per_exposed: (!revenue.is_empty() && exposed > 0)
                        .then(|| revenue.iter().sum::<f64>() / exposed as f64),
                    secondary: state
                        .secondary
                        .iter()
                        .map(|(g, who)| (g.clone(), who.len() as u64))
                        .collect(),
                    vs_control,
                    channels: channels_rows,
                    cumulative,
                });
            }
            // Only with every arm's declared share: assuming equal shares would flag every
            // lopsided split.
            let srm = (experiment.is_some()
                && out.len() >= 2
                && out.iter().all(|a| a.weight.is_some()))
            .then(|| {
                let observed: Vec<u64> = out.iter().map(|a| a.exposed).collect();
                let weights: Vec<f64> = out.iter().map(|a| a.weight.unwrap_or(1.0)).collect();
                stats::sample_ratio(&observed, &weights).map(|(chi2, p)| Srm {
                    chi2,
                    p_value: p,
                    flagged: p < SRM_ALPHA,
                })
            })
            .flatten();
            rules.push(RuleReport {
                rule,
                experiment,
                srm,
                arms: out,
            });
        }
        Report {
            level,
            lines: self.lines,
            rules,
        }
    }
}

/// The sample-ratio check flags below this p-value.
pub const SRM_ALPHA: f64 = 0.001;

fn rate(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// Confidence level of every interval.
    pub level: f64,
    pub lines: u64,
    pub rules: Vec<RuleReport>,
}

#[derive(Debug, Serialize)]
pub struct RuleReport {
    pub rule: String,
    pub experiment: Option<String>,
    /// The sample-ratio check of the split (exposed customers against the split's weights).
    pub srm: Option<Srm>,
    pub arms: Vec<ArmReport>,
}

#[derive(Debug, Serialize)]
pub struct Srm {
    pub chi2: f64,
    pub p_value: f64,
    pub flagged: bool,
}

#[derive(Debug, Serialize)]
pub struct ArmReport {
    pub variant: Option<String>,
    pub control: bool,
    pub weight: Option<f64>,
    /// Customers exposed (first exposure).
    pub exposed: u64,
    /// Customers who met the primary goal after their exposure.
    pub conversions: u64,
    pub rate: Option<f64>,
    #[serde(serialize_with = "interval")]
    pub interval: Option<Interval>,
    pub revenue_per_exposed: Option<f64>,
    /// Customers converted per secondary goal.
    pub secondary: BTreeMap<String, u64>,
    pub vs_control: Option<Comparison>,
    pub channels: Vec<ChannelRow>,
    /// Cumulative conversions at the end of each day (UTC) with any.
    pub cumulative: Vec<(String, u64)>,
}

#[derive(Debug, Serialize)]
pub struct Comparison {
    /// Rate minus control's, with Newcombe's interval.
    #[serde(serialize_with = "estimate")]
    pub absolute: Option<(f64, Interval)>,
    /// Rate over control's, minus one, with the log-ratio interval.
    #[serde(serialize_with = "estimate")]
    pub relative: Option<(f64, Interval)>,
    pub p_value: Option<f64>,
    pub chance_to_beat: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ChannelRow {
    pub exposure_channel: String,
    pub conversion_channel: String,
    pub exposed: u64,
    pub conversions: u64,
    pub rate: Option<f64>,
    #[serde(serialize_with = "interval")]
    pub interval: Option<Interval>,
}

fn interval<S: serde::Serializer>(i: &Option<Interval>, s: S) -> Result<S::Ok, S::Error> {
    match i {
        Some(i) => [i.low, i.high].serialize(s),
        None => s.serialize_none(),
    }
}

fn estimate<S: serde::Serializer>(e: &Option<(f64, Interval)>, s: S) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Estimate {
        value: f64,
        interval: [f64; 2],
    }
    match e {
        Some((v, i)) => Estimate {
            value: *v,
            interval: [i.low, i.high],
        }
        .serialize(s),
        None => s.serialize_none(),
    }
}
