//! The reference app: this repository's own tenant stack, `tenant-silo` (a table and a function
//! per tenant), registered the way a user registers theirs in their own crate.

use silos::stacks::{App, tenant_silo};

fn main() -> std::process::ExitCode {
    let app = App::new().tenant_stack("tenant-silo", tenant_silo);
    silos::cli::main_with(app)
}
