//! `outputs.json`: what `silos local` and `silos deploy` stood up (the mode, the API URL, the
//! stacks' outputs). `silos tenants` reads it to find the API.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::Error;

/// Where `silos local` and `silos deploy` record what they stood up.
pub const OUTPUTS_FILE: &str = "out/outputs.json";

/// Writes `out/outputs.json` (or `dir/outputs.json`) atomically.
pub fn write_outputs(dir: &Path, value: &Value) -> Result<PathBuf, Error> {
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
