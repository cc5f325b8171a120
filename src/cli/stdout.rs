//! Standard output for the commands: a reader that goes away (`| head`) ends the command quietly
//! with status 0, as in ripgrep, instead of `println!`'s panic (issue 25).

use std::io::Write;

/// Why text could not reach standard output.
#[derive(Debug, thiserror::Error)]
pub enum StdoutError {
    /// The reader closed the pipe: not a failure; `main` ends with status 0 and says nothing.
    #[error("standard output was closed")]
    Closed,
    #[error("cannot write to standard output")]
    Io(#[source] std::io::Error),
}

/// Writes and flushes at once, so a closed pipe is met here rather than at exit.
pub fn write(text: std::fmt::Arguments) -> Result<(), StdoutError> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(text)
        .and_then(|()| out.flush())
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::BrokenPipe => StdoutError::Closed,
            _ => StdoutError::Io(e),
        })
}

/// Whether a command stopped because standard output was closed (see [`StdoutError::Closed`]).
pub fn was_closed(error: &anyhow::Error) -> bool {
    error
        .chain()
        .any(|e| matches!(e.downcast_ref::<StdoutError>(), Some(StdoutError::Closed)))
}
