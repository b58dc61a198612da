//! The fast path: a trigger's rules compiled, on first use, into conditions over field slots
//! ([`pred`]), a rule index that decides most of those conditions for all rules at once
//! ([`index`]), and a program of steps in decision order ([`program`]).
//!
//! Why it exists: most rules in a real rule set are plain (no consent clause, group, cap,
//! schedule or split; a condition on the event's and profile's fields; params written as
//! literals). Walking the graph for each of them, node by node, made an event's cost grow with
//! the rule count; the compiled form visits only the rules an event's field values leave
//! standing. The general evaluator ([`crate::eval`]) still decides every other rule and every
//! explanation, and the results are identical either way (differential tests compare the two
//! through [`Bundle::with_compiled_conditions`](crate::bundle::Bundle::with_compiled_conditions)).
//!
//! Why lazily: a page or a store sees a few event types of the many a bundle declares, so a
//! load builds nothing here; a trigger's first event builds its [`Trigger`].
//!
//! The one interface evaluation uses is [`Cache::trigger`] and the [`Trigger`] it returns.

mod index;
pub(crate) mod pred;
pub(crate) mod program;

use crate::graph::Graph;
use crate::plan::Plan;
use pred::Preds;
use program::Program;
use std::sync::OnceLock;

/// The fast path of one loaded bundle: per trigger, built on its first event.
#[derive(Debug, Clone)]
pub(crate) struct Cache {
    /// Whether conditions take the fast path at all.
    compiled: bool,
    /// Per trigger (index into `graph.triggers`).
    triggers: Vec<OnceLock<Trigger>>,
    /// The compiled conditions of an event no rule is triggered by (or of every event when
    /// the fast path is off): none.
    none: Preds,
}

/// One trigger's fast path.
#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    /// The conditions its rules reach, compiled.
    preds: Preds,
    /// Its rules laid out for the fast path.
    program: Program,
}

impl Trigger {
    /// The compiled conditions of the trigger's rules.
    pub(crate) fn preds(&self) -> &Preds {
        &self.preds
    }

    /// The trigger's rules as a program of steps.
    pub(crate) fn program(&self) -> &Program {
        &self.program
    }
}

impl Cache {
    /// An empty cache for `g`: the fast path on when `compiled`.
    pub(crate) fn new(g: &Graph, compiled: bool) -> Cache {
        Cache {
            compiled,
            triggers: g.triggers.iter().map(|_| OnceLock::new()).collect(),
            none: Preds::none(),
        }
    }

    /// Trigger `t`'s fast path (built now if this is its first use); `None` when the fast path
    /// is off.
    pub(crate) fn trigger(&self, g: &Graph, plan: &Plan, t: usize) -> Option<&Trigger> {
        if !self.compiled {
            return None;
        }
        let cell = self.triggers.get(t)?;
        let trigger = g.triggers.get(t)?;
        Some(cell.get_or_init(|| {
            let preds = Preds::for_rules(g, plan.names(), trigger.event, &trigger.rules);
            let program = Program::new(g, &trigger.rules, &preds, plan);
            Trigger { preds, program }
        }))
    }

    /// The conditions of an event without a compiled trigger: none.
    pub(crate) fn no_preds(&self) -> &Preds {
        &self.none
    }

    /// How many triggers have their fast path built.
    pub(crate) fn prepared(&self) -> usize {
        self.triggers.iter().filter(|t| t.get().is_some()).count()
    }

    /// How many of the graph's conditions compile to the fast path (building every trigger's
    /// now, if they were not yet).
    pub(crate) fn compiled_conditions(&self, g: &Graph, plan: &Plan) -> usize {
        let mut compiled = vec![false; g.conds.len()];
        for t in 0..g.triggers.len() {
            for c in self
                .trigger(g, plan, t)
                .into_iter()
                .flat_map(|x| x.preds.compiled())
            {
                if let Some(x) = compiled.get_mut(c) {
                    *x = true;
                }
            }
        }
        compiled.iter().filter(|x| **x).count()
    }
}
