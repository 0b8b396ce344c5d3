//! `berth system install-dns` and `uninstall-dns`: the host-side wiring that makes
//! `curl http://web.berth/` work, on this machine, without a daemon call (it changes host
//! files, not engine state, and needs root like `berth daemon`).
//!
//! Installing copies the NSS module (`libnss_berth.so.2`, see `berth_nss`) into glibc's module
//! directory, adds the `berth` source to the `hosts:` line of `nsswitch.conf`, and, where
//! systemd-resolved runs, routes the `~berth` domain to the daemon's host resolver with a
//! drop-in. Uninstalling removes exactly those three things.

use crate::args::HostDnsArgs;
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};

/// The drop-in that routes the suffix to the daemon's resolver under systemd-resolved.
const RESOLVED_DROP_IN: &str = "/etc/systemd/resolved.conf.d/berth.conf";

/// Where glibc's own `files` module lives, i.e. where it loads modules from.
fn system_lib_dir() -> Result<PathBuf> {
    let arch_dir = format!("/usr/lib/{}-linux-gnu", std::env::consts::ARCH);
    for dir in [
        arch_dir.as_str(),
        "/lib64",
        "/usr/lib64",
        "/usr/lib",
        "/lib",
    ] {
        if Path::new(dir).join("libnss_files.so.2").exists() {
            return Ok(PathBuf::from(dir));
        }
    }
    bail!("cannot find glibc's NSS modules (libnss_files.so.2); give --lib-dir")
}

fn module_source(args: &HostDnsArgs) -> Result<PathBuf> {
    if let Some(m) = &args.module {
        return Ok(m.clone());
    }
    let exe = std::env::current_exe().context("locating the berth binary")?;
    let next_to = exe
        .parent()
        .map(|d| d.join(berth_nss::MODULE_FILE))
        .filter(|p| p.exists());
    next_to.with_context(|| {
        format!(
            "{} is not next to {}: build it with scripts/build-nss.sh, or give --module",
            berth_nss::MODULE_FILE,
            exe.display()
        )
    })
}

/// Whether systemd-resolved serves this host.
fn resolved_runs() -> bool {
    Path::new("/run/systemd/resolve/io.systemd.Resolve").exists()
        || Path::new("/run/systemd/resolve/stub-resolv.conf").exists()
}

/// The drop-in for the live daemons' resolvers.
pub fn resolved_drop_in(regs: &[berth_nss::registry::Registration]) -> String {
    let dns: Vec<String> = regs.iter().map(|r| r.addr.to_string()).collect();
    let mut domains: Vec<String> = regs.iter().map(|r| format!("~{}", r.suffix)).collect();
    domains.dedup();
    format!(
        "# Written by `berth system install-dns`: container names to Berth's resolver.\n\
         [Resolve]\nDNS={}\nDomains={}\n",
        dns.join(" "),
        domains.join(" ")
    )
}

fn restart_resolved() {
    let _ = std::process::Command::new("systemctl")
        .args(["try-reload-or-restart", "systemd-resolved"])
        .status();
}

/// `berth system install-dns`.
pub fn install(args: &HostDnsArgs) -> Result<()> {
    let source = module_source(args)?;
    let dir = match &args.lib_dir {
        Some(d) => d.clone(),
        None => system_lib_dir()?,
    };
    let target = dir.join(berth_nss::MODULE_FILE);
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    // Through a new file and a rename: processes that have the old module mapped keep it.
    let tmp = dir.join(format!(".{}.new", berth_nss::MODULE_FILE));
    std::fs::copy(&source, &tmp)
        .with_context(|| format!("copying {} to {}", source.display(), tmp.display()))?;
    std::fs::rename(&tmp, &target).with_context(|| format!("installing {}", target.display()))?;
    println!("installed {}", target.display());

    let text = std::fs::read_to_string(&args.nsswitch)
        .with_context(|| format!("reading {}", args.nsswitch.display()))?;
    let new = berth_nss::nsswitch::with_berth(&text);
    if new != text {
        write_in_place(&args.nsswitch, &new)?;
        println!(
            "added `{}` to the hosts line of {}",
            berth_nss::nsswitch::SOURCE,
            args.nsswitch.display()
        );
    } else {
        println!("{} already has the berth source", args.nsswitch.display());
    }

    if resolved_runs() {
        let regs = berth_nss::registry::all(Path::new(berth_nss::registry::DIR));
        if regs.is_empty() {
            println!(
                "systemd-resolved: no daemon runs a host resolver yet; run install-dns again once one does"
            );
        } else {
            let path = Path::new(RESOLVED_DROP_IN);
            std::fs::create_dir_all(path.parent().unwrap_or(Path::new("/")))?;
            std::fs::write(path, resolved_drop_in(&regs))
                .with_context(|| format!("writing {}", path.display()))?;
            restart_resolved();
            println!(
                "systemd-resolved: routed the container domains to Berth ({})",
                path.display()
            );
        }
    } else {
        println!("systemd-resolved does not run here: nothing to register with it");
    }
    Ok(())
}

/// `berth system uninstall-dns`.
pub fn uninstall(args: &HostDnsArgs) -> Result<()> {
    if let Ok(text) = std::fs::read_to_string(&args.nsswitch) {
        let new = berth_nss::nsswitch::without_berth(&text);
        if new != text {
            write_in_place(&args.nsswitch, &new)?;
            println!("removed the berth source from {}", args.nsswitch.display());
        }
    }
    let dir = match &args.lib_dir {
        Some(d) => d.clone(),
        None => system_lib_dir()?,
    };
    let target = dir.join(berth_nss::MODULE_FILE);
    match std::fs::remove_file(&target) {
        Ok(()) => println!("removed {}", target.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing {}", target.display())),
    }
    if std::fs::remove_file(RESOLVED_DROP_IN).is_ok() {
        restart_resolved();
        println!("removed {RESOLVED_DROP_IN}");
    }
    Ok(())
}

/// Rewrites `path` keeping its inode (it may be a bind mount, or a symlink into /usr).
fn write_in_place(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resolved_drop_in_names_each_resolver_and_domain() {
        let regs = berth_nss::registry::parse("127.0.0.153:53 berth 1\n127.0.0.1:5353 berth 2\n");
        assert_eq!(
            resolved_drop_in(&regs),
            "# Written by `berth system install-dns`: container names to Berth's resolver.\n\
             [Resolve]\nDNS=127.0.0.153:53 127.0.0.1:5353\nDomains=~berth\n"
        );
    }
}
