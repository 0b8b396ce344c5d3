//! `login` and `logout`: the daemon checks the credentials with the registry (`POST /auth`,
//! as `docker login` has dockerd do), then they are kept in Docker's `config.json` (or its
//! credential helper), where `docker login` puts them too.

use crate::args::{LoginArgs, LogoutArgs};
use crate::autostart::Target;
use crate::credentials::{self, DOCKER_HUB};
use crate::output;
use anyhow::{Context, Result, bail};
use std::io::{BufRead, Write};

/// The key a server is stored under: Docker Hub's URL, else the address as given.
fn server_key(server: Option<&str>) -> String {
    match server.map(str::trim) {
        None | Some("") | Some("docker.io") | Some("index.docker.io") => DOCKER_HUB.to_string(),
        Some(s) => s
            .trim_start_matches("https://")
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string(),
    }
}

/// `login`.
pub async fn login(target: &Target, args: LoginArgs) -> Result<()> {
    let server = server_key(args.server.as_deref());
    let stored = credentials::get(&server).ok().flatten();
    let username = match (&args.username, &stored) {
        (Some(u), _) => u.clone(),
        (None, Some((u, _))) if args.password.is_none() && !args.password_stdin => u.clone(),
        _ => prompt("Username: ")?,
    };
    if username.is_empty() {
        bail!("Error: Non-null Username Required");
    }
    let password = if args.password_stdin {
        if args.password.is_some() {
            bail!("--password and --password-stdin are mutually exclusive");
        }
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from stdin")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else if let Some(p) = &args.password {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        p.clone()
    } else if let Some((u, p)) = stored.filter(|(u, _)| *u == username) {
        let _ = u;
        p
    } else {
        prompt("Password: ")?
    };
    if password.is_empty() {
        bail!("Error: Password Required");
    }
    let client = target.connect().await?;
    let config = berth_api_types::system::AuthConfig {
        username: username.clone(),
        password: password.clone(),
        serveraddress: server.clone(),
        ..Default::default()
    };
    let answer = client.auth(&config).await?;
    credentials::store(&server, &username, &password)?;
    output::print(&format!("{}\n", answer.status))?;
    Ok(())
}

/// `logout`.
pub async fn logout(args: LogoutArgs) -> Result<()> {
    let server = server_key(args.server.as_deref());
    if credentials::erase(&server)? {
        output::print(&format!("Removing login credentials for {server}\n"))?;
    } else {
        output::print(&format!("Not logged in to {server}\n"))?;
    }
    Ok(())
}

/// Asks on the terminal (the line read from stdin).
fn prompt(what: &str) -> Result<String> {
    eprint!("{what}");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_are_keyed_as_docker_keys_them() {
        assert_eq!(server_key(None), DOCKER_HUB);
        assert_eq!(server_key(Some("docker.io")), DOCKER_HUB);
        assert_eq!(
            server_key(Some("https://127.0.0.1:5000/")),
            "127.0.0.1:5000"
        );
        assert_eq!(server_key(Some("reg.example:443")), "reg.example:443");
    }
}
