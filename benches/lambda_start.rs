//! Cold start of the Lambda `bootstrap`s: the time from process start until it asks the Runtime
//! API for its first invocation, i.e. until it is ready to serve. Uses the zips cargo-lambda
//! built (the control plane's, per handler, and the tenant function's) and a fake Runtime API
//! on loopback. Median of 30 starts each.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    for (binary, handlers) in [
        ("silos-lambda", &["api", "provisioner", "stack-events"][..]),
        ("silos-tenant-handler", &["tenant"][..]),
    ] {
        bench(binary, handlers);
    }
}

fn bench(binary_name: &str, handlers: &[&str]) {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let zip_path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(target)
        .join(format!("lambda/{binary_name}/bootstrap.zip"));
    let Ok(bytes) = std::fs::read(&zip_path) else {
        println!(
            "(no {}: build it with cargo lambda build --profile lambda --output-format zip --x86-64 --bin {binary_name})",
            zip_path.display()
        );
        return;
    };
    println!(
        "{binary_name} zip: {} bytes ({:.2} MB)",
        bytes.len(),
        bytes.len() as f64 / 1e6
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    let mut bootstrap = Vec::new();
    archive
        .by_name("bootstrap")
        .unwrap()
        .read_to_end(&mut bootstrap)
        .unwrap();
    let dir = std::env::temp_dir().join(format!("silos-lambda-start-{binary_name}"));
    std::fs::create_dir_all(&dir).unwrap();
    let binary = dir.join("bootstrap");
    std::fs::write(&binary, &bootstrap).unwrap();
    std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755)).unwrap();

    for &handler in handlers {
        let mut runs = Vec::new();
        for _ in 0..30 {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            let start = Instant::now();
            let mut child = Command::new(&binary)
                .env_clear()
                .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
                .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
                .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
                .env("AWS_LAMBDA_FUNCTION_VERSION", "1")
                .env("AWS_LAMBDA_LOG_STREAM_NAME", "bench")
                .env("AWS_LAMBDA_LOG_GROUP_NAME", "bench")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_ACCESS_KEY_ID", "bench")
                .env("AWS_SECRET_ACCESS_KEY", "bench")
                .env("SILOS_HANDLER", handler)
                .env("SILOS_PREFIX", "silos")
                .env("TENANTS_TABLE", "tenants")
                .env("ARTIFACTS_BUCKET", "bucket")
                .env("CATALOG_KEY", "catalog/current.json")
                .env("TABLE_NAME", "silos-tenant-bench")
                .env("TENANT_ID", "bench")
                .env("TENANT_NAME", "Bench")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let (mut stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut buf = [0u8; 512];
            let n = stream.read(&mut buf).unwrap();
            let elapsed = start.elapsed();
            let request = String::from_utf8_lossy(&buf[..n]);
            assert!(
                request.starts_with("GET /2018-06-01/runtime/invocation/next"),
                "{request}"
            );
            let _ = stream
                .write_all(b"HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\n\r\n");
            let _ = child.kill();
            let _ = child.wait();
            runs.push(elapsed);
        }
        runs.sort();
        println!(
            "cold start to ready ({handler}): median {:.2} ms, max {:.2} ms",
            runs[runs.len() / 2].as_secs_f64() * 1e3,
            runs[runs.len() - 1].as_secs_f64() * 1e3
        );
    }
}
