//! `libnss_berth`: the glibc NSS module that makes containers resolve on the host by name
//! (`getent hosts web.berth`, `curl http://web.berth/`), without the user wiring a resolver.
//!
//! Each daemon's host resolver (`--dns-listen`, a DNS server on loopback answering
//! `<name>.<suffix>`) registers itself in [`registry::DIR`]; the module, loaded by glibc into
//! every process that resolves a name, asks the registered servers whose suffix the name
//! carries, over UDP on loopback, and answers glibc from their records. Names outside every
//! suffix are not its business (`UNAVAIL`, so the next source in `nsswitch.conf` is asked);
//! names inside one that no container has are `NOTFOUND`, authoritatively (the
//! `[!UNAVAIL=return]` that [`nsswitch`] adds after it stops the lookup there instead of
//! sending `web.berth` to the upstream DNS).
//!
//! The crate is an rlib for the daemon and the CLI (registration, `nsswitch.conf` edits) and
//! the shared object glibc loads (`scripts/build-nss.sh`), whose entry points are in `ffi`.

pub mod ffi;
pub mod nsswitch;
pub mod query;
pub mod registry;

/// The file name glibc loads for the `berth` source of `nsswitch.conf`.
pub const MODULE_FILE: &str = "libnss_berth.so.2";
