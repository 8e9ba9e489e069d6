//! The app → `out/`: every stack's template, `manifest.json` and the blueprint catalog
//! (`catalog.json`). Everything is checked before anything is written, and output is
//! byte-for-byte deterministic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::blueprint::cells::Cells;
use crate::blueprint::{self, StackParameters};
use crate::cfn::{self, Delivery, Warning};
use crate::stacks::{
    App, AppError, Artifact, ArtifactParameters, CONTROL_PLANE_ARTIFACT, Config, Kind, Stack,
    Target, names,
};

pub mod diagram;

pub use crate::stacks::CATALOG_POINTER_KEY;

mod moves;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Yaml => "yaml",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Template(#[from] cfn::Errors),
    #[error(transparent)]
    Size(#[from] cfn::Error),
    #[error(transparent)]
    Blueprint(#[from] blueprint::Error),
    #[error(transparent)]
    App(#[from] AppError),
    #[error("{} resource name(s) would break their limits:\n  {}", .0.len(), .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Names(Vec<names::NameError>),
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// One file of the synth output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct File {
    pub name: String,
    pub contents: String,
}

/// The result of synth, not yet written.
#[derive(Debug)]
pub struct Output {
    pub files: Vec<File>,
    pub manifest: Manifest,
    /// The deployment types of the catalog.
    pub deployment_types: Vec<String>,
    pub warnings: Vec<Warning>,
    /// The tenant stacks' handler actions that the provisioning role does not scope to tenant
    /// resources: granted on `*`, or not granted, each with its reason (`silos synth -v`).
    pub unscoped: Vec<crate::stacks::provisioning::Note>,
    /// The cells, as published in the catalog (capacities fitted).
    pub cells: Cells,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub version: u32,
    pub prefix: String,
    pub format: Format,
    pub stacks: Vec<StackEntry>,
    pub artifacts: Vec<Artifact>,
    pub catalog: CatalogEntry,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StackEntry {
    pub id: String,
    pub stack_name: Option<String>,
    pub kind: Kind,
    pub target: Option<Target>,
    pub delivery: Delivery,
    pub template: String,
    pub sha256: String,
    pub bytes: usize,
    pub resources: usize,
    pub parameters: Vec<ParameterEntry>,
    pub outputs: Vec<String>,
    pub artifacts: Vec<ArtifactParameters>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParameterEntry {
    pub name: String,
    /// Supplied by the platform from an artifact, not by a user or a blueprint.
    pub system: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogEntry {
    pub file: String,
    pub sha256: String,
    /// The content-addressed key deploy publishes the catalog under.
    pub key: String,
    pub pointer_key: &'static str,
}

pub use crate::blueprint::catalog::{
    Catalog, DeploymentType, Source, SystemParameter, UnpublishedArtifact,
};

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(64);
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// Renders, validates and checks one stack: (file name, contents, warnings).
pub fn render_stack(stack: &Stack, format: Format) -> Result<(File, Vec<Warning>), Error> {
    let report = stack.template.validate()?;
    let contents = match format {
        Format::Json => stack.template.to_json(),
        Format::Yaml => stack.template.to_yaml()?,
    };
    // A body goes compact (deploy's `stack::compact`); a URL's file as written.
    let sent = match stack.delivery {
        Delivery::Body => stack.template.to_json_compact().len(),
        Delivery::Url => contents.len(),
    };
    cfn::check_size(&stack.id, sent, stack.delivery)?;
    Ok((
        File {
            name: format!("{}.{}", stack.id, format.extension()),
            contents,
        },
        report.warnings,
    ))
}

/// Synthesizes every stack and blueprint, checking all of them. Writes nothing.
pub fn synth(
    app: &App,
    config: &Config,
    blueprints_dir: &Path,
    format: Format,
) -> Result<Output, Error> {
    let registered = app.tenant_stack_names();
    let blueprints = blueprint::load_dir(blueprints_dir)?;
    let mut cells = Cells::load(blueprints_dir, config.prefix())?;
    let types: Vec<&str> = blueprints
        .iter()
        .map(|b| b.deployment_type.as_str())
        .collect();
    cells.check_types(&types)?;
    let (mut app_list, notes) = app.stacks(config, &cells)?;

    let uses = check_blueprints(app, config, &blueprints, &registered, &mut app_list)?;
    let (mut files, warnings, entries) = render_stacks(&app_list, format)?;
    let deployment_types = deployment_types(&blueprints, &uses, &app_list, &entries, format);
    cells.fit_roles(roles_per_tenant(&app_list))?;
    cells.fit_regional(&regional_per_tenant(&app_list))?;
    let catalog = Catalog {
        version: 1,
        prefix: config.prefix().to_owned(),
        deployment_types,
        cells: cells.cells.clone(),
    };
    let catalog_json = to_json(&catalog);
    let catalog_sha = sha256_hex(catalog_json.as_bytes());
    files.push(File {
        name: "catalog.json".to_owned(),
        contents: catalog_json,
    });
    let manifest = Manifest {
        version: 1,
        prefix: config.prefix().to_owned(),
        format,
        stacks: entries,
        artifacts: artifacts(&app_list),
        catalog: CatalogEntry {
            file: "catalog.json".to_owned(),
            key: format!("catalog/{catalog_sha}.json"),
            sha256: catalog_sha,
            pointer_key: CATALOG_POINTER_KEY,
        },
    };
    files.push(File {
        name: "manifest.json".to_owned(),
        contents: to_json(&manifest),
    });
    Ok(Output {
        files,
        manifest,
        deployment_types: blueprints
            .iter()
            .map(|b| b.deployment_type.clone())
            .collect(),
        warnings,
        unscoped: notes,
        cells,
    })
}

/// Checks each blueprint against its stack, in the variant its data policy asks for, and adds
/// the stacks they use to `app_list`. Returns each blueprint's stack id, in order.
fn check_blueprints(
    app: &App,
    config: &Config,
    blueprints: &[blueprint::Blueprint],
    registered: &[&str],
    app_list: &mut Vec<Stack>,
) -> Result<Vec<String>, Error> {
    let mut uses = Vec::new();
    for bp in blueprints {
        let stack = app.build_tenant(&bp.stack, config, bp.tenant_data);
        let names: Vec<String> = stack
            .as_ref()
            .map(|s| s.template.parameters.keys().cloned().collect())
            .unwrap_or_default();
        let system = stack
            .as_ref()
            .map(Stack::system_parameters)
            .unwrap_or_default();
        let defaulted: Vec<String> = stack
            .as_ref()
            .map(|s| {
                let parameters = &s.template.parameters;
                parameters
                    .iter()
                    .filter(|(_, p)| p.default.is_some())
                    .map(|(name, _)| name.clone())
                    .collect()
            })
            .unwrap_or_default();
        let params = stack.as_ref().map(|_| StackParameters {
            all: &names,
            system: &system,
            defaulted: &defaulted,
        });
        let rendered = bp.check(config.prefix(), params, registered)?;
        if let Some(stack) = stack {
            let other = bp.render(
                config.prefix(),
                &blueprint::Tenant::other_sample(&bp.deployment_type),
            )?;
            let longest = names::longest_stack_name(&rendered.stack_name, &other.stack_name);
            let errors = names::check(&stack, &longest);
            if !errors.is_empty() {
                return Err(Error::Names(errors));
            }
            uses.push(stack.id.clone());
            if !app_list.iter().any(|s| s.id == stack.id) {
                app_list.push(stack);
            }
        }
    }
    Ok(uses)
}

/// The rendered stacks: their files (templates and diagrams), the validation warnings and
/// the manifest's entries.
type Rendered = (Vec<File>, Vec<Warning>, Vec<StackEntry>);

/// Every stack's template and diagram, its manifest entry, and the validation warnings.
fn render_stacks(app_list: &[Stack], format: Format) -> Result<Rendered, Error> {
    let mut files = Vec::new();
    let mut warnings = Vec::new();
    let mut entries = Vec::new();
    for stack in app_list {
        let (file, w) = render_stack(stack, format)?;
        warnings.extend(w);
        let system = stack.system_parameters();
        entries.push(StackEntry {
            id: stack.id.clone(),
            stack_name: stack.stack_name.clone(),
            kind: stack.kind,
            target: stack.target,
            delivery: stack.delivery,
            template: file.name.clone(),
            sha256: sha256_hex(file.contents.as_bytes()),
            bytes: file.contents.len(),
            resources: stack.template.resources.len(),
            parameters: stack
                .template
                .parameters
                .keys()
                .map(|p| ParameterEntry {
                    name: p.clone(),
                    system: system.contains(&p.as_str()),
                })
                .collect(),
            outputs: stack.template.outputs.keys().cloned().collect(),
            artifacts: stack.artifacts.clone(),
        });
        files.push(file);
        files.push(File {
            name: format!("{}.mmd", stack.id),
            contents: diagram::mermaid(&stack.template),
        });
    }
    Ok((files, warnings, entries))
}

/// The catalog's entries: each blueprint with its stack's template and system parameters.
fn deployment_types(
    blueprints: &[blueprint::Blueprint],
    uses: &[String],
    app_list: &[Stack],
    entries: &[StackEntry],
    format: Format,
) -> BTreeMap<String, DeploymentType> {
    let mut deployment_types = BTreeMap::new();
    for (bp, stack_id) in blueprints.iter().zip(uses) {
        let Some((stack, entry)) = app_list
            .iter()
            .zip(entries)
            .find(|(s, _)| &s.id == stack_id)
        else {
            continue;
        };
        let system_parameters = stack
            .artifacts
            .iter()
            .flat_map(|a| {
                [
                    (
                        a.bucket_parameter.to_owned(),
                        SystemParameter {
                            source: Source::ArtifactsBucket,
                            value: None,
                        },
                    ),
                    (
                        a.key_parameter.to_owned(),
                        SystemParameter {
                            source: Source::ArtifactKey {
                                artifact: a.artifact.name.to_owned(),
                            },
                            value: None,
                        },
                    ),
                ]
            })
            .collect();
        deployment_types.insert(
            bp.deployment_type.clone(),
            DeploymentType {
                description: bp.description.clone(),
                stack: stack.id.clone(),
                template: entry.template.clone(),
                template_sha256: entry.sha256.clone(),
                template_key: format!(
                    "templates/{}/{}.{}",
                    stack.id,
                    entry.sha256,
                    format.extension()
                ),
                blueprint: bp.clone(),
                system_parameters,
                version: None,
                resources: moves::summaries(&stack.template),
            },
        );
    }
    deployment_types
}

/// The most resources of `type_name` a tenant stack holds: each tenant's count against a
/// quota of its cell.
fn most_per_tenant(app_list: &[Stack], type_name: &str) -> u32 {
    app_list
        .iter()
        .filter(|s| s.kind == Kind::Tenant)
        .map(|s| {
            s.template
                .resources
                .values()
                .filter(|r| r.type_name == type_name)
                .count() as u32
        })
        .max()
        .unwrap_or(0)
}

/// The most IAM roles a tenant stack holds: each tenant's count against its cell account's
/// role quota.
fn roles_per_tenant(app_list: &[Stack]) -> u32 {
    most_per_tenant(app_list, "AWS::IAM::Role")
}

/// The most of each per-region quota's resources a tenant stack holds (user pools, HTTP APIs).
fn regional_per_tenant(app_list: &[Stack]) -> Vec<(crate::blueprint::cells::Regional, u32)> {
    crate::blueprint::cells::Regional::ALL
        .into_iter()
        .map(|what| (what, most_per_tenant(app_list, what.resource_type())))
        .collect()
}

/// The control plane's artifact and every one a stack declares, once each, by name.
fn artifacts(stacks: &[Stack]) -> Vec<Artifact> {
    let mut out = vec![CONTROL_PLANE_ARTIFACT];
    for a in stacks.iter().flat_map(|s| &s.artifacts) {
        if !out.iter().any(|o| o.name == a.artifact.name) {
            out.push(a.artifact);
        }
    }
    out
}

fn to_json<T: Serialize>(value: &T) -> String {
    // Manifest and catalog have string keys only: serialization cannot fail.
    let mut s = serde_json::to_string_pretty(value).unwrap_or_default();
    s.push('\n');
    s
}

/// Writes the output into `dir`, each file atomically (a temporary file, then a rename), so a
/// reader never sees half a template.
pub fn write(dir: &Path, output: &Output) -> Result<(), Error> {
    let err = |path: &Path| {
        let path = path.to_owned();
        move |source| Error::Write { path, source }
    };
    std::fs::create_dir_all(dir).map_err(err(dir))?;
    for file in &output.files {
        let path = dir.join(&file.name);
        let tmp = dir.join(format!(".{}.tmp", file.name));
        std::fs::write(&tmp, &file.contents).map_err(err(&tmp))?;
        std::fs::rename(&tmp, &path).map_err(err(&path))?;
    }
    Ok(())
}
