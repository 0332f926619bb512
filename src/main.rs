fn main() -> std::process::ExitCode {
    haimg::cli::main()
}
