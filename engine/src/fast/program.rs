//! Compiled triggers: per event type, the rules it triggers laid out for the fast path.
//!
//! Most rules are plain: no consent clause, group, cap, schedule or split, a condition that
//! compiles (see [`super::pred`]) and params written as literals. For those, evaluation
//! needs neither the graph nor memory: test the condition, copy the rule's decisions. A
//! [`Program`] holds, in decision order, one [`Step`] per triggered rule, with the plain rules'
//! conditions and prebuilt decisions stored contiguously, so an event walks one array instead
//! of chasing each rule, condition and node through the graph (which, at a thousand rules,
//! was mostly cache misses). Every other rule is a general step, evaluated as before. The
//! program's [`Index`] decides most parts of the plain conditions for all steps at once, so an
//! event visits only the general steps and the plain steps its field values leave standing.

use super::index::{Candidates, Index, Leaf};
use super::pred::{FieldValues, Pred, Preds};
use crate::decision::Decision;
use crate::graph::{Graph, Outcome, RuleId, Schedule};
use crate::plan::Plan;
use std::sync::Arc;

/// One triggered rule.
#[derive(Debug, Clone)]
struct Step {
    rule: RuleId,
    /// For a plain rule: it fires when the index leaves it standing and `conds[plain.0]` (the
    /// parts the index does not decide) all hold, deciding `decisions[plain.1]`. `None`: the
    /// general evaluator decides.
    plain: Option<(Span, Span)>,
}

/// What evaluation does with a step the index leaves standing.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Visit {
    /// A plain rule: it fires when [`Program::holds`] of `conds`, with
    /// [`Program::decisions`] of `decisions`.
    Plain { conds: Span, decisions: Span },
    /// Any other rule: the general evaluator decides it.
    General(RuleId),
}

/// A range of a program's conditions or decisions.
pub(crate) type Span = (u32, u32);

/// The compiled form of one trigger.
#[derive(Debug, Clone, Default)]
pub(crate) struct Program {
    steps: Vec<Step>,
    /// The field slots the plain steps' conditions read, looked up once before the steps run.
    fields: Vec<u16>,
    /// The plain steps' conjunction parts the index does not decide, step after step.
    conds: Vec<Pred>,
    decisions: Vec<Decision>,
    index: Index,
}

impl Program {
    #[inline(never)]
    pub(crate) fn new(g: &Graph, rules: &[RuleId], preds: &Preds, plan: &Plan) -> Program {
        let mut p = Program::default();
        for &rid in rules {
            let plain = p.plain(g, rid, preds, plan);
            p.steps.push(Step { rule: rid, plain });
        }
        p.order_conjunctions();
        for c in &p.conds {
            c.fields(&mut p.fields);
        }
        omnirule_text::sort::sort(&mut p.fields);
        p.fields.dedup();
        p.index();
        p
    }

    /// Builds the rule index over the plain steps' leaves and keeps, of each plain step's
    /// conjunction, only the parts the index does not decide.
    fn index(&mut self) {
        let mut leaves = Vec::new();
        for (i, step) in self.steps.iter().enumerate() {
            let Some(((start, end), _)) = step.plain else {
                continue;
            };
            let parts = self
                .conds
                .get(start as usize..end as usize)
                .unwrap_or_default();
            leaves.extend(parts.iter().map(|pred| Leaf { step: i, pred }));
        }
        let (index, absorbed) = Index::new(self.steps.len(), &leaves);
        drop(leaves);
        self.index = index;
        let old = std::mem::take(&mut self.conds);
        let mut absorbed = absorbed.into_iter();
        let mut old = old.into_iter();
        for step in &mut self.steps {
            let Some(((start, end), d)) = step.plain else {
                continue;
            };
            let from = u32::try_from(self.conds.len()).unwrap_or(u32::MAX);
            for _ in start..end {
                if let (Some(pred), Some(false)) = (old.next(), absorbed.next()) {
                    self.conds.push(pred);
                }
            }
            let to = u32::try_from(self.conds.len()).unwrap_or(u32::MAX);
            step.plain = Some(((from, to), d));
        }
    }

    /// Looks up, once, the field values the plain steps' conditions read.
    #[inline]
    pub(crate) fn prefetch(&self, fields: &mut FieldValues<'_>) {
        fields.prefetch(&self.fields);
    }

    /// Step `i` (a number [`Program::candidates`] gave).
    #[inline]
    pub(crate) fn visit(&self, i: usize) -> Option<Visit> {
        let step = self.steps.get(i)?;
        Some(match step.plain {
            Some((conds, decisions)) => Visit::Plain { conds, decisions },
            None => Visit::General(step.rule),
        })
    }

    /// The steps to visit for these field values (after [`Program::prefetch`]), in order: the
    /// general steps and the plain steps the index leaves standing.
    #[inline]
    pub(crate) fn candidates(&self, fields: &FieldValues<'_>) -> Candidates<'_> {
        self.index.candidates(fields.resolved())
    }

    /// A call per rule, not inline in `new`'s loop: see `validate` on why loads keep their
    /// per-item work out of functions called once.
    #[inline(never)]
    fn plain(
        &mut self,
        g: &Graph,
        rid: RuleId,
        preds: &Preds,
        plan: &Plan,
    ) -> Option<(Span, Span)> {
        let names = plan.names();
        let rule = g.rules.get(rid as usize)?;
        let Outcome::Actions(calls) = &rule.outcome else {
            return None;
        };
        let plain = rule.consents.is_empty()
            && rule.group.is_none()
            && rule.cap.is_none()
            && rule.schedule == Schedule::default()
            // An exposure to a rule with goals is recorded with its captured values, which
            // the general path evaluates in the rule's environment.
            && !g.goals.iter().any(|goal| goal.rule == rid);
        if !plain {
            return None;
        }
        let cond = match rule.when {
            None => None,
            Some(c) => Some(preds.of_cond(c)?.clone()),
        };
        let name = names.rule(rid, &rule.name);
        let mut decisions = Vec::with_capacity(calls.len());
        for (k, call) in calls.iter().enumerate() {
            let action = g.schema.actions.get(call.action as usize)?;
            let (number, params) = names.constant_params(g, plan.literals(), rid, k)?;
            decisions.push(Decision {
                rule: name.clone(),
                action: Some(names.action(call.action, &action.name)),
                params: Arc::clone(params),
                group: None,
                experiment: None,
                variant: None,
                call: number,
                share: None,
            });
        }
        let at = |n: usize| u32::try_from(n).ok();
        let (c0, d0) = (at(self.conds.len())?, at(self.decisions.len())?);
        match cond {
            // `a and b and c` is stored as its parts: one loop, no recursion.
            Some(Pred::All(parts)) => self.conds.extend(parts.into_vec()),
            Some(p) => self.conds.push(p),
            None => {}
        }
        self.decisions.extend(decisions);
        Some(((c0, at(self.conds.len())?), (d0, at(self.decisions.len())?)))
    }

    /// Orders each plain step's parts by how likely they are to hold, least likely first, so
    /// that a rule that does not fire (most rules, for most events) is usually refused by its
    /// first test. The parts are pure tests of the same field values, and a missing value
    /// fails every test, so their order does not change the conjunction's value.
    fn order_conjunctions(&mut self) {
        let mut strings: Vec<(u16, u32)> = Vec::new();
        for c in &self.conds {
            c.strings(&mut strings);
        }
        let distinct = distinct_per_field(&strings);
        let distinct = |field: u16| distinct.get(usize::from(field)).copied().unwrap_or(0);
        let spans: Vec<Span> = self
            .steps
            .iter()
            .filter_map(|s| s.plain.map(|p| p.0))
            .collect();
        let mut odds: Vec<f64> = Vec::new();
        for (start, end) in spans {
            if let Some(parts) = self.conds.get_mut(start as usize..end as usize) {
                // Each part's odds once, not once per comparison.
                odds.clear();
                odds.extend(parts.iter().map(|p| p.odds(&distinct)));
                omnirule_text::sort::sort_by_keys(parts, &odds, f64::total_cmp);
            }
        }
    }

    /// Whether a plain step's condition holds (after [`Program::prefetch`]).
    #[inline]
    pub(crate) fn holds(&self, conds: Span, fields: &FieldValues<'_>) -> bool {
        let values = fields.resolved();
        self.conds
            .get(conds.0 as usize..conds.1 as usize)
            .is_some_and(|cs| cs.iter().all(|c| c.holds_in(values)))
    }

    /// A plain step's decisions.
    pub(crate) fn decisions(&self, d: Span) -> &[Decision] {
        self.decisions
            .get(d.0 as usize..d.1 as usize)
            .unwrap_or_default()
    }
}

/// Per field slot, the number of distinct strings compared with it in `pairs` of (field,
/// symbol). Linear: the pairs are counted by field first, then each field's symbols checked
/// against the last field that counted them (a sort of every pair was a large part of
/// compiling a trigger, which its first event waits on; `docs/performance.md`).
fn distinct_per_field(pairs: &[(u16, u32)]) -> Vec<usize> {
    let fields = pairs
        .iter()
        .map(|(f, _)| usize::from(*f) + 1)
        .max()
        .unwrap_or(0);
    let mut by_field: Vec<Vec<u32>> = vec![Vec::new(); fields];
    for &(f, sym) in pairs {
        if let Some(syms) = by_field.get_mut(usize::from(f)) {
            syms.push(sym);
        }
    }
    let symbols = pairs
        .iter()
        .map(|(_, s)| *s as usize + 1)
        .max()
        .unwrap_or(0);
    // `counted[sym]`: the field (plus one) that last counted this symbol.
    let mut counted = vec![0usize; symbols];
    by_field
        .iter()
        .enumerate()
        .map(|(f, syms)| {
            let mut n = 0;
            for &sym in syms {
                if let Some(c) = counted.get_mut(sym as usize)
                    && *c != f + 1
                {
                    *c = f + 1;
                    n += 1;
                }
            }
            n
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::distinct_per_field;

    #[test]
    fn distinct_strings_are_counted_per_field() {
        let pairs = [(0, 5), (1, 5), (0, 5), (0, 7), (3, 1), (1, 5), (0, 7)];
        assert_eq!(distinct_per_field(&pairs), [2, 1, 0, 1]);
        assert!(distinct_per_field(&[]).is_empty());
    }
}
