//! silos-codegen: generates the typed resources and metadata tables of `silos-cfn` from the
//! vendored CloudFormation registry schemas (`codegen/schemas/`).
//!
//! `cargo run -p silos-codegen` writes the generated files; `-- --check` changes nothing and
//! fails, naming the files, when any of them is not what the generator would write.

mod emit;
mod names;
mod schema;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use serde::Deserialize;
use serde_json::Value as Json;

/// `codegen/overrides.json`: hand-written choices the generator applies.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Overrides {
    /// Why each kind of override exists; read by people, not by the generator.
    #[allow(dead_code)]
    comments: BTreeMap<String, String>,
    /// The services the model crate enables by default: the ones the product's stacks use.
    default_services: Vec<String>,
    /// `TYPE#SCHEMA_PATH` → the hand-written Rust type used for that property or definition.
    types: BTreeMap<String, String>,
    /// Type → GetAtt attributes CloudFormation documents beyond the schema's read-only ones.
    attributes: BTreeMap<String, Vec<String>>,
    /// Service module → paths it re-exports (hand-written types that belong to the service).
    reexports: BTreeMap<String, Vec<String>>,
    /// `TYPE#Property` or hand-written type → an expression building a minimal value, for the
    /// minimal-instance test.
    examples: BTreeMap<String, String>,
    /// Type → properties (JSON) the minimal-instance test adds to the required ones.
    minimal: BTreeMap<String, BTreeMap<String, Json>>,
    /// `TYPE#Property` → the limits of a string property whose schema states none, from the
    /// service's documentation.
    limits: BTreeMap<String, schema::Limit>,
}

fn main() -> ExitCode {
    let check = std::env::args().any(|a| a == "--check");
    match run(check) {
        Ok(stale) if stale.is_empty() => ExitCode::SUCCESS,
        Ok(stale) => {
            eprintln!(
                "silos-codegen: {} generated file(s) differ from what the generator writes: {}\n\
                 run `cargo run -p silos-codegen` and commit the result",
                stale.len(),
                stale.join(", ")
            );
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("silos-codegen: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of this crate's directory, which `cargo run` names at run
/// time (a path baked in at build time would be another checkout's when a target directory is
/// shared).
fn root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest.parent().map(Path::to_path_buf).unwrap_or_default()
}

fn run(check: bool) -> Result<Vec<String>, String> {
    let root = root();
    let schemas = load(&root.join("codegen/schemas/us-east-1.json.gz"))?;
    let iam: schema::IamActions = load(&root.join("codegen/schemas/iam-actions.json.gz"))?
        .into_iter()
        .map(|(service, actions)| {
            let actions = serde_json::from_value(actions).unwrap_or_default();
            (service, actions)
        })
        .collect();
    let reference: schema::IamReference = serde_json::from_value(Json::Object(
        load(&root.join("codegen/schemas/iam-reference.json.gz"))?
            .into_iter()
            .collect(),
    ))
    .map_err(|e| format!("codegen/schemas/iam-reference.json.gz: {e}"))?;
    let overrides_path = root.join("codegen/overrides.json");
    let overrides: Overrides = serde_json::from_str(
        &std::fs::read_to_string(&overrides_path)
            .map_err(|e| format!("{}: {e}", overrides_path.display()))?,
    )
    .map_err(|e| format!("{}: {e}", overrides_path.display()))?;

    // An override that names no property of the schemas is a mistake, not a no-op.
    for key in overrides.types.keys() {
        let found = key
            .split_once('#')
            .and_then(|(t, path)| schemas.get(t).and_then(|s| s.pointer(path)));
        if found.is_none() {
            return Err(format!(
                "{}: override {key:?} names no property of the schemas (TYPE#/properties/... or TYPE#/definitions/...)",
                overrides_path.display()
            ));
        }
    }
    let resources: Vec<schema::Resource> = schemas
        .iter()
        .map(|(name, s)| {
            let mut r = schema::resource(name, s, &overrides.types, &iam);
            for (key, limit) in &overrides.limits {
                let Some((_, property)) = key.split_once('#').filter(|(t, _)| t == name) else {
                    continue;
                };
                let limit = schema::Limit {
                    property: property.to_owned(),
                    ..limit.clone()
                };
                r.meta.limits.retain(|l| l.property != property);
                r.meta.limits.push(limit);
                r.meta.limits.sort_by(|a, b| a.property.cmp(&b.property));
            }
            if let Some(extra) = overrides.attributes.get(name) {
                r.meta.attributes.extend(extra.iter().cloned());
                r.meta.attributes.sort();
                r.meta.attributes.dedup();
            }
            r
        })
        .collect();
    for key in overrides.limits.keys() {
        let found = key
            .split_once('#')
            .and_then(|(t, p)| schemas.get(t).and_then(|s| s["properties"].get(p)));
        if found.is_none() {
            return Err(format!(
                "{}: limits for {key:?}, which names no property of the schemas (TYPE#Property)",
                overrides_path.display()
            ));
        }
    }
    for name in overrides.attributes.keys() {
        if !schemas.contains_key(name) {
            return Err(format!(
                "{}: attributes for {name:?}, which is not a type of the schemas",
                overrides_path.display()
            ));
        }
    }
    let mut services: BTreeMap<String, Vec<&schema::Resource>> = BTreeMap::new();
    for r in &resources {
        services.entry(r.service.clone()).or_default().push(r);
    }
    for s in &overrides.default_services {
        if !services.contains_key(s) {
            return Err(format!(
                "{}: default service {s:?} is not a service of the schemas",
                overrides_path.display()
            ));
        }
    }

    let mut files: BTreeMap<PathBuf, String> = BTreeMap::new();
    let generated = root.join("cfn/src/generated");
    for (service, rs) in &services {
        files.insert(
            generated.join(format!("{service}.rs")),
            format(&emit::service(service, rs, &overrides.reexports))?,
        );
    }
    files.insert(generated.join("mod.rs"), format(&emit::modules(&services))?);
    files.insert(
        generated.join("metadata.rs"),
        format(&emit::metadata(&resources))?,
    );
    files.insert(
        generated.join("iam_reference.rs"),
        format(&emit::iam(&reference))?,
    );
    files.insert(
        root.join("cfn/tests/minimal/instances.rs"),
        format(&emit::minimal_test(
            &services,
            &overrides.default_services,
            &overrides.examples,
            &overrides.minimal,
        ))?,
    );
    let manifest = root.join("cfn/Cargo.toml");
    let current =
        std::fs::read_to_string(&manifest).map_err(|e| format!("{}: {e}", manifest.display()))?;
    files.insert(
        manifest.clone(),
        with_features(
            &current,
            &emit::features(&services, &overrides.default_services),
        ),
    );

    let root_manifest = root.join("Cargo.toml");
    let current = std::fs::read_to_string(&root_manifest)
        .map_err(|e| format!("{}: {e}", root_manifest.display()))?;
    files.insert(
        root_manifest,
        with_features(&current, &emit::forwarded_features(&services)),
    );

    let mut stale = Vec::new();
    for (path, text) in &files {
        let on_disk = std::fs::read_to_string(path).ok();
        if on_disk.as_deref() == Some(text.as_str()) {
            continue;
        }
        stale.push(relative(&root, path));
        if !check {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            }
            std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    // Files of services that are no longer in the schemas.
    let listed =
        std::fs::read_dir(&generated).map_err(|e| format!("{}: {e}", generated.display()))?;
    for entry in listed.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "rs") && !files.contains_key(&path) {
            stale.push(relative(&root, &path));
            if !check {
                std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    let types: usize = resources.len();
    let fields: usize = resources.iter().map(|r| r.fields.len()).sum();
    let bytes: usize = files
        .iter()
        .filter(|(p, _)| p.starts_with(&generated))
        .map(|(_, t)| t.len())
        .sum();
    eprintln!(
        "silos-codegen: {types} types in {} services, {fields} writable top-level properties, {} generated bytes",
        services.len(),
        bytes
    );
    if check {
        Ok(stale)
    } else {
        if !stale.is_empty() {
            eprintln!("silos-codegen: wrote {} file(s)", stale.len());
        }
        Ok(Vec::new())
    }
}

fn relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

fn load(path: &Path) -> Result<BTreeMap<String, Json>, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(file)
        .read_to_string(&mut text)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Replaces the generated `[features]` block of a manifest (or appends one).
fn with_features(manifest: &str, block: &str) -> String {
    let begin = "# BEGIN generated features";
    let end = "# END generated features\n";
    match (manifest.find(begin), manifest.find(end)) {
        (Some(b), Some(e)) if b < e => {
            format!("{}{block}{}", &manifest[..b], &manifest[e + end.len()..])
        }
        _ => format!("{}\n{block}", manifest.trim_end()),
    }
}

/// Formats Rust source with rustfmt (edition 2024), as `cargo fmt` would.
fn format(source: &str) -> Result<String, String> {
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt: no stdin")?;
    let input = source.to_owned();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt: {e}"))?;
    let _ = writer.join();
    if !output.status.success() {
        let head: String = source.lines().take(5).collect::<Vec<_>>().join("\n");
        return Err(format!(
            "rustfmt failed on generated code ({head}…): {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("rustfmt: {e}"))
}
