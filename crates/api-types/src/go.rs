//! Go's conventions the Docker API carries because Docker is written in Go: its architecture
//! names (`GOARCH`, in `/version`, `/info` and seccomp profiles' `arches`) and
//! `strconv.ParseBool` (what `--mount` options and security options accept as booleans).
//! One home for each, shared by the CLI and the engine.

/// Go's `GOARCH` for a Rust `std::env::consts::ARCH` value.
pub fn arch_of(rust_arch: &str) -> &str {
    match rust_arch {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        "loongarch64" => "loong64",
        other => other,
    }
}

/// This machine's `GOARCH` (`amd64`, `arm64`), as Docker reports it.
pub fn arch() -> &'static str {
    arch_of(std::env::consts::ARCH)
}

/// Go's `strconv.ParseBool`: `1 t T true TRUE True` and `0 f F false FALSE False`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_names_and_booleans() {
        assert_eq!(arch_of("x86_64"), "amd64");
        assert_eq!(arch_of("aarch64"), "arm64");
        assert_eq!(arch_of("riscv64"), "riscv64");
        assert_eq!(parse_bool("T"), Some(true));
        assert_eq!(parse_bool("False"), Some(false));
        assert_eq!(parse_bool("yes"), None);
    }
}
