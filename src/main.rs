//! The `stsform` binary: parse arguments, run the command, print the error chain.
//!
//! Exit codes: 0 success (and `--help`/`--version`), 1 any error, usage errors included,
//! 2 only for "changes present" under `plan --detailed-exitcode`. clap's own exit would
//! give usage errors 2, which CI reads as "changes present".

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match stsform::cli::parse(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => {
            // Help and version go to stdout (a closed one is fine); usage errors to stderr.
            let _ = err.print();
            return ExitCode::from(if err.use_stderr() { 1 } else { 0 });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            stsform::output::error_line(&format!("error: cannot start the async runtime: {err}"));
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(stsform::commands::run(cli.command));
    // Do not wait for blocking tasks: a prompt interrupted by a signal leaves its thread
    // blocked on stdin, and the process must still exit.
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(err) => {
            stsform::output::error_line(&format!("error: {}", stsform::error::chain(err.as_ref())));
            ExitCode::from(1)
        }
    }
}
