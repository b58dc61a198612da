//! Page personalisation: elements marked `data-omnirule-slot="NAME"` show the text of the first
//! decision (in decision order) whose `params.slot` is `NAME`.
//!
//! The text is `params.text`, or `params.message` when there is no `text`. It is set with
//! `textContent`, never parsed as HTML: a decision carrying `<script>` shows those characters.
//! The element's original content (its default, markup included) is moved aside into a
//! `DocumentFragment` the first time a decision replaces it, and put back when a later call has
//! no decision for the slot. The element gets `data-omnirule-rule` naming the rule shown.
//!
//! A page that renders decisions itself passes `render(slot, decision, element)`: it is called
//! for every slot element (with `undefined` when no decision targets the slot), and returning
//! `true` skips the built-in rendering for that element.

use crate::error;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

const SLOT_ATTRIBUTE: &str = "data-omnirule-slot";
const RULE_ATTRIBUTE: &str = "data-omnirule-rule";

thread_local! {
    /// Element → the fragment holding its default content while a decision is shown.
    static DEFAULTS: js_sys::WeakMap = js_sys::WeakMap::new();
}

fn get(target: &JsValue, name: &str) -> JsValue {
    if !target.is_object() {
        return JsValue::UNDEFINED;
    }
    js_sys::Reflect::get(target, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)
}

/// A decision that targets a slot.
struct Targeted {
    slot: String,
    /// `None` when the decision has no `text`/`message` string (only a hook can render it).
    text: Option<String>,
    rule: String,
    decision: JsValue,
}

fn targeted(decision: JsValue) -> Option<Targeted> {
    // A split's control arm (`action: null`) shows nothing.
    get(&decision, "action").as_string()?;
    let params = get(&decision, "params");
    let slot = get(&params, "slot").as_string()?;
    let text = get(&params, "text")
        .as_string()
        .or_else(|| get(&params, "message").as_string());
    let rule = get(&decision, "rule").as_string().unwrap_or_default();
    Some(Targeted {
        slot,
        text,
        rule,
        decision,
    })
}

/// What each slot shows: per slot named by a decision's `params.slot`, the first such decision
/// with a text (`params.text`, else `params.message`), in decision order, as `[{ slot, text,
/// rule }]`. The choice `personalise` makes in a page, for hosts that render elsewhere (the
/// edge worker rewrites HTML on its way to the shopper).
#[wasm_bindgen(js_name = slotTexts, unchecked_return_type = "Array<{ slot: string; text: string; rule: string }>")]
pub fn slot_texts(
    #[wasm_bindgen(unchecked_param_type = "Decision[]")] decisions: JsValue,
) -> Result<JsValue, JsError> {
    if !js_sys::Array::is_array(&decisions) {
        return Err(error(
            "slotTexts(decisions) takes the array engine.track(event) returned",
        ));
    }
    let out = js_sys::Array::new();
    let mut taken: Vec<String> = Vec::new();
    for t in js_sys::Array::from(&decisions).iter().filter_map(targeted) {
        let Some(text) = t.text else { continue };
        if taken.contains(&t.slot) {
            continue;
        }
        let item = js_sys::Object::new();
        for (k, v) in [("slot", &t.slot), ("text", &text), ("rule", &t.rule)] {
            js_sys::Reflect::set(&item, &JsValue::from_str(k), &JsValue::from_str(v))
                .map_err(|_| error("could not build the slot list"))?;
        }
        out.push(&item);
        taken.push(t.slot);
    }
    Ok(out.into())
}

/// Renders decisions into the page's `data-omnirule-slot` elements (see the module
/// documentation); returns how many elements now show a decision's text.
#[wasm_bindgen]
pub fn personalise(
    #[wasm_bindgen(unchecked_param_type = "Decision[]")] decisions: JsValue,
    #[wasm_bindgen(unchecked_optional_param_type = "PersonaliseOptions")] options: Option<JsValue>,
) -> Result<u32, JsError> {
    if !js_sys::Array::is_array(&decisions) {
        return Err(error(
            "personalise(decisions) takes the array engine.track(event) returned",
        ));
    }
    let targeted: Vec<Targeted> = js_sys::Array::from(&decisions)
        .iter()
        .filter_map(targeted)
        .collect();
    let options = options.unwrap_or(JsValue::UNDEFINED);
    let hook = match get(&options, "render") {
        v if v.is_undefined() || v.is_null() => None,
        v => Some(
            v.dyn_into::<js_sys::Function>()
                .map_err(|_| error("the option `render` must be a function"))?,
        ),
    };
    let document = web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| error("personalise needs a page (there is no `document` here)"))?;
    let root = get(&options, "root");
    let selector = format!("[{SLOT_ATTRIBUTE}]");
    let elements = if root.is_undefined() || root.is_null() {
        document.query_selector_all(&selector)
    } else if let Some(element) = root.dyn_ref::<web_sys::Element>() {
        element.query_selector_all(&selector)
    } else if let Some(doc) = root.dyn_ref::<web_sys::Document>() {
        doc.query_selector_all(&selector)
    } else {
        return Err(error("the option `root` must be an Element or a Document"));
    }
    .map_err(|_| error("could not query the page for slots"))?;

    let mut shown = 0;
    for i in 0..elements.length() {
        let Some(element) = elements
            .get(i)
            .and_then(|n| n.dyn_into::<web_sys::Element>().ok())
        else {
            continue;
        };
        let slot = element.get_attribute(SLOT_ATTRIBUTE).unwrap_or_default();
        let decision = targeted.iter().find(|t| t.slot == slot);
        if let Some(hook) = &hook {
            let arg = decision.map_or(JsValue::UNDEFINED, |t| t.decision.clone());
            let handled = hook
                .call3(&JsValue::NULL, &JsValue::from_str(&slot), &arg, &element)
                .map_err(|e| {
                    error(format!(
                        "the render hook threw for slot `{slot}`: {}",
                        describe(&e)
                    ))
                })?;
            if handled.as_bool() == Some(true) {
                continue;
            }
        }
        match decision.and_then(|t| t.text.as_deref().map(|text| (text, &t.rule))) {
            Some((text, rule)) => {
                keep_default(&document, &element)?;
                element.set_text_content(Some(text));
                let _ = element.set_attribute(RULE_ATTRIBUTE, rule);
                shown += 1;
            }
            None => restore_default(&element)?,
        }
    }
    Ok(shown)
}

/// Moves the element's default content into a fragment, once.
fn keep_default(document: &web_sys::Document, element: &web_sys::Element) -> Result<(), JsError> {
    DEFAULTS.with(|defaults| {
        if defaults.has(element) {
            return Ok(());
        }
        let fragment = document.create_document_fragment();
        while let Some(child) = element.first_child() {
            fragment
                .append_child(&child)
                .map_err(|_| error("could not keep a slot's default content"))?;
        }
        defaults.set(element, &fragment);
        Ok(())
    })
}

/// Puts the element's default content back, if a decision had replaced it.
fn restore_default(element: &web_sys::Element) -> Result<(), JsError> {
    DEFAULTS.with(|defaults| {
        let kept = defaults.get(element);
        let Some(fragment) = kept.dyn_ref::<web_sys::DocumentFragment>() else {
            return Ok(());
        };
        element.set_text_content(None);
        element
            .append_child(fragment)
            .map_err(|_| error("could not restore a slot's default content"))?;
        defaults.delete(element);
        let _ = element.remove_attribute(RULE_ATTRIBUTE);
        Ok(())
    })
}

fn describe(e: &JsValue) -> String {
    e.dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "an exception".into())
}
