//! The cargo-lambda zip of `silos-lambda`, as `scripts/test.sh` builds it.

use std::io::Read;
use std::path::PathBuf;

pub fn zip_path() -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("lambda/silos-lambda/bootstrap.zip")
}

/// The zip's bytes and its `bootstrap` entry (contents, unix mode).
pub fn read_zip() -> (Vec<u8>, Vec<u8>, Option<u32>) {
    let path = zip_path();
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "no Lambda zip at {} ({e}): scripts/test.sh builds it with cargo-lambda",
            path.display()
        )
    });
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
    let mut entry = archive.by_name("bootstrap").expect("a bootstrap entry");
    let mode = entry.unix_mode();
    let mut bootstrap = Vec::new();
    entry.read_to_end(&mut bootstrap).unwrap();
    (bytes, bootstrap, mode)
}
