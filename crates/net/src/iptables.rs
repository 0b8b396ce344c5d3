//! The same [`NatPlan`] as [`crate::nft`], for hosts without `nft`: our own iptables chains,
//! replaced in one `iptables-restore --noflush` transaction and reached by one jump each from
//! the built-in chains.
//!
//! The chains of daemon table `T` (`berth`, `berth_br0`…) are named `P-…` with `P` the table in
//! upper case (`BERTH`, `BERTH-BR0`):
//!
//! | table | chain | jumped to from | job (as the nft chain of the same job) |
//! |---|---|---|---|
//! | `raw` | `P-GUARD` | `PREROUTING` | `localnet_guard` |
//! | `nat` | `P-PRE` | `PREROUTING` | `prerouting` |
//! | `nat` | `P-OUT` | `OUTPUT` | `output` |
//! | `nat` | `P-PUB` | the two above | `published` |
//! | `nat` | `P-POST` | `POSTROUTING` | `postrouting` |
//! | `filter` | `P-USER` | `FORWARD`, first | the user's chain (Docker's `DOCKER-USER`) |
//! | `filter` | `P-FWD` | `FORWARD`, after `P-USER` | `forward` |
//!
//! `P-USER` is created once and never flushed by Berth, like the nft user table. Unlike an nft
//! base chain, an `ACCEPT` in it is final (as in Docker's `DOCKER-USER`): filter with `DROP`,
//! `REJECT` or `RETURN`.

use crate::error::{Error, Result};
use crate::nft::{NatPlan, check_name, subnet};
use std::fmt::Write as _;

/// The chain-name prefix of daemon table `table`: upper case, `_` as `-`.
pub fn chain_prefix(table: &str) -> String {
    table.to_ascii_uppercase().replace('_', "-")
}

/// The longest chain name iptables takes.
const MAX_CHAIN_LEN: usize = 28;

/// Our chains (not the user's) as (table, chain suffix).
const OWN_CHAINS: [(&str, &str); 6] = [
    ("raw", "GUARD"),
    ("nat", "PRE"),
    ("nat", "OUT"),
    ("nat", "PUB"),
    ("nat", "POST"),
    ("filter", "FWD"),
];

/// The jumps from built-in chains, as (table, built-in chain, our chain suffix), in the order
/// they are inserted at position 1 (so `USER` ends up before `FWD`).
const JUMPS: [(&str, &str, &str); 6] = [
    ("raw", "PREROUTING", "GUARD"),
    ("nat", "PREROUTING", "PRE"),
    ("nat", "OUTPUT", "OUT"),
    ("nat", "POSTROUTING", "POST"),
    ("filter", "FORWARD", "FWD"),
    ("filter", "FORWARD", "USER"),
];

fn checked_prefix(table: &str) -> Result<String> {
    check_name("table", table)?;
    let prefix = chain_prefix(table);
    if prefix.len() + "-GUARD".len() > MAX_CHAIN_LEN {
        return Err(Error::Invalid(format!(
            "table name {table:?} is too long for iptables chain names"
        )));
    }
    Ok(prefix)
}

/// Renders the `iptables-restore --noflush` script that replaces our chains' rules with the
/// plan's. Declaring a chain (`:NAME - [0:0]`) creates or flushes it; the user chain is never
/// declared here.
pub fn render(table: &str, plan: &NatPlan) -> Result<String> {
    let p = checked_prefix(table)?;
    let ports = plan.checked_ports()?;
    let mut s = String::new();
    let mut line = |text: std::fmt::Arguments<'_>| {
        let _ = s.write_fmt(text);
        s.push('\n');
    };

    line(format_args!("*raw"));
    line(format_args!(":{p}-GUARD - [0:0]"));
    for net in plan.localnet_bridges() {
        line(format_args!(
            "-A {p}-GUARD -i {} -d 127.0.0.0/8 -j DROP",
            net.bridge
        ));
    }
    line(format_args!("COMMIT"));

    line(format_args!("*nat"));
    for c in ["PRE", "OUT", "PUB", "POST"] {
        line(format_args!(":{p}-{c} - [0:0]"));
    }
    line(format_args!(
        "-A {p}-PRE -m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j {p}-PUB"
    ));
    line(format_args!(
        "-A {p}-OUT -m addrtype --dst-type LOCAL -j {p}-PUB"
    ));
    for port in &ports {
        let daddr = if port.host_ip.is_unspecified() {
            String::new()
        } else {
            format!("-d {}/32 ", port.host_ip)
        };
        line(format_args!(
            "-A {p}-PUB {daddr}-p {proto} -m {proto} --dport {} -j DNAT --to-destination {}:{}",
            port.host_port,
            port.container_ip,
            port.container_port,
            proto = port.protocol,
        ));
    }
    for net in plan.localnet_bridges() {
        line(format_args!(
            "-A {p}-POST -o {} -s 127.0.0.0/8 -j MASQUERADE",
            net.bridge
        ));
    }
    for net in plan.networks.iter().filter(|n| !n.internal) {
        let (br, sub) = (&net.bridge, subnet(net));
        line(format_args!(
            "-A {p}-POST -o {br} -s {sub} -d {sub} -m conntrack --ctstate DNAT -j MASQUERADE"
        ));
        line(format_args!("-A {p}-POST -s {sub} ! -o {br} -j MASQUERADE"));
    }
    line(format_args!("COMMIT"));

    line(format_args!("*filter"));
    line(format_args!(":{p}-FWD - [0:0]"));
    for net in plan.networks.iter().filter(|n| n.internal) {
        let br = &net.bridge;
        line(format_args!("-A {p}-FWD -i {br} ! -o {br} -j DROP"));
        line(format_args!("-A {p}-FWD -o {br} ! -i {br} -j DROP"));
    }
    line(format_args!(
        "-A {p}-FWD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    ));
    let open: Vec<_> = plan.networks.iter().filter(|n| !n.internal).collect();
    for net in &open {
        line(format_args!(
            "-A {p}-FWD -o {} -m conntrack --ctstate DNAT -j ACCEPT",
            net.bridge
        ));
    }
    for net in &open {
        for other in open.iter().filter(|o| o.bridge != net.bridge) {
            line(format_args!(
                "-A {p}-FWD -i {} -o {} -j DROP",
                net.bridge, other.bridge
            ));
        }
    }
    for net in &open {
        line(format_args!("-A {p}-FWD -i {} -j ACCEPT", net.bridge));
    }
    line(format_args!("COMMIT"));
    Ok(s)
}

/// Whether the `iptables` tools can be run here.
pub fn available() -> bool {
    crate::tool::answers(&crate::tool::sbin("iptables"))
}

fn run(what: &str, tool: &str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    crate::tool::run(&crate::tool::sbin(tool), args, stdin)
        .map_err(|e| Error::io(format!("{what}: running {tool}"), e))?
        .map_err(|stderr| Error::Firewall {
            what: what.to_string(),
            stderr: format!("{tool}: {stderr}"),
        })
}

fn iptables(args: &[&str]) -> std::result::Result<String, Error> {
    run("iptables", "iptables", args, None)
}

/// Replaces our chains' rules with the plan's, makes the user chain if it is missing, and puts
/// any missing jump back (someone may have flushed a built-in chain). The caller applies
/// [`NatPlan::sysctls`] and serializes calls.
pub fn apply(table: &str, plan: &NatPlan) -> Result<()> {
    let p = checked_prefix(table)?;
    let script = render(table, plan)?;
    run(
        &format!("applying iptables chains {p}-*"),
        "iptables-restore",
        &["--noflush", "--wait"],
        Some(&script),
    )?;
    let user = format!("{p}-USER");
    if iptables(&["-w", "-t", "filter", "-S", &user]).is_err() {
        iptables(&["-w", "-t", "filter", "-N", &user])?;
    }
    for (t, builtin, suffix) in JUMPS {
        let target = format!("{p}-{suffix}");
        let rule = ["-t", t, "-C", builtin, "-j", target.as_str()];
        if iptables(&[&["-w"], &rule[..]].concat()).is_err() {
            iptables(&["-w", "-t", t, "-I", builtin, "1", "-j", &target])?;
        }
    }
    Ok(())
}

/// Removes our jumps and chains (missing ones are fine); the user chain stays.
pub fn remove(table: &str) -> Result<()> {
    let p = checked_prefix(table)?;
    for (t, builtin, suffix) in JUMPS {
        if suffix == "USER" {
            continue;
        }
        let target = format!("{p}-{suffix}");
        while iptables(&["-w", "-t", t, "-D", builtin, "-j", &target]).is_ok() {}
    }
    for (t, suffix) in OWN_CHAINS {
        let chain = format!("{p}-{suffix}");
        let _ = iptables(&["-w", "-t", t, "-F", &chain]);
        let _ = iptables(&["-w", "-t", t, "-X", &chain]);
    }
    Ok(())
}

/// Whether the user chain exists and holds rules.
pub fn user_chain_has_rules(table: &str) -> Result<bool> {
    let p = checked_prefix(table)?;
    Ok(
        iptables(&["-w", "-t", "filter", "-S", &format!("{p}-USER")])
            .is_ok_and(|out| out.lines().any(|l| l.starts_with("-A "))),
    )
}

/// Removes the user chain and its jump: for an uninstall or a prune that finds it empty.
pub fn remove_user_chain(table: &str) -> Result<()> {
    let p = checked_prefix(table)?;
    let user = format!("{p}-USER");
    while iptables(&["-w", "-t", "filter", "-D", "FORWARD", "-j", &user]).is_ok() {}
    let _ = iptables(&["-w", "-t", "filter", "-F", &user]);
    let _ = iptables(&["-w", "-t", "filter", "-X", &user]);
    Ok(())
}

/// Every chain of ours and the user's that exists, as `iptables -S` prints them per table:
/// for diagnostics and tests.
pub fn list(table: &str) -> Result<String> {
    let p = checked_prefix(table)?;
    let mut out = String::new();
    for t in ["raw", "nat", "filter"] {
        let rules = iptables(&["-w", "-t", t, "-S"])?;
        for l in rules.lines().filter(|l| l.contains(&format!("{p}-"))) {
            let _ = writeln!(out, "{t}: {l}");
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nft::{NatNetwork, Protocol, PublishedPort};
    use std::net::Ipv4Addr;

    #[test]
    fn script_mirrors_the_nft_rules() {
        let plan = NatPlan {
            networks: vec![
                NatNetwork {
                    bridge: "berth0".into(),
                    subnet: "172.17.0.1/16".parse().unwrap(),
                    internal: false,
                    subnet6: None,
                },
                NatNetwork {
                    bridge: "br-a".into(),
                    subnet: "172.19.0.0/16".parse().unwrap(),
                    internal: false,
                    subnet6: None,
                },
                NatNetwork {
                    bridge: "br-int".into(),
                    subnet: "172.18.0.0/16".parse().unwrap(),
                    internal: true,
                    subnet6: None,
                },
            ],
            ports: vec![PublishedPort {
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_port: 8080,
                container_ip: Ipv4Addr::new(172, 17, 0, 2),
                container_port: 80,
                protocol: Protocol::Tcp,
            }],
            user_chain: Some("filter".into()),
        };
        let s = render("berth_bt1", &plan).unwrap();
        for want in [
            ":BERTH-BT1-GUARD - [0:0]",
            "-A BERTH-BT1-GUARD -i berth0 -d 127.0.0.0/8 -j DROP",
            "-A BERTH-BT1-PUB -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80",
            "-A BERTH-BT1-POST -s 172.17.0.0/16 ! -o berth0 -j MASQUERADE",
            "-A BERTH-BT1-FWD -i br-int ! -o br-int -j DROP",
            "-A BERTH-BT1-FWD -i berth0 -o br-a -j DROP",
            "-A BERTH-BT1-FWD -i br-a -o berth0 -j DROP",
            "-A BERTH-BT1-FWD -i berth0 -j ACCEPT",
        ] {
            assert!(s.lines().any(|l| l == want), "missing {want:?} in\n{s}");
        }
        assert!(
            !s.contains("USER"),
            "the user chain is never declared (it would be flushed)"
        );
        assert_eq!(s.matches("COMMIT").count(), 3);
        // DNATed traffic is accepted before the isolation drops.
        let dnat = s
            .find("-o br-a -m conntrack --ctstate DNAT -j ACCEPT")
            .unwrap();
        assert!(dnat < s.find("-i berth0 -o br-a -j DROP").unwrap());
    }

    #[test]
    fn long_names_are_refused() {
        assert!(render("berth_abcdefghijklmnopqrstuv", &NatPlan::default()).is_err());
        assert_eq!(chain_prefix("berth_br0"), "BERTH-BR0");
    }
}
