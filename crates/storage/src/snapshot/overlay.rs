//! Overlay snapshotter (work in progress by the storage helper).
