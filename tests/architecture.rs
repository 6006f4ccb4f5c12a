//! The layers point one way: reads `src/` and fails when a lower layer's
//! file names a higher one (in code, not comments).
//!
//! - operators, windows, connectors and the leaves (error, metrics,
//!   config, checkpoint snapshots and states) never use the planner,
//!   the pipeline, jobs, the engine or the CLI;
//! - connectors never use operators.

use std::path::{Path, PathBuf};

/// Modules of the layers above the runtime.
const UPPER: [&str; 5] = ["planner", "pipeline", "jobs", "engine", "cli"];

/// Files (under `src/`) that are leaves of the module tree.
const LEAVES: [&str; 5] = [
    "error.rs",
    "metrics.rs",
    "config.rs",
    "checkpoint/snapshot.rs",
    "checkpoint/state.rs",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `crate::<module>` names a file's code uses (comments left out).
fn crate_modules(text: &str) -> Vec<String> {
    let mut used = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            used.push(name);
        }
        // `use crate::{a, b::c}`
        if let Some(at) = code.find("crate::{") {
            let inside = &code[at + "crate::{".len()..];
            for part in inside.split(',') {
                let name: String = part
                    .trim()
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                used.push(name);
            }
        }
    }
    used
}

#[test]
fn layers_point_one_way() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let relative = file
            .strip_prefix(&src)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let layer = relative.split('/').next().unwrap_or("");
        let lower = matches!(layer, "operators" | "window" | "connectors")
            || LEAVES.contains(&relative.as_str());
        let text = std::fs::read_to_string(file).unwrap();
        for module in crate_modules(&text) {
            let upward = lower && UPPER.contains(&module.as_str());
            let connector_uses_operator = layer == "connectors" && module == "operators";
            if upward || connector_uses_operator {
                wrong.push(format!("src/{relative} uses crate::{module}"));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn the_check_sees_imports() {
    let uses = crate_modules(
        "use crate::planner::x;\n// crate::engine in a comment\nuse crate::{pipeline, error::Result};",
    );
    assert!(uses.contains(&"planner".to_string()));
    assert!(uses.contains(&"pipeline".to_string()));
    assert!(uses.contains(&"error".to_string()));
    assert!(!uses.contains(&"engine".to_string()));
}
