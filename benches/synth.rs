//! Synth benchmarks (a bench binary, `cargo bench`): never a timed test.
//!
//! 1. synth of every stack, in-process (library call, JSON and YAML);
//! 2. synth and validation of a generated 500-resource stack, and how it scales (100 → 500);
//! 3. a tenant stack of many services (100 → 500 resources) with the provisioning role and the
//!    boundary derived from it, as synth derives them;
//! 4. `silos synth` as a whole process, if the release binary is built.
//!
//! Each figure is the median of many runs, after a warm-up.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use silos::cfn::{Expr, Template};
use silos::constructs::{Code, Function, Queue, Table};
use silos::stacks::Config;
use silos::synth::{self, Format};

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn measure(iterations: usize, mut f: impl FnMut()) -> Duration {
    for _ in 0..iterations.min(10) {
        f();
    }
    median(
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

/// A stack of `n` resources built from the real constructs: tables, functions (role, log group,
/// function) granted on the tables, and queues, with references between them.
fn generated(n: usize) -> Template {
    let mut t = Template::new("generated");
    let bucket = t.parameter("CodeBucket", silos::cfn::Parameter::string("bucket"));
    let key = t.parameter("CodeKey", silos::cfn::Parameter::string("key"));
    let mut count = 0;
    let mut i = 0;
    while count + 5 <= n {
        let table = Table::new(&format!("Table{i}"), "pk");
        let queue = Queue::new(&format!("Queue{i}"));
        let mut f = Function::new(
            &format!("Fn{i}"),
            Code {
                bucket: bucket.clone().into(),
                key: key.clone().into(),
            },
        )
        .env("TABLE", table.name())
        .dead_letter_queue(&queue);
        table.grant_read_write_data(f.role_mut());
        table.add_to(&mut t);
        queue.add_to(&mut t);
        f.add_to(&mut t);
        count += 5;
        i += 1;
    }
    while count < n {
        let q = Queue::new(&format!("Extra{count}"));
        q.add_to(&mut t);
        count += 1;
    }
    t.output(
        "First",
        silos::cfn::Output::new("first", Expr::r#ref("Table0")),
    );
    t
}

fn main() {
    let config = Config::new("silos").unwrap();
    let app = silos::App::new().tenant_stack("tenant-silo", silos::stacks::tenant_silo);
    let blueprints = Path::new(env!("CARGO_MANIFEST_DIR")).join("blueprints");

    for format in [Format::Json, Format::Yaml] {
        let d = measure(200, || {
            black_box(synth::synth(&app, &config, &blueprints, format).unwrap());
        });
        println!(
            "synth of every stack ({format:?}), in-process: {:.3} ms",
            d.as_secs_f64() * 1e3
        );
    }

    let mut per_resource = Vec::new();
    for n in [100, 250, 500] {
        let d = measure(100, || {
            let t = generated(n);
            assert_eq!(t.resources.len(), n);
            t.validate().unwrap();
            let json = t.to_json();
            silos::cfn::check_size("generated", json.len(), silos::cfn::Delivery::Url).unwrap();
            black_box(json);
        });
        per_resource.push(d.as_secs_f64() * 1e6 / n as f64);
        println!(
            "build + validate + render of a {n}-resource stack: {:.3} ms ({:.2} µs per resource)",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() * 1e6 / n as f64
        );
    }
    println!(
        "scaling: µs per resource at 500 / at 100 = {:.2} (1.0 is linear)",
        per_resource[2] / per_resource[0]
    );

    // A tenant stack of ten services: what synth does for it, role derivation included.
    let mut per_resource = Vec::new();
    for n in [100, 250, 500] {
        let app = silos::App::new().tenant_stack(
            "tenant-many",
            move |ctx: &silos::stacks::TenantContext| {
                let mut silo = silos::stacks::Silo::new(ctx);
                const TYPES: &[&str] = &[
                    "AWS::SNS::Topic",
                    "AWS::KMS::Key",
                    "AWS::SQS::Queue",
                    "AWS::SSM::Parameter",
                    "AWS::Events::Rule",
                    "AWS::StepFunctions::StateMachine",
                    "AWS::SecretsManager::Secret",
                    "AWS::CloudWatch::Alarm",
                    "AWS::ApiGatewayV2::Api",
                    "AWS::Logs::LogGroup",
                ];
                // The silo itself holds 4 (the table, the function, its role and log group).
                for i in 0..n - 4 {
                    silo.template().add_raw(
                        &format!("R{i}"),
                        TYPES[i % TYPES.len()],
                        serde_json::json!({}),
                    );
                }
                silo.finish()
            },
        );
        let d = measure(50, || {
            let stacks = app.all_tenant_stacks(&config);
            assert_eq!(stacks[0].template.resources.len(), n);
            black_box(app.provisioning(&config).unwrap());
            for stack in &stacks {
                black_box(stack.template.to_json());
            }
        });
        per_resource.push(d.as_secs_f64() * 1e6 / n as f64);
        println!(
            "a {n}-resource tenant stack of ten services, built and rendered, role and boundary derived: {:.3} ms ({:.2} µs per resource)",
            d.as_secs_f64() * 1e3,
            d.as_secs_f64() * 1e6 / n as f64
        );
    }
    println!(
        "scaling: µs per resource at 500 / at 100 = {:.2} (1.0 is linear)",
        per_resource[2] / per_resource[0]
    );

    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".to_owned());
    let binary = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(target)
        .join("release/silos");
    if binary.is_file() {
        let out = std::env::temp_dir().join("silos-bench-out");
        let d = measure(50, || {
            let status = std::process::Command::new(&binary)
                .args(["synth", "--quiet", "--out"])
                .arg(&out)
                .arg("--blueprints")
                .arg(&blueprints)
                .status()
                .unwrap();
            assert!(status.success());
        });
        println!(
            "`silos synth` as a whole process (release): {:.2} ms",
            d.as_secs_f64() * 1e3
        );
    } else {
        println!(
            "(`silos synth` whole-process figure skipped: build it with `cargo build --release`)"
        );
    }
}
