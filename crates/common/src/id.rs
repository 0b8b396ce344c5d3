//! Object identifiers as Docker shows them: 64 hex digits, shortened to 12 for people.

/// Length of the short form Docker prints by default.
pub const SHORT_ID_LEN: usize = 12;

/// Shortens a full hex id (with or without `sha256:`) to the 12 characters Docker prints.
pub fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(SHORT_ID_LEN)]
}

/// True when `s` could be a (possibly shortened) hex id a user typed, such as `3f57d9401f8d`.
pub fn looks_like_id_prefix(s: &str) -> bool {
    let hex = s.strip_prefix("sha256:").unwrap_or(s);
    !hex.is_empty()
        && hex.len() <= 64
        && hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// A fresh random 64-hex-digit id, for objects that are not content addressed (containers).
pub fn random_id() -> String {
    use sha2::{Digest as _, Sha256};
    use std::time::{SystemTime, UNIX_EPOCH};
    let mut seed = [0u8; 32];
    // The kernel's random source is the best seed; fall back to time and pid if it is missing.
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut seed))
        .is_err()
    {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        seed[..16].copy_from_slice(&nanos.to_le_bytes());
        seed[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    }
    hex::encode(Sha256::digest(seed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_with_and_without_prefix() {
        let id = "sha256:3f57d9401f8d42f986df300f0c69192fc41da28ccc8d797829467780db3dd741";
        assert_eq!(short_id(id), "3f57d9401f8d");
        assert_eq!(short_id(&id[7..]), "3f57d9401f8d");
    }

    #[test]
    fn prefixes_are_lowercase_hex() {
        assert!(looks_like_id_prefix("3f57d9"));
        assert!(looks_like_id_prefix("sha256:3f57"));
        assert!(!looks_like_id_prefix("busybox"));
        assert!(!looks_like_id_prefix("3F57"));
        assert!(!looks_like_id_prefix(""));
    }

    #[test]
    fn random_ids_differ() {
        let a = random_id();
        assert_eq!(a.len(), 64);
        assert_ne!(a, random_id());
    }
}
