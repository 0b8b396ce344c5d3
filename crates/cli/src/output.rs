//! Writing to stdout without panicking when the reader goes away (`berth images | head -1`),
//! which `println!` would do.

use std::io::{self, IsTerminal, Write};

/// Writes `text` to stdout and flushes. A closed pipe is not an error: the reader has all it
/// wanted.
pub fn print(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// True when stdout is a terminal (progress bars, refusing to write archives).
pub fn stdout_is_tty() -> bool {
    io::stdout().is_terminal()
}

/// True when stdin is a terminal (nothing piped in).
pub fn stdin_is_tty() -> bool {
    io::stdin().is_terminal()
}
