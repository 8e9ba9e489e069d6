//! The function inside each tenant silo: a JSON item service over the tenant's own table.

fn main() -> std::process::ExitCode {
    silos::tenant_function::main()
}
