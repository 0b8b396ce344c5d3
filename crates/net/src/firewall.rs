//! Which packet-filter tool carries a daemon's rules: nftables (our own table, see
//! [`crate::nft`]) where the `nft` tool is present, else iptables (our own chains, see
//! [`crate::iptables`]). Both render the same [`NatPlan`] and keep a user chain Berth never
//! flushes.

use crate::error::{Error, Result};
use crate::{iptables, nft};
use std::fmt;
use std::str::FromStr;

/// The tool behind the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Firewall {
    /// `nft`: table `ip <table>` and the user table `ip <table>_user`.
    Nftables,
    /// `iptables-restore`: chains `<TABLE>-*` and the user chain `<TABLE>-USER`.
    Iptables,
}

impl Firewall {
    /// nftables when the `nft` tool is installed, else iptables when its tools are, else
    /// nftables (whose errors then say what is missing). Judged by the tools answering
    /// `--version`, which needs no privilege, so a failure to list rules is never mistaken for
    /// a missing tool.
    pub fn detect() -> Firewall {
        if nft::installed() {
            Firewall::Nftables
        } else if iptables::available() {
            Firewall::Iptables
        } else {
            Firewall::Nftables
        }
    }

    /// Whether this tool is installed (answers `--version`; asked once per process).
    pub fn installed(self) -> bool {
        static NFT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        static IPT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        match self {
            Firewall::Nftables => *NFT.get_or_init(nft::installed),
            Firewall::Iptables => *IPT.get_or_init(iptables::available),
        }
    }

    /// What a daemon says at start when its tool is absent: which features then do not work
    /// and what to install. `None` when the tool is there.
    pub fn missing_warning(self) -> Option<String> {
        (!self.installed()).then(|| {
            format!(
                "{self} is not installed (no {} found): published ports (-p), masquerading out \
                 of bridge networks and isolation between networks will fail until it is \
                 (apt install {})",
                match self {
                    Firewall::Nftables => "nft",
                    Firewall::Iptables => "iptables-restore",
                },
                match self {
                    Firewall::Nftables => "nftables",
                    Firewall::Iptables => "iptables",
                }
            )
        })
    }

    /// Replaces the daemon's rules with `plan`'s (see [`nft::apply`], [`iptables::apply`]).
    pub fn apply(self, table: &str, plan: &nft::NatPlan) -> Result<()> {
        match self {
            Firewall::Nftables => nft::apply(table, plan),
            Firewall::Iptables => iptables::apply(table, plan),
        }
    }

    /// Removes the daemon's rules; the user's chain stays. Where the tool is not installed
    /// there can be no rules of its: nothing to do, and nothing to warn about.
    pub fn remove(self, table: &str) -> Result<()> {
        if !self.installed() {
            return Ok(());
        }
        match self {
            Firewall::Nftables => nft::remove(table),
            Firewall::Iptables => iptables::remove(table),
        }
    }

    /// Removes the user's chain when it holds no rule (a prune leaves nothing of Berth's, and
    /// nothing of the user's is lost). Returns whether it was removed.
    pub fn remove_user_if_empty(self, table: &str) -> Result<bool> {
        if !self.installed() {
            return Ok(true);
        }
        let has_rules = match self {
            Firewall::Nftables => nft::list(&nft::user_table(table))?.is_some_and(|listing| {
                listing.lines().map(str::trim).any(|l| {
                    !(l.is_empty()
                        || l == "}"
                        || l.starts_with("table ")
                        || l.starts_with("chain ")
                        || l.starts_with("type "))
                })
            }),
            Firewall::Iptables => iptables::user_chain_has_rules(table)?,
        };
        if has_rules {
            return Ok(false);
        }
        match self {
            Firewall::Nftables => nft::remove_user_table(table)?,
            Firewall::Iptables => iptables::remove_user_chain(table)?,
        }
        Ok(true)
    }
}

impl fmt::Display for Firewall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Firewall::Nftables => "nftables",
            Firewall::Iptables => "iptables",
        })
    }
}

impl FromStr for Firewall {
    type Err = Error;

    /// `nftables` or `iptables`; `auto` is [`Firewall::detect`].
    fn from_str(s: &str) -> Result<Firewall> {
        match s {
            "nftables" | "nft" => Ok(Firewall::Nftables),
            "iptables" => Ok(Firewall::Iptables),
            "auto" | "" => Ok(Firewall::detect()),
            other => Err(Error::Invalid(format!(
                "unknown firewall {other:?} (auto, nftables or iptables)"
            ))),
        }
    }
}
