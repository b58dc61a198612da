//! In-browser authoring (the `compiler` feature): rule sources in, bundle bytes or diagnostics
//! out. Not in the runtime build: the compiler brings the parser and a timezone database.

use crate::error;
use omnirule_dsl::RuleSet;
use omnirule_dsl::render::{self, Style};
use omnirule_engine::bundle::Bundle;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const COMPILER_TYPES: &'static str = r#"
/** A diagnostic as `omnirule check --format json` prints it. */
export interface Diagnostic {
  code: string;
  severity: "error" | "warning";
  message: string;
  file: string;
  line: number;
  column: number;
  end_line: number;
  end_column: number;
  label: string | null;
  help: string | null;
  [detail: string]: unknown;
}

/** The result of `compile(sources)`: the bundle when there is no error, and every diagnostic
 * (warnings too), as data and as rustc-style text. */
export interface CompileResult {
  ok: boolean;
  bundle?: Uint8Array;
  diagnostics: Diagnostic[];
  report: string;
}
"#;

fn set(target: &js_sys::Object, name: &str, value: &JsValue) -> Result<(), JsError> {
    js_sys::Reflect::set(target, &JsValue::from_str(name), value)
        .map(|_| ())
        .map_err(|_| error("could not build the compile result"))
}

/// Compiles rule sources: one text (named `rules.rules`) or an object of file name → text.
/// Load the returned `bundle` with `Engine.fromBundle`.
#[wasm_bindgen(unchecked_return_type = "CompileResult")]
pub fn compile(
    #[wasm_bindgen(unchecked_param_type = "string | Record<string, string>")] sources: JsValue,
) -> Result<JsValue, JsError> {
    let files: Vec<(String, String)> = match sources.as_string() {
        Some(text) => vec![("rules.rules".to_string(), text)],
        None => {
            let map: std::collections::BTreeMap<String, String> =
                serde_wasm_bindgen::from_value(sources).map_err(|_| {
                    error("compile takes a string or an object of file name → source text")
                })?;
            map.into_iter().collect()
        }
    };
    let set_of_rules = RuleSet::from_texts(files);
    let out = js_sys::Object::new();
    let (diagnostics, bundle) = match set_of_rules.compile() {
        Ok(compiled) => {
            let bundle = Bundle::new(compiled.graph).map_err(|e| {
                error(format!(
                    "internal error: the compiled graph is invalid: {e}"
                ))
            })?;
            (compiled.warnings, Some(bundle.to_bytes()))
        }
        Err(diags) => (diags, None),
    };
    let json = render::to_json(&diagnostics, &set_of_rules.sources);
    set(&out, "ok", &JsValue::from_bool(bundle.is_some()))?;
    if let Some(bytes) = bundle {
        set(
            &out,
            "bundle",
            &js_sys::Uint8Array::from(bytes.as_slice()).into(),
        )?;
    }
    set(&out, "diagnostics", &crate::to_js(&json)?)?;
    let report = render::render_all(&diagnostics, &set_of_rules.sources, Style { color: false });
    set(&out, "report", &JsValue::from_str(&report))?;
    Ok(out.into())
}
