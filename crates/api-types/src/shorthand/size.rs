//! Byte sizes (`-m 512m`, `--shm-size 1g`, `--memory-swap -1`) and CPU counts (`--cpus 1.5`).

use super::ShorthandError;

/// Parses a size the way Docker's `RAMInBytes` does: a decimal number, an optional space, an
/// optional unit `b k m g t p` (any case, binary multiples: `k` = 1024) optionally followed by
/// `i` and/or `b`. So `512m`, `1.5GiB`, `1 kb`, `100` (bytes) are all accepted.
pub fn parse_ram_bytes(s: &str) -> Result<i64, ShorthandError> {
    let err = || ShorthandError::new(format!("invalid size: '{s}'"));
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, mut rest) = s.split_at(num_end);
    if !num.starts_with(|c: char| c.is_ascii_digit()) || num.ends_with('.') {
        return Err(err());
    }
    let value: f64 = num.parse().map_err(|_| err())?;
    rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut mul: f64 = 1.0;
    if let Some(c) = rest.chars().next() {
        let shift = match c.to_ascii_lowercase() {
            'k' => Some(10),
            'm' => Some(20),
            'g' => Some(30),
            't' => Some(40),
            'p' => Some(50),
            _ => None,
        };
        if let Some(shift) = shift {
            mul = (1u64 << shift) as f64;
            rest = &rest[1..];
        }
    }
    rest = rest.strip_prefix(['i', 'I']).unwrap_or(rest);
    rest = rest.strip_prefix(['b', 'B']).unwrap_or(rest);
    if !rest.is_empty() {
        return Err(err());
    }
    let bytes = value * mul;
    if !bytes.is_finite() || bytes >= i64::MAX as f64 {
        return Err(err());
    }
    Ok(bytes as i64)
}

/// Parses `--memory-swap`: a size as [`parse_ram_bytes`], or `-1` for unlimited swap.
pub fn parse_memory_swap(s: &str) -> Result<i64, ShorthandError> {
    if s == "-1" {
        return Ok(-1);
    }
    parse_ram_bytes(s)
}

/// Parses `--cpus 1.5` into `NanoCpus` (1_500_000_000). Like Docker, more than nine decimals is
/// an error rather than a silent rounding.
pub fn parse_nano_cpus(s: &str) -> Result<i64, ShorthandError> {
    let err = || ShorthandError::new(format!("failed to parse {s} as a rational number"));
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if (whole.is_empty() && frac.is_empty())
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(err());
    }
    let frac = frac.trim_end_matches('0');
    if frac.len() > 9 {
        return Err(ShorthandError::new(format!(
            "invalid argument {s:?} for --cpus: value is too precise"
        )));
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| err())?
    };
    let frac_nanos: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| err())?
    };
    whole
        .checked_mul(1_000_000_000)
        .and_then(|n| n.checked_add(frac_nanos))
        .ok_or_else(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_bytes_table() {
        let ok = [
            ("0", 0),
            ("100", 100),
            ("100b", 100),
            ("1k", 1024),
            ("1K", 1024),
            ("1kb", 1024),
            ("1KiB", 1024),
            ("512m", 512 << 20),
            ("1g", 1 << 30),
            ("1.5GiB", 3 << 29),
            ("1 mb", 1 << 20),
            ("2t", 2 << 40),
            ("1p", 1 << 50),
        ];
        for (input, want) in ok {
            assert_eq!(parse_ram_bytes(input), Ok(want), "{input}");
        }
        for bad in ["", "12q", "m", "-1", "1.", ".5m", "1mm", "1.2.3k", "1  m"] {
            let e = parse_ram_bytes(bad).unwrap_err();
            assert_eq!(e.to_string(), format!("invalid size: '{bad}'"));
        }
    }

    #[test]
    fn memory_swap_accepts_minus_one() {
        assert_eq!(parse_memory_swap("-1"), Ok(-1));
        assert_eq!(parse_memory_swap("1g"), Ok(1 << 30));
        assert!(parse_memory_swap("-2").is_err());
    }

    #[test]
    fn nano_cpus_table() {
        let ok = [
            ("1", 1_000_000_000),
            ("1.5", 1_500_000_000),
            ("0.01", 10_000_000),
            (".5", 500_000_000),
            ("2.", 2_000_000_000),
            ("0.000000001", 1),
            ("1.0000000000", 1_000_000_000),
        ];
        for (input, want) in ok {
            assert_eq!(parse_nano_cpus(input), Ok(want), "{input}");
        }
        assert!(
            parse_nano_cpus("0.0000000001")
                .unwrap_err()
                .to_string()
                .contains("too precise")
        );
        for bad in ["", ".", "abc", "-1", "1.5.5", "1e3"] {
            assert_eq!(
                parse_nano_cpus(bad).unwrap_err().to_string(),
                format!("failed to parse {bad} as a rational number")
            );
        }
    }
}
