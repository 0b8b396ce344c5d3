//! The OCI `linux.seccomp` section compiled to a classic BPF program, and its installation.
//!
//! The compiler is our own rather than seccompiler's because OCI profiles give each syscall
//! rule its own action (`ALLOW` most, `ERRNO(ENOSYS)` for `clone3`, ...) while seccompiler
//! filters have a single match action; stacking several kernel filters would not give OCI's
//! first-match semantics. The program is:
//!
//! 1. check the audit architecture (a foreign one, or the x32 ABI on x86_64, kills the process:
//!    its syscall numbers mean something else, so no rule could be trusted);
//! 2. a dispatch on the syscall number over ascending segments: runs of consecutive numbers
//!    with the same unconditional action, and single syscalls with argument rules (a filter a
//!    third of the size of one test per syscall: faster to load and to run);
//! 3. per syscall, its argument-conditioned rules first (in document order), then its
//!    unconditional rule, then the default action.
//!
//! 64-bit argument comparisons are split into high and low 32-bit words (both supported
//! architectures are little-endian).

use crate::error::{Error, Result};
use crate::syscall_table;
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator,
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
    /// The name is a syscall on another supported architecture only (e.g. `open` on aarch64);
    /// rules for it are skipped.
    OtherArch,
    /// Not a syscall anywhere we know: a typo.
    Unknown,
}

#[cfg(target_arch = "x86_64")]
const NATIVE: &[(&str, u32)] = syscall_table::X86_64;
#[cfg(target_arch = "x86_64")]
const OTHER: &[(&str, u32)] = syscall_table::AARCH64;
#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xC000_003E;
#[cfg(target_arch = "aarch64")]
const NATIVE: &[(&str, u32)] = syscall_table::AARCH64;
#[cfg(target_arch = "aarch64")]
const OTHER: &[(&str, u32)] = syscall_table::X86_64;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xC000_00B7;

/// Looks a syscall name up for the running architecture.
pub fn lookup(name: &str) -> Lookup {
    let find = |table: &[(&str, u32)]| {
        table
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| table[i].1)
    };
    match find(NATIVE) {
        Some(nr) => Lookup::Native(nr),
        None if find(OTHER).is_some() => Lookup::OtherArch,
        None => Lookup::Unknown,
    }
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

/// One compiled argument condition.
#[derive(Debug, Clone, Copy)]
struct Cond {
    index: u32,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: u64,
}

#[derive(Debug, Clone)]
struct Rule {
    conds: Vec<Cond>,
    ret: u32,
}

/// Compiles the OCI section for the running architecture. Every problem is a configuration
/// error with its JSON path, so this doubles as validation.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Filter> {
    let default = action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        "linux.seccomp.defaultAction",
    )?;
    let mut flags: libc::c_ulong = 0;
    for flag in seccomp.flags().iter().flatten() {
        flags |= match flag {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => 2,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => 1,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => 4,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 32,
        };
    }
    // Per syscall number: conditional rules, then at most one unconditional rule.
    let mut rules: BTreeMap<u32, (Vec<Rule>, Option<u32>)> = BTreeMap::new();
    for (i, sc) in seccomp.syscalls().iter().flatten().enumerate() {
        let at = format!("linux.seccomp.syscalls[{i}]");
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
        for (j, name) in sc.names().iter().enumerate() {
            let nr = match lookup(name) {
                Lookup::Native(nr) => nr,
                Lookup::OtherArch => continue,
                Lookup::Unknown => {
                    return Err(Error::config(
                        format!("{at}.names[{j}]"),
                        format!("unknown syscall {name:?}"),
                    ));
                }
            };
            let entry = rules.entry(nr).or_default();
            if conds.is_empty() {
                // The first unconditional rule wins, as the first match would.
                entry.1.get_or_insert(ret);
            } else {
                entry.0.push(Rule {
                    conds: conds.clone(),
                    ret,
                });
            }
        }
    }
    // Syscalls whose rules all equal the default need no code.
    rules.retain(|_, (conds, uncond)| !(conds.is_empty() && *uncond == Some(default)));

    let mut prog = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JEQ_K, AUDIT_ARCH, 1, 0),
        stmt(RET_K, SECCOMP_RET_KILL_PROCESS),
        stmt(LD_W_ABS, OFF_NR),
    ];
    if cfg!(target_arch = "x86_64") {
        // The x32 ABI sets bit 30 of the number; its numbers are not ours.
        prog.push(jump(JGE_K, 0x4000_0000, 0, 1));
        prog.push(stmt(RET_K, SECCOMP_RET_KILL_PROCESS));
    }
    // Dispatch over segments in ascending number order: a run of consecutive numbers whose
    // only rule is the same unconditional action is one segment (Docker's allow-list makes
    // ~50 runs out of ~330 syscalls), a syscall with argument rules is a segment of its own
    // whose body follows the dispatch. Four instructions per segment:
    //   jgt hi → next segment | jge lo → action | ret default | ret action (or ja body)
    // A number below a segment's `lo` is in no later one either, hence the early default.
    let segments = segments(&rules);
    let mut bodies: Vec<libc::sock_filter> = Vec::new();
    let mut body_starts = Vec::new();
    for seg in &segments {
        let Segment::Body(nr) = seg else {
            body_starts.push(usize::MAX);
            continue;
        };
        let (conds, uncond) = &rules[nr];
        body_starts.push(bodies.len());
        for rule in conds {
            let start = bodies.len();
            for cond in &rule.conds {
                emit_cond(&mut bodies, cond);
            }
            bodies.push(stmt(RET_K, rule.ret));
            // Patch the rule's FAIL jumps (marked with k = u32::MAX) to the next rule.
            let end = bodies.len();
            for (pc, insn) in bodies.iter_mut().enumerate().take(end).skip(start) {
                if insn.code == JA && insn.k == u32::MAX {
                    insn.k = (end - pc - 1) as u32;
                }
            }
        }
        bodies.push(stmt(RET_K, uncond.unwrap_or(default)));
    }
    let dispatch_start = prog.len();
    let bodies_start = dispatch_start + 4 * segments.len() + 1;
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
    if prog.len() > BPF_MAXINSNS {
        return Err(Error::config(
            "linux.seccomp",
            format!(
                "the filter needs {} BPF instructions, above the kernel's 4096",
                prog.len()
            ),
        ));
    }
    Ok(Filter {
        program: prog,
        flags,
    })
}

/// A piece of the number dispatch (see [`compile`]).
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

    /// The segmented dispatch gives every syscall number of Docker's profile the verdict of
    /// its first unconditional rule (or the default), gaps and run edges included.
    #[test]
    fn default_profile_dispatch_matches_its_rules() {
        let seccomp = crate::profile::seccomp::default_profile(&[]);
        let filter = compile(&seccomp).unwrap();
        let default = action(seccomp.default_action(), seccomp.default_errno_ret(), "d").unwrap();
        let mut expected: BTreeMap<u32, Option<u32>> = BTreeMap::new();
        for sc in seccomp.syscalls().iter().flatten() {
            let ret = action(sc.action(), sc.errno_ret(), "r").unwrap();
            let conditional = sc.args().as_ref().is_some_and(|a| !a.is_empty());
            for name in sc.names() {
                let Lookup::Native(n) = lookup(name) else {
                    continue;
                };
                let slot = expected.entry(n).or_insert(Some(ret));
                if conditional {
                    *slot = None; // argument rules: checked by the tests above
                }
            }
        }
        let mut checked = 0;
        for n in 0..=500u32 {
            let want = match expected.get(&n) {
                Some(None) => continue,
                Some(Some(ret)) => *ret,
                None => default,
            };
            assert_eq!(
                run(&filter.program, AUDIT_ARCH, n, [0; 6]),
                want,
                "syscall {n}"
            );
            checked += 1;
        }
        assert!(checked > 450);
        // One test per syscall needed ~3 instructions each (~1000); runs need far fewer.
        assert!(
            filter.program.len() < 500,
            "{} instructions",
            filter.program.len()
        );
    }

    #[test]
    fn lookup_tables() {
        assert_eq!(lookup("fooo"), Lookup::Unknown);
        assert!(matches!(lookup("read"), Lookup::Native(_)));
        assert!(matches!(lookup("clone3"), Lookup::Native(435)));
        #[cfg(target_arch = "x86_64")]
        assert_eq!(lookup("read"), Lookup::Native(0));
        #[cfg(target_arch = "aarch64")]
        assert_eq!(lookup("open"), Lookup::OtherArch);
        for t in [syscall_table::X86_64, syscall_table::AARCH64] {
            assert!(
                t.windows(2).all(|w| w[0].0 < w[1].0),
                "tables must be sorted"
            );
        }
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
        let a = AUDIT_ARCH;
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
        let a = AUDIT_ARCH;
        let r = |n: &str, v: u64| run(&f.program, a, nr(n), [v, 0, 0, 0, 0, 0]);
        assert_eq!(r("read", 10), SECCOMP_RET_KILL_PROCESS);
        assert_eq!(r("read", 11), ALLOW);
        assert_eq!(r("read", 1 << 40), ALLOW);
        assert_eq!(r("write", 10), ALLOW);
        assert_eq!(r("write", 11), EPERM);
        assert_eq!(r("write", 1 << 33), EPERM);
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
