//! Copy-based snapshotter (work in progress by the storage helper).
