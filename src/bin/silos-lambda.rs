//! The control plane's Lambda binary: one zip, three handlers, chosen by `SILOS_HANDLER`.

fn main() -> std::process::ExitCode {
    silos::lambda::main()
}
