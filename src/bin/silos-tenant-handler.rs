//! The function inside each tenant silo: a JSON item service over the tenant's own table.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match silos::tenant_function::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
