//! Output formatting shared by the commands: Docker's units, Go templates, tables, and the row
//! models (`images`, `history`, `containers`) whose field names are the ones Docker's templates use.

pub mod containers;
pub mod history;
pub mod images;
pub mod table;
pub mod template;
pub mod units;

/// Seconds since the Unix epoch now; rows take it as a parameter so tests can fix the clock.
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Go's `time.Time.String()` of a Unix time in UTC: `2024-01-02 15:04:05 +0000 UTC`.
pub fn go_time_string(unix: i64) -> String {
    let fmt = time::macros::format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second] +0000 UTC"
    );
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// RFC 3339 in UTC, as Go's `time.RFC3339` layout prints it: `2024-01-02T15:04:05Z`.
pub use berth_common::time::format_seconds as rfc3339;

/// Docker's `formatter.Ellipsis`: cuts to `max` characters, the last one being `…`.
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// The order of `sortorder.NaturalLess`, which Docker uses to sort names and `port` lines:
/// runs of digits compare by value (`9` before `10`), digits sort before other bytes, other
/// bytes compare bytewise.
pub fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (da, db) = (a[i].is_ascii_digit(), b[j].is_ascii_digit());
        if da != db {
            return if da {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !da {
            if a[i] != b[j] {
                return a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
            continue;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let (nz_a, nz_b) = (i, j);
        while i < a.len() && a[i].is_ascii_digit() {
            i += 1;
        }
        while j < b.len() && b[j].is_ascii_digit() {
            j += 1;
        }
        let (na, nb) = (&a[nz_a..i], &b[nz_b..j]);
        if na.len() != nb.len() {
            return na.len().cmp(&nb.len());
        }
        if na != nb {
            return na.cmp(nb);
        }
        if nz_a != nz_b {
            return nz_a.cmp(&nz_b);
        }
    }
    // Equal so far (and `i == j`): the string that ended sorts first.
    a.len().cmp(&b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn natural_order_like_sortorder() {
        let mut v = vec!["net10", "net9", "Net1", "net09", "a", "", "net1b", "net1"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            ["", "Net1", "a", "net1", "net1b", "net9", "net09", "net10"]
        );
        assert_eq!(natural_cmp("abc", "abc"), std::cmp::Ordering::Equal);
        assert_eq!(natural_cmp("ab", "abc"), std::cmp::Ordering::Less);
    }

    #[test]
    fn times_print_like_go() {
        assert_eq!(
            go_time_string(1_700_000_000),
            "2023-11-14 22:13:20 +0000 UTC"
        );
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn ellipsis_cuts() {
        assert_eq!(ellipsis("abcdef", 4), "abc…");
        assert_eq!(ellipsis("abc", 4), "abc");
    }
}
