//! A private Debian dockerd (`docker.io`) on its own data root, exec root, socket and
//! containerd namespace, with no bridge and no iptables rules: Docker's own stack as a peer.
//! Stopped with SIGTERM (after SIGKILL its containerd child lingers).

use super::{docker_bin, stderr, stdout};
use std::path::PathBuf;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// A running dockerd.
pub struct Dockerd {
    /// Its private directory (data root, sockets, log).
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Dockerd {
    pub fn start() -> Option<Dockerd> {
        let bin = ["/usr/sbin/dockerd", "/usr/bin/dockerd"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())?;
        docker_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("berth-dockerd-")
            .tempdir()
            .unwrap();
        let ns = format!("berth-test-{}", std::process::id());
        let log = std::fs::File::create(dir.path().join("dockerd.log")).unwrap();
        let child = Command::new(bin)
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.path().join("d.sock").display()))
            .args(["--bridge", "none", "--iptables=false", "--ip6tables=false"])
            .args([
                "--containerd-namespace",
                &ns,
                "--containerd-plugins-namespace",
                &format!("{ns}-p"),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Dockerd { dir, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if d.docker(&["version"]).status.success() {
                return Some(d);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "dockerd did not start: {}",
            std::fs::read_to_string(d.dir.path().join("dockerd.log")).unwrap_or_default()
        );
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(docker_bin().unwrap())
            .args(args)
            .env(
                "DOCKER_HOST",
                format!("unix://{}", self.dir.path().join("d.sock").display()),
            )
            .env("DOCKER_CONFIG", self.dir.path().join("config"))
            .env_remove("DOCKER_API_VERSION")
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.docker(args);
        assert!(out.status.success(), "docker {args:?}: {}", stderr(&out));
        stdout(&out)
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        super::unmount_under(self.dir.path());
    }
}
