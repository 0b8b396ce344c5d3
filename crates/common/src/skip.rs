//! How a test that cannot run on this machine says so (no root, a tool or kernel feature
//! missing): one rule for every crate's tests. Under CI (`CI` set, as `.ci/run` runs) a skip is
//! a failure, because CI's machine has what every test needs, so a green CI run means every
//! test ran. Elsewhere the test returns after one `SKIPPED` line written straight to the
//! process's stderr (not through `eprintln!`, which the test harness captures and hides for
//! passing tests), so the runner's output shows it.

use std::io::Write;

/// Whether the tests run under CI.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Reports that the calling test cannot run here because of `why`; panics under CI. The
/// caller returns after it.
pub fn skip(why: &str) {
    let test = std::thread::current()
        .name()
        .unwrap_or("a test")
        .to_string();
    assert!(
        !under_ci(),
        "{test} cannot run: {why} (CI must run every test; scripts/install-deps.sh test installs what they need)"
    );
    let _ = writeln!(std::io::stderr(), "SKIPPED {test}: {why}");
}
