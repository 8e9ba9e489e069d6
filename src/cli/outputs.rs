//! `outputs.json`: what `silos local` and `silos deploy` stood up (the mode, the API URL, the
//! stacks' outputs). `silos tenants` reads it to find the API.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::Error;

/// `outputs.json`: one type, written by `silos deploy` and `silos local`, read by
/// `silos tenants` (and by tests, as a user's scripts would).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outputs {
    /// `aws` or `local`.
    pub mode: String,
    pub prefix: String,
    pub region: String,
    /// The tenant API.
    pub api_url: Option<String>,
    /// Local mode's emulator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_url: Option<String>,
    pub artifacts_bucket: String,
    pub tenants_table: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioning_role_arn: Option<String>,
    /// Local mode: whether the API verifies SigV4 signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_auth: Option<bool>,
    /// Each stack's outputs, by stack name.
    pub stacks: BTreeMap<String, BTreeMap<String, String>>,
}

impl Outputs {
    /// `out/outputs.json` as written, if it is there.
    pub fn read(path: &Path) -> Result<Option<Outputs>, Error> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|source| Error::Outputs { source }),
            Err(_) => Ok(None),
        }
    }
}

/// Where `silos local` and `silos deploy` record what they stood up.
pub const OUTPUTS_FILE: &str = "out/outputs.json";

/// Writes `out/outputs.json` (or `dir/outputs.json`) atomically.
pub fn write_outputs(dir: &Path, value: &Outputs) -> Result<PathBuf, Error> {
    let path = dir.join("outputs.json");
    let io = |source: std::io::Error| Error::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let tmp = dir.join(".outputs.json.tmp");
    std::fs::write(
        &tmp,
        format!(
            "{}\n",
            serde_json::to_string_pretty(value).unwrap_or_default()
        ),
    )
    .map_err(io)?;
    std::fs::rename(&tmp, &path).map_err(io)?;
    Ok(path)
}
