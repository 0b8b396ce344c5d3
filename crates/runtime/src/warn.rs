//! Warnings the runtime gives without failing (a poststart hook that failed, an ambient
//! capability that cannot be raised), where their reader is: the shim's log through
//! `tracing`, and also stderr when the runtime runs as `berth oci`, whose user has no log —
//! runc prints such warnings on stderr too.

use std::sync::atomic::{AtomicBool, Ordering};

static TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Makes [`warn`] print on stderr as well (`berth oci` calls it once at start).
pub fn to_stderr() {
    TO_STDERR.store(true, Ordering::SeqCst);
}

/// Reports `msg` as a warning. Allocates: never call it in a cloned child before exec.
pub fn warn(msg: impl std::fmt::Display) {
    tracing::warn!("{msg}");
    if TO_STDERR.load(Ordering::SeqCst) {
        eprintln!("berth oci: warning: {msg}");
    }
}
