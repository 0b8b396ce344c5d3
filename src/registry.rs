//! `berth registry serve`: the CLI's options turned into the server's, on a runtime of its
//! own.

use berth_cli::args::RegistryServeArgs;
use berth_registry_server::{ServeOptions, TlsChoice};
use std::time::Duration;

/// Runs the registry until stopped; the process exit code.
pub fn run(args: RegistryServeArgs) -> i32 {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BERTH_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&args.log_level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    let addr = match args.addr.parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("berth registry: --addr {:?}: {e}", args.addr);
            return 125;
        }
    };
    let tls = match (&args.tls_cert, &args.tls_key, args.tls.as_deref()) {
        (Some(cert), Some(key), _) => TlsChoice::Files {
            cert: cert.clone(),
            key: key.clone(),
        },
        (_, _, Some("self-signed")) => TlsChoice::SelfSigned,
        _ => TlsChoice::None,
    };
    let opts = ServeOptions {
        addr,
        root: args.root,
        htpasswd: args.htpasswd,
        rules: args.access,
        anonymous_pull: args.anonymous_pull,
        tls,
        tls_client_ca: args.tls_client_ca,
        token: args.token,
        token_realm: args.token_realm,
        token_ttl: args.token_ttl,
        read_only: args.read_only,
        gc_interval: (args.gc_interval > 0).then(|| Duration::from_secs(args.gc_interval)),
        gc_grace: Duration::from_secs(args.gc_grace),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth registry: cannot start the async runtime: {e}");
            return 1;
        }
    };
    match rt.block_on(berth_registry_server::serve(opts, |line| {
        eprintln!("{line}")
    })) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("berth registry: {e}");
            1
        }
    }
}
