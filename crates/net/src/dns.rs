//! Berth's embedded DNS server, Docker's "127.0.0.11" equivalent: containers on a user network
//! resolve each other by name (container names, aliases, short ids) without touching
//! `/etc/hosts`, and everything else is relayed to the host's resolvers.
//!
//! - [`Zone`]: the shared names → IPv4 table, one view per network, updated by the engine at
//!   any time;
//! - [`DnsServer`]: a synchronous listener (UDP and TCP on one port, one background thread, no
//!   tokio) answering one [`ServerView`]: a network's names for its containers, or
//!   `<name>.<suffix>` for the host;
//! - [`upstreams_from_resolv_conf`] / [`host_upstreams`]: where unknown names are forwarded.
//!
//! Messages are parsed and built with `hickory-proto`; forwarded queries are relayed byte for
//! byte, so the client's id, flags and EDNS options reach the upstream unchanged.

mod resolv;
mod server;
mod zone;

pub use resolv::{SYSTEMD_RESOLVED_CONF, host_upstreams, upstreams_from_resolv_conf};
pub use server::{ANSWER_TTL, DnsServer, ServerView, UPSTREAM_TIMEOUT};
pub use zone::Zone;
