//! The control plane's Lambda binary: one zip for every function of `silos::functions`, each
//! running the handler its `SILOS_HANDLER` names.

fn main() -> std::process::ExitCode {
    silos::lambda::main()
}
