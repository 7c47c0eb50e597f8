//! The checked-in `schemas/` folder: one JSON Schema per method's params and result, one
//! per notification type (`<type>.notification.json`), and `openrpc.json`, all generated
//! from the server's own types. `countersign schemas` rewrites the folder; `countersign
//! schemas --check` (and the test suite) fail when a file is stale, missing or no longer
//! generated.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::rpc::Bound;

/// Every generated file: name → contents.
pub fn render(bound: &Bound) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for action in bound.registry.iter() {
        let method = &action.spec.method;
        files.insert(format!("{method}.params.json"), pretty(&action.params_schema));
        files.insert(format!("{method}.result.json"), pretty(&action.result_schema));
    }
    for notice in &bound.notices {
        files.insert(format!("{}.notification.json", notice.kind), pretty(&notice.schema));
    }
    files.insert("openrpc.json".to_owned(), pretty(&bound.document));
    files
}

/// Rewrites `dir` with the generated files (removing stale `.json` files); returns the count.
pub fn write(dir: &Path, bound: &Bound) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let files = render(bound);
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if name.ends_with(".json") && !files.contains_key(&name) {
            std::fs::remove_file(&path)?;
        }
    }
    for (name, contents) in &files {
        std::fs::write(dir.join(name), contents)?;
    }
    Ok(files.len())
}

/// The names of the files in `dir` that differ from what would be generated.
pub fn check(dir: &Path, bound: &Bound) -> std::io::Result<Vec<String>> {
    let files = render(bound);
    let mut stale = Vec::new();
    for (name, contents) in &files {
        match std::fs::read_to_string(dir.join(name)) {
            Ok(existing) if existing == *contents => {}
            Ok(_) => stale.push(format!("{name} (stale)")),
            Err(_) => stale.push(format!("{name} (missing)")),
        }
    }
    if dir.exists() {
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") && !files.contains_key(&name) {
                stale.push(format!("{name} (no longer generated)"));
            }
        }
    }
    Ok(stale)
}

fn pretty(value: &Value) -> String {
    let mut text = serde_json::to_string_pretty(value).expect("a JSON value serializes");
    text.push('\n');
    text
}
