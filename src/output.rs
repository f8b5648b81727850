//! Writing to stdout and stderr when the reader may have gone away (`stsform plan | head`).
//!
//! A closed pipe is not our error: like `rg … | head`, output just ends. Rust ignores
//! SIGPIPE, so a write into a closed pipe fails with `BrokenPipe`, and `println!` panics
//! on that. [`Stdout`] swallows it, and every later write, and the command goes on with
//! its work: an apply already started finishes and saves its state, and the exit code is
//! what it would have been. Other write errors are still errors. Must not decide
//! anything else; callers ask [`stdout_closed`] where output matters (the prompt).

use std::io::{self, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set once a write to stdout found the pipe closed; stdout stays closed for the process.
static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// The process's stdout, quiet once its reader has gone.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stdout;

/// Whether stdout's reader has gone (a write found the pipe closed).
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::SeqCst)
}

fn quiet<T>(result: io::Result<T>, done: T) -> io::Result<T> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::SeqCst);
            Ok(done)
        }
        other => other,
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if stdout_closed() {
            return Ok(buf.len());
        }
        quiet(io::stdout().write(buf), buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if stdout_closed() {
            return Ok(());
        }
        quiet(io::stdout().flush(), ())
    }
}

/// Writes one line to stderr; a closed stderr is ignored (`eprintln!` would panic).
pub fn error_line(text: &str) {
    let mut err = io::stderr().lock();
    let _ = writeln!(err, "{text}");
    let _ = err.flush();
}
