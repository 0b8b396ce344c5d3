//! `network create`, `network ls`, `network inspect`, `network rm`, `network connect`,
//! `network disconnect` and `network prune`, with the docker CLI v28's requests, output and
//! messages.

use crate::StatusError;
use crate::args::{
    NetworkConnectArgs, NetworkCreateArgs, NetworkDisconnectArgs, NetworkInspectArgs,
    NetworkLsArgs, NetworkPruneArgs, NetworkRmArgs,
};
use crate::autostart::Target;
use crate::commands::create::validate_link;
use crate::commands::images::confirm;
use crate::commands::inspect::finish;
use crate::format::containers::truncate_id;
use crate::format::{natural_cmp, table, template};
use crate::output;
use anyhow::{Result, anyhow, bail};
use berth_api_types::Filters;
use berth_api_types::container::{EndpointIpamConfig, EndpointSettings};
use berth_api_types::network::{
    ConfigReference, Ipam, IpamConfig, Network, NetworkConnectRequest, NetworkCreateRequest,
    NetworkDisconnectRequest,
};
use berth_client::ClientError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The default `network ls` table.
pub const DEFAULT_FORMAT: &str = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";
/// `network ls -q`.
pub const QUIET_FORMAT: &str = "{{.ID}}";
/// `--format raw`.
pub const RAW_FORMAT: &str =
    "network_id: {{.ID}}\nname: {{.Name}}\ndriver: {{.Driver}}\nscope: {{.Scope}}\n";
/// `--format raw -q`.
pub const RAW_QUIET_FORMAT: &str = "network_id: {{.ID}}";
/// Column titles Docker shows for each field.
pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

/// One `network ls` row as templates see it (Docker's `networkContext`); fields in the
/// alphabetical order `{{json .}}` prints them in.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct NetworkRow {
    /// Go's `time.Time.String()` of the creation time.
    #[serde(rename = "CreatedAt")]
    pub created_at: String,
    /// Driver.
    #[serde(rename = "Driver")]
    pub driver: String,
    /// 12-character id, or the full one with `--no-trunc`.
    #[serde(rename = "ID")]
    pub id: String,
    /// `true` or `false`.
    #[serde(rename = "IPv4")]
    pub ipv4: String,
    /// `true` or `false`.
    #[serde(rename = "IPv6")]
    pub ipv6: String,
    /// `true` or `false`.
    #[serde(rename = "Internal")]
    pub internal: String,
    /// `k=v` pairs joined by commas.
    #[serde(rename = "Labels")]
    pub labels: String,
    /// Name.
    #[serde(rename = "Name")]
    pub name: String,
    /// `local`, `global` or `swarm`.
    #[serde(rename = "Scope")]
    pub scope: String,
}

impl NetworkRow {
    /// The row for `n`; `trunc` shortens the id to 12 characters.
    pub fn new(n: &Network, trunc: bool) -> NetworkRow {
        NetworkRow {
            created_at: go_time_from_rfc3339(&n.created),
            driver: n.driver.clone(),
            id: if trunc {
                truncate_id(&n.id)
            } else {
                n.id.clone()
            },
            ipv4: n.enable_ipv4.to_string(),
            ipv6: n.enable_ipv6.to_string(),
            internal: n.internal.to_string(),
            labels: n
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(","),
            name: n.name.clone(),
            scope: n.scope.clone(),
        }
    }
}

/// Go's `time.Time.String()` of an RFC 3339 time (`2025-01-02 03:04:05.5 +0000 UTC`); Go's zero
/// time for what does not parse, as the docker CLI shows for a missing `Created`.
pub fn go_time_from_rfc3339(s: &str) -> String {
    use time::format_description::well_known::Rfc3339;
    let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) else {
        return "0001-01-01 00:00:00 +0000 UTC".into();
    };
    let mut out = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    if t.nanosecond() > 0 {
        let frac = format!("{:09}", t.nanosecond());
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
    let off = t.offset();
    if off.is_utc() {
        out.push_str(" +0000 UTC");
    } else {
        let secs = off.whole_seconds();
        let sign = if secs < 0 { '-' } else { '+' };
        let zone = format!(
            "{sign}{:02}{:02}",
            secs.unsigned_abs() / 3600,
            secs.unsigned_abs() % 3600 / 60
        );
        out.push_str(&format!(" {zone} {zone}"));
    }
    out
}

/// The format `network ls` renders: `-q` only replaces the default (or `table`/`raw`) format.
pub fn list_format(user: Option<&str>, quiet: bool) -> table::Format {
    match user.map(str::trim) {
        None | Some("") | Some("table") if quiet => {
            table::Format::parse(QUIET_FORMAT, DEFAULT_FORMAT)
        }
        None | Some("") | Some("table") => table::Format::parse(DEFAULT_FORMAT, DEFAULT_FORMAT),
        Some("raw") if quiet => table::Format::parse(RAW_QUIET_FORMAT, DEFAULT_FORMAT),
        Some("raw") => table::Format::parse(RAW_FORMAT, DEFAULT_FORMAT),
        Some(_) => table::Format::parse(user.unwrap_or_default(), DEFAULT_FORMAT),
    }
}

/// Renders `network ls` output, sorted by name in natural order as Docker does.
pub fn render_list(
    networks: &[Network],
    user: Option<&str>,
    quiet: bool,
    trunc: bool,
) -> Result<String> {
    let mut sorted: Vec<&Network> = networks.iter().collect();
    sorted.sort_by(|a, b| natural_cmp(&a.name, &b.name));
    let values = sorted
        .into_iter()
        .map(|n| template::to_value(&NetworkRow::new(n, trunc)))
        .collect::<Result<Vec<_>>>()?;
    table::render(&list_format(user, quiet), &values, HEADERS)
}

/// Docker's `MapOpts`: `k=v` into a map, a bare `k` maps to "".
fn key_values(items: &[String]) -> BTreeMap<String, String> {
    items
        .iter()
        .map(|s| match s.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (s.clone(), String::new()),
        })
        .collect()
}

/// An address with a prefix length, as Go's `net.ParseCIDR` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// The address as written (not masked).
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `addr/len`; the error is Go's `invalid CIDR address: ...`.
    pub fn parse(s: &str) -> Result<Cidr> {
        let bad = || anyhow!("invalid CIDR address: {s}");
        let (a, p) = s.split_once('/').ok_or_else(bad)?;
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let prefix: u8 = p.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return Err(bad());
        }
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(i) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(i)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(i) & mask
            }
            _ => false,
        }
    }
}

/// Go's `subnetMatches`: whether `subnet` contains the address of `data` (an address or a
/// CIDR).
fn subnet_matches(subnet: &str, data: &str) -> Result<bool> {
    let s = Cidr::parse(subnet).map_err(|e| anyhow!("invalid subnet: {e}"))?;
    let ip = if data.contains('/') {
        Cidr::parse(data)?.addr
    } else {
        match data.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return Ok(false),
        }
    };
    Ok(s.contains(ip))
}

/// Docker's `createIPAMConfig`: groups `--subnet`, `--ip-range`, `--gateway` and
/// `--aux-address` by subnet, with its error messages. Subnets keep the order given.
pub fn ipam_config(
    subnets: &[String],
    ip_ranges: &[String],
    gateways: &[String],
    aux_addresses: &[String],
) -> Result<Vec<IpamConfig>> {
    if subnets.len() < ip_ranges.len() || subnets.len() < gateways.len() {
        bail!("every ip-range or gateway must have a corresponding subnet");
    }
    let mut data: Vec<IpamConfig> = Vec::new();
    for s in subnets {
        for existing in &data {
            let k = &existing.subnet;
            if subnet_matches(s, k)? || subnet_matches(k, s)? {
                bail!("multiple overlapping subnet configuration is not supported");
            }
        }
        data.push(IpamConfig {
            subnet: s.clone(),
            ..Default::default()
        });
    }
    for r in ip_ranges {
        let mut matched = false;
        for d in data.iter_mut() {
            if !subnet_matches(&d.subnet, r)? {
                continue;
            }
            if !d.ip_range.is_empty() {
                bail!(
                    "cannot configure multiple ranges ({r}, {}) on the same subnet ({})",
                    d.ip_range,
                    d.subnet
                );
            }
            d.ip_range = r.clone();
            matched = true;
        }
        if !matched {
            bail!("no matching subnet for range {r}");
        }
    }
    for g in gateways {
        let mut matched = false;
        for d in data.iter_mut() {
            if !subnet_matches(&d.subnet, g)? {
                continue;
            }
            if !d.gateway.is_empty() {
                bail!(
                    "cannot configure multiple gateways ({g}, {}) for the same subnet ({})",
                    d.gateway,
                    d.subnet
                );
            }
            d.gateway = g.clone();
            matched = true;
        }
        if !matched {
            bail!("no matching subnet for gateway {g}");
        }
    }
    for (key, aa) in key_values(aux_addresses) {
        if aa.parse::<IpAddr>().is_err() {
            bail!("ParseAddr({aa:?}): unable to parse IP");
        }
        let mut matched = false;
        for d in data.iter_mut() {
            if !subnet_matches(&d.subnet, &aa)? {
                continue;
            }
            d.auxiliary_addresses.insert(key.clone(), aa.clone());
            matched = true;
        }
        if !matched {
            bail!("no matching subnet for aux-address {aa}");
        }
    }
    Ok(data)
}

/// Checks an IP flag value as pflag's `IP` type does.
fn check_ip(value: &str, flag: &str) -> Result<()> {
    if value.trim().parse::<IpAddr>().is_err() {
        bail!(
            "invalid argument \"{value}\" for \"{flag}\" flag: invalid string being converted to IP address: {value}"
        );
    }
    Ok(())
}

/// The create request for the flags, as the docker CLI builds it.
pub fn create_request(args: &NetworkCreateArgs) -> Result<NetworkCreateRequest> {
    for g in &args.gateway {
        check_ip(g, "--gateway")?;
    }
    for r in &args.ip_range {
        Cidr::parse(r)
            .map_err(|e| anyhow!("invalid argument \"{r}\" for \"--ip-range\" flag: {e}"))?;
    }
    for l in &args.label {
        let k = l.split_once('=').map_or(l.as_str(), |(k, _)| k);
        if k.trim().is_empty() {
            bail!("invalid argument \"{l}\" for \"--label\" flag: invalid label '{l}': empty name");
        }
    }
    let config = ipam_config(
        &args.subnet,
        &args.ip_range,
        &args.gateway,
        &args.aux_address,
    )?;
    Ok(NetworkCreateRequest {
        name: args.name.clone(),
        check_duplicate: None,
        driver: args.driver.clone(),
        scope: args.scope.clone().unwrap_or_default(),
        enable_ipv4: args.ipv4,
        enable_ipv6: args.ipv6,
        ipam: Some(Ipam {
            driver: args.ipam_driver.clone(),
            options: Some(key_values(&args.ipam_opt)),
            config,
        }),
        internal: args.internal,
        attachable: args.attachable,
        ingress: args.ingress,
        config_only: args.config_only,
        config_from: args
            .config_from
            .as_ref()
            .map(|n| ConfigReference { network: n.clone() }),
        options: key_values(&args.opt),
        labels: key_values(&args.label),
    })
}

/// `network create`: prints the new network's full id.
pub async fn create(target: &Target, args: NetworkCreateArgs) -> Result<()> {
    let req = create_request(&args)?;
    let client = target.connect().await?;
    let resp = client.network_create(&req).await?;
    output::print(&format!("{}\n", resp.id))?;
    Ok(())
}

/// `network ls`.
pub async fn list(target: &Target, args: NetworkLsArgs) -> Result<()> {
    let filters = Filters::from_cli(&args.filter)?;
    let client = target.connect().await?;
    let networks = client.network_list(&filters).await?;
    output::print(&render_list(
        &networks,
        args.format.as_deref(),
        args.quiet,
        !args.no_trunc,
    )?)?;
    Ok(())
}

/// `network inspect NETWORK...`: what is found is printed, errors come after (exit 1).
pub async fn inspect(target: &Target, args: NetworkInspectArgs) -> Result<()> {
    let client = target.connect().await?;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.names {
        match client.network_inspect_raw(name, args.verbose).await {
            Ok(v) => found.push(v),
            Err(e @ ClientError::Api { .. }) => errors.push(e.to_string()),
            Err(e) => return Err(e.into()),
        }
    }
    finish(&found, args.format.as_deref(), errors)
}

/// Docker's question before removing the routing-mesh network.
const INGRESS_WARNING: &str = "WARNING! Before removing the routing-mesh network, make sure all \
the nodes in your swarm run the same docker engine version. Otherwise, removal may not be \
effective and functionality of newly create ingress networks will be impaired.";

/// `network rm NETWORK...`: prints each removed name; each failure is printed to stderr as it
/// happens and the command exits 1 at the end. `-f` ignores networks that do not exist.
pub async fn remove(target: &Target, args: NetworkRmArgs) -> Result<()> {
    let client = target.connect().await?;
    let mut failed = false;
    for name in &args.names {
        if let Ok(n) = client.network_inspect(name, false).await
            && n.ingress
            && !confirm(INGRESS_WARNING)?
        {
            continue;
        }
        match client.network_remove(name).await {
            Ok(()) => output::print(&format!("{name}\n"))?,
            Err(e) if args.force && e.is_not_found() => {}
            Err(e @ ClientError::Api { .. }) => {
                eprintln!("{e}");
                failed = true;
            }
            Err(e) => return Err(e.into()),
        }
    }
    if failed {
        Err(StatusError::silent(1).into())
    } else {
        Ok(())
    }
}

/// Docker's `convertDriverOpt`: `k=v` pairs, trimmed.
fn driver_opts(items: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.insert(k.trim().to_string(), v.trim().to_string());
            }
            _ => bail!("invalid key/value pair format in driver options"),
        }
    }
    Ok(out)
}

/// The connect request for the flags, as the docker CLI builds it (the IPAM part is always
/// sent, with empty addresses when none is asked for).
pub fn connect_request(args: &NetworkConnectArgs) -> Result<NetworkConnectRequest> {
    for (v, flag) in [(&args.ip, "--ip"), (&args.ip6, "--ip6")] {
        if let Some(v) = v {
            check_ip(v, flag)?;
        }
    }
    for ip in &args.link_local_ip {
        check_ip(ip, "--link-local-ip")?;
    }
    for l in &args.link {
        validate_link(l)
            .map_err(|e| anyhow!("invalid argument \"{l}\" for \"--link\" flag: {e}"))?;
    }
    Ok(NetworkConnectRequest {
        container: args.container.clone(),
        endpoint_config: Some(EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: args.ip.clone().unwrap_or_default(),
                ipv6_address: args.ip6.clone().unwrap_or_default(),
                link_local_ips: args.link_local_ip.clone(),
            }),
            links: args.link.clone(),
            aliases: args.alias.clone(),
            driver_opts: driver_opts(&args.driver_opt)?,
            gw_priority: args.gw_priority,
            ..Default::default()
        }),
    })
}

/// `network connect NETWORK CONTAINER`: prints nothing on success.
pub async fn connect(target: &Target, args: NetworkConnectArgs) -> Result<()> {
    let req = connect_request(&args)?;
    let client = target.connect().await?;
    client.network_connect(&args.network, &req).await?;
    Ok(())
}

/// `network disconnect NETWORK CONTAINER`: prints nothing on success.
pub async fn disconnect(target: &Target, args: NetworkDisconnectArgs) -> Result<()> {
    let client = target.connect().await?;
    let req = NetworkDisconnectRequest {
        container: args.container.clone(),
        force: args.force,
    };
    client.network_disconnect(&args.network, &req).await?;
    Ok(())
}

/// Docker's prune warning.
pub const PRUNE_WARNING: &str =
    "WARNING! This will remove all custom networks not used by at least one container.";

/// The prune report as Docker prints it: nothing when nothing was removed.
pub fn prune_report(deleted: &[String]) -> String {
    if deleted.is_empty() {
        return String::new();
    }
    let mut out = String::from("Deleted Networks:\n");
    for name in deleted {
        out.push_str(name);
        out.push('\n');
    }
    out.push('\n');
    out
}

/// `network prune`.
pub async fn prune(target: &Target, args: NetworkPruneArgs) -> Result<()> {
    let filters = Filters::from_cli(&args.filter)?;
    if !args.force && !confirm(PRUNE_WARNING)? {
        return Ok(());
    }
    let client = target.connect().await?;
    let report = client.networks_prune(&filters).await?;
    output::print(&prune_report(&report.networks_deleted.unwrap_or_default()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command, NetworkCommand};
    use clap::Parser;

    fn parse(args: &[&str]) -> NetworkCommand {
        let cli = Cli::try_parse_from(["berth", "network"].into_iter().chain(args.iter().copied()))
            .unwrap();
        match cli.command {
            Command::Network(n) => n,
            other => panic!("{other:?}"),
        }
    }

    fn create_args(args: &[&str]) -> NetworkCreateArgs {
        match parse(&[&["create"], args].concat()) {
            NetworkCommand::Create(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn create_flags_become_the_request() {
        let r = create_request(&create_args(&[
            "--subnet",
            "172.28.0.0/16",
            "--ip-range",
            "172.28.5.0/24",
            "--gateway",
            "172.28.5.254",
            "--aux-address",
            "host1=172.28.1.5",
            "-o",
            "com.docker.network.bridge.name=br-test",
            "--opt",
            "com.docker.network.driver.mtu=1400",
            "--label",
            "a=b",
            "--label",
            "c",
            "--internal",
            "--attachable",
            "--ipv6",
            "net1",
        ]))
        .unwrap();
        assert_eq!(r.name, "net1");
        assert_eq!(r.driver, "bridge");
        assert!(r.internal && r.attachable);
        assert_eq!(r.enable_ipv6, Some(true));
        assert_eq!(r.enable_ipv4, None);
        assert_eq!(r.options["com.docker.network.bridge.name"], "br-test");
        assert_eq!(r.options["com.docker.network.driver.mtu"], "1400");
        assert_eq!(r.labels["a"], "b");
        assert_eq!(r.labels["c"], "");
        let ipam = r.ipam.as_ref().unwrap();
        assert_eq!(ipam.driver, "default");
        assert_eq!(
            ipam.config,
            [IpamConfig {
                subnet: "172.28.0.0/16".into(),
                ip_range: "172.28.5.0/24".into(),
                gateway: "172.28.5.254".into(),
                auxiliary_addresses: [("host1".to_string(), "172.28.1.5".to_string())].into(),
            }]
        );
        // The body the daemon gets.
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["IPAM"]["Config"][0]["Subnet"], "172.28.0.0/16");
        assert_eq!(v["EnableIPv6"], true);
        assert!(v.get("EnableIPv4").is_none());
    }

    #[test]
    fn create_defaults_and_bool_values() {
        let r = create_request(&create_args(&["-d", "bridge", "--ipv4=false", "n"])).unwrap();
        assert_eq!(r.enable_ipv4, Some(false));
        assert_eq!(r.enable_ipv6, None);
        let ipam = r.ipam.unwrap();
        assert!(ipam.config.is_empty());
        assert_eq!(ipam.driver, "default");
        let r = create_request(&create_args(&["--ipv6=true", "--driver", "macvlan", "n"])).unwrap();
        assert_eq!(r.enable_ipv6, Some(true));
        assert_eq!(r.driver, "macvlan");
        // Comma-separated slices, like pflag's.
        let r = create_request(&create_args(&[
            "--subnet",
            "10.1.0.0/24,fd00::/64",
            "--gateway",
            "10.1.0.1,fd00::1",
            "n",
        ]))
        .unwrap();
        let c = r.ipam.unwrap().config;
        assert_eq!(c[0].gateway, "10.1.0.1");
        assert_eq!(c[1].gateway, "fd00::1");
    }

    #[test]
    fn ipam_errors_use_docker_wording() {
        let e = |a: &[&str]| create_request(&create_args(a)).unwrap_err().to_string();
        assert_eq!(
            e(&["--gateway", "10.0.0.1", "n"]),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            e(&["--subnet", "10.0.0.0/16", "--subnet", "10.0.1.0/24", "n"]),
            "multiple overlapping subnet configuration is not supported"
        );
        assert_eq!(
            e(&["--subnet", "10.0.0.0/24", "--gateway", "10.1.0.1", "n"]),
            "no matching subnet for gateway 10.1.0.1"
        );
        assert_eq!(
            e(&["--subnet", "10.0.0.0/24", "--ip-range", "10.2.0.0/25", "n"]),
            "no matching subnet for range 10.2.0.0/25"
        );
        assert_eq!(
            e(&[
                "--subnet",
                "10.0.0.0/24",
                "--aux-address",
                "a=10.3.0.1",
                "n"
            ]),
            "no matching subnet for aux-address 10.3.0.1"
        );
        assert_eq!(
            e(&["--subnet", "10.0.0.0/24", "--gateway", "nope", "n"]),
            "invalid argument \"nope\" for \"--gateway\" flag: invalid string being converted to IP address: nope"
        );
        assert_eq!(
            e(&["--subnet", "10.0.0.0/24", "--ip-range", "10.0.0.0", "n"]),
            "invalid argument \"10.0.0.0\" for \"--ip-range\" flag: invalid CIDR address: 10.0.0.0"
        );
        assert_eq!(
            e(&["--subnet", "bad", "--gateway", "10.0.0.1", "n"]),
            "invalid subnet: invalid CIDR address: bad"
        );
    }

    #[test]
    fn cidr_contains() {
        let c = Cidr::parse("172.28.0.0/16").unwrap();
        assert!(c.contains("172.28.200.1".parse().unwrap()));
        assert!(!c.contains("172.29.0.1".parse().unwrap()));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        let c = Cidr::parse("fd00:1::/64").unwrap();
        assert!(c.contains("fd00:1::5".parse().unwrap()));
        assert!(!c.contains("10.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0.0/").is_err());
    }

    fn sample() -> Vec<Network> {
        vec![
            Network {
                name: "net10".into(),
                id: "b".repeat(64),
                driver: "bridge".into(),
                scope: "local".into(),
                created: "2025-01-02T03:04:05.5Z".into(),
                ..Default::default()
            },
            Network {
                name: "bridge".into(),
                id: "a".repeat(64),
                driver: "bridge".into(),
                scope: "local".into(),
                enable_ipv4: true,
                ..Default::default()
            },
            Network {
                name: "net9".into(),
                id: "c".repeat(64),
                driver: "null".into(),
                scope: "local".into(),
                labels: [("x".to_string(), "y".to_string())].into(),
                ..Default::default()
            },
        ]
    }

    #[test]
    fn ls_table_like_docker() {
        let out = render_list(&sample(), None, false, true).unwrap();
        assert_eq!(
            out,
            "NETWORK ID     NAME      DRIVER    SCOPE\n\
             aaaaaaaaaaaa   bridge    bridge    local\n\
             cccccccccccc   net9      null      local\n\
             bbbbbbbbbbbb   net10     bridge    local\n"
        );
        assert_eq!(
            render_list(&sample(), None, true, true).unwrap(),
            "aaaaaaaaaaaa\ncccccccccccc\nbbbbbbbbbbbb\n"
        );
        let full = render_list(&sample(), Some("table"), true, false).unwrap();
        assert_eq!(full.lines().next().unwrap(), "a".repeat(64));
        assert_eq!(
            render_list(
                &sample(),
                Some("{{.Name}} {{.Labels}} {{.IPv4}}"),
                true,
                true
            )
            .unwrap(),
            "bridge  true\nnet9 x=y false\nnet10  false\n"
        );
        assert_eq!(
            render_list(
                &sample(),
                Some("table {{.Name}}\\t{{.Internal}}"),
                false,
                true
            )
            .unwrap(),
            "NAME      INTERNAL\nbridge    false\nnet9      false\nnet10     false\n"
        );
    }

    #[test]
    fn ls_json_and_created_at() {
        let out = render_list(&sample()[..1], Some("json"), false, true).unwrap();
        assert_eq!(
            out,
            "{\"CreatedAt\":\"2025-01-02 03:04:05.5 +0000 UTC\",\"Driver\":\"bridge\",\"ID\":\"bbbbbbbbbbbb\",\"IPv4\":\"false\",\"IPv6\":\"false\",\"Internal\":\"false\",\"Labels\":\"\",\"Name\":\"net10\",\"Scope\":\"local\"}\n"
        );
        assert_eq!(
            go_time_from_rfc3339("2025-06-01T10:00:00.123456789Z"),
            "2025-06-01 10:00:00.123456789 +0000 UTC"
        );
        assert_eq!(
            go_time_from_rfc3339("2025-06-01T10:00:00+02:00"),
            "2025-06-01 10:00:00 +0200 +0200"
        );
        assert_eq!(go_time_from_rfc3339(""), "0001-01-01 00:00:00 +0000 UTC");
    }

    #[test]
    fn connect_flags_become_the_request() {
        let NetworkCommand::Connect(a) = parse(&[
            "connect",
            "--ip",
            "172.20.0.5",
            "--alias",
            "db,database",
            "--alias",
            "pg",
            "--link",
            "web:w",
            "--driver-opt",
            "com.example=1",
            "--gw-priority",
            "-5",
            "net1",
            "c1",
        ]) else {
            panic!()
        };
        let r = connect_request(&a).unwrap();
        assert_eq!(r.container, "c1");
        let ep = r.endpoint_config.unwrap();
        assert_eq!(ep.aliases, ["db", "database", "pg"]);
        assert_eq!(ep.links, ["web:w"]);
        assert_eq!(ep.driver_opts["com.example"], "1");
        assert_eq!(ep.gw_priority, -5);
        let ipam = ep.ipam_config.unwrap();
        assert_eq!(ipam.ipv4_address, "172.20.0.5");
        assert_eq!(ipam.ipv6_address, "");

        let NetworkCommand::Connect(a) = parse(&["connect", "--ip", "300.1.1.1", "n", "c"]) else {
            panic!()
        };
        assert_eq!(
            connect_request(&a).unwrap_err().to_string(),
            "invalid argument \"300.1.1.1\" for \"--ip\" flag: invalid string being converted to IP address: 300.1.1.1"
        );
        let NetworkCommand::Connect(a) = parse(&["connect", "--driver-opt", "=x", "n", "c"]) else {
            panic!()
        };
        assert_eq!(
            connect_request(&a).unwrap_err().to_string(),
            "invalid key/value pair format in driver options"
        );
    }

    #[test]
    fn other_subcommands_parse() {
        let NetworkCommand::Disconnect(d) = parse(&["disconnect", "-f", "n", "c"]) else {
            panic!()
        };
        assert!(d.force);
        assert_eq!((d.network.as_str(), d.container.as_str()), ("n", "c"));
        let NetworkCommand::Rm(r) = parse(&["remove", "-f", "a", "b"]) else {
            panic!()
        };
        assert!(r.force);
        assert_eq!(r.names, ["a", "b"]);
        let NetworkCommand::Inspect(i) = parse(&["inspect", "-v", "-f", "{{.Id}}", "a"]) else {
            panic!()
        };
        assert!(i.verbose);
        assert_eq!(i.format.as_deref(), Some("{{.Id}}"));
        let NetworkCommand::Ls(l) = parse(&["list", "-q", "--no-trunc", "-f", "driver=bridge"])
        else {
            panic!()
        };
        assert!(l.quiet && l.no_trunc);
        assert_eq!(l.filter, ["driver=bridge"]);
        let NetworkCommand::Prune(p) = parse(&["prune", "-f", "--filter", "until=1h"]) else {
            panic!()
        };
        assert!(p.force);
        assert_eq!(p.filter, ["until=1h"]);
    }

    #[test]
    fn prune_output() {
        assert_eq!(
            prune_report(&["n1".into(), "n2".into()]),
            "Deleted Networks:\nn1\nn2\n\n"
        );
        assert_eq!(prune_report(&[]), "");
    }
}
