//! `create`/`run` flags → `POST /containers/create` body, as the docker CLI's `parse` builds
//! it. Pure apart from reading `--env-file`, `--label-file` and seccomp profiles; the caller
//! supplies the environment lookup (for `-e KEY`) and the working directory (for relative bind
//! sources), so tests can pin both.

use crate::args::ContainerOptions;
use anyhow::{Context as _, Result, anyhow, bail};
use berth_api_types::container::{
    ContainerCreateRequest, DeviceMapping, EndpointIpamConfig, EndpointSettings, HealthConfig,
    LogConfig,
};
use berth_api_types::shorthand::{
    ShorthandError, parse_duration, parse_env, parse_env_file, parse_expose, parse_labels,
    parse_memory_swap, parse_mount, parse_nano_cpus, parse_publish, parse_ram_bytes,
    parse_restart_policy, parse_tmpfs, parse_ulimit, parse_volume,
};
use std::collections::BTreeMap;
use std::path::Path;

/// Docker's wording for a flag value that does not parse.
fn bad_flag(value: &str, flag: &str, e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("invalid argument \"{value}\" for \"{flag}\" flag: {e}")
}

/// `k=v` entries into a map; `what` names the flag in the error.
fn key_values(items: &[String], what: &str) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for item in items {
        let Some((k, v)) = item.split_once('=') else {
            bail!("invalid argument \"{item}\" for \"{what}\" flag: expected key=value");
        };
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// Reads `--env-file`s then applies `-e` values, as Docker's `ReadKVEnvStrings` does.
pub fn read_env(
    files: &[std::path::PathBuf],
    values: &[String],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).with_context(|| format!("open {}", f.display()))?;
        env.extend(parse_env_file(&text, lookup)?);
    }
    for v in values {
        env.push(parse_env(v, lookup).map_err(|e| bad_flag(v, "-e, --env", e))?);
    }
    Ok(env)
}

/// A duration flag of the health check, in nanoseconds; negative values are refused.
fn health_duration(value: Option<&str>, flag: &str) -> Result<i64> {
    let Some(v) = value else { return Ok(0) };
    let ns = parse_duration(v).map_err(|e| bad_flag(v, flag, e))?;
    if ns < 0 {
        bail!("{flag} cannot be negative");
    }
    Ok(ns)
}

/// The health check for the flags, `None` when no health flag is used.
pub fn healthcheck(o: &ContainerOptions) -> Result<Option<HealthConfig>> {
    let any_health = o.health_cmd.is_some()
        || o.health_interval.is_some()
        || o.health_timeout.is_some()
        || o.health_retries.is_some()
        || o.health_start_period.is_some()
        || o.health_start_interval.is_some();
    if o.no_healthcheck {
        if any_health {
            bail!("--no-healthcheck conflicts with --health-* options");
        }
        return Ok(Some(HealthConfig {
            test: vec!["NONE".into()],
            ..Default::default()
        }));
    }
    if !any_health {
        return Ok(None);
    }
    let retries = o.health_retries.unwrap_or(0);
    if retries < 0 {
        bail!("--health-retries cannot be negative");
    }
    Ok(Some(HealthConfig {
        test: match &o.health_cmd {
            Some(cmd) => vec!["CMD-SHELL".into(), cmd.clone()],
            None => Vec::new(),
        },
        interval: health_duration(o.health_interval.as_deref(), "--health-interval")?,
        timeout: health_duration(o.health_timeout.as_deref(), "--health-timeout")?,
        retries,
        start_period: health_duration(o.health_start_period.as_deref(), "--health-start-period")?,
        start_interval: health_duration(
            o.health_start_interval.as_deref(),
            "--health-start-interval",
        )?,
    }))
}

/// Parses `--device host[:container][:perms]`.
pub fn parse_device(value: &str) -> Result<DeviceMapping> {
    let valid_perms = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let parts: Vec<&str> = value.split(':').collect();
    let (src, dst, perms) = match parts.as_slice() {
        [src] => (*src, *src, "rwm"),
        [src, p] if valid_perms(p) => (*src, *src, *p),
        [src, dst] => (*src, *dst, "rwm"),
        [src, dst, p] => {
            if !valid_perms(p) {
                bail!("invalid device mode: {p}");
            }
            (*src, *dst, *p)
        }
        _ => bail!("invalid device specification: {value}"),
    };
    if !dst.starts_with('/') {
        bail!("invalid device specification: {value}");
    }
    Ok(DeviceMapping {
        path_on_host: src.to_string(),
        path_in_container: dst.to_string(),
        cgroup_permissions: perms.to_string(),
    })
}

/// `--security-opt` values; a `seccomp=FILE` profile is read and sent inline as Docker does.
pub fn security_opts(values: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        let (key, val) = match v.split_once('=').or_else(|| v.split_once(':')) {
            Some(kv) => kv,
            None => {
                if v == "no-new-privileges" {
                    out.push(v.clone());
                    continue;
                }
                bail!("Invalid --security-opt: {v:?}");
            }
        };
        if key == "seccomp" && val != "unconfined" && val != "builtin" {
            let text = std::fs::read(val)
                .with_context(|| format!("opening seccomp profile ({val}) failed"))?;
            let json: serde_json::Value = serde_json::from_slice(&text)
                .with_context(|| format!("compacting json for seccomp profile ({val}) failed"))?;
            out.push(format!("seccomp={json}"));
        } else {
            out.push(format!("{key}={val}"));
        }
    }
    Ok(out)
}

/// A bind source relative to the working directory (`./data`) made absolute.
fn absolute_source(source: &str, cwd: &Path) -> String {
    if source.is_empty() || source.starts_with('/') || !source.starts_with('.') {
        return source.to_string();
    }
    // Lexically cleaned like Go's `filepath.Abs`.
    let mut parts: Vec<String> = Vec::new();
    let joined = cwd.join(source);
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                parts.pop();
            }
            std::path::Component::Normal(p) => parts.push(p.to_string_lossy().into_owned()),
            _ => {}
        }
    }
    format!("/{}", parts.join("/"))
}

/// The `--attach` streams: `(stdin, stdout, stderr)`.
pub fn attach_streams(values: &[String]) -> Result<(bool, bool, bool)> {
    let mut s = (false, false, false);
    for v in values {
        match v.to_ascii_lowercase().as_str() {
            "stdin" => s.0 = true,
            "stdout" => s.1 = true,
            "stderr" => s.2 = true,
            _ => bail!(
                "invalid argument \"{v}\" for \"-a, --attach\" flag: valid streams are STDIN, \
                 STDOUT and STDERR"
            ),
        }
    }
    Ok(s)
}

/// Builds the create request for `o`. `lookup` reads the caller's environment, `cwd` is where
/// relative bind sources start.
pub fn create_request(
    o: &ContainerOptions,
    lookup: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<ContainerCreateRequest> {
    let mut req = ContainerCreateRequest::default();
    process_config(o, lookup, &mut req.config)?;
    published_ports(o, &mut req)?;
    volumes_and_mounts(o, cwd, &mut req)?;
    lifecycle(o, &mut req.host_config)?;
    resources(o, &mut req.host_config)?;
    security_and_namespaces(o, &mut req.host_config)?;
    req.host_config.log_config = LogConfig {
        kind: o.log_driver.clone().unwrap_or_default(),
        config: key_values(&o.log_opt, "--log-opt")?,
    };
    networking(o, &mut req)?;
    Ok(req)
}

/// A flag value's parse error, named after the flag (`invalid argument "x" for "-m"`).
fn shorthand_error(flag: &'static str) -> impl Fn(&str, ShorthandError) -> anyhow::Error {
    move |v: &str, e: ShorthandError| bad_flag(v, flag, e)
}

/// The process and its streams: `-a`, `-i`, `-t`, the image and command, `--entrypoint`, names,
/// user and directory, environment, labels, the stop signal and the health check.
fn process_config(
    o: &ContainerOptions,
    lookup: &dyn Fn(&str) -> Option<String>,
    c: &mut berth_api_types::container::ContainerConfig,
) -> Result<()> {
    // Streams: -a picks; otherwise stdout and stderr, and stdin with -i.
    let (mut a_in, mut a_out, mut a_err) = attach_streams(&o.attach)?;
    if o.process.interactive {
        a_in = true;
    }
    if o.attach.is_empty() {
        a_out = true;
        a_err = true;
    }
    c.attach_stdin = a_in;
    c.attach_stdout = a_out;
    c.attach_stderr = a_err;
    c.open_stdin = o.process.interactive;
    c.tty = o.process.tty;
    c.image = o.image().to_string();
    c.cmd = if o.command().is_empty() {
        None
    } else {
        Some(o.command().to_vec())
    };
    c.entrypoint = o.entrypoint.as_ref().map(|e| vec![e.clone()]);
    c.hostname = o.hostname.clone().unwrap_or_default();
    c.domainname = o.domainname.clone().unwrap_or_default();
    c.user = o.process.user.clone().unwrap_or_default();
    c.working_dir = o.process.workdir.clone().unwrap_or_default();
    c.env = read_env(&o.process.env_file, &o.process.env, lookup)?;
    let label_files = o
        .label_file
        .iter()
        .map(|f| std::fs::read_to_string(f).with_context(|| format!("open {}", f.display())))
        .collect::<Result<Vec<_>>>()?;
    let label_refs: Vec<&str> = label_files.iter().map(String::as_str).collect();
    c.labels = parse_labels(&label_refs, &o.label)?;
    c.stop_signal = o.stop_signal.clone();
    c.stop_timeout = o.stop_timeout;
    c.healthcheck = healthcheck(o)?;
    Ok(())
}

/// `-p`, `-P` and `--expose`.
fn published_ports(o: &ContainerOptions, req: &mut ContainerCreateRequest) -> Result<()> {
    let publish = publish_standard_notation(&o.publish)?;
    let (mut exposed, bindings) =
        parse_publish(&publish).map_err(|e| anyhow!("Invalid publish spec: {e}"))?;
    for e in &o.expose {
        for port in parse_expose(e)? {
            exposed.insert(port, Default::default());
        }
    }
    req.config.exposed_ports = exposed;

    let h = &mut req.host_config;
    h.port_bindings = bindings;
    h.publish_all_ports = o.publish_all;
    Ok(())
}

/// `-v`, `--mount`, `--tmpfs`, `--volumes-from` and `--volume-driver`: anonymous `-v /path`
/// become `Config.Volumes`, the rest stay binds.
fn volumes_and_mounts(
    o: &ContainerOptions,
    cwd: &Path,
    req: &mut ContainerCreateRequest,
) -> Result<()> {
    let sh = shorthand_error;
    let h = &mut req.host_config;
    for v in &o.volume {
        // `./dir:/path` binds a directory relative to where the command runs.
        let v = match v.split_once(':') {
            Some((src, rest)) if src.starts_with('.') => {
                format!("{}:{rest}", absolute_source(src, cwd))
            }
            _ => v.clone(),
        };
        let spec = parse_volume(&v).map_err(|e| sh("-v, --volume")(&v, e))?;
        if spec.mount.source.is_empty() {
            req.config
                .volumes
                .insert(spec.mount.target.clone(), Default::default());
        } else {
            h.binds.push(v);
        }
    }
    for m in &o.mount {
        let mut mount = parse_mount(m).map_err(|e| sh("--mount")(m, e))?;
        if mount.kind == "bind" {
            mount.source = absolute_source(&mount.source, cwd);
        }
        h.mounts.push(mount);
    }
    for t in &o.tmpfs {
        let (path, opts) = parse_tmpfs(t).map_err(|e| sh("--tmpfs")(t, e))?;
        h.tmpfs.insert(path, opts);
    }
    h.volumes_from = o.volumes_from.clone();
    h.volume_driver = o.volume_driver.clone().unwrap_or_default();
    Ok(())
}

/// `--restart`, `--rm` and `--init`.
fn lifecycle(o: &ContainerOptions, h: &mut berth_api_types::container::HostConfig) -> Result<()> {
    let sh = shorthand_error;
    if let Some(r) = &o.restart {
        h.restart_policy = parse_restart_policy(r).map_err(|e| sh("--restart")(r, e))?;
    }
    if o.rm {
        if !matches!(h.restart_policy.name.as_str(), "" | "no") {
            bail!("conflicting options: cannot specify both --restart and --rm");
        }
        h.auto_remove = true;
    }
    if o.init {
        h.resources.init = Some(true);
    }
    Ok(())
}

/// Memory, CPU, block I/O, pids, ulimits, devices and `/dev/shm`.
fn resources(o: &ContainerOptions, h: &mut berth_api_types::container::HostConfig) -> Result<()> {
    let sh = shorthand_error;
    let r = &mut h.resources;
    if let Some(m) = &o.memory {
        r.memory = parse_ram_bytes(m).map_err(|e| sh("-m, --memory")(m, e))?;
    }
    if let Some(m) = &o.memory_reservation {
        r.memory_reservation = parse_ram_bytes(m).map_err(|e| sh("--memory-reservation")(m, e))?;
    }
    if let Some(m) = &o.memory_swap {
        r.memory_swap = parse_memory_swap(m).map_err(|e| sh("--memory-swap")(m, e))?;
    }
    if let Some(s) = o.memory_swappiness
        && s != -1
    {
        if !(0..=100).contains(&s) {
            bail!("invalid value: {s}. Valid memory swappiness range is 0-100");
        }
        r.memory_swappiness = Some(s);
    }
    if let Some(c) = &o.cpus {
        r.nano_cpus = parse_nano_cpus(c).map_err(|e| sh("--cpus")(c, e))?;
    }
    r.cpu_shares = o.cpu_shares.unwrap_or(0);
    r.cpu_period = o.cpu_period.unwrap_or(0);
    r.cpu_quota = o.cpu_quota.unwrap_or(0);
    r.cpu_realtime_period = o.cpu_rt_period.unwrap_or(0);
    r.cpu_realtime_runtime = o.cpu_rt_runtime.unwrap_or(0);
    r.cpuset_cpus = o.cpuset_cpus.clone().unwrap_or_default();
    r.cpuset_mems = o.cpuset_mems.clone().unwrap_or_default();
    r.blkio_weight = o.blkio_weight.unwrap_or(0);
    r.pids_limit = o.pids_limit;
    if o.oom_kill_disable {
        r.oom_kill_disable = Some(true);
    }
    r.cgroup_parent = o.cgroup_parent.clone().unwrap_or_default();
    for u in &o.ulimit {
        r.ulimits
            .push(parse_ulimit(u).map_err(|e| sh("--ulimit")(u, e))?);
    }
    for d in &o.device {
        r.devices
            .push(parse_device(d).map_err(|e| bad_flag(d, "--device", e))?);
    }
    r.device_cgroup_rules = o.device_cgroup_rule.clone();
    if let Some(s) = &o.shm_size {
        h.shm_size = parse_ram_bytes(s).map_err(|e| sh("--shm-size")(s, e))?;
    }
    Ok(())
}

/// Privileges, capabilities, security options, namespaces, sysctls, annotations and storage
/// options.
fn security_and_namespaces(
    o: &ContainerOptions,
    h: &mut berth_api_types::container::HostConfig,
) -> Result<()> {
    h.privileged = o.process.privileged;
    h.readonly_rootfs = o.read_only;
    h.cap_add = o.cap_add.clone();
    h.cap_drop = o.cap_drop.clone();
    h.security_opt = security_opts(&o.security_opt)?;
    h.group_add = o.group_add.clone();
    h.ipc_mode = o.ipc.clone().unwrap_or_default();
    h.pid_mode = o.pid.clone().unwrap_or_default();
    h.uts_mode = o.uts.clone().unwrap_or_default();
    h.userns_mode = o.userns.clone().unwrap_or_default();
    h.cgroupns_mode = o.cgroupns.clone().unwrap_or_default();
    h.oom_score_adj = o.oom_score_adj.unwrap_or(0);
    h.runtime = o.runtime.clone();
    h.isolation = o.isolation.clone().unwrap_or_default();
    if !o.sysctl.is_empty() {
        h.sysctls = Some(key_values(&o.sysctl, "--sysctl")?);
    }
    if !o.annotation.is_empty() {
        h.annotations = Some(key_values(&o.annotation, "--annotation")?);
    }
    h.storage_opt = key_values(&o.storage_opt, "--storage-opt")?;
    Ok(())
}

/// Networking, as the docker CLI's `parse`: the first `--network` is the network mode, each
/// one gets an endpoint (API >= 1.44 takes the MAC address per endpoint, so the deprecated
/// `Config.MacAddress` stays empty as the Go client leaves it); DNS, extra hosts and links.
fn networking(o: &ContainerOptions, req: &mut ContainerCreateRequest) -> Result<()> {
    if let Some(mac) = &o.mac_address
        && !valid_mac(mac)
    {
        bail!("{mac} is not a valid mac address");
    }
    let attachments = o
        .network
        .iter()
        .map(|n| parse_network_attachment(n).map_err(|e| bad_flag(n, "--network", e)))
        .collect::<Result<Vec<_>>>()?;
    req.networking_config.endpoints_config = network_endpoints(&attachments, o)?;
    let h = &mut req.host_config;
    h.network_mode = attachments
        .first()
        .map_or("default", |a| a.target.as_str())
        .to_string();
    h.dns = o
        .dns
        .iter()
        .map(|d| validate_ip(d).map_err(|e| bad_flag(d, "--dns", e)))
        .collect::<Result<_>>()?;
    h.dns_options = o.dns_option.clone();
    h.dns_search = o
        .dns_search
        .iter()
        .map(|d| validate_dns_search(d).map_err(|e| bad_flag(d, "--dns-search", e)))
        .collect::<Result<_>>()?;
    for host in &o.add_host {
        h.extra_hosts
            .push(parse_add_host(host).map_err(|e| bad_flag(host, "--add-host", e))?);
    }
    for l in &o.link {
        validate_link(l).map_err(|e| bad_flag(l, "--link", e))?;
    }
    h.links = o.link.clone();
    Ok(())
}

/// Docker's `convertToStandardNotation`: the long `-p` form
/// (`target=80,published=8080,protocol=udp`) as `published:target/protocol`.
pub fn publish_standard_notation(values: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::with_capacity(values.len());
    for v in values {
        if !v.contains('=') {
            out.push(v.clone());
            continue;
        }
        let mut params: BTreeMap<&str, &str> = BTreeMap::from([("protocol", "tcp")]);
        for param in v.split(',') {
            match param.split_once('=') {
                Some((k, val)) if !k.is_empty() => {
                    params.insert(k, val);
                }
                _ => bail!("invalid publish opts format (should be name=value but got '{param}')"),
            }
        }
        let Some(target) = params.get("target") else {
            bail!("missing target port in publish spec '{v}'");
        };
        out.push(format!(
            "{}:{target}/{}",
            params.get("published").unwrap_or(&""),
            params["protocol"]
        ));
    }
    Ok(out)
}

/// Checks `--add-host host:ip` (or `host=ip`, `host:[v6]`) and returns the `host:ip` form the
/// API takes (Docker's `ValidateExtraHost`).
pub fn parse_add_host(value: &str) -> Result<String> {
    let (host, ip) = value
        .split_once('=')
        .or_else(|| value.split_once(':'))
        .filter(|(h, _)| !h.is_empty() && !h.contains(':'))
        .ok_or_else(|| anyhow!("bad format for add-host: {value:?}"))?;
    let mut ip = ip;
    if ip != "host-gateway" {
        if ip.len() > 2 && ip.starts_with('[') && ip.ends_with(']') {
            ip = &ip[1..ip.len() - 1];
        }
        if ip.trim().parse::<std::net::IpAddr>().is_err() {
            bail!("invalid IP address in add-host: {ip:?}");
        }
    }
    Ok(format!("{host}:{ip}"))
}

/// Docker's `ValidateIPAddress` (`--dns`): the address in canonical form.
pub fn validate_ip(value: &str) -> Result<String> {
    value
        .trim()
        .parse::<std::net::IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| anyhow!("IP address is not correctly formatted: {value}"))
}

/// Docker's `ValidateDNSSearch`: `.` or a domain name (a trailing dot is dropped).
pub fn validate_dns_search(value: &str) -> Result<String> {
    let v = value.trim_matches(' ');
    if v == "." {
        return Ok(v.to_string());
    }
    let bad = || anyhow!("{v} is not a valid domain");
    if !v.bytes().any(|b| b.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let name = v.trim_end();
    let name = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if name.len() >= 255 || !name.split('.').all(label_ok) {
        return Err(bad());
    }
    Ok(name.to_string())
}

/// Docker's `ValidateLink`: `name` or `name:alias`.
pub fn validate_link(value: &str) -> Result<()> {
    if value.is_empty() {
        bail!("empty string specified for links");
    }
    if value.splitn(3, ':').count() > 2 {
        bail!("bad format for links: {value}");
    }
    Ok(())
}

/// Go's `net.ParseMAC` forms: 6, 8 or 20 bytes as hex pairs separated by `:` or `-`, or as
/// dot-separated groups of four hex digits.
pub fn valid_mac(value: &str) -> bool {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let size_ok = |bytes: usize| matches!(bytes, 6 | 8 | 20);
    for sep in [':', '-'] {
        let parts: Vec<&str> = value.split(sep).collect();
        if parts.len() > 1 && size_ok(parts.len()) && parts.iter().all(|p| hex(p, 2)) {
            return true;
        }
    }
    let parts: Vec<&str> = value.split('.').collect();
    parts.len() > 1 && size_ok(parts.len() * 2) && parts.iter().all(|p| hex(p, 4))
}

/// One `--network` value: a name (or `container:x`, `host`, …) or the advanced form
/// `name=n,alias=a,ip=…,ip6=…,mac-address=…,link-local-ip=…,driver-opt=k=v,gw-priority=…`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkAttachment {
    /// Network name or id, or a network mode.
    pub target: String,
    /// Network-scoped aliases.
    pub aliases: Vec<String>,
    /// Static IPv4 address.
    pub ipv4_address: String,
    /// Static IPv6 address.
    pub ipv6_address: String,
    /// MAC address.
    pub mac_address: String,
    /// Link-local addresses.
    pub link_local_ips: Vec<String>,
    /// Endpoint driver options.
    pub driver_opts: BTreeMap<String, String>,
    /// Gateway priority.
    pub gw_priority: i64,
    /// Links (user-defined networks only).
    pub links: Vec<String>,
}

/// Whether `mode` names a user-defined network rather than `default`, `bridge`, `host`,
/// `none` or `container:<id>` (Docker's `NetworkMode.IsUserDefined`).
pub fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// Splits one CSV record (Go's `encoding/csv`): commas separate fields, double quotes protect.
fn csv_fields(value: &str) -> Result<Vec<String>> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut at_start = true;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            '"' if quoted => quoted = false,
            '"' if at_start => quoted = true,
            ',' if !quoted => {
                fields.push(std::mem::take(&mut field));
                at_start = true;
                continue;
            }
            c => field.push(c),
        }
        at_start = false;
    }
    if quoted {
        bail!(
            "parse error on line 1, column {}: extraneous or missing \" in quoted-field",
            value.len() + 1
        );
    }
    fields.push(field);
    Ok(fields)
}

/// Parses one `--network` value as the docker CLI's `NetworkOpt.Set` does (the advanced form
/// is recognised by a `word=word` anywhere in it; its keys and values are lowercased).
pub fn parse_network_attachment(value: &str) -> Result<NetworkAttachment> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = value.as_bytes();
    let long = (1..bytes.len().saturating_sub(1))
        .any(|i| bytes[i] == b'=' && word(bytes[i - 1]) && word(bytes[i + 1]));
    if !long {
        return Ok(NetworkAttachment {
            target: value.to_string(),
            ..Default::default()
        });
    }
    let mut n = NetworkAttachment::default();
    for field in csv_fields(value)? {
        let lower = field.to_lowercase();
        let Some((key, val)) = lower.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            bail!("invalid field {field}");
        };
        let (key, val) = (key.trim(), val.trim());
        match key {
            "name" => n.target = val.to_string(),
            "alias" => n.aliases.push(val.to_string()),
            "ip" => n.ipv4_address = val.to_string(),
            "ip6" => n.ipv6_address = val.to_string(),
            "mac-address" => n.mac_address = val.to_string(),
            "link-local-ip" => n.link_local_ips.push(val.to_string()),
            "driver-opt" => match val.split_once('=') {
                Some((k, v)) if !k.is_empty() => {
                    n.driver_opts
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
                _ => bail!("invalid key value pair format in driver options"),
            },
            "gw-priority" => {
                n.gw_priority = val
                    .parse()
                    .map_err(|_| anyhow!("invalid gw-priority ({val}): must be an integer"))?;
            }
            _ => bail!("invalid field key {key}"),
        }
    }
    if n.target.is_empty() {
        bail!("network name/id is not specified");
    }
    Ok(n)
}

/// Docker's `applyContainerOptions`: the plain flags (`--network-alias`, `--link`, `--ip`,
/// `--ip6`, `--mac-address`, `--link-local-ip`) apply to the first network.
fn apply_container_options(n: &mut NetworkAttachment, o: &ContainerOptions) -> Result<()> {
    let conflict = |what: &str| anyhow!("conflicting options: cannot specify both {what}");
    if !n.aliases.is_empty() && !o.network_alias.is_empty() {
        return Err(conflict("--network-alias and per-network alias"));
    }
    if !n.links.is_empty() && !o.link.is_empty() {
        return Err(conflict("--link and per-network links"));
    }
    if !n.ipv4_address.is_empty() && o.ip.is_some() {
        return Err(conflict("--ip and per-network IPv4 address"));
    }
    if !n.ipv6_address.is_empty() && o.ip6.is_some() {
        return Err(conflict("--ip6 and per-network IPv6 address"));
    }
    if !n.mac_address.is_empty() && o.mac_address.is_some() {
        return Err(conflict("--mac-address and per-network MAC address"));
    }
    if !n.link_local_ips.is_empty() && !o.link_local_ip.is_empty() {
        return Err(conflict(
            "--link-local-ip and per-network link-local IP addresses",
        ));
    }
    if !o.network_alias.is_empty() {
        n.aliases = o.network_alias.clone();
    }
    // On a user-defined network `--link` is an endpoint option (an alias); on the default
    // bridge it is a legacy link (HostConfig.Links only).
    if is_user_defined(&n.target) && !o.link.is_empty() {
        n.links = o.link.clone();
    }
    if let Some(ip) = &o.ip {
        n.ipv4_address = ip.clone();
    }
    if let Some(ip) = &o.ip6 {
        n.ipv6_address = ip.clone();
    }
    if let Some(mac) = &o.mac_address {
        n.mac_address = mac.clone();
    }
    if !o.link_local_ip.is_empty() {
        n.link_local_ips = o.link_local_ip.clone();
    }
    Ok(())
}

/// Docker's `parseNetworkAttachmentOpt`: one attachment as endpoint settings.
fn endpoint_settings(n: &NetworkAttachment) -> Result<EndpointSettings> {
    if n.target.trim().is_empty() {
        bail!("no name set for network");
    }
    if !is_user_defined(&n.target) {
        if !n.aliases.is_empty() {
            bail!("network-scoped aliases are only supported for user-defined networks");
        }
        if !n.links.is_empty() {
            bail!("links are only supported for user-defined networks");
        }
    }
    let mut ep = EndpointSettings {
        gw_priority: n.gw_priority,
        aliases: n.aliases.clone(),
        driver_opts: n.driver_opts.clone(),
        links: n.links.clone(),
        ..Default::default()
    };
    if !n.ipv4_address.is_empty() || !n.ipv6_address.is_empty() || !n.link_local_ips.is_empty() {
        ep.ipam_config = Some(EndpointIpamConfig {
            ipv4_address: n.ipv4_address.clone(),
            ipv6_address: n.ipv6_address.clone(),
            link_local_ips: n.link_local_ips.clone(),
        });
    }
    if !n.mac_address.is_empty() {
        if !valid_mac(n.mac_address.trim()) {
            bail!("{} is not a valid mac address", n.mac_address);
        }
        ep.mac_address = n.mac_address.clone();
    }
    Ok(ep)
}

/// Docker's `parseNetworkOpts`: `NetworkingConfig.EndpointsConfig` for the `--network`
/// values (or `default` when none). A single network without endpoint options gets no entry,
/// as with the docker CLI; the daemon creates its endpoint anyway.
pub fn network_endpoints(
    attachments: &[NetworkAttachment],
    o: &ContainerOptions,
) -> Result<BTreeMap<String, EndpointSettings>> {
    let mut endpoints = BTreeMap::new();
    if attachments.is_empty() {
        let mut n = NetworkAttachment {
            target: "default".into(),
            ..Default::default()
        };
        apply_container_options(&mut n, o)?;
        endpoints.insert("default".to_string(), endpoint_settings(&n)?);
    }
    let (mut user_defined, mut builtin) = (false, false);
    for (i, n) in attachments.iter().enumerate() {
        let mut n = n.clone();
        if is_user_defined(&n.target) {
            user_defined = true;
        } else {
            builtin = true;
        }
        if i == 0 {
            apply_container_options(&mut n, o)?;
        }
        let ep = endpoint_settings(&n)?;
        if endpoints.contains_key(&n.target) {
            bail!("network {:?} is specified multiple times", n.target);
        }
        if i == 0 && attachments.len() == 1 && ep == EndpointSettings::default() {
            continue;
        }
        endpoints.insert(n.target.clone(), ep);
    }
    if user_defined && builtin {
        bail!(
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
    }
    Ok(endpoints)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use clap::Parser;

    fn opts(args: &[&str]) -> ContainerOptions {
        let cli = Cli::try_parse_from(["berth", "create"].into_iter().chain(args.iter().copied()))
            .unwrap();
        match cli.command {
            Command::Create(c) => c.opts,
            other => panic!("{other:?}"),
        }
    }

    fn req(args: &[&str]) -> ContainerCreateRequest {
        let env = |k: &str| (k == "HOME").then(|| "/root".to_string());
        create_request(&opts(args), &env, Path::new("/work")).unwrap()
    }

    #[test]
    fn defaults_attach_stdout_and_stderr() {
        let r = req(&["busybox"]);
        assert!(r.config.attach_stdout && r.config.attach_stderr);
        assert!(!r.config.attach_stdin && !r.config.open_stdin);
        assert_eq!(r.config.image, "busybox");
        assert_eq!(r.config.cmd, None);
        assert_eq!(r.config.entrypoint, None);
        assert_eq!(r.host_config.network_mode, "default");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["Image"], "busybox");
        assert_eq!(v["HostConfig"]["AutoRemove"], false);
    }

    #[test]
    fn command_after_image_keeps_its_flags() {
        let r = req(&["-it", "--rm", "busybox", "ls", "-l", "--all", "-h"]);
        assert_eq!(
            r.config.cmd,
            Some(vec!["ls".into(), "-l".into(), "--all".into(), "-h".into()])
        );
        assert!(r.config.tty && r.config.open_stdin && r.config.attach_stdin);
        assert!(r.host_config.auto_remove);
    }

    #[test]
    fn common_flags_fill_the_request() {
        let r = req(&[
            "--name",
            "web",
            "-e",
            "A=1",
            "-e",
            "HOME",
            "-e",
            "UNSET",
            "-w",
            "/app",
            "-u",
            "1000:1000",
            "-h",
            "box",
            "--entrypoint",
            "",
            "-l",
            "x=y",
            "-v",
            "/data",
            "-v",
            "named:/n:ro",
            "-v",
            "./rel:/r",
            "--restart",
            "on-failure:3",
            "--stop-signal",
            "SIGINT",
            "--stop-timeout",
            "-1",
            "-m",
            "512m",
            "--memory-swap",
            "-1",
            "--cpus",
            "1.5",
            "--cpu-shares",
            "512",
            "--cpuset-cpus",
            "0-1",
            "--pids-limit",
            "100",
            "--network",
            "host",
            "--privileged",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
            "--read-only",
            "--tmpfs",
            "/run:size=64m",
            "--ulimit",
            "nofile=1024:2048",
            "--sysctl",
            "net.core.somaxconn=1024",
            "--init",
            "--group-add",
            "audio",
            "--log-driver",
            "json-file",
            "--log-opt",
            "max-size=1m",
            "-p",
            "8080:80",
            "-P",
            "--expose",
            "9000",
            "--dns",
            "1.1.1.1",
            "--add-host",
            "db=10.0.0.2",
            "--mount",
            "type=bind,src=./m,dst=/m",
            "busybox",
            "sh",
        ]);
        let c = &r.config;
        assert_eq!(c.env, ["A=1", "HOME=/root", "UNSET"]);
        assert_eq!(c.working_dir, "/app");
        assert_eq!(c.user, "1000:1000");
        assert_eq!(c.hostname, "box");
        assert_eq!(c.entrypoint, Some(vec![String::new()]));
        assert_eq!(c.labels["x"], "y");
        assert!(c.volumes.contains_key("/data"));
        assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
        assert_eq!(c.stop_timeout, Some(-1));
        assert!(c.exposed_ports.contains_key("80/tcp"));
        assert!(c.exposed_ports.contains_key("9000/tcp"));
        let h = &r.host_config;
        assert_eq!(h.binds, ["named:/n:ro", "/work/rel:/r"]);
        assert_eq!(h.mounts[0].source, "/work/m");
        assert_eq!(absolute_source("../x/./y", Path::new("/a/b")), "/a/x/y");
        assert_eq!(h.restart_policy.name, "on-failure");
        assert_eq!(h.restart_policy.maximum_retry_count, 3);
        assert_eq!(h.resources.memory, 512 << 20);
        assert_eq!(h.resources.memory_swap, -1);
        assert_eq!(h.resources.nano_cpus, 1_500_000_000);
        assert_eq!(h.resources.cpu_shares, 512);
        assert_eq!(h.resources.cpuset_cpus, "0-1");
        assert_eq!(h.resources.pids_limit, Some(100));
        assert_eq!(h.resources.init, Some(true));
        assert_eq!(h.resources.ulimits[0].hard, 2048);
        assert_eq!(h.network_mode, "host");
        assert!(h.privileged && h.readonly_rootfs && h.publish_all_ports);
        assert_eq!(h.cap_add, ["NET_ADMIN"]);
        assert_eq!(h.cap_drop, ["ALL"]);
        assert_eq!(h.security_opt, ["no-new-privileges"]);
        assert_eq!(h.tmpfs["/run"], "size=64m");
        assert_eq!(h.sysctls.as_ref().unwrap()["net.core.somaxconn"], "1024");
        assert_eq!(h.group_add, ["audio"]);
        assert_eq!(h.log_config.kind, "json-file");
        assert_eq!(h.log_config.config["max-size"], "1m");
        let b = h.port_bindings["80/tcp"].as_ref().unwrap();
        assert_eq!(b[0].host_port, "8080");
        assert_eq!(h.dns, ["1.1.1.1"]);
        assert_eq!(h.extra_hosts, ["db:10.0.0.2"]);
    }

    #[test]
    fn health_flags() {
        let r = req(&[
            "--health-cmd",
            "true",
            "--health-interval",
            "1s",
            "--health-retries",
            "3",
            "busybox",
        ]);
        let hc = r.config.healthcheck.unwrap();
        assert_eq!(hc.test, ["CMD-SHELL", "true"]);
        assert_eq!(hc.interval, 1_000_000_000);
        assert_eq!(hc.retries, 3);
        let r = req(&["--no-healthcheck", "busybox"]);
        assert_eq!(r.config.healthcheck.unwrap().test, ["NONE"]);
        let env = |_: &str| None;
        let e = create_request(
            &opts(&["--no-healthcheck", "--health-cmd", "x", "busybox"]),
            &env,
            Path::new("/"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "--no-healthcheck conflicts with --health-* options"
        );
        let e = create_request(
            &opts(&["--health-interval", "-1s", "busybox"]),
            &env,
            Path::new("/"),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "--health-interval cannot be negative");
    }

    #[test]
    fn errors_use_docker_wording() {
        let env = |_: &str| None;
        let e =
            create_request(&opts(&["-m", "lots", "busybox"]), &env, Path::new("/")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument \"lots\" for \"-m, --memory\" flag: invalid size: 'lots'"
        );
        let e = create_request(
            &opts(&["--rm", "--restart", "always", "busybox"]),
            &env,
            Path::new("/"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "conflicting options: cannot specify both --restart and --rm"
        );
        let e =
            create_request(&opts(&["-a", "stdfoo", "busybox"]), &env, Path::new("/")).unwrap_err();
        assert!(e.to_string().contains("valid streams are STDIN"), "{e}");
    }

    #[test]
    fn attach_flag_selects_streams() {
        let r = req(&["-a", "stdout", "busybox"]);
        assert!(r.config.attach_stdout);
        assert!(!r.config.attach_stderr && !r.config.attach_stdin);
    }

    #[test]
    fn devices_and_hosts() {
        let d = parse_device("/dev/fuse").unwrap();
        assert_eq!(d.path_in_container, "/dev/fuse");
        assert_eq!(d.cgroup_permissions, "rwm");
        let d = parse_device("/dev/sda:/dev/xvda:r").unwrap();
        assert_eq!(d.path_in_container, "/dev/xvda");
        assert_eq!(d.cgroup_permissions, "r");
        assert_eq!(
            parse_device("/dev/sda:rw").unwrap().cgroup_permissions,
            "rw"
        );
        assert!(parse_device("/dev/sda:/x:q").is_err());
        assert_eq!(parse_add_host("a:1.2.3.4").unwrap(), "a:1.2.3.4");
        assert_eq!(parse_add_host("a=::1").unwrap(), "a:::1");
        assert_eq!(
            parse_add_host("gw:host-gateway").unwrap(),
            "gw:host-gateway"
        );
        assert!(parse_add_host("nohost").is_err());
    }

    fn req_err(args: &[&str]) -> String {
        let env = |_: &str| None;
        create_request(&opts(args), &env, Path::new("/"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn default_network_gets_an_empty_default_endpoint() {
        let r = req(&["busybox"]);
        assert_eq!(r.host_config.network_mode, "default");
        let eps = &r.networking_config.endpoints_config;
        assert_eq!(eps.len(), 1);
        assert_eq!(eps["default"], EndpointSettings::default());
        assert_eq!(r.config.mac_address, None);
        let v = serde_json::to_value(&r).unwrap();
        assert!(v["NetworkingConfig"]["EndpointsConfig"]["default"]["IPAMConfig"].is_null());
        // A MAC address on the default network goes to its endpoint (API >= 1.44).
        let r = req(&["--mac-address", "02:42:ac:11:00:02", "busybox"]);
        assert_eq!(
            r.networking_config.endpoints_config["default"].mac_address,
            "02:42:ac:11:00:02"
        );
        assert_eq!(r.config.mac_address, None);
    }

    #[test]
    fn user_network_flags_fill_its_endpoint() {
        let r = req(&[
            "--network",
            "mynet",
            "--ip",
            "10.5.0.5",
            "--ip6",
            "fd00::5",
            "--network-alias",
            "web",
            "--net-alias",
            "www",
            "--mac-address",
            "02:42:ac:11:00:02",
            "--link",
            "db:d",
            "--link-local-ip",
            "169.254.1.1",
            "-h",
            "box",
            "--dns",
            "8.8.8.8",
            "--dns-search",
            "example.com.",
            "--dns-option",
            "ndots:2",
            "--add-host",
            "h6:[::1]",
            "busybox",
        ]);
        let h = &r.host_config;
        assert_eq!(h.network_mode, "mynet");
        assert_eq!(h.links, ["db:d"]);
        assert_eq!(h.dns, ["8.8.8.8"]);
        assert_eq!(h.dns_search, ["example.com"]);
        assert_eq!(h.dns_options, ["ndots:2"]);
        assert_eq!(h.extra_hosts, ["h6:::1"]);
        assert_eq!(r.config.hostname, "box");
        let eps = &r.networking_config.endpoints_config;
        assert_eq!(eps.len(), 1);
        let ep = &eps["mynet"];
        assert_eq!(ep.aliases, ["web", "www"]);
        assert_eq!(ep.links, ["db:d"]);
        assert_eq!(ep.mac_address, "02:42:ac:11:00:02");
        assert_eq!(
            ep.ipam_config,
            Some(EndpointIpamConfig {
                ipv4_address: "10.5.0.5".into(),
                ipv6_address: "fd00::5".into(),
                link_local_ips: vec!["169.254.1.1".into()],
            })
        );
        let v = serde_json::to_value(&r).unwrap();
        let ep = &v["NetworkingConfig"]["EndpointsConfig"]["mynet"];
        assert_eq!(ep["IPAMConfig"]["IPv4Address"], "10.5.0.5");
        assert_eq!(ep["MacAddress"], "02:42:ac:11:00:02");
        assert_eq!(v["HostConfig"]["NetworkMode"], "mynet");
        assert!(v.get("MacAddress").is_none());
    }

    #[test]
    fn plain_networks_without_options_get_no_endpoint() {
        for mode in ["host", "none", "bridge", "mynet", "container:abc"] {
            let r = req(&["--network", mode, "busybox"]);
            assert_eq!(r.host_config.network_mode, mode);
            assert!(r.networking_config.endpoints_config.is_empty(), "{mode}");
        }
        // --link on the default bridge is a legacy link only.
        let r = req(&["--link", "db", "busybox"]);
        assert_eq!(r.host_config.links, ["db"]);
        assert!(
            r.networking_config.endpoints_config["default"]
                .links
                .is_empty()
        );
    }

    #[test]
    fn several_networks_and_the_advanced_syntax() {
        let r = req(&[
            "--network",
            "name=front,alias=web,ip=10.1.0.5,driver-opt=com.example.opt=1,gw-priority=3",
            "--network",
            "back",
            "busybox",
        ]);
        assert_eq!(r.host_config.network_mode, "front");
        let eps = &r.networking_config.endpoints_config;
        assert_eq!(eps.len(), 2);
        let front = &eps["front"];
        assert_eq!(front.aliases, ["web"]);
        assert_eq!(front.gw_priority, 3);
        assert_eq!(front.driver_opts["com.example.opt"], "1");
        assert_eq!(front.ipam_config.as_ref().unwrap().ipv4_address, "10.1.0.5");
        assert_eq!(eps["back"], EndpointSettings::default());
        let n = parse_network_attachment("container:abc").unwrap();
        assert_eq!(n.target, "container:abc");
        assert_eq!(
            parse_network_attachment("alias=x").unwrap_err().to_string(),
            "network name/id is not specified"
        );
        assert_eq!(
            parse_network_attachment("name=a,foo=b")
                .unwrap_err()
                .to_string(),
            "invalid field key foo"
        );
    }

    #[test]
    fn network_errors_use_docker_wording() {
        assert_eq!(
            req_err(&["--network-alias", "x", "busybox"]),
            "network-scoped aliases are only supported for user-defined networks"
        );
        assert_eq!(
            req_err(&["--network", "host", "--network", "mynet", "busybox"]),
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
        assert_eq!(
            req_err(&["--network", "a", "--network", "a", "busybox"]),
            "network \"a\" is specified multiple times"
        );
        assert_eq!(
            req_err(&[
                "--network",
                "name=a,alias=x",
                "--network-alias",
                "y",
                "busybox"
            ]),
            "conflicting options: cannot specify both --network-alias and per-network alias"
        );
        assert_eq!(
            req_err(&["--mac-address", "nope", "busybox"]),
            "nope is not a valid mac address"
        );
        assert_eq!(
            req_err(&["--dns", "dns.example", "busybox"]),
            "invalid argument \"dns.example\" for \"--dns\" flag: IP address is not correctly formatted: dns.example"
        );
        assert_eq!(
            req_err(&["--dns-search=-bad", "busybox"]),
            "invalid argument \"-bad\" for \"--dns-search\" flag: -bad is not a valid domain"
        );
        assert_eq!(
            req_err(&["--link", "a:b:c", "busybox"]),
            "invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c"
        );
        assert!(valid_mac("02-42-AC-11-00-02"));
        assert!(valid_mac("0242.ac11.0002"));
        assert!(!valid_mac("02:42:ac:11:00"));
    }

    #[test]
    fn ports_publish_and_expose() {
        let r = req(&[
            "-p",
            "127.0.0.1:8080:80",
            "-p",
            "published=5353,target=53,protocol=udp",
            "-p",
            "target=9000",
            "--expose",
            "7000-7001",
            "-P",
            "busybox",
        ]);
        let c = &r.config;
        for p in ["80/tcp", "53/udp", "9000/tcp", "7000/tcp", "7001/tcp"] {
            assert!(c.exposed_ports.contains_key(p), "{p}");
        }
        let h = &r.host_config;
        assert!(h.publish_all_ports);
        let b = h.port_bindings["80/tcp"].as_ref().unwrap();
        assert_eq!(
            (b[0].host_ip.as_str(), b[0].host_port.as_str()),
            ("127.0.0.1", "8080")
        );
        assert_eq!(
            h.port_bindings["53/udp"].as_ref().unwrap()[0].host_port,
            "5353"
        );
        assert_eq!(
            h.port_bindings["9000/tcp"].as_ref().unwrap()[0].host_port,
            ""
        );
        assert!(!h.port_bindings.contains_key("7000/tcp"));
        assert_eq!(
            req_err(&["-p", "target=80,bogus", "busybox"]),
            "invalid publish opts format (should be name=value but got 'bogus')"
        );
    }
}
