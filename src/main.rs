//! The `berth` binary: a thin dispatcher. Everything a user types goes to the CLI crate, which
//! only speaks the API; `berth daemon` is handed back here because only the binary may link
//! the engine and the API server together, and `berth oci …` (hidden, runc-compatible) goes
//! straight to the runtime without touching the async world: start-up latency is its figure.
//! `berth shim …` (hidden) is the per-container supervisor the daemon starts; it too stays
//! synchronous and single-threaded so each one costs little memory. `berth registry serve` is
//! handed back too: it links the registry server, which the CLI does not.

// Unsafe code lives in layer 1 (design.md): never above it.
#![forbid(unsafe_code)]

mod daemon;
mod registry;

fn main() {
    let rest: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if rest.first().is_some_and(|a| a == "oci") {
        std::process::exit(berth_runtime::oci_main(rest.into_iter().skip(1).collect()));
    }
    if rest.first().is_some_and(|a| a == "shim") {
        std::process::exit(berth_shim::shim_main(rest.into_iter().skip(1).collect()));
    }
    let code = berth_cli::main_with(|handoff| match handoff {
        berth_cli::Handoff::Daemon(args) => daemon::run(daemon::DaemonOptions {
            host: args.host_or_default(),
            root: args.root,
            log_level: args.log_level,
            snapshotter: args.snapshotter,
            bridge: args.bridge,
            bip: args.bip,
            dns_listen: args.dns_listen,
            dns_suffix: args.dns_suffix,
            build_context_limit: args.build_context_limit,
            build_cache_max: args.build_cache_max,
            registries: berth_registry::auth::Endpoints {
                insecure: args.insecure_registries,
                mirrors: args.registry_mirrors,
                blocked: args.blocked_registries,
                certs_dirs: if args.registry_certs_dirs.is_empty() {
                    vec!["/etc/berth/certs.d".into(), "/etc/docker/certs.d".into()]
                } else {
                    args.registry_certs_dirs
                },
                max_downloads: args.max_concurrent_downloads,
                max_uploads: args.max_concurrent_uploads,
            },
            firewall: args.firewall,
        }),
        berth_cli::Handoff::RegistryServe(args) => registry::run(args),
    });
    std::process::exit(code);
}
