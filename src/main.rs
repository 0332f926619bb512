//! Dispatch and exit codes: 0 success, 2 the configuration is wrong, 1
//! anything else. Everything else is in the library.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    haimg::cleanup::install();
    let result = haimg::cmd::run(haimg::cmdline::Cli::parse());
    haimg::cleanup::wait_if_stopping();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(ce) = e.downcast_ref::<haimg::diag::ConfigError>() {
                eprintln!("{ce}");
                return ExitCode::from(2);
            }
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
