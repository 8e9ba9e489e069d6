//! The built Lambda zips, the control plane's and the tenant function's: each an executable
//! x86-64 `bootstrap` for `provided.al2023`, which offers glibc 2.34.

mod common;

/// The highest `GLIBC_x.y` symbol version the binary names. The versions a dynamic binary needs
/// are strings of its `.dynstr` section, which is where these come from.
fn max_glibc(binary: &[u8]) -> Option<(u32, u32)> {
    let mut best = None;
    let needle = b"GLIBC_";
    let mut i = 0;
    while let Some(pos) = binary[i..].windows(needle.len()).position(|w| w == needle) {
        let start = i + pos + needle.len();
        let version: String = binary[start..]
            .iter()
            .take_while(|b| b.is_ascii_digit() || **b == b'.')
            .map(|b| *b as char)
            .collect();
        let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
        if let (Some(Some(major)), Some(Some(minor))) = (parts.next(), parts.next()) {
            best = best.max(Some((major, minor)));
        }
        i = start;
    }
    best
}

#[test]
fn each_zip_holds_an_executable_x86_64_bootstrap_for_glibc_2_34() {
    for binary in [
        common::lambda_zip::CONTROL_PLANE,
        common::lambda_zip::TENANT,
    ] {
        check_zip(binary);
    }
}

fn check_zip(binary: &str) {
    let (zip, bootstrap, mode) = common::lambda_zip::read_zip(binary);
    assert_eq!(&bootstrap[..4], b"\x7fELF", "an ELF binary");
    assert_eq!(bootstrap[4], 2, "64-bit");
    assert_eq!(
        u16::from_le_bytes([bootstrap[18], bootstrap[19]]),
        0x3E,
        "x86-64"
    );
    assert!(mode.is_some_and(|m| m & 0o111 != 0), "executable: {mode:?}");
    let glibc = max_glibc(&bootstrap).expect("a dynamically linked binary names its glibc");
    assert!(
        glibc <= (2, 34),
        "needs glibc {glibc:?}; provided.al2023 has 2.34"
    );
    assert!(
        !bootstrap.starts_with(b"#!"),
        "{binary}: a real build, not the placeholder script"
    );
    eprintln!(
        "{binary}: zip {} bytes, bootstrap {} bytes, needs glibc {}.{}",
        zip.len(),
        bootstrap.len(),
        glibc.0,
        glibc.1
    );
}

#[test]
fn glibc_versions_are_read_from_symbol_version_strings() {
    assert_eq!(
        max_glibc(b"\0GLIBC_2.2.5\0GLIBC_2.30\0GLIBC_2.17\0"),
        Some((2, 30))
    );
    assert_eq!(max_glibc(b"\0GLIBC_2.34\0GLIBC_PRIVATE\0"), Some((2, 34)));
    assert_eq!(max_glibc(b"no versions here"), None);
}
