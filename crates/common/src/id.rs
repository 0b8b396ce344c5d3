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

/// A fresh random 64-hex-digit id, for objects that are not content addressed (containers,
/// networks, execs): 32 bytes from the kernel (`getrandom`). As Docker's `GenerateRandomID`,
/// an id whose short form is all digits is drawn again, so it can never be mistaken for a
/// number where clients accept either.
pub fn random_id() -> String {
    loop {
        let mut bytes = [0u8; 32];
        if getrandom::fill(&mut bytes).is_err() {
            fallback_seed(&mut bytes);
        }
        let id = hex::encode(bytes);
        if !id[..SHORT_ID_LEN].bytes().all(|b| b.is_ascii_digit()) {
            return id;
        }
    }
}

/// Where the kernel's random source fails (it does not on Linux ≥ 3.17): time and pid,
/// hashed, so ids still differ between calls.
fn fallback_seed(bytes: &mut [u8; 32]) {
    use sha2::{Digest as _, Sha256};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let mut h = Sha256::new();
    h.update(nanos.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    bytes.copy_from_slice(&h.finalize());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_are_64_hex_distinct_and_never_numeric_when_short() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let id = random_id();
            assert_eq!(id.len(), 64);
            assert!(looks_like_id_prefix(&id), "{id}");
            assert!(
                !id[..SHORT_ID_LEN].bytes().all(|b| b.is_ascii_digit()),
                "{id}"
            );
            assert!(seen.insert(id));
        }
    }

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
