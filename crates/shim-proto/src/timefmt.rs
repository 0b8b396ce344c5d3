//! Time stamps of the shim protocol and its logs: the formats are `berth_common::time`'s, the
//! one home of RFC 3339 in the workspace.

pub use berth_common::time::*;
