//! `silos new DIR`: a user crate, as `cdk init` makes one. It depends on silos (by version, or
//! on a local checkout with `--silos-path`), holds the reference app with one commented place to
//! add resources, the blueprints, the two Lambda binaries deploy builds, a snapshot test of its
//! templates (with the snapshots already written), `.gitignore` and a README.

use std::path::{Path, PathBuf};

use super::Error;
use crate::stacks::{App, Artifact, Config, Silo, Stack, TenantContext};
use crate::synth::{self, Format};

const CARGO_TOML: &str = include_str!("new/Cargo.toml.in");
const LIB_RS: &str = include_str!("new/lib.rs.in");
const MAIN_RS: &str = include_str!("new/main.rs.in");
const SILOS_LAMBDA_RS: &str = include_str!("new/silos-lambda.rs.in");
const TENANT_FUNCTION_RS: &str = include_str!("new/tenant-function.rs.in");
const TEMPLATES_RS: &str = include_str!("new/templates.rs.in");
const README_MD: &str = include_str!("new/README.md.in");
const GITIGNORE: &str = include_str!("new/gitignore.in");
const BLUEPRINT: &str = include_str!("../../blueprints/silo.yaml");

/// The new crate's tenant function, as its `src/lib.rs` names it.
const TENANT_FUNCTION: Artifact = Artifact {
    name: "tenant-function",
    binary: "tenant-function",
    description: "The function inside each tenant's stack",
};

/// The app the new crate's `src/lib.rs` holds, to write its first snapshots.
fn scaffold_app() -> App {
    App::new().tenant_stack("tenant-silo", |ctx: &TenantContext| -> Stack {
        Silo::new(ctx).artifact(TENANT_FUNCTION).finish()
    })
}

/// What `silos new` wrote.
pub struct Created {
    pub dir: PathBuf,
    pub name: String,
    pub files: Vec<PathBuf>,
}

/// Writes the new crate into `dir`: its sources, then the first snapshots of its templates
/// (and a checkout's lock file).
pub fn new(dir: &Path, silos_path: Option<&Path>) -> Result<Created, Error> {
    let name = crate_name(dir)?;
    if dir.exists() && std::fs::read_dir(dir).map_or(true, |mut d| d.next().is_some()) {
        return Err(Error::Usage(format!(
            "{} exists and is not empty: silos new writes a new crate into an empty or new directory",
            dir.display()
        )));
    }
    let dependency = match silos_path {
        Some(path) => path_dependency(path)?,
        None => format!("silos = \"{}\"", env!("CARGO_PKG_VERSION")),
    };
    let mut written = write(dir, sources(&name, &dependency))?;
    let mut files = snapshots(dir)?;
    // A checkout's lock file: the new crate builds against the same versions, so a shared
    // target directory is reused instead of rebuilt.
    if let Some(lock) = silos_path
        .map(|p| p.join("Cargo.lock"))
        .filter(|l| l.is_file())
    {
        let text = std::fs::read_to_string(&lock).map_err(|source| Error::Write {
            path: lock.clone(),
            source,
        })?;
        files.push(("Cargo.lock".into(), text));
    }
    written.extend(write(dir, files)?);
    Ok(Created {
        dir: dir.to_owned(),
        name,
        files: written,
    })
}

/// `--silos-path`'s Cargo.toml dependency line, once the path is found to be a silos checkout.
fn path_dependency(path: &Path) -> Result<String, Error> {
    let path = path
        .canonicalize()
        .map_err(|e| Error::Usage(format!("--silos-path {}: {e}", path.display())))?;
    if !path.join("Cargo.toml").is_file() || !path.join("cfn").is_dir() {
        return Err(Error::Usage(format!(
            "--silos-path {}: not a silos checkout (no Cargo.toml and cfn/)",
            path.display()
        )));
    }
    let path = path.display().to_string();
    if path.contains('\'') || path.contains('\n') {
        return Err(Error::Usage(format!(
            "--silos-path {path}: a path with a quote or a newline cannot be written into Cargo.toml"
        )));
    }
    // A TOML literal string: no escapes, so any other path is written as it is.
    Ok(format!("silos = {{ path = '{path}' }}"))
}

/// The crate's own files, from the templates filled in with its name and silos dependency.
fn sources(name: &str, dependency: &str) -> Vec<(PathBuf, String)> {
    let krate = name.replace('-', "_");
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{crate}}", &krate)
            .replace("{{silos_dependency}}", dependency)
    };
    vec![
        ("Cargo.toml".into(), fill(CARGO_TOML)),
        ("src/lib.rs".into(), fill(LIB_RS)),
        ("src/main.rs".into(), fill(MAIN_RS)),
        ("src/bin/silos-lambda.rs".into(), fill(SILOS_LAMBDA_RS)),
        (
            "src/bin/tenant-function.rs".into(),
            fill(TENANT_FUNCTION_RS),
        ),
        ("tests/templates.rs".into(), fill(TEMPLATES_RS)),
        ("README.md".into(), fill(README_MD)),
        (".gitignore".into(), GITIGNORE.to_owned()),
        ("blueprints/silo.yaml".into(), BLUEPRINT.to_owned()),
    ]
}

/// The first snapshots, of the very app src/lib.rs holds (with the blueprints already written
/// into `dir`), so its test passes as generated.
fn snapshots(dir: &Path) -> Result<Vec<(PathBuf, String)>, Error> {
    let config = Config::new("silos")?;
    let output = synth::synth(
        &scaffold_app(),
        &config,
        &dir.join("blueprints"),
        Format::Json,
    )?;
    let mut files = Vec::new();
    for stack in &output.manifest.stacks {
        if let Some(file) = output.files.iter().find(|f| f.name == stack.template) {
            files.push((
                format!("tests/snapshots/templates__{}.snap", stack.id).into(),
                format!(
                    "---\nsource: tests/templates.rs\nexpression: file.contents\n---\n{}",
                    file.contents
                ),
            ));
        }
    }
    Ok(files)
}

fn write(dir: &Path, files: Vec<(PathBuf, String)>) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for (rel, text) in files {
        let path = dir.join(&rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|source| Error::Write {
                path: parent.to_owned(),
                source,
            })?;
        }
        std::fs::write(&path, text).map_err(|source| Error::Write {
            path: path.clone(),
            source,
        })?;
        written.push(rel);
    }
    Ok(written)
}

/// The crate's name: the directory's, if it is one cargo accepts.
fn crate_name(dir: &Path) -> Result<String, Error> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_lowercase();
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && name != "silos"
        && name != "test";
    if ok {
        Ok(name)
    } else {
        Err(Error::Usage(format!(
            "{}: the directory's name is the crate's, so it must be a crate name (letters, digits, - and _, starting with a letter, not silos)",
            dir.display()
        )))
    }
}
