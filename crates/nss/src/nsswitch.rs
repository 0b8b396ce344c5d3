//! The `hosts:` line of `nsswitch.conf` with and without the `berth` source, as text: what
//! `berth system install-dns` and `uninstall-dns` write. `berth` goes right after `files` (so
//! `/etc/hosts` still wins) and before `dns` and `resolve`, followed by `[!UNAVAIL=return]`:
//! a name under a registered suffix is answered by the module alone, found or not.

/// What is inserted after `files`.
pub const SOURCE: &str = "berth [!UNAVAIL=return]";

/// `text` with the `berth` source on its `hosts:` line (added if the file has none);
/// unchanged when it is there already.
pub fn with_berth(text: &str) -> String {
    let mut found = false;
    let mut out: Vec<String> = text
        .lines()
        .map(|line| match hosts_sources(line) {
            Some(sources) => {
                found = true;
                if sources.contains(&"berth") {
                    return line.to_string();
                }
                let mut new: Vec<&str> = Vec::new();
                let at = sources
                    .iter()
                    .position(|s| *s == "files")
                    .map_or(0, |i| i + 1);
                new.extend(&sources[..at]);
                new.push(SOURCE);
                new.extend(&sources[at..]);
                format!("hosts:          {}", new.join(" "))
            }
            None => line.to_string(),
        })
        .collect();
    if !found {
        out.push(format!("hosts:          files {SOURCE} dns"));
    }
    let mut s = out.join("\n");
    s.push('\n');
    s
}

/// `text` without the `berth` source (and the action that follows it).
pub fn without_berth(text: &str) -> String {
    let mut out: Vec<String> = text
        .lines()
        .map(|line| match hosts_sources(line) {
            Some(sources) if sources.contains(&"berth") => {
                let mut kept = Vec::new();
                let mut skip_action = false;
                for s in sources {
                    if s == "berth" {
                        skip_action = true;
                        continue;
                    }
                    if skip_action && s.starts_with('[') {
                        continue;
                    }
                    skip_action = false;
                    kept.push(s);
                }
                format!("hosts:          {}", kept.join(" "))
            }
            _ => line.to_string(),
        })
        .collect();
    if text.ends_with('\n') || text.is_empty() {
        out.push(String::new());
    }
    out.join("\n")
}

/// The sources of a `hosts:` line (actions such as `[NOTFOUND=return]` kept as words).
fn hosts_sources(line: &str) -> Option<Vec<&str>> {
    let rest = line.trim_start().strip_prefix("hosts:")?;
    let rest = rest.split('#').next().unwrap_or("");
    Some(rest.split_whitespace().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEBIAN: &str =
        "passwd:         files\nhosts:          files dns\nnetworks:       files\n";

    #[test]
    fn added_after_files_once_and_removed_cleanly() {
        let with = with_berth(DEBIAN);
        assert_eq!(
            with,
            "passwd:         files\nhosts:          files berth [!UNAVAIL=return] dns\nnetworks:       files\n"
        );
        assert_eq!(with_berth(&with), with, "installing twice changes nothing");
        assert_eq!(without_berth(&with), DEBIAN);
        assert_eq!(without_berth(DEBIAN), DEBIAN);
        let resolved = "hosts: mymachines resolve [!UNAVAIL=return] files myhostname dns\n";
        assert_eq!(
            with_berth(resolved),
            "hosts:          mymachines resolve [!UNAVAIL=return] files berth [!UNAVAIL=return] myhostname dns\n"
        );
        assert_eq!(
            without_berth(&with_berth(resolved)),
            "hosts:          mymachines resolve [!UNAVAIL=return] files myhostname dns\n"
        );
        assert_eq!(
            with_berth("passwd: files\n"),
            "passwd: files\nhosts:          files berth [!UNAVAIL=return] dns\n"
        );
    }
}
