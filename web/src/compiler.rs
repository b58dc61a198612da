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
 * (warnings too), as data and as rustc-style text. With `{ outline: true }`, also the schema
 * (for forms) and the rule graph drawn (`graph`: nodes, edges, groups; rules and segments with
 * their `source` line). */
export interface CompileResult {
  ok: boolean;
  bundle?: Uint8Array;
  diagnostics: Diagnostic[];
  report: string;
  schema?: unknown;
  graph?: { nodes: unknown[]; edges: unknown[]; groups: unknown[] };
}

/** `format(text)`: the canonical layout, or the syntax errors that stop it. */
export interface FormatResult {
  ok: boolean;
  text?: string;
  diagnostics: Diagnostic[];
}

/** `runTests(sources)`: each `test` block's outcome (none when the rules do not compile). */
export interface TestsResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  tests: { name: string; passed: boolean; file: string; line: number;
           failures: { line: number; column: number; message: string; actual: unknown[] }[] }[];
}
"#;

fn set(target: &js_sys::Object, name: &str, value: &JsValue) -> Result<(), JsError> {
    js_sys::Reflect::set(target, &JsValue::from_str(name), value)
        .map(|_| ())
        .map_err(|_| error("could not build the compile result"))
}

/// The rule files of a `compile`/`runTests` argument: one text (named `rules.rules`) or an
/// object of file name → text.
fn rule_files(sources: JsValue) -> Result<Vec<(String, String)>, JsError> {
    Ok(match sources.as_string() {
        Some(text) => vec![("rules.rules".to_string(), text)],
        None => {
            let map: std::collections::BTreeMap<String, String> =
                serde_wasm_bindgen::from_value(sources).map_err(|_| {
                    error("compile takes a string or an object of file name → source text")
                })?;
            map.into_iter().collect()
        }
    })
}

/// Compiles rule sources: one text (named `rules.rules`) or an object of file name → text.
/// Load the returned `bundle` with `Engine.fromBundle`. `options.outline`: also the schema and
/// the rule graph drawn (what the playground's forms and picture are built from).
#[wasm_bindgen(unchecked_return_type = "CompileResult")]
pub fn compile(
    #[wasm_bindgen(unchecked_param_type = "string | Record<string, string>")] sources: JsValue,
    #[wasm_bindgen(unchecked_param_type = "{ outline?: boolean } | undefined")] options: JsValue,
) -> Result<JsValue, JsError> {
    let outline = options.is_object()
        && js_sys::Reflect::get(&options, &JsValue::from_str("outline"))
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
    let set_of_rules = RuleSet::from_texts(rule_files(sources)?);
    let out = js_sys::Object::new();
    let (diagnostics, bundle) = match set_of_rules.compile() {
        Ok(compiled) => {
            if outline {
                let graph = omnirule_dsl::dot::to_json(
                    &compiled.graph,
                    &compiled.model,
                    &set_of_rules.sources,
                );
                set(&out, "graph", &crate::to_js(&graph)?)?;
                let schema = serde_json::to_value(&compiled.graph.schema)
                    .map_err(|e| error(e.to_string()))?;
                set(&out, "schema", &crate::to_js(&schema)?)?;
            }
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

/// Formats one `.rules` text in the canonical layout (`omnirule fmt`).
#[wasm_bindgen(js_name = format, unchecked_return_type = "FormatResult")]
pub fn format_rules(text: &str) -> Result<JsValue, JsError> {
    let mut sources = omnirule_dsl::source::Sources::new();
    let id = sources.add("rules.rules", text);
    let out = js_sys::Object::new();
    match omnirule_dsl::parser::parse(id, text) {
        Ok(ast) => {
            set(&out, "ok", &JsValue::TRUE)?;
            set(
                &out,
                "text",
                &JsValue::from_str(&omnirule_dsl::format::format(&ast)),
            )?;
            set(&out, "diagnostics", &js_sys::Array::new().into())?;
        }
        Err(diags) => {
            set(&out, "ok", &JsValue::FALSE)?;
            let json = render::to_json(&diags, &sources);
            set(&out, "diagnostics", &crate::to_js(&json)?)?;
        }
    }
    Ok(out.into())
}

/// Compiles the sources and runs their `test` blocks (`omnirule test`).
#[wasm_bindgen(js_name = runTests, unchecked_return_type = "TestsResult")]
pub fn run_tests(
    #[wasm_bindgen(unchecked_param_type = "string | Record<string, string>")] sources: JsValue,
) -> Result<JsValue, JsError> {
    use serde_json::json;
    let set_of_rules = RuleSet::from_texts(rule_files(sources)?);
    let at = |span: omnirule_dsl::ast::Span| {
        set_of_rules
            .sources
            .get(span.file)
            .map(|s| (s.name.clone(), s.line_col(span.start as usize)))
            .unwrap_or_default()
    };
    let value = match set_of_rules.compile() {
        Err(diags) => json!({
            "ok": false,
            "diagnostics": render::to_json(&diags, &set_of_rules.sources),
            "tests": [],
        }),
        Ok(compiled) => {
            let bundle = Bundle::new(compiled.graph).map_err(|e| {
                error(format!(
                    "internal error: the compiled graph is invalid: {e}"
                ))
            })?;
            let results = omnirule_dsl::testing::run_tests(&compiled.model.tests, &bundle);
            let tests: Vec<serde_json::Value> = results
                .iter()
                .map(|r| {
                    let (file, (line, _)) = at(r.span);
                    let failures: Vec<serde_json::Value> = r
                        .failures
                        .iter()
                        .map(|f| {
                            let (_, (line, column)) = at(f.span);
                            json!({"line": line, "column": column, "message": f.message,
                                   "actual": f.actual})
                        })
                        .collect();
                    json!({"name": r.name, "passed": r.passed(), "file": file, "line": line,
                           "failures": failures})
                })
                .collect();
            json!({
                "ok": true,
                "diagnostics": render::to_json(&compiled.warnings, &set_of_rules.sources),
                "tests": tests,
            })
        }
    };
    crate::to_js(&value)
}
