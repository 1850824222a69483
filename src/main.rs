fn main() -> std::process::ExitCode {
    msws::cli::main()
}
