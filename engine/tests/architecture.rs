//! The engine's modules form a stack: `lib.rs` declares them bottom first, and each module's
//! code may use only the modules declared before it. A use of a later module is a cycle in the
//! making (the bundle that needs the evaluator that needs the bundle), so it fails here, with
//! the file and the line. Doc comments may point anywhere.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The modules `lib.rs` declares, in order.
fn stack() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    lib.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line.strip_prefix("pub ").unwrap_or(line);
            rest.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect()
}

/// Every `.rs` file of a module: `name.rs` and everything under `name/`.
fn files_of(module: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let file = src().join(format!("{module}.rs"));
    if file.exists() {
        out.push(file);
    }
    let mut dirs = vec![src().join(module)];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out
}

/// The `crate::<module>` names a line of code uses.
fn used_modules(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let end = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        // `omnirule_text::...` and other crates' paths end in `_crate::`, not `crate::`.
        let whole_word = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        if whole_word {
            out.push(&after[..end]);
        }
        rest = &after[end..];
    }
    out
}

#[test]
fn each_module_uses_only_the_modules_declared_before_it() {
    let stack = stack();
    assert!(stack.len() > 10, "lib.rs declares the modules: {stack:?}");
    let mut wrong = Vec::new();
    for (level, module) in stack.iter().enumerate() {
        let files = files_of(module);
        assert!(!files.is_empty(), "no file for module `{module}`");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue;
                }
                for used in used_modules(line) {
                    let Some(at) = stack.iter().position(|m| m == used) else {
                        wrong.push(format!(
                            "{}:{}: `crate::{used}` is not a module",
                            file.display(),
                            n + 1
                        ));
                        continue;
                    };
                    if at > level {
                        wrong.push(format!(
                            "{}:{}: `{module}` uses `{used}`, declared after it in lib.rs",
                            file.display(),
                            n + 1
                        ));
                    }
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "the module stack is broken:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_a_use_of_a_later_module() {
    assert_eq!(used_modules("use crate::eval::Decision;"), ["eval"]);
    assert_eq!(
        used_modules("let x = crate::fast::pred::Preds::none(); crate::plan::Plan::new(g)"),
        ["fast", "plan"]
    );
    assert!(used_modules("use omnirule_text::json;").is_empty());
    assert!(used_modules("use some_crate::x;").is_empty());
}
