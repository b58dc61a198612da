//! Consent-gated persistence of a visitor's memory in `localStorage`.
//!
//! The policy: the memory is written only when the visitor's profile holds every purpose of at
//! least one *storage purpose set*. By default those sets come from the bundle: one per rule or
//! segment that reads the history of an event type the memory keeps (the consent clause of
//! that reader, see `Retention::consents` in the rule graph). So storage needs exactly the
//! consent that remembering needs; readers without a consent clause do not make storage
//! consent-free (a bundle whose only history readers have none stores nothing unless the page
//! names the purposes with `storageConsent`). When the profile does not allow it, the stored
//! key is removed; without a profile nothing is read or written.
//!
//! The stored value is the memory's JSON form (inspectable in the browser's developer tools);
//! an unreadable stored value is dropped. Storage errors (quota, a blocked `localStorage`) never
//! fail an evaluation: the engine keeps working from the memory it holds.

use crate::error;
use omnirule_engine::bundle::Bundle;
use omnirule_engine::input::Profile;
use omnirule_engine::memory::Memory;
use wasm_bindgen::prelude::*;

const DEFAULT_PREFIX: &str = "omnirule";

pub(crate) struct Policy {
    /// `false` when the page said `storage: false`.
    enabled: bool,
    prefix: String,
    /// The profile must hold all purposes of one of these sets. Empty: never store.
    purposes: Vec<Vec<String>>,
    /// `window.localStorage`, looked up once: where there is no `window` (Node, workers) the
    /// lookup throws inside wasm-bindgen, and at tens of microseconds a throw per event was
    /// most of an event's cost.
    storage: Option<web_sys::Storage>,
}

fn get(options: &JsValue, name: &str) -> JsValue {
    if !options.is_object() {
        return JsValue::UNDEFINED;
    }
    js_sys::Reflect::get(options, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// The purpose sets of the bundle's readers of remembered history and of its rules with
/// goals (their exposures are remembered until the goals' windows close); non-empty sets
/// only, sorted and without duplicates.
fn bundle_purposes(bundle: &Bundle) -> Vec<Vec<String>> {
    let graph = bundle.graph();
    let goal_rules = graph
        .goals
        .iter()
        .filter_map(|g| graph.rules.get(g.rule as usize))
        .map(|r| &r.consents);
    let mut sets: Vec<Vec<String>> = graph
        .retention
        .iter()
        .filter(|r| r.keep.is_some())
        .flat_map(|r| r.consents.iter())
        .chain(goal_rules)
        .filter(|set| !set.is_empty())
        .map(|set| {
            let mut names: Vec<String> = set
                .iter()
                .filter_map(|c| graph.schema.consents.get(*c as usize).cloned())
                .collect();
            omnirule_text::sort::sort(&mut names);
            names.dedup();
            names
        })
        .filter(|names| !names.is_empty())
        .collect();
    omnirule_text::sort::sort(&mut sets);
    sets.dedup();
    sets
}

impl Policy {
    pub(crate) fn new(bundle: &Bundle, options: &JsValue) -> Result<Policy, JsError> {
        let enabled = match get(options, "storage") {
            v if v.is_undefined() || v.is_null() => true,
            v => v
                .as_bool()
                .ok_or_else(|| error("the option `storage` must be true or false"))?,
        };
        let prefix = match get(options, "storageKey") {
            v if v.is_undefined() || v.is_null() => DEFAULT_PREFIX.to_string(),
            v => v
                .as_string()
                .ok_or_else(|| error("the option `storageKey` must be a string"))?,
        };
        let purposes = match get(options, "storageConsent") {
            v if v.is_undefined() || v.is_null() => bundle_purposes(bundle),
            v => {
                let names = purpose_names(&v).ok_or_else(|| {
                    error("the option `storageConsent` must be an array of purpose names")
                })?;
                let declared = &bundle.graph().schema.consents;
                if let Some(unknown) = names.iter().find(|n| !declared.contains(n)) {
                    return Err(error(format!(
                        "the option `storageConsent` names `{unknown}`, which the bundle's schema does not declare (it declares: {})",
                        declared.join(", ")
                    )));
                }
                vec![names]
            }
        };
        Ok(Policy {
            enabled,
            prefix,
            purposes,
            storage: local_storage(),
        })
    }

    pub(crate) fn purposes(&self) -> &[Vec<String>] {
        &self.purposes
    }

    pub(crate) fn key(&self, visitor: &str) -> String {
        format!("{}:{visitor}", self.prefix)
    }

    /// The profile's consents allow storage (whether or not `localStorage` exists).
    pub(crate) fn allows(&self, profile: &Profile) -> bool {
        self.enabled && self.consented(profile)
    }

    /// Whether the profile's consents allow keeping a memory, whether or not this engine
    /// stores it (`storage: false`, no `localStorage`).
    pub(crate) fn consented(&self, profile: &Profile) -> bool {
        self.purposes
            .iter()
            .any(|set| set.iter().all(|p| profile.has_consent(p)))
    }

    pub(crate) fn available(&self) -> bool {
        self.enabled && self.storage.is_some()
    }

    pub(crate) fn load(&self, visitor: &str) -> Option<Memory> {
        if !self.enabled {
            return None;
        }
        let storage = self.storage.as_ref()?;
        let key = self.key(visitor);
        let text = storage.get_item(&key).ok()??;
        match Memory::from_json(&text) {
            Ok(m) => Some(m),
            Err(_) => {
                let _ = storage.remove_item(&key);
                None
            }
        }
    }

    pub(crate) fn save(&self, visitor: &str, memory: &Memory) {
        if !self.enabled {
            return;
        }
        if let Some(storage) = &self.storage {
            let _ = storage.set_item(&self.key(visitor), &memory.to_json());
        }
    }

    /// Removes the visitor's key. Done even with `storage: false`, so a page that turns
    /// storage off also clears what an earlier configuration wrote.
    pub(crate) fn remove(&self, visitor: &str) {
        if let Some(storage) = &self.storage {
            let _ = storage.remove_item(&self.key(visitor));
        }
    }
}

/// `window.localStorage`, when there is one and the page may use it.
fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The strings of an array (or any other iterable but a string), or `None`.
fn purpose_names(v: &JsValue) -> Option<Vec<String>> {
    if v.is_string() {
        return None;
    }
    let items = js_sys::try_iter(v).ok()??;
    items.map(|item| item.ok()?.as_string()).collect()
}
