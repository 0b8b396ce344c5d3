//! Registry credentials in Docker's `config.json` (`$DOCKER_CONFIG/config.json`, else
//! `~/.docker/config.json`), so `docker login` and `berth login` share them: `auths` entries
//! (`{"auth": base64("user:password")}`), or a credential helper named by `credHelpers` (per
//! registry) or `credsStore` (for all), spoken to with the `docker-credential-*` protocol
//! (`store`, `get`, `erase` over stdin/stdout). Unknown fields of the file are kept as they are.

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Docker Hub's key in `auths`.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// The config file's path.
pub fn config_path() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    let home = std::env::var_os("HOME").context("neither DOCKER_CONFIG nor HOME is set")?;
    Ok(PathBuf::from(home).join(".docker").join("config.json"))
}

fn load() -> Result<(PathBuf, serde_json::Value)> {
    let path = config_path()?;
    let value = match std::fs::read(&path) {
        Ok(bytes) if !bytes.iter().all(u8::is_ascii_whitespace) => {
            serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not valid JSON", path.display()))?
        }
        Ok(_) => serde_json::json!({}),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    if !value.is_object() {
        bail!("{} is not a JSON object", path.display());
    }
    Ok((path, value))
}

fn save(path: &PathBuf, value: &serde_json::Value) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().context("config path without a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let tmp = dir.join(format!(".config.json.{}", std::process::id()));
    let mut f = std::fs::File::options()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    f.write_all(serde_json::to_string_pretty(value)?.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The credential helper for `server`, if the config names one.
fn helper(config: &serde_json::Value, server: &str) -> Option<String> {
    config["credHelpers"][server]
        .as_str()
        .or_else(|| config["credsStore"].as_str())
        .filter(|h| !h.is_empty())
        .map(str::to_string)
}

fn run_helper(name: &str, verb: &str, input: &str) -> Result<String> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("running the credential helper {program}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper may exit without reading its input (an `erase` that needs none): its exit
        // status, not the broken pipe, says whether it worked.
        match stdin.write_all(input.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                return Err(e).with_context(|| format!("writing to {program}"));
            }
            _ => {}
        }
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        bail!(
            "{program} {verb}: {}",
            if said.is_empty() { err } else { said }
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Stores `user`/`password` for `server`.
pub fn store(server: &str, user: &str, password: &str) -> Result<()> {
    let (path, mut config) = load()?;
    if let Some(h) = helper(&config, server) {
        let input = serde_json::json!({"ServerURL": server, "Username": user, "Secret": password});
        run_helper(&h, "store", &input.to_string())?;
        // The entry says the helper holds it, as Docker writes it.
        config["auths"][server] = serde_json::json!({});
    } else {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        config["auths"][server] = serde_json::json!({ "auth": auth });
    }
    save(&path, &config)
}

/// The user and password stored for `server`, if any.
pub fn get(server: &str) -> Result<Option<(String, String)>> {
    let (_, config) = load()?;
    if let Some(h) = helper(&config, server) {
        let Ok(out) = run_helper(&h, "get", server) else {
            return Ok(None);
        };
        let v: serde_json::Value = serde_json::from_str(&out)?;
        return Ok(Some((
            v["Username"].as_str().unwrap_or_default().to_string(),
            v["Secret"].as_str().unwrap_or_default().to_string(),
        )));
    }
    let Some(auth) = config["auths"][server]["auth"].as_str() else {
        return Ok(None);
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(auth)
        .context("a stored credential is not base64")?;
    let text = String::from_utf8(raw).context("a stored credential is not UTF-8")?;
    let (user, password) = text.split_once(':').unwrap_or((&text, ""));
    Ok(Some((user.to_string(), password.to_string())))
}

/// Forgets `server`'s credentials; whether there were any.
pub fn erase(server: &str) -> Result<bool> {
    let (path, mut config) = load()?;
    let had = config["auths"].get(server).is_some();
    if let Some(h) = helper(&config, server) {
        run_helper(&h, "erase", server)?;
    }
    if let Some(auths) = config["auths"].as_object_mut() {
        auths.remove(server);
    }
    save(&path, &config)?;
    Ok(had)
}
