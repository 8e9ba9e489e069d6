//! The control plane's Lambda binary: one zip, three handlers, chosen by `SILOS_HANDLER`.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match silos::lambda::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
