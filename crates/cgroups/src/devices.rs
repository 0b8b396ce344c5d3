//! Device access rules: which device nodes a container may create (`m`), read (`r`) and
//! write (`w`).
//!
//! Without them, root in a container can `mknod` a node for the host's disk and read or write
//! it: namespaces do not cover device numbers. cgroup v1 enforces the rules through the
//! `devices` controller's `devices.deny`/`devices.allow` files; cgroup v2 has no such files and
//! asks for an eBPF program attached to the group instead ([`program`], loaded by
//! [`crate::bpf`]). Both are derived here from one list, with the same meaning: the rules are
//! read like v1's writes, in order, so the last one that matches a request decides, and a
//! wildcard rule (`a *:* rwm`) resets everything before it.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of device a rule is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// Every kind (`a`).
    All,
    /// Block devices (`b`).
    Block,
    /// Character devices (`c`).
    Char,
}

impl DeviceKind {
    /// The letter v1 and the OCI spec use.
    pub fn letter(self) -> char {
        match self {
            DeviceKind::All => 'a',
            DeviceKind::Block => 'b',
            DeviceKind::Char => 'c',
        }
    }
}

/// Access bits, as the kernel's `BPF_DEVCG_ACC_*` values.
pub mod access {
    /// Create a node (`m`).
    pub const MKNOD: u32 = 1;
    /// Open for reading (`r`).
    pub const READ: u32 = 2;
    /// Open for writing (`w`).
    pub const WRITE: u32 = 4;
    /// All three.
    pub const ALL: u32 = MKNOD | READ | WRITE;
}

/// One allow or deny rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRule {
    /// Allow (`true`) or deny.
    pub allow: bool,
    /// Which kind of device.
    pub kind: DeviceKind,
    /// Major number; `None` matches any.
    pub major: Option<u32>,
    /// Minor number; `None` matches any.
    pub minor: Option<u32>,
    /// [`access`] bits.
    pub access: u32,
}

/// Why a rule could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid device rule {rule:?}: {reason}")]
pub struct RuleError {
    /// The rule as given.
    pub rule: String,
    /// What was wrong.
    pub reason: &'static str,
}

impl DeviceRule {
    /// Parses access letters (`rwm`, any order, no repeats); empty means all three, as the OCI
    /// spec says.
    pub fn parse_access(text: &str) -> Option<u32> {
        let mut bits = 0;
        for c in text.chars() {
            let bit = match c {
                'r' => access::READ,
                'w' => access::WRITE,
                'm' => access::MKNOD,
                _ => return None,
            };
            if bits & bit != 0 {
                return None;
            }
            bits |= bit;
        }
        Some(if bits == 0 { access::ALL } else { bits })
    }

    /// Parses v1 syntax as `--device-cgroup-rule` takes it: `c 1:3 rwm`, `b 7:* r`, `a`.
    pub fn parse(text: &str, allow: bool) -> Result<DeviceRule, RuleError> {
        let bad = |reason| RuleError {
            rule: text.to_string(),
            reason,
        };
        let mut parts = text.split_whitespace();
        let kind = match parts.next() {
            Some("a") => DeviceKind::All,
            Some("b") => DeviceKind::Block,
            Some("c") => DeviceKind::Char,
            _ => return Err(bad("the type must be a, b or c")),
        };
        let (major, minor) = match parts.next() {
            None if kind == DeviceKind::All => (None, None),
            None => return Err(bad("missing MAJOR:MINOR")),
            Some(numbers) => {
                let (a, b) = numbers
                    .split_once(':')
                    .ok_or_else(|| bad("expected MAJOR:MINOR"))?;
                let number = |s: &str| match s {
                    "*" => Ok(None),
                    s => s
                        .parse::<u32>()
                        .map(Some)
                        .map_err(|_| bad("device numbers are integers or *")),
                };
                (number(a)?, number(b)?)
            }
        };
        let access = match parts.next() {
            None => access::ALL,
            Some(a) => Self::parse_access(a).ok_or_else(|| bad("access is made of r, w and m"))?,
        };
        if parts.next().is_some() {
            return Err(bad("too many fields"));
        }
        Ok(DeviceRule {
            allow,
            kind,
            major,
            minor,
            access,
        })
    }

    /// Whether this rule covers every device and every access: it resets the list.
    pub fn is_wildcard(&self) -> bool {
        self.kind == DeviceKind::All
            && self.major.is_none()
            && self.minor.is_none()
            && self.access == access::ALL
    }

    /// The access letters, in v1's order.
    pub fn access_letters(&self) -> String {
        let mut s = String::new();
        for (bit, c) in [
            (access::READ, 'r'),
            (access::WRITE, 'w'),
            (access::MKNOD, 'm'),
        ] {
            if self.access & bit != 0 {
                s.push(c);
            }
        }
        s
    }

    /// The file of the v1 `devices` controller this rule is written to.
    pub fn v1_file(&self) -> &'static str {
        if self.allow {
            "devices.allow"
        } else {
            "devices.deny"
        }
    }

    /// Whether the rule decides a request for `kind` device `major:minor` with `want` access
    /// bits: an allow rule only when it grants all of them, a deny rule when it takes any.
    pub fn matches(&self, kind: DeviceKind, major: u32, minor: u32, want: u32) -> bool {
        let kind_ok = self.kind == DeviceKind::All || self.kind == kind;
        let numbers_ok =
            self.major.is_none_or(|m| m == major) && self.minor.is_none_or(|m| m == minor);
        let access_ok = if self.allow {
            want & !self.access == 0
        } else {
            want & self.access != 0
        };
        kind_ok && numbers_ok && access_ok
    }
}

impl fmt::Display for DeviceRule {
    /// v1 syntax: `c 1:3 rwm`, with `*` for any number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<u32>| v.map_or("*".to_string(), |v| v.to_string());
        write!(
            f,
            "{} {}:{} {}",
            self.kind.letter(),
            n(self.major),
            n(self.minor),
            self.access_letters()
        )
    }
}

/// What a list of rules decides when none of the rules after the last wildcard matches, and
/// those rules: v1's list starts from the parent's (which allows everything), and a wildcard
/// replaces it.
pub fn effective(rules: &[DeviceRule]) -> (bool, &[DeviceRule]) {
    match rules.iter().rposition(DeviceRule::is_wildcard) {
        Some(i) => (rules[i].allow, &rules[i + 1..]),
        None => (true, rules),
    }
}

/// Decides a request the way the kernel will with these rules applied (used to test the
/// program and the v1 writes against one model).
pub fn decide(rules: &[DeviceRule], kind: DeviceKind, major: u32, minor: u32, want: u32) -> bool {
    let (default, rest) = effective(rules);
    rest.iter()
        .rev()
        .find(|r| r.matches(kind, major, minor, want))
        .map_or(default, |r| r.allow)
}

/// The v1 writes for `rules`, as (file, value) pairs in order. A wildcard becomes `a` (v1's
/// spelling for "everything", which also clears the list); the rules before it are moot.
pub fn v1_writes(rules: &[DeviceRule]) -> Vec<(&'static str, String)> {
    let (default, rest) = effective(rules);
    let mut out = vec![(
        if default {
            "devices.allow"
        } else {
            "devices.deny"
        },
        "a".to_string(),
    )];
    out.extend(rest.iter().map(|r| (r.v1_file(), r.to_string())));
    out
}

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// Destination register (low nibble) and source register (high nibble).
    pub regs: u8,
    /// Signed jump offset, in instructions after this one.
    pub off: i16,
    /// Immediate operand.
    pub imm: i32,
}

/// Opcodes used by [`program`] (linux/bpf.h, linux/bpf_common.h).
mod op {
    /// `BPF_LDX | BPF_MEM | BPF_W`: 32-bit load from memory.
    pub const LDX_W: u8 = 0x61;
    /// `BPF_ALU | BPF_AND | BPF_K`.
    pub const AND32_K: u8 = 0x54;
    /// `BPF_ALU | BPF_RSH | BPF_K`.
    pub const RSH32_K: u8 = 0x74;
    /// `BPF_ALU | BPF_MOV | BPF_X`.
    pub const MOV32_X: u8 = 0xbc;
    /// `BPF_ALU64 | BPF_MOV | BPF_K`.
    pub const MOV64_K: u8 = 0xb7;
    /// `BPF_JMP | BPF_JNE | BPF_K`.
    pub const JNE_K: u8 = 0x55;
    /// `BPF_JMP | BPF_JEQ | BPF_K`.
    pub const JEQ_K: u8 = 0x15;
    /// `BPF_JMP | BPF_EXIT`.
    pub const EXIT: u8 = 0x95;
}

/// `BPF_DEVCG_DEV_BLOCK` and `BPF_DEVCG_DEV_CHAR`.
fn kind_code(kind: DeviceKind) -> i32 {
    match kind {
        DeviceKind::Block => 1,
        DeviceKind::Char => 2,
        DeviceKind::All => 0,
    }
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// A `BPF_PROG_TYPE_CGROUP_DEVICE` program with the meaning of [`decide`]: it loads the
/// request (`struct bpf_cgroup_dev_ctx`: type and access in one word, major, minor) into
/// registers 2–5, tests the rules after the last wildcard from the last to the first, and
/// returns the first match's verdict (1 allows, 0 denies) or the default.
pub fn program(rules: &[DeviceRule]) -> Vec<Insn> {
    let (default, rest) = effective(rules);
    let mut prog = vec![
        insn(op::LDX_W, 2, 1, 0, 0),        // r2 = access_type
        insn(op::AND32_K, 2, 0, 0, 0xffff), // r2 = device type
        insn(op::LDX_W, 3, 1, 0, 0),        // r3 = access_type
        insn(op::RSH32_K, 3, 0, 0, 16),     // r3 = access bits
        insn(op::LDX_W, 4, 1, 4, 0),        // r4 = major
        insn(op::LDX_W, 5, 1, 8, 0),        // r5 = minor
    ];
    for rule in rest.iter().rev() {
        let mut block: Vec<Insn> = Vec::new();
        // Each test jumps past the block (to the next rule) when it fails; offsets are fixed
        // up once the block's length is known, marked by off = -1 here.
        if rule.kind != DeviceKind::All {
            block.push(insn(op::JNE_K, 2, 0, -1, kind_code(rule.kind)));
        }
        if rule.access != access::ALL || !rule.allow {
            block.push(insn(op::MOV32_X, 1, 3, 0, 0));
            if rule.allow {
                // Skip unless every requested bit is granted: (want & !granted) == 0.
                block.push(insn(
                    op::AND32_K,
                    1,
                    0,
                    0,
                    (!rule.access & access::ALL) as i32,
                ));
                block.push(insn(op::JNE_K, 1, 0, -1, 0));
            } else {
                // Skip unless some requested bit is denied: (want & denied) != 0.
                block.push(insn(op::AND32_K, 1, 0, 0, rule.access as i32));
                block.push(insn(op::JEQ_K, 1, 0, -1, 0));
            }
        }
        if let Some(major) = rule.major {
            block.push(insn(op::JNE_K, 4, 0, -1, major as i32));
        }
        if let Some(minor) = rule.minor {
            block.push(insn(op::JNE_K, 5, 0, -1, minor as i32));
        }
        block.push(insn(op::MOV64_K, 0, 0, 0, i32::from(rule.allow)));
        block.push(insn(op::EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.off == -1 {
                ins.off = (len - i - 1) as i16;
            }
        }
        prog.extend(block);
    }
    prog.push(insn(op::MOV64_K, 0, 0, 0, i32::from(default)));
    prog.push(insn(op::EXIT, 0, 0, 0, 0));
    prog
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_defaults() -> Vec<DeviceRule> {
        [
            ("a *:* rwm", false),
            ("c *:* m", true),
            ("b *:* m", true),
            ("c 1:3 rwm", true),
            ("c 1:5 rwm", true),
            ("c 1:7 rwm", true),
            ("c 1:8 rwm", true),
            ("c 1:9 rwm", true),
            ("c 5:0 rwm", true),
            ("c 5:1 rwm", true),
            ("c 5:2 rwm", true),
            ("c 136:* rwm", true),
            ("c 10:200 rwm", true),
        ]
        .iter()
        .map(|(t, allow)| DeviceRule::parse(t, *allow).unwrap())
        .collect()
    }

    /// A tiny interpreter for the instructions [`program`] emits, so the generated code is
    /// checked against [`decide`] without loading it into a kernel.
    fn run(prog: &[Insn], kind: u32, major: u32, minor: u32, want: u32) -> u64 {
        let ctx = [(want << 16) | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                op::LDX_W => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
                op::AND32_K => r[dst] = u64::from((r[dst] as u32) & (i.imm as u32)),
                op::RSH32_K => r[dst] = u64::from((r[dst] as u32) >> i.imm),
                op::MOV32_X => r[dst] = u64::from(r[src] as u32),
                op::MOV64_K => r[dst] = i.imm as i64 as u64,
                op::JNE_K if r[dst] != i.imm as i64 as u64 => pc += i.off as usize,
                op::JEQ_K if r[dst] == i.imm as i64 as u64 => pc += i.off as usize,
                op::JNE_K | op::JEQ_K => {}
                op::EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn parses_and_prints_v1_syntax() {
        let r = DeviceRule::parse("c 1:3 rwm", true).unwrap();
        assert_eq!(r.to_string(), "c 1:3 rwm");
        let r = DeviceRule::parse("b 7:* r", true).unwrap();
        assert_eq!((r.major, r.minor, r.access), (Some(7), None, access::READ));
        assert_eq!(r.to_string(), "b 7:* r");
        assert!(DeviceRule::parse("a", false).unwrap().is_wildcard());
        assert_eq!(
            DeviceRule::parse("c 1:3", true).unwrap().access,
            access::ALL
        );
        for bad in [
            "",
            "x 1:3 r",
            "c",
            "c 1 r",
            "c a:3 r",
            "c 1:3 rx",
            "c 1:3 rr",
            "c 1:3 r x",
        ] {
            assert!(DeviceRule::parse(bad, true).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn docker_defaults_deny_disks_and_allow_the_standard_nodes() {
        let rules = docker_defaults();
        let (b, c) = (DeviceKind::Block, DeviceKind::Char);
        use access::*;
        assert!(!decide(&rules, b, 7, 0, READ), "loop0");
        assert!(!decide(&rules, b, 254, 0, READ | WRITE), "root disk");
        assert!(decide(&rules, b, 254, 0, MKNOD), "mknod is allowed");
        assert!(!decide(&rules, c, 10, 232, READ | WRITE), "/dev/kvm");
        assert!(decide(&rules, c, 1, 3, READ | WRITE), "/dev/null");
        assert!(decide(&rules, c, 136, 4, READ | WRITE), "a pty");
        assert!(!decide(&rules, c, 1, 1, READ), "/dev/mem");
    }

    #[test]
    fn the_program_decides_like_the_model() {
        let mut lists = vec![docker_defaults(), Vec::new()];
        lists.push(vec![DeviceRule::parse("a", true).unwrap()]);
        let mut with_deny = docker_defaults();
        with_deny.push(DeviceRule::parse("c 1:3 w", false).unwrap());
        with_deny.push(DeviceRule::parse("b 7:* r", true).unwrap());
        lists.push(with_deny);
        for rules in &lists {
            let prog = program(rules);
            for (kind, code) in [(DeviceKind::Block, 1), (DeviceKind::Char, 2)] {
                for (major, minor) in [(1, 3), (1, 1), (7, 0), (7, 9), (10, 232), (136, 2)] {
                    for want in 1..=access::ALL {
                        let model = decide(rules, kind, major, minor, want);
                        let got = run(&prog, code, major, minor, want);
                        assert_eq!(
                            got,
                            u64::from(model),
                            "{rules:?}: {kind:?} {major}:{minor} access {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn a_partial_deny_takes_only_what_it_names() {
        let mut rules = docker_defaults();
        rules.push(DeviceRule::parse("c 1:3 w", false).unwrap());
        let c = DeviceKind::Char;
        assert!(decide(&rules, c, 1, 3, access::READ));
        assert!(!decide(&rules, c, 1, 3, access::WRITE));
        assert!(!decide(&rules, c, 1, 3, access::READ | access::WRITE));
    }

    #[test]
    fn v1_writes_start_from_the_default() {
        let writes = v1_writes(&docker_defaults());
        assert_eq!(writes[0], ("devices.deny", "a".to_string()));
        assert_eq!(writes[1], ("devices.allow", "c *:* m".to_string()));
        assert_eq!(writes.len(), 13);
        let all = v1_writes(&[DeviceRule::parse("a", true).unwrap()]);
        assert_eq!(all, vec![("devices.allow", "a".to_string())]);
    }
}
