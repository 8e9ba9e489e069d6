//! A silos app with two tiers. `silo` tenants get the reference stack (a table and a function);
//! `premium` tenants also get an encrypted, public-access-blocked bucket and a queue with a
//! dead-letter queue, named after their stack and reachable by their function alone.
//!
//! Every `silos` command runs on it: `cargo run -p silos-example-premium -- synth`.

use silos::stacks::{App, Silo, Stack, TenantContext, tenant_silo};

/// The premium tier: the silo, plus a bucket and a queue for the tenant's function.
fn premium(ctx: &TenantContext) -> Stack {
    let mut silo = Silo::new(ctx);
    silo.bucket("Files", "files", "FILES_BUCKET");
    silo.queue("Jobs", "jobs", "JOBS_QUEUE_URL");
    silo.finish()
}

fn main() -> std::process::ExitCode {
    let app = App::new()
        .tenant_stack("tenant-silo", tenant_silo)
        .tenant_stack("tenant-premium", premium);
    silos::cli::main_with(app)
}
