fn main() -> std::process::ExitCode {
    silos::cli::main()
}
