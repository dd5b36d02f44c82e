//! `kiln`: exit 0 on success, 2 on bad input (with a one-line message), 1 on internal errors.

use std::process::ExitCode;

use clap::Parser;
use kiln::{Cli, run};

fn main() -> ExitCode {
    // Behave like other Unix tools when the reader of our output goes away (`kiln ... | head`).
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match std::panic::catch_unwind(|| run(&cli)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("error: {error}");
            ExitCode::from(error.exit_code() as u8)
        }
        Err(_) => {
            eprintln!("error: internal error (a panic, reported above); please file a bug");
            ExitCode::from(1)
        }
    }
}
