//! Lambda artifacts: the cargo-lambda zips, or a clearly labelled placeholder where no real
//! build is present (the emulator stores function code and never runs it). Keys are content
//! hashes, so an unchanged artifact is never uploaded twice.

use std::io::Write;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use crate::stacks::Artifact;
use crate::synth::sha256_hex;

use super::Error;

/// Where an artifact's bytes came from, for the user to see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZipSource {
    /// The cargo-lambda build found in the target directory.
    Built(PathBuf),
    /// A zip the user named (`--lambda-zip`).
    Given(PathBuf),
    /// The labelled placeholder: no real build was present.
    Placeholder,
    /// The labelled placeholder, chosen where the code is stored and never run (an emulator).
    StandIn,
}

impl std::fmt::Display for ZipSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ZipSource::Built(p) => write!(f, "the cargo-lambda build {}", p.display()),
            ZipSource::Given(p) => write!(f, "{}", p.display()),
            ZipSource::Placeholder => f.write_str("a placeholder (no cargo-lambda build found)"),
            ZipSource::StandIn => {
                f.write_str("a labelled placeholder (the emulator stores it and never runs it)")
            }
        }
    }
}

/// One artifact's zip, ready to publish.
#[derive(Clone, Debug)]
pub struct LambdaZip {
    pub artifact: Artifact,
    pub bytes: Vec<u8>,
    pub source: ZipSource,
}

impl LambdaZip {
    /// The cargo-lambda build of `artifact` if there is one, else the placeholder.
    pub fn built_or_placeholder(artifact: Artifact) -> Result<LambdaZip, Error> {
        match find_lambda_zip(artifact.binary) {
            Some(path) => LambdaZip::read(artifact, &path, ZipSource::Built(path.clone())),
            None => Ok(LambdaZip {
                artifact,
                bytes: placeholder_zip(artifact),
                source: ZipSource::Placeholder,
            }),
        }
    }

    pub fn read(artifact: Artifact, path: &Path, source: ZipSource) -> Result<LambdaZip, Error> {
        let bytes = std::fs::read(path).map_err(|e| Error::Read {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        if !bytes.starts_with(b"PK") {
            return Err(Error::Read {
                path: path.display().to_string(),
                message: "not a zip archive".to_owned(),
            });
        }
        Ok(LambdaZip {
            artifact,
            bytes,
            source,
        })
    }

    /// Whether this is the labelled placeholder ([`placeholder_zip`]), given or built.
    pub fn is_placeholder(&self) -> bool {
        zip::ZipArchive::new(std::io::Cursor::new(&self.bytes))
            .is_ok_and(|mut z| z.by_name(PLACEHOLDER_NOTE).is_ok())
    }

    /// `lambda/{artifact}/{sha256}.zip`.
    pub fn key(&self) -> String {
        artifact_key(self.artifact.name, &self.bytes)
    }
}

pub fn artifact_key(artifact: &str, bytes: &[u8]) -> String {
    format!("lambda/{artifact}/{}.zip", sha256_hex(bytes))
}

/// The zip `cargo lambda build --output-format zip` wrote for `binary`, under
/// `$CARGO_TARGET_DIR` or `./target`.
pub fn find_lambda_zip(binary: &str) -> Option<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("CARGO_TARGET_DIR") {
        dirs.push(PathBuf::from(d));
    }
    dirs.push(PathBuf::from("target"));
    dirs.into_iter()
        .map(|d| d.join("lambda").join(binary).join("bootstrap.zip"))
        .find(|p| p.is_file())
}

/// The arguments of `cargo` that build `artifact`'s zip: the `lambda` profile (small: `s`,
/// fat LTO, one codegen unit, abort on panic) for x86-64, as `scripts/test.sh` builds it.
pub fn build_args(artifact: Artifact) -> [&'static str; 9] {
    [
        "lambda",
        "build",
        "--profile",
        "lambda",
        "--output-format",
        "zip",
        "--x86-64",
        "--bin",
        artifact.binary,
    ]
}

/// The command that builds `artifact`'s zip, for people to run.
pub fn build_command(artifact: Artifact) -> String {
    format!("cargo {}", build_args(artifact).join(" "))
}

/// The placeholder's note, by which it is recognised.
const PLACEHOLDER_NOTE: &str = "PLACEHOLDER.txt";

/// A few-hundred-byte zip whose `bootstrap` only says it is a placeholder and exits non-zero.
/// Reproducible: fixed timestamps and permissions, so it always has the same key.
pub fn placeholder_zip(artifact: Artifact) -> Vec<u8> {
    let text = format!(
        "silos placeholder for the {} artifact ({}).\n\
         No cargo-lambda build of `{}` was found, so this stands in for it. An emulator stores\n\
         function code and never runs it. Build the real zip with\n\
         `{}`.\n",
        artifact.name,
        artifact.description,
        artifact.binary,
        build_command(artifact)
    );
    let script = format!(
        "#!/bin/sh\necho 'silos placeholder for {}: not a real build' >&2\nexit 1\n",
        artifact.name
    );
    let mut out = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut out);
        let options = SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .last_modified_time(zip::DateTime::default());
        let files = [
            ("bootstrap", script.as_str(), 0o755),
            (PLACEHOLDER_NOTE, text.as_str(), 0o644),
        ];
        for (name, body, mode) in files {
            // Writing to memory cannot fail.
            let _ = zip.start_file(name, options.unix_permissions(mode));
            let _ = zip.write_all(body.as_bytes());
        }
        let _ = zip.finish();
    }
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacks::TENANT_ARTIFACT;

    #[test]
    fn the_placeholder_is_small_labelled_and_reproducible() {
        let a = placeholder_zip(TENANT_ARTIFACT);
        let b = placeholder_zip(TENANT_ARTIFACT);
        assert_eq!(a, b, "same bytes every time, so the same key");
        assert!(a.len() < 4096, "{} bytes", a.len());
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(&a)).unwrap();
        let mut names: Vec<_> = archive.file_names().map(str::to_owned).collect();
        names.sort();
        assert_eq!(names, ["PLACEHOLDER.txt", "bootstrap"]);
        let boot = archive.by_name("bootstrap").unwrap();
        assert_eq!(boot.unix_mode().map(|m| m & 0o777), Some(0o755));
        drop(boot);
        let mut text = String::new();
        std::io::Read::read_to_string(&mut archive.by_name("PLACEHOLDER.txt").unwrap(), &mut text)
            .unwrap();
        assert!(
            text.contains("silos placeholder for the tenant-function artifact"),
            "{text}"
        );
        let zip = |bytes: Vec<u8>| LambdaZip {
            artifact: TENANT_ARTIFACT,
            bytes,
            source: ZipSource::Placeholder,
        };
        assert!(zip(a).is_placeholder());
        assert!(!zip(b"PK\x03\x04 not a zip".to_vec()).is_placeholder());
    }

    #[test]
    fn keys_are_content_hashes() {
        let key = artifact_key("tenant-function", b"abc");
        assert_eq!(
            key,
            // sha256("abc"), the FIPS 180-2 test vector.
            "lambda/tenant-function/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad.zip"
        );
    }
}
