//! A report as a terminal table, or as one self-contained HTML page (inline CSS and SVG, no
//! script, nothing fetched): the conversion rate with its interval per arm, cumulative
//! conversions over time, and the table.

use crate::report::{ArmReport, Report, RuleReport};
use std::fmt::Write as _;

fn pct(x: Option<f64>) -> String {
    x.map_or_else(|| "—".to_string(), |v| format!("{:.2}%", v * 100.0))
}

fn signed_pct(x: f64) -> String {
    format!("{:+.2}%", x * 100.0)
}

fn arm_name(a: &ArmReport) -> String {
    a.variant.clone().unwrap_or_else(|| "(rule)".to_string())
}

fn title(r: &RuleReport) -> String {
    match &r.experiment {
        Some(e) => format!("{} / split {}", r.rule, e),
        None => r.rule.clone(),
    }
}

/// One arm's comparison with control, in words for the table.
fn versus(a: &ArmReport) -> (String, String, String, String) {
    let Some(c) = &a.vs_control else {
        return ("".into(), "".into(), "".into(), "".into());
    };
    let abs = c.absolute.map_or_else(String::new, |(v, i)| {
        format!(
            "{} [{}, {}]",
            signed_pct(v),
            signed_pct(i.low),
            signed_pct(i.high)
        )
    });
    let rel = c.relative.map_or_else(String::new, |(v, i)| {
        format!(
            "{} [{}, {}]",
            signed_pct(v),
            signed_pct(i.low),
            signed_pct(i.high)
        )
    });
    let p = c.p_value.map_or_else(String::new, |p| format!("{p:.4}"));
    let beat = c
        .chance_to_beat
        .map_or_else(String::new, |b| format!("{:.1}%", b * 100.0));
    (abs, rel, p, beat)
}

/// A plain-text table per rule.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let level = report.level * 100.0;
    for r in &report.rules {
        let _ = writeln!(out, "{}", title(r));
        let _ = writeln!(
            out,
            "  {:<12} {:>9} {:>8} {:>8} {:>19}  {:<28} {:<28} {:>7} {:>7} {:>9}",
            "arm",
            "exposed",
            "conv",
            "rate",
            format!("{level:.0}% interval"),
            "lift vs control [interval]",
            "relative lift [interval]",
            "p",
            "P(beat)",
            "rev/exp"
        );
        for a in &r.arms {
            let (abs, rel, p, beat) = versus(a);
            let interval = a.interval.map_or_else(String::new, |i| {
                format!("{} – {}", pct(Some(i.low)), pct(Some(i.high)))
            });
            let revenue = a
                .revenue_per_exposed
                .map_or_else(String::new, |v| format!("{v:.2}"));
            let _ = writeln!(
                out,
                "  {:<12} {:>9} {:>8} {:>8} {:>19}  {:<28} {:<28} {:>7} {:>7} {:>9}",
                arm_name(a),
                a.exposed,
                a.conversions,
                pct(a.rate),
                interval,
                abs,
                rel,
                p,
                beat,
                revenue
            );
            for c in &a.channels {
                let _ = writeln!(
                    out,
                    "    {:<10} exposed on {:<8} converted on {:<8} {:>7} of {:>7}  {}",
                    "",
                    c.exposure_channel,
                    c.conversion_channel,
                    c.conversions,
                    c.exposed,
                    pct(c.rate)
                );
            }
            for (goal, n) in &a.secondary {
                let _ = writeln!(out, "    {:<10} secondary goal {goal}: {n}", "");
            }
        }
        if let Some(s) = &r.srm {
            let _ = writeln!(
                out,
                "  sample ratio: chi-square {:.2}, p = {:.4}{}",
                s.chi2,
                s.p_value,
                if s.flagged {
                    "  MISMATCH: the arms' sizes do not match the split; check assignment and logging before reading the results"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "{} log lines", report.lines);
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const COLOURS: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1",
];

/// The conversion rate of each arm with its interval, as horizontal bars with whiskers.
fn rate_chart(r: &RuleReport) -> String {
    let row = 28.0;
    let width = 520.0;
    let left = 110.0;
    let top_rate = r
        .arms
        .iter()
        .filter_map(|a| a.interval.map(|i| i.high))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    // Room on the right for the label after the whisker.
    let scale = (width - left - 70.0) / top_rate;
    let height = row * r.arms.len() as f64 + 30.0;
    let mut svg = format!(
        r#"<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="conversion rate per arm">"#
    );
    for (i, a) in r.arms.iter().enumerate() {
        let y = 10.0 + row * i as f64;
        let colour = COLOURS.get(i % COLOURS.len()).copied().unwrap_or("#888");
        let rate = a.rate.unwrap_or(0.0);
        let _ = write!(
            svg,
            r#"<text x="0" y="{}" font-size="12">{}</text><rect x="{left}" y="{y}" width="{:.1}" height="16" fill="{colour}" opacity="0.8"/>"#,
            y + 12.0,
            esc(&arm_name(a)),
            rate * scale
        );
        if let Some(iv) = a.interval {
            let (x1, x2) = (left + iv.low * scale, left + iv.high * scale);
            let _ = write!(
                svg,
                r##"<line x1="{x1:.1}" x2="{x2:.1}" y1="{0}" y2="{0}" stroke="#222"/><line x1="{x1:.1}" x2="{x1:.1}" y1="{1}" y2="{2}" stroke="#222"/><line x1="{x2:.1}" x2="{x2:.1}" y1="{1}" y2="{2}" stroke="#222"/><text x="{3:.1}" y="{4}" font-size="11">{5}</text>"##,
                y + 8.0,
                y + 3.0,
                y + 13.0,
                x2 + 6.0,
                y + 12.0,
                esc(&pct(a.rate))
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Cumulative conversions per arm over time.
fn cumulative_chart(r: &RuleReport) -> String {
    let (width, height, pad) = (520.0, 180.0, 30.0);
    let days: Vec<&str> = {
        let mut d: Vec<&str> = r
            .arms
            .iter()
            .flat_map(|a| a.cumulative.iter().map(|(day, _)| day.as_str()))
            .collect();
        d.sort_unstable();
        d.dedup();
        d
    };
    let top = r
        .arms
        .iter()
        .filter_map(|a| a.cumulative.last().map(|(_, n)| *n))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let span = (days.len().max(2) - 1) as f64;
    let mut svg = format!(
        r##"<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" aria-label="cumulative conversions"><line x1="{pad}" y1="{b}" x2="{r}" y2="{b}" stroke="#999"/><line x1="{pad}" y1="10" x2="{pad}" y2="{b}" stroke="#999"/><text x="2" y="14" font-size="10">{top}</text>"##,
        b = height - pad,
        r = width - 10.0,
    );
    for (i, a) in r.arms.iter().enumerate() {
        let colour = COLOURS.get(i % COLOURS.len()).copied().unwrap_or("#888");
        let points: Vec<String> = a
            .cumulative
            .iter()
            .map(|(day, n)| {
                let x = days.iter().position(|d| d == day).unwrap_or(0) as f64;
                format!(
                    "{:.1},{:.1}",
                    pad + x / span * (width - pad - 10.0),
                    height - pad - (*n as f64 / top) * (height - pad - 10.0)
                )
            })
            .collect();
        let _ = write!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/><text x="{}" y="{}" font-size="11" fill="{colour}">{}</text>"#,
            points.join(" "),
            pad + 10.0,
            20.0 + 14.0 * i as f64,
            esc(&arm_name(a))
        );
    }
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let _ = write!(
            svg,
            r#"<text x="{pad}" y="{}" font-size="10">{}</text><text x="{}" y="{}" font-size="10" text-anchor="end">{}</text>"#,
            height - 12.0,
            esc(first.get(..10).unwrap_or(first)),
            width - 10.0,
            height - 12.0,
            esc(last.get(..10).unwrap_or(last))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// One self-contained HTML page.
pub fn html(report: &Report) -> String {
    let mut out = String::from(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Omnirule conversion report</title><style>
body{font:14px/1.45 system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
h2{margin-top:2.5rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.8rem 0}td,th{padding:.25rem .6rem;border-bottom:1px solid #eee;text-align:right}
td:first-child,th:first-child{text-align:left}.sub td{color:#666;font-size:12px}
.flag{background:#fde2e1;border:1px solid #e15759;padding:.5rem;margin:.5rem 0}
.charts{display:flex;gap:2rem;flex-wrap:wrap}
</style></head><body><h1>Conversion report</h1>"#,
    );
    let _ = write!(
        out,
        "<p>{} log lines; intervals at {:.0}% (Wilson for rates, Newcombe for differences, log ratio for relative lifts); p-values of the two-proportion z-test; P(beat) under uniform priors.</p>",
        report.lines,
        report.level * 100.0
    );
    for r in &report.rules {
        let _ = write!(out, "<h2>{}</h2>", esc(&title(r)));
        if let Some(s) = &r.srm
            && s.flagged
        {
            let _ = write!(
                out,
                r#"<div class="flag"><b>Sample ratio mismatch</b> (chi-square {:.2}, p = {:.2e}): the arms' sizes do not match the split. Check assignment and logging before reading the results.</div>"#,
                s.chi2, s.p_value
            );
        }
        let _ = write!(
            out,
            r#"<div class="charts"><figure>{}<figcaption>Conversion rate and its interval</figcaption></figure><figure>{}<figcaption>Cumulative conversions</figcaption></figure></div>"#,
            rate_chart(r),
            cumulative_chart(r)
        );
        out.push_str("<table><tr><th>arm</th><th>exposed</th><th>conversions</th><th>rate</th><th>interval</th><th>lift vs control</th><th>relative lift</th><th>p</th><th>P(beat)</th><th>revenue / exposed</th></tr>");
        for a in &r.arms {
            let (abs, rel, p, beat) = versus(a);
            let interval = a.interval.map_or_else(String::new, |i| {
                format!("{} – {}", pct(Some(i.low)), pct(Some(i.high)))
            });
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&arm_name(a)),
                a.exposed,
                a.conversions,
                pct(a.rate),
                esc(&interval),
                esc(&abs),
                esc(&rel),
                p,
                beat,
                a.revenue_per_exposed
                    .map_or_else(String::new, |v| format!("{v:.2}"))
            );
            for c in &a.channels {
                let _ = write!(
                    out,
                    r#"<tr class="sub"><td>&nbsp;&nbsp;exposed on {} → converted on {}</td><td>{}</td><td>{}</td><td>{}</td><td colspan="6"></td></tr>"#,
                    esc(&c.exposure_channel),
                    esc(&c.conversion_channel),
                    c.exposed,
                    c.conversions,
                    pct(c.rate)
                );
            }
        }
        out.push_str("</table>");
    }
    out.push_str("</body></html>\n");
    out
}
