//! The OCI `linux.seccomp` section compiled to a classic BPF program, and its installation.
//!
//! The compiler is our own rather than seccompiler's because OCI profiles give each syscall
//! rule its own action (`ALLOW` most, `ERRNO(ENOSYS)` for `clone3`, ...) while seccompiler
//! filters have a single match action; stacking several kernel filters would not give OCI's
//! first-match semantics. The program is:
//!
//! 1. a dispatch on the audit architecture to one section per architecture the filter covers,
//!    built as libseccomp builds it: the native one always, then each one `architectures` lists
//!    that this kernel can run besides (i386 and x32 on x86_64, 32-bit ARM on aarch64). Any other
//!    architecture, or the x32 ABI when x32 is not listed, kills the process: its syscall numbers
//!    mean something else, so no rule could be trusted;
//! 2. in each section, a dispatch on the syscall number over ascending segments: runs of
//!    consecutive numbers with the same unconditional action, and single syscalls with argument
//!    rules (a filter a third of the size of one test per syscall: faster to load and to run);
//! 3. per syscall, its argument-conditioned rules first (in document order), then its
//!    unconditional rule, then the default action.
//!
//! Each section resolves the profile's names through its own architecture's table, so profiles
//! written for several architectures (Docker's names `chown32`, `_llseek`, `mmap2`, ...) load: a
//! name a section's table lacks has no rule there, and a name no section knows is skipped, as
//! runc and libseccomp do.
//!
//! 64-bit argument comparisons are split into high and low 32-bit words (every supported
//! architecture is little-endian); 32-bit sections compare the low word only, as libseccomp
//! does. Unlike libseccomp, rules are not rewritten for i386's `socketcall` and `ipc`
//! multiplexers: a conditional rule on `socket` does not reach an i386 process's `socketcall`
//! (profiles allow or refuse `socketcall` and `ipc` by name).

use crate::error::{Error, Result};
use crate::syscall_table;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
    LinuxSyscall,
};
use std::collections::BTreeMap;

/// A compiled filter ready for [`install`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The BPF instructions.
    pub program: Vec<libc::sock_filter>,
    /// `SECCOMP_FILTER_FLAG_*` bits for `seccomp(2)`.
    pub flags: libc::c_ulong,
}

/// How a syscall name relates to the running architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// The syscall exists here, with this number.
    Native(u32),
    /// The name is a syscall on other architectures only (`open` on aarch64, `chown32` on
    /// x86_64); only their sections, if the filter has them, get its rules.
    OtherArch,
    /// Not a syscall anywhere we know, a typo maybe; rules for it are skipped, as runc does.
    Unknown,
}

/// One architecture (ABI) a filter can have a section for.
#[derive(Debug, PartialEq, Eq)]
struct ArchDef {
    /// Its OCI (libseccomp) name.
    oci: Arch,
    /// `seccomp_data.arch` of its processes (`AUDIT_ARCH_*`).
    audit: u32,
    /// Its syscall numbers by name.
    table: &'static [(&'static str, u32)],
    /// Its arguments are 32-bit: only their low word is compared.
    bits32: bool,
    /// Numbers from this one on belong to another ABI with the same audit architecture (x32
    /// under x86_64's).
    abi_split: Option<u32>,
}

/// The first number of the x32 ABI (`__X32_SYSCALL_BIT`).
const X32_BIT: u32 = 0x4000_0000;

/// 64-bit x86, with the x32 ABI split off its numbers.
const X86_64: ArchDef = ArchDef {
    oci: Arch::ScmpArchX86_64,
    audit: 0xC000_003E,
    table: syscall_table::X86_64,
    bits32: false,
    abi_split: Some(X32_BIT),
};
/// 32-bit x86 (i386), which x86_64 kernels run with `IA32_EMULATION`.
const I386: ArchDef = ArchDef {
    oci: Arch::ScmpArchX86,
    audit: 0x4000_0003,
    table: syscall_table::I386,
    bits32: true,
    abi_split: None,
};
/// x32 shares x86_64's audit architecture; its numbers carry [`X32_BIT`].
const X32: ArchDef = ArchDef {
    oci: Arch::ScmpArchX32,
    audit: 0xC000_003E,
    table: syscall_table::X32,
    bits32: true,
    abi_split: None,
};
/// 64-bit ARM.
const AARCH64: ArchDef = ArchDef {
    oci: Arch::ScmpArchAarch64,
    audit: 0xC000_00B7,
    table: syscall_table::AARCH64,
    bits32: false,
    abi_split: None,
};
/// 32-bit ARM (EABI), which aarch64 kernels run with `COMPAT`.
const ARM: ArchDef = ArchDef {
    oci: Arch::ScmpArchArm,
    audit: 0x4000_0028,
    table: syscall_table::ARM,
    bits32: true,
    abi_split: None,
};

/// Every architecture with a table, for [`lookup`].
const ALL: [&ArchDef; 5] = [&X86_64, &I386, &X32, &AARCH64, &ARM];

/// The architecture this runtime is built for.
#[cfg(target_arch = "x86_64")]
const NATIVE: &ArchDef = &X86_64;
/// The architectures the native kernel also runs.
#[cfg(target_arch = "x86_64")]
const SECONDARY: &[&ArchDef] = &[&I386, &X32];
/// The architecture this runtime is built for.
#[cfg(target_arch = "aarch64")]
const NATIVE: &ArchDef = &AARCH64;
/// The architectures the native kernel also runs.
#[cfg(target_arch = "aarch64")]
const SECONDARY: &[&ArchDef] = &[&ARM];

/// The number of `name` in `table`.
fn find(table: &[(&str, u32)], name: &str) -> Option<u32> {
    table
        .binary_search_by(|(n, _)| (*n).cmp(name))
        .ok()
        .map(|i| table[i].1)
}

/// Looks a syscall name up for the running architecture.
pub fn lookup(name: &str) -> Lookup {
    match find(NATIVE.table, name) {
        Some(nr) => Lookup::Native(nr),
        None if ALL.iter().any(|a| find(a.table, name).is_some()) => Lookup::OtherArch,
        None => Lookup::Unknown,
    }
}

/// The architectures the filter has a section for: native first (as libseccomp's filters
/// always hold it), then each listed one the native kernel runs too. Others could not execute
/// here, so they get no section (their processes are killed, as unlisted ones are).
fn sections(seccomp: &LinuxSeccomp) -> Vec<&'static ArchDef> {
    let mut out = vec![NATIVE];
    for &arch in seccomp.architectures().iter().flatten() {
        match SECONDARY.iter().find(|def| def.oci == arch) {
            Some(def) if !out.contains(def) => out.push(def),
            Some(_) => {}
            None if arch == Arch::ScmpArchNative || arch == NATIVE.oci => {}
            None => tracing::debug!(
                "seccomp: {arch} does not run on {}, no section for it",
                NATIVE.oci
            ),
        }
    }
    out
}

const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const BPF_MAXINSNS: usize = 4096;

// Classic BPF opcodes.
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGT_K: u16 = 0x25;
const JGE_K: u16 = 0x35;
const AND_K: u16 = 0x54;
const JA: u16 = 0x05;
const RET_K: u16 = 0x06;

/// Offsets into `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// The return value for an OCI action; `Notify` needs a listener this runtime does not offer.
fn action(action: LinuxSeccompAction, errno: Option<u32>, at: &str) -> Result<u32> {
    Ok(match action {
        LinuxSeccompAction::ScmpActNotify => {
            return Err(Error::config(at, "SCMP_ACT_NOTIFY is not supported"));
        }
        LinuxSeccompAction::ScmpActErrno => {
            0x0005_0000 | (errno.unwrap_or(libc::EPERM as u32) & 0xffff)
        }
        LinuxSeccompAction::ScmpActTrace => 0x7ff0_0000 | (errno.unwrap_or(0) & 0xffff),
        other => other.as_u32(None),
    })
}

/// The `SECCOMP_FILTER_FLAG_*` bits of the section's `flags`.
fn flags(seccomp: &LinuxSeccomp) -> libc::c_ulong {
    seccomp
        .flags()
        .iter()
        .flatten()
        .map(|flag| match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 32,
        })
        .fold(0, |all, bit| all | bit)
}

/// One compiled argument condition.
#[derive(Debug, Clone, Copy)]
struct Cond {
    index: u32,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

/// One OCI syscall rule: its conditions (all must hold) and its return value.
#[derive(Debug, Clone)]
struct Rule {
    conds: Vec<Cond>,
    ret: u32,
}

/// Per syscall number: conditional rules (in document order), then at most one unconditional
/// rule.
type Rules = BTreeMap<u32, (Vec<Rule>, Option<u32>)>;

/// Checks the OCI rule at `at` and compiles its action and conditions.
fn parse_rule(at: &str, sc: &LinuxSyscall) -> Result<Rule> {
    let ret = action(sc.action(), sc.errno_ret(), &format!("{at}.action"))?;
    let mut conds = Vec::new();
    for (j, arg) in sc.args().iter().flatten().enumerate() {
        if arg.index() > 5 {
            return Err(Error::config(
                format!("{at}.args[{j}].index"),
                format!("{} is not an argument index (0 to 5)", arg.index()),
            ));
        }
        conds.push(Cond {
            index: arg.index() as u32,
            op: arg.op(),
            value: arg.value(),
            value_two: arg.value_two().unwrap_or(0),
        });
    }
    if sc.names().is_empty() {
        return Err(Error::config(format!("{at}.names"), "is empty"));
    }
    Ok(Rule { conds, ret })
}

/// Adds `rule` for syscall `nr`.
fn add_rule(rules: &mut Rules, nr: u32, rule: &Rule) {
    let entry = rules.entry(nr).or_default();
    if rule.conds.is_empty() {
        // The first unconditional rule wins, as the first match would.
        entry.1.get_or_insert(rule.ret);
    } else {
        entry.0.push(rule.clone());
    }
}

/// Adds `rule` for `name` to every section whose architecture has that call. A name no
/// section knows is skipped, as runc does with names libseccomp cannot resolve.
fn add_name(arches: &[&ArchDef], rules: &mut [Rules], name: &str, rule: &Rule, at: &str) {
    let mut found = false;
    for (arch, rules) in arches.iter().zip(rules.iter_mut()) {
        if let Some(nr) = find(arch.table, name) {
            add_rule(rules, nr, rule);
            found = true;
        }
    }
    if !found {
        tracing::debug!(
            "seccomp: {at}: {name:?} is no syscall of the filter's architectures, ignored"
        );
    }
}

/// Compiles the OCI section for the running architecture (and the secondary ones it lists).
/// Every problem is a configuration error with its JSON path, so this doubles as validation.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Filter> {
    let default = action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        "linux.seccomp.defaultAction",
    )?;
    let arches = sections(seccomp);
    let mut rules = vec![Rules::new(); arches.len()];
    for (i, sc) in seccomp.syscalls().iter().flatten().enumerate() {
        let at = format!("linux.seccomp.syscalls[{i}]");
        let rule = parse_rule(&at, sc)?;
        for (j, name) in sc.names().iter().enumerate() {
            add_name(
                &arches,
                &mut rules,
                name,
                &rule,
                &format!("{at}.names[{j}]"),
            );
        }
    }
    let bodies: Vec<_> = arches
        .iter()
        .zip(rules)
        .map(|(arch, mut rules)| {
            // Syscalls whose rules all equal the default need no code.
            rules.retain(|_, (conds, uncond)| !(conds.is_empty() && *uncond == Some(default)));
            (*arch, section_body(&rules, default, arch.bits32))
        })
        .collect();
    let program = link(&bodies);
    if program.len() > BPF_MAXINSNS {
        return Err(Error::config(
            "linux.seccomp",
            format!(
                "the filter needs {} BPF instructions, above the kernel's 4096",
                program.len()
            ),
        ));
    }
    Ok(Filter {
        program,
        flags: flags(seccomp),
    })
}

/// The sections of one audit architecture: its own, and the one of the ABI that shares it
/// (x32 under x86_64).
struct Group<'a> {
    arch: &'a ArchDef,
    body: &'a [libc::sock_filter],
    split: Option<&'a [libc::sock_filter]>,
}

impl Group<'_> {
    /// The group's code, entered with any number: it loads the number, sends the split-off
    /// ABI's numbers to its section (or kills them when it has none) and the rest to its own.
    fn code(&self) -> Vec<libc::sock_filter> {
        let mut code = vec![stmt(LD_W_ABS, OFF_NR)];
        if let Some(first) = self.arch.abi_split {
            code.push(jump(JGE_K, first, 0, 1));
            code.push(match self.split {
                // The split-off section follows this one.
                Some(_) => stmt(JA, self.body.len() as u32),
                None => stmt(RET_K, SECCOMP_RET_KILL_PROCESS),
            });
        }
        debug_assert!(self.split.is_none() || self.arch.abi_split.is_some());
        code.extend_from_slice(self.body);
        code.extend_from_slice(self.split.unwrap_or_default());
        code
    }
}

/// Puts the sections behind the architecture dispatch:
///
/// ```text
///         ld arch
///         jeq AUDIT(a),0,1 ; ja a_sec         one pair per audit architecture, native first
///         ret KILL_PROCESS                    an architecture the filter does not cover
/// a_sec:  ld nr
///         [jge split,0,1 ; ja b_sec | ret KILL_PROCESS]   x86_64: x32 numbers, x32 listed or not
///         section_body(a)
/// b_sec:  section_body(b)                     x32, the number already loaded
/// ```
///
/// `jt`/`jf` are 8-bit, so every jump to a section is a `ja` (32-bit offset).
fn link(sections: &[(&ArchDef, Vec<libc::sock_filter>)]) -> Vec<libc::sock_filter> {
    let mut groups: Vec<Group> = Vec::new();
    for (arch, body) in sections {
        match groups.iter_mut().find(|g| g.arch.audit == arch.audit) {
            Some(group) => group.split = Some(body),
            None => groups.push(Group {
                arch,
                body,
                split: None,
            }),
        }
    }
    let header_len = 2 + 2 * groups.len();
    let mut prog = vec![stmt(LD_W_ABS, OFF_ARCH)];
    let mut code = Vec::new();
    for group in &groups {
        prog.push(jump(JEQ_K, group.arch.audit, 0, 1));
        let ja_pc = prog.len();
        prog.push(stmt(JA, (header_len + code.len() - ja_pc - 1) as u32));
        code.extend(group.code());
    }
    prog.push(stmt(RET_K, SECCOMP_RET_KILL_PROCESS));
    prog.extend(code);
    prog
}

/// One architecture's section: the number dispatch, then the bodies of the syscalls with
/// argument rules. It expects the syscall number in A and is position-independent.
///
/// Dispatch over segments in ascending number order: a run of consecutive numbers whose only
/// rule is the same unconditional action is one segment (Docker's allow-list makes ~50 runs
/// out of ~330 syscalls), a syscall with argument rules is a segment of its own whose body
/// follows the dispatch. Four instructions per segment:
///   jgt hi → next segment | jge lo → action | ret default | ret action (or ja body)
/// A number below a segment's `lo` is in no later one either, hence the early default.
fn section_body(rules: &Rules, default: u32, bits32: bool) -> Vec<libc::sock_filter> {
    let segments = segments(rules);
    let mut bodies: Vec<libc::sock_filter> = Vec::new();
    let mut body_starts = Vec::new();
    for seg in &segments {
        let Segment::Body(nr) = seg else {
            body_starts.push(usize::MAX);
            continue;
        };
        body_starts.push(bodies.len());
        emit_body(&mut bodies, &rules[nr], default, bits32);
    }
    let mut prog = Vec::new();
    let bodies_start = 4 * segments.len() + 1;
    for (i, seg) in segments.iter().enumerate() {
        let (lo, hi) = seg.range();
        prog.push(jump(JGT_K, hi, 3, 0));
        prog.push(jump(JGE_K, lo, 1, 0));
        prog.push(stmt(RET_K, default));
        match seg {
            Segment::Run { ret, .. } => prog.push(stmt(RET_K, *ret)),
            Segment::Body(_) => {
                let ja_pc = prog.len();
                let target = bodies_start + body_starts[i];
                prog.push(stmt(JA, (target - ja_pc - 1) as u32));
            }
        }
    }
    prog.push(stmt(RET_K, default));
    prog.extend(bodies);
    prog
}

/// One syscall's body: each conditional rule in order, then its unconditional verdict.
fn emit_body(
    out: &mut Vec<libc::sock_filter>,
    (conds, uncond): &(Vec<Rule>, Option<u32>),
    default: u32,
    bits32: bool,
) {
    for rule in conds {
        let start = out.len();
        for cond in &rule.conds {
            if bits32 {
                emit_cond32(out, cond);
            } else {
                emit_cond(out, cond);
            }
        }
        out.push(stmt(RET_K, rule.ret));
        // Patch the rule's FAIL jumps (marked with k = u32::MAX) to the next rule.
        let end = out.len();
        for (pc, insn) in out.iter_mut().enumerate().take(end).skip(start) {
            if insn.code == JA && insn.k == u32::MAX {
                insn.k = (end - pc - 1) as u32;
            }
        }
    }
    out.push(stmt(RET_K, uncond.unwrap_or(default)));
}
/// A piece of the number dispatch (see [`section_body`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    /// Consecutive numbers `lo..=hi` that all return `ret` whatever their arguments.
    Run { lo: u32, hi: u32, ret: u32 },
    /// One number with argument rules, checked in its own body.
    Body(u32),
}

impl Segment {
    fn range(&self) -> (u32, u32) {
        match *self {
            Segment::Run { lo, hi, .. } => (lo, hi),
            Segment::Body(nr) => (nr, nr),
        }
    }
}

/// Merges the rules (sorted by number) into dispatch segments.
fn segments(rules: &BTreeMap<u32, (Vec<Rule>, Option<u32>)>) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for (&nr, (conds, uncond)) in rules {
        let simple = match (conds.is_empty(), uncond) {
            (true, Some(ret)) => Some(*ret),
            _ => None,
        };
        match (simple, out.last_mut()) {
            (Some(ret), Some(Segment::Run { hi, ret: last, .. }))
                if *last == ret && nr.checked_sub(1) == Some(*hi) =>
            {
                *hi = nr;
            }
            (Some(ret), _) => out.push(Segment::Run {
                lo: nr,
                hi: nr,
                ret,
            }),
            (None, _) => out.push(Segment::Body(nr)),
        }
    }
    out
}

/// Emits one 64-bit comparison; failing jumps are `ja` with the placeholder `k = u32::MAX`.
fn emit_cond(out: &mut Vec<libc::sock_filter>, c: &Cond) {
    let lo_off = OFF_ARGS + 8 * c.index;
    let hi_off = lo_off + 4;
    let fail = stmt(JA, u32::MAX);
    let (vhi, vlo) = ((c.value >> 32) as u32, c.value as u32);
    match c.op {
        LinuxSeccompOperator::ScmpCmpEq => out.extend([
            stmt(LD_W_ABS, hi_off),
            jump(JEQ_K, vhi, 1, 0),
            fail,
            stmt(LD_W_ABS, lo_off),
            jump(JEQ_K, vlo, 1, 0),
            fail,
        ]),
        LinuxSeccompOperator::ScmpCmpNe => out.extend([
            stmt(LD_W_ABS, hi_off),
            jump(JEQ_K, vhi, 0, 3),
            stmt(LD_W_ABS, lo_off),
            jump(JEQ_K, vlo, 0, 1),
            fail,
        ]),
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            let (thi, tlo) = ((c.value_two >> 32) as u32, c.value_two as u32);
            out.extend([
                stmt(LD_W_ABS, hi_off),
                stmt(AND_K, vhi),
                jump(JEQ_K, thi, 1, 0),
                fail,
                stmt(LD_W_ABS, lo_off),
                stmt(AND_K, vlo),
                jump(JEQ_K, tlo, 1, 0),
                fail,
            ])
        }
        LinuxSeccompOperator::ScmpCmpGt | LinuxSeccompOperator::ScmpCmpGe => {
            let lo_op = if c.op == LinuxSeccompOperator::ScmpCmpGt {
                JGT_K
            } else {
                JGE_K
            };
            out.extend([
                stmt(LD_W_ABS, hi_off),
                jump(JGT_K, vhi, 4, 0),
                jump(JEQ_K, vhi, 0, 2),
                stmt(LD_W_ABS, lo_off),
                jump(lo_op, vlo, 1, 0),
                fail,
            ])
        }
        LinuxSeccompOperator::ScmpCmpLt | LinuxSeccompOperator::ScmpCmpLe => {
            // LT is "not GE", LE is "not GT" on the low word.
            let lo_op = if c.op == LinuxSeccompOperator::ScmpCmpLt {
                JGE_K
            } else {
                JGT_K
            };
            out.extend([
                stmt(LD_W_ABS, hi_off),
                jump(JGT_K, vhi, 3, 0),
                jump(JEQ_K, vhi, 0, 3),
                stmt(LD_W_ABS, lo_off),
                jump(lo_op, vlo, 0, 1),
                fail,
            ])
        }
    }
}

/// Emits one comparison for a 32-bit ABI, on the argument's low word only (what libseccomp
/// compiles for these architectures); failing jumps as in [`emit_cond`].
fn emit_cond32(out: &mut Vec<libc::sock_filter>, c: &Cond) {
    let lo_off = OFF_ARGS + 8 * c.index;
    let fail = stmt(JA, u32::MAX);
    let vlo = c.value as u32;
    out.push(stmt(LD_W_ABS, lo_off));
    match c.op {
        LinuxSeccompOperator::ScmpCmpEq => out.push(jump(JEQ_K, vlo, 1, 0)),
        LinuxSeccompOperator::ScmpCmpNe => out.push(jump(JEQ_K, vlo, 0, 1)),
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            out.push(stmt(AND_K, vlo));
            out.push(jump(JEQ_K, c.value_two as u32, 1, 0));
        }
        LinuxSeccompOperator::ScmpCmpGt => out.push(jump(JGT_K, vlo, 1, 0)),
        LinuxSeccompOperator::ScmpCmpGe => out.push(jump(JGE_K, vlo, 1, 0)),
        // LT is "not GE", LE is "not GT".
        LinuxSeccompOperator::ScmpCmpLt => out.push(jump(JGE_K, vlo, 0, 1)),
        LinuxSeccompOperator::ScmpCmpLe => out.push(jump(JGT_K, vlo, 0, 1)),
    }
    out.push(fail);
}

/// Installs `filter` on the calling thread (the container's init, single-threaded). Without
/// `no_new_privs` this needs `CAP_SYS_ADMIN`, which is why the caller orders it before the
/// capability drop in that case. Allocation-free: safe to call after `clone`.
pub fn install(filter: &Filter) -> std::io::Result<()> {
    let prog = libc::sock_fprog {
        len: filter.program.len() as u16,
        filter: filter.program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: `prog` points at `filter.program`, which outlives the call; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            1 as libc::c_ulong, // SECCOMP_SET_MODE_FILTER
            filter.flags,
            &prog as *const libc::sock_fprog,
        )
    };
    if rc < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the subset of classic BPF the compiler emits, so rules can be
    /// tested without installing anything.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = [0u8; 64];
        data[0..4].copy_from_slice(&nr.to_le_bytes());
        data[4..8].copy_from_slice(&arch.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        let mut acc: u32 = 0;
        let mut pc = 0usize;
        loop {
            let i = prog[pc];
            pc += 1;
            match i.code {
                LD_W_ABS => {
                    let o = i.k as usize;
                    acc = u32::from_le_bytes(data[o..o + 4].try_into().unwrap());
                }
                AND_K => acc &= i.k,
                JA => pc += i.k as usize,
                RET_K => return i.k,
                JEQ_K | JGT_K | JGE_K => {
                    let hit = match i.code {
                        JEQ_K => acc == i.k,
                        JGT_K => acc > i.k,
                        _ => acc >= i.k,
                    };
                    pc += if hit { i.jt } else { i.jf } as usize;
                }
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    fn profile(json: serde_json::Value) -> Filter {
        compile(&serde_json::from_value(json).unwrap()).unwrap()
    }

    fn nr(name: &str) -> u32 {
        match lookup(name) {
            Lookup::Native(n) => n,
            other => panic!("{name}: {other:?}"),
        }
    }

    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0001;

    /// Checks that `filter`'s section for `arch` gives every syscall number of `seccomp` (and
    /// the numbers around them) the verdict of its first unconditional rule, or the default;
    /// returns how many numbers it checked.
    fn check_section(filter: &Filter, seccomp: &LinuxSeccomp, arch: &ArchDef) -> usize {
        let default = action(seccomp.default_action(), seccomp.default_errno_ret(), "d").unwrap();
        let mut expected: BTreeMap<u32, Option<u32>> = BTreeMap::new();
        for sc in seccomp.syscalls().iter().flatten() {
            let ret = action(sc.action(), sc.errno_ret(), "r").unwrap();
            let conditional = sc.args().as_ref().is_some_and(|a| !a.is_empty());
            for name in sc.names() {
                let Some(n) = find(arch.table, name) else {
                    continue;
                };
                let slot = expected.entry(n).or_insert(Some(ret));
                if conditional {
                    *slot = None; // argument rules: checked by the tests below
                }
            }
        }
        let base = if arch.table.iter().all(|(_, n)| n & X32_BIT != 0) {
            X32_BIT
        } else {
            0
        };
        let numbers = (base..=base + 600).chain(arch.table.iter().map(|(_, n)| *n));
        let mut checked = 0;
        for n in numbers {
            let want = match expected.get(&n) {
                Some(None) => continue,
                Some(Some(ret)) => *ret,
                None => default,
            };
            assert_eq!(
                run(&filter.program, arch.audit, n, [0; 6]),
                want,
                "{} syscall {n:#x}",
                arch.oci
            );
            checked += 1;
        }
        checked
    }

    /// The segmented dispatch gives every syscall number of Docker's profile the verdict of
    /// its first unconditional rule (or the default), gaps and run edges included.
    #[test]
    fn default_profile_dispatch_matches_its_rules() {
        let seccomp = crate::profile::seccomp::default_profile(&[]);
        let filter = compile(&seccomp).unwrap();
        assert!(check_section(&filter, &seccomp, NATIVE) > 450);
        // One test per syscall needed ~3 instructions each (~1000); runs need far fewer.
        assert!(
            filter.program.len() < 500,
            "{} instructions",
            filter.program.len()
        );
    }

    /// Docker's profile with every architecture this host runs: each section follows its own
    /// table, and the whole filter stays well below the kernel's limit.
    #[test]
    fn default_profile_for_every_architecture() {
        let mut seccomp = crate::profile::seccomp::default_profile(&[]);
        let mut arches = vec![NATIVE.oci];
        arches.extend(SECONDARY.iter().map(|a| a.oci));
        seccomp.set_architectures(Some(arches));
        let filter = compile(&seccomp).unwrap();
        for arch in std::iter::once(NATIVE).chain(SECONDARY.iter().copied()) {
            assert!(check_section(&filter, &seccomp, arch) > 300, "{}", arch.oci);
        }
        assert!(
            filter.program.len() < 1200,
            "{} instructions",
            filter.program.len()
        );
    }

    #[test]
    fn lookup_tables() {
        assert_eq!(lookup("fooo"), Lookup::Unknown);
        assert!(matches!(lookup("read"), Lookup::Native(_)));
        assert!(matches!(lookup("clone3"), Lookup::Native(435)));
        assert_eq!(lookup("chown32"), Lookup::OtherArch);
        assert_eq!(lookup("arm_fadvise64_64"), Lookup::OtherArch);
        #[cfg(target_arch = "x86_64")]
        assert_eq!(lookup("read"), Lookup::Native(0));
        #[cfg(target_arch = "aarch64")]
        assert_eq!(lookup("open"), Lookup::OtherArch);
        for arch in ALL {
            assert!(
                arch.table.windows(2).all(|w| w[0].0 < w[1].0),
                "{} table must be sorted",
                arch.oci
            );
        }
        // Spot checks against libseccomp's syscalls.csv.
        let nr = |arch: &ArchDef, name| find(arch.table, name).unwrap();
        assert_eq!(nr(&I386, "chown32"), 212);
        assert_eq!(nr(&I386, "_llseek"), 140);
        assert_eq!(nr(&I386, "mmap2"), 192);
        assert_eq!(nr(&I386, "socketcall"), 102);
        assert_eq!(nr(&I386, "exit"), 1);
        assert_eq!(nr(&I386, "rt_sigaction"), 174);
        assert_eq!(nr(&X32, "exit"), X32_BIT | 60);
        assert_eq!(nr(&X32, "rt_sigaction"), X32_BIT | 512);
        assert_eq!(nr(&ARM, "chown32"), 212);
        assert_eq!(nr(&ARM, "arm_fadvise64_64"), 270);
        assert_eq!(nr(&ARM, "set_tls"), 0x000f_0005);
        assert_eq!(find(ARM.table, "socketcall"), None, "an OABI-only call");
    }

    #[test]
    fn allow_list_with_conditions() {
        let f = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}]},
                {"names": ["clone"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0x7E020000u64, "valueTwo": 0,
                           "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["setns"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 1, "value": 0x1_0000_0000u64, "op": "SCMP_CMP_LT"}]},
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 2, "value": 5, "op": "SCMP_CMP_NE"}]},
                {"names": ["gettid"], "action": "SCMP_ACT_ALLOW",
                 "args": [{"index": 0, "value": 0x1_0000_0005u64, "op": "SCMP_CMP_GE"}]}
            ]
        }));
        let a = NATIVE.audit;
        let z = [0u64; 6];
        assert_eq!(run(&f.program, a, nr("read"), z), ALLOW);
        assert_eq!(run(&f.program, a, nr("write"), z), ALLOW);
        assert_eq!(run(&f.program, a, nr("mount"), z), EPERM);
        assert_eq!(run(&f.program, a, nr("clone3"), z), 0x0005_0000 | 38);
        assert_eq!(
            run(&f.program, a, nr("personality"), [8, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(
            run(&f.program, a, nr("personality"), [9, 0, 0, 0, 0, 0]),
            EPERM
        );
        assert_eq!(
            run(
                &f.program,
                a,
                nr("personality"),
                [8 | 1 << 32, 0, 0, 0, 0, 0]
            ),
            EPERM
        );
        let sigchld = libc::SIGCHLD as u64;
        assert_eq!(
            run(&f.program, a, nr("clone"), [sigchld, 0, 0, 0, 0, 0]),
            ALLOW
        );
        let newns = libc::CLONE_NEWNS as u64 | sigchld;
        assert_eq!(
            run(&f.program, a, nr("clone"), [newns, 0, 0, 0, 0, 0]),
            EPERM
        );
        assert_eq!(
            run(&f.program, a, nr("setns"), [0, 0xffff_ffff, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(
            run(&f.program, a, nr("setns"), [0, 0x1_0000_0000, 0, 0, 0, 0]),
            EPERM
        );
        assert_eq!(run(&f.program, a, nr("getpid"), [0, 0, 4, 0, 0, 0]), ALLOW);
        assert_eq!(run(&f.program, a, nr("getpid"), [0, 0, 5, 0, 0, 0]), EPERM);
        assert_eq!(
            run(&f.program, a, nr("getpid"), [0, 0, 5 | 1 << 32, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(
            run(&f.program, a, nr("gettid"), [0x1_0000_0005, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(
            run(&f.program, a, nr("gettid"), [0x2_0000_0000, 0, 0, 0, 0, 0]),
            ALLOW
        );
        assert_eq!(
            run(&f.program, a, nr("gettid"), [0x1_0000_0004, 0, 0, 0, 0, 0]),
            EPERM
        );
        assert_eq!(
            run(&f.program, a, nr("gettid"), [0xffff_ffff, 0, 0, 0, 0, 0]),
            EPERM
        );
        // A foreign architecture is killed outright.
        assert_eq!(run(&f.program, 0x4000_0003, 0, z), SECCOMP_RET_KILL_PROCESS);
    }

    #[test]
    fn le_and_gt() {
        let f = profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["read"], "action": "SCMP_ACT_KILL_PROCESS",
                 "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_LE"}]},
                {"names": ["write"], "action": "SCMP_ACT_ERRNO",
                 "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_GT"}]}
            ]
        }));
        let a = NATIVE.audit;
        let r = |n: &str, v: u64| run(&f.program, a, nr(n), [v, 0, 0, 0, 0, 0]);
        assert_eq!(r("read", 10), SECCOMP_RET_KILL_PROCESS);
        assert_eq!(r("read", 11), ALLOW);
        assert_eq!(r("read", 1 << 40), ALLOW);
        assert_eq!(r("write", 10), ALLOW);
        assert_eq!(r("write", 11), EPERM);
        assert_eq!(r("write", 1 << 33), EPERM);
    }

    /// Names of other architectures, and names of none, compile to nothing (runc skips them).
    #[test]
    fn names_other_architectures_use_are_skipped() {
        let seccomp = serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["chown32", "_llseek", "mmap2", "fooo"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["read"], "action": "SCMP_ACT_ALLOW"}
            ]
        });
        let f = profile(seccomp.clone());
        let mut bare = seccomp;
        bare["syscalls"].as_array_mut().unwrap().remove(0);
        assert_eq!(f, profile(bare));
        assert_eq!(run(&f.program, NATIVE.audit, nr("read"), [0; 6]), ALLOW);
    }

    /// A profile listing x86_64, x86 and x32 (what Docker's `archMap` gives) gets one section
    /// per ABI, each with its own numbers.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn listed_architectures_get_their_own_sections() {
        let f = multi_arch(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
        let (x86_64, i386) = (X86_64.audit, I386.audit);
        let z = [0u64; 6];
        let enosys = 0x0005_0000 | 38;
        let log = 0x7ffc_0000;
        assert_eq!(run(&f.program, i386, 212, z), ALLOW, "chown32");
        assert_eq!(run(&f.program, i386, 140, z), ALLOW, "_llseek");
        assert_eq!(run(&f.program, i386, 192, z), ALLOW, "mmap2");
        assert_eq!(run(&f.program, i386, 3, z), ALLOW, "read");
        assert_eq!(run(&f.program, i386, 1, z), enosys, "exit");
        assert_eq!(run(&f.program, i386, 174, z), log, "rt_sigaction");
        assert_eq!(run(&f.program, i386, 4, z), EPERM, "write");
        assert_eq!(run(&f.program, x86_64, 0, z), ALLOW, "read");
        assert_eq!(run(&f.program, x86_64, 60, z), enosys, "exit");
        assert_eq!(run(&f.program, x86_64, 13, z), log, "rt_sigaction");
        assert_eq!(
            run(&f.program, x86_64, 212, z),
            EPERM,
            "i386's chown32 is not ours"
        );
        assert_eq!(run(&f.program, x86_64, X32_BIT, z), ALLOW, "x32 read");
        assert_eq!(run(&f.program, x86_64, X32_BIT | 60, z), enosys, "x32 exit");
        assert_eq!(
            run(&f.program, x86_64, X32_BIT | 512, z),
            log,
            "x32 rt_sigaction"
        );
        assert_eq!(
            run(&f.program, x86_64, X32_BIT | 13, z),
            EPERM,
            "64-bit only"
        );
        assert_eq!(
            run(&f.program, AARCH64.audit, 0, z),
            SECCOMP_RET_KILL_PROCESS
        );
    }

    /// An ABI the profile does not list is killed, whatever the others.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn unlisted_architectures_are_killed() {
        let z = [0u64; 6];
        let f = multi_arch(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]);
        let kill = SECCOMP_RET_KILL_PROCESS;
        assert_eq!(run(&f.program, X86_64.audit, X32_BIT, z), kill);
        assert_eq!(run(&f.program, X86_64.audit, X32_BIT | 512, z), kill);
        assert_eq!(run(&f.program, I386.audit, 3, z), ALLOW);
        let f = multi_arch(&["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"]);
        assert_eq!(run(&f.program, I386.audit, 3, z), kill);
        assert_eq!(run(&f.program, X86_64.audit, X32_BIT, z), ALLOW);
        // Architectures this kernel cannot run add nothing; native is always there.
        let f = multi_arch(&["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM", "SCMP_ARCH_S390X"]);
        assert_eq!(f, multi_arch(&[]));
        assert_eq!(run(&f.program, X86_64.audit, 0, z), ALLOW);
        assert_eq!(run(&f.program, ARM.audit, 3, z), kill);
        assert_eq!(run(&f.program, X86_64.audit, X32_BIT, z), kill);
    }

    /// Every secondary architecture of this host, listed, is allowed; unlisted, killed.
    #[test]
    fn secondary_architectures_follow_the_list() {
        let z = [0u64; 6];
        let all: Vec<String> = std::iter::once(NATIVE)
            .chain(SECONDARY.iter().copied())
            .map(|a| a.oci.to_string())
            .collect();
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let with = multi_arch(&all);
        let without = multi_arch(&all[..1]);
        for arch in SECONDARY {
            let read = find(arch.table, "read").unwrap();
            assert_eq!(
                run(&with.program, arch.audit, read, z),
                ALLOW,
                "{}",
                arch.oci
            );
            assert_eq!(
                run(&without.program, arch.audit, read, z),
                SECCOMP_RET_KILL_PROCESS,
                "{}",
                arch.oci
            );
        }
    }

    /// The test profile of the multi-architecture tests, with `architectures` = `arches`.
    fn multi_arch(arches: &[&str]) -> Filter {
        profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "architectures": arches,
            "syscalls": [
                {"names": ["chown32", "_llseek", "mmap2", "read", "not_a_syscall"],
                 "action": "SCMP_ACT_ALLOW"},
                {"names": ["exit"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["rt_sigaction"], "action": "SCMP_ACT_LOG"}
            ]
        }))
    }

    /// 32-bit sections compare the low word of arguments only, as libseccomp does (EQ
    /// 0x1_0000_0008 matches 8 there), the 64-bit one both words. Checked for every operator
    /// against a reference.
    #[test]
    fn thirty_two_bit_sections_compare_the_low_word() {
        let Some(arch32) = SECONDARY.iter().find(|a| a.bits32) else {
            return;
        };
        let ops = [
            ("SCMP_CMP_EQ", 0u64),
            ("SCMP_CMP_NE", 0),
            ("SCMP_CMP_GT", 0),
            ("SCMP_CMP_GE", 0),
            ("SCMP_CMP_LT", 0),
            ("SCMP_CMP_LE", 0),
            ("SCMP_CMP_MASKED_EQ", 0x1_0000_0008),
        ];
        let value = 0x1_0000_0008u64;
        let args = [
            0,
            7,
            8,
            9,
            0xffff_ffff,
            0x1_0000_0007,
            0x1_0000_0008,
            0x2_0000_0008,
        ];
        for (op, value_two) in ops {
            let f = profile(serde_json::json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "architectures": [NATIVE.oci.to_string(), arch32.oci.to_string()],
                "syscalls": [{"names": ["personality"], "action": "SCMP_ACT_ALLOW",
                              "args": [{"index": 0, "value": value, "valueTwo": value_two,
                                        "op": op}]}]
            }));
            for arg in args {
                for (arch, width) in [(NATIVE, u64::MAX), (*arch32, 0xffff_ffff)] {
                    let (a, v, v2) = (arg & width, value & width, value_two & width);
                    let hit = match op {
                        "SCMP_CMP_EQ" => a == v,
                        "SCMP_CMP_NE" => a != v,
                        "SCMP_CMP_GT" => a > v,
                        "SCMP_CMP_GE" => a >= v,
                        "SCMP_CMP_LT" => a < v,
                        "SCMP_CMP_LE" => a <= v,
                        _ => a & v == v2,
                    };
                    let nr = find(arch.table, "personality").unwrap();
                    assert_eq!(
                        run(&f.program, arch.audit, nr, [arg, 0, 0, 0, 0, 0]),
                        if hit { ALLOW } else { EPERM },
                        "{} {op} {arg:#x}",
                        arch.oci
                    );
                }
            }
        }
    }

    #[test]
    fn notify_is_refused() {
        let err = compile(
            &serde_json::from_value(serde_json::json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]
            }))
            .unwrap(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("syscalls[0].action"), "{err}");
    }
}

#[cfg(test)]
mod default_profile_tests {
    use super::{Lookup, compile, lookup};
    use crate::profile::seccomp::{ALLOWED, BY_CAPABILITY, default_profile};

    /// The shared allow-list names only syscalls this compiler knows, and compiles.
    #[test]
    fn every_profile_name_is_a_syscall() {
        for name in ALLOWED
            .iter()
            .chain(BY_CAPABILITY.iter().flat_map(|(_, n)| n.iter()))
        {
            assert_ne!(lookup(name), Lookup::Unknown, "{name}");
        }
        compile(&default_profile(&[])).unwrap();
        compile(&default_profile(&["CAP_SYS_ADMIN", "SYS_PTRACE"])).unwrap();
    }

    #[test]
    fn default_spec_validates() {
        let spec = crate::profile::default_spec(&["sh".into()]);
        let json = serde_json::to_string(&spec).unwrap();
        let back = crate::spec::parse(&json).unwrap();
        crate::spec::validate(&back).unwrap();
    }
}
