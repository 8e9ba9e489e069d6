//! The cargo-lambda zips, as `scripts/test.sh` builds them: `silos-lambda` (the control plane)
//! and `silos-tenant-handler` (the tenant function).

use std::io::Read;
use std::path::PathBuf;

pub const CONTROL_PLANE: &str = "silos-lambda";
pub const TENANT: &str = "silos-tenant-handler";

pub fn zip_path(binary: &str) -> PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = target.join("lambda").join(binary).join("bootstrap.zip");
    assert!(
        path.is_file(),
        "no Lambda zip at {}: scripts/test.sh builds it with cargo-lambda",
        path.display()
    );
    path
}

/// The zip's bytes and its `bootstrap` entry (contents, unix mode).
pub fn read_zip(binary: &str) -> (Vec<u8>, Vec<u8>, Option<u32>) {
    let bytes = std::fs::read(zip_path(binary)).unwrap();
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes.clone())).unwrap();
    let mut entry = archive.by_name("bootstrap").expect("a bootstrap entry");
    let mode = entry.unix_mode();
    let mut bootstrap = Vec::new();
    entry.read_to_end(&mut bootstrap).unwrap();
    (bytes, bootstrap, mode)
}
