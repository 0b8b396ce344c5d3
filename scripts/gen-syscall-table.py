#!/usr/bin/env python3
"""Generates crates/runtime/src/syscall_table.rs, the seccomp compiler's name -> number tables.

Sources, all Debian packages (`scripts/install-deps.sh` installs them):
- x86_64, i386, x32: linux-libc-dev's asm/unistd_64.h, asm/unistd_32.h, asm/unistd_x32.h;
- aarch64: linux-libc-dev-arm64-cross's asm/unistd.h (asm-generic/unistd.h with arm64's
  __ARCH_WANT_* switches);
- 32-bit ARM (EABI): linux-libc-dev-armhf-cross's asm/unistd.h, with the ARM-private
  __ARM_NR_* calls under libseccomp's names.
The headers are run through the C preprocessor (`cpp -dM`), so the architecture's own switches
decide which calls exist, and each __NR_ macro is evaluated. Calls newer than the headers are
added from NEWER below (the kernel gives them one number on every architecture).

Usage: gen-syscall-table.py [--check]   (--check: fail if the committed file differs)
"""

import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates/runtime/src/syscall_table.rs")
X32_BIT = 0x4000_0000

# Calls added after the headers' kernel (6.1), with the number every architecture gives them
# (from the kernel's syscall tables); `map_shadow_stack` is not an i386 or x32 call.
NEWER = [
    ("cachestat", 451),
    ("fchmodat2", 452),
    ("map_shadow_stack", 453),
    ("futex_wake", 454),
    ("futex_wait", 455),
    ("futex_requeue", 456),
    ("statmount", 457),
    ("listmount", 458),
    ("lsm_get_self_attr", 459),
    ("lsm_set_self_attr", 460),
    ("lsm_list_modules", 461),
    ("mseal", 462),
    ("setxattrat", 463),
    ("getxattrat", 464),
    ("listxattrat", 465),
    ("removexattrat", 466),
    ("open_tree_attr", 467),
]
NOT_ON_X86_32 = {"map_shadow_stack"}

# ARM-private calls (asm/unistd.h's __ARM_NR_*) as libseccomp names them.
ARM_PRIVATE = {
    "breakpoint": "breakpoint",
    "cacheflush": "cacheflush",
    "usr26": "usr26",
    "usr32": "usr32",
    "set_tls": "set_tls",
}

# ARM-private calls libseccomp knows that the UAPI header does not define.
ARM_PRIVATE_EXTRA = {"get_tls": 0x000F_0006}

NOT_CALLS = {
    "syscalls",
    "arch_specific_syscall",
    "SYSCALL_BASE",
    "BASE",
    "OABI_SYSCALL_BASE",
    "SYSCALL_MASK",
}


def macros(header, include, defines=()):
    """The macros `#include <header>` defines, by name."""
    cmd = ["cpp", "-dM", "-nostdinc", "-undef", "-P"]
    cmd += ["-I" + include]
    cmd += ["-D" + d for d in defines]
    src = "#include <%s>\n" % header
    out = subprocess.run(cmd, input=src, capture_output=True, text=True, check=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"#define (\w+) (.+)$", line)
        if m:
            found[m.group(1)] = m.group(2).strip()
    return found


def evaluate(name, defs, seen=()):
    """The integer value of macro `name`, its references resolved."""
    expr = defs[name]
    if name in seen:
        raise ValueError("macro cycle at " + name)

    def sub(m):
        ref = m.group(0)
        if ref in defs:
            return "(%d)" % evaluate(ref, defs, seen + (name,))
        return ref

    expr = re.sub(r"[A-Za-z_]\w*", sub, expr)
    expr = re.sub(r"\b(0x[0-9a-fA-F]+|\d+)[uUlL]+\b", r"\1", expr)
    if not re.fullmatch(r"[0-9a-fA-FxX()+\-|<>* ]+", expr):
        raise ValueError("%s: cannot evaluate %r" % (name, expr))
    return eval(expr)  # an arithmetic expression of integers only, checked above


def calls(defs, prefix="__NR_"):
    table = {}
    for name in defs:
        if not name.startswith(prefix):
            continue
        call = name[len(prefix):]
        if call in NOT_CALLS or call.startswith("3264_"):
            continue
        try:
            table[call] = evaluate(name, defs)
        except ValueError:
            continue
    return table


def add_newer(table, arch, offset=0):
    for call, number in NEWER:
        if call in NOT_ON_X86_32 and arch in ("i386", "x32"):
            continue
        table.setdefault(call, number + offset)


def tables():
    x86 = "/usr/include/x86_64-linux-gnu"
    arm64 = "/usr/aarch64-linux-gnu/include"
    armhf = "/usr/arm-linux-gnueabihf/include"
    for d in (x86, arm64, armhf):
        if not os.path.isdir(d):
            sys.exit("gen-syscall-table: %s is missing (scripts/install-deps.sh installs it)" % d)

    x86_64 = calls(macros("asm/unistd_64.h", x86))
    add_newer(x86_64, "x86_64")
    i386 = calls(macros("asm/unistd_32.h", x86))
    add_newer(i386, "i386")
    x32 = calls(macros("asm/unistd_x32.h", x86, ["__X32_SYSCALL_BIT=0x40000000"]))
    add_newer(x32, "x32", X32_BIT)
    aarch64 = calls(macros("asm/unistd.h", arm64, ["__aarch64__", "__BITS_PER_LONG=64"]))
    add_newer(aarch64, "aarch64")
    arm_defs = macros("asm/unistd.h", armhf, ["__ARM_EABI__", "__BITS_PER_LONG=32"])
    arm = calls(arm_defs)
    for name, seccomp_name in ARM_PRIVATE.items():
        key = "__ARM_NR_" + name
        if key in arm_defs:
            arm[seccomp_name] = evaluate(key, arm_defs)
    for name, value in ARM_PRIVATE_EXTRA.items():
        arm.setdefault(name, value)
    add_newer(arm, "arm")
    return [
        ("X86_64", "x86_64", x86_64, None),
        ("AARCH64", "aarch64", aarch64, None),
        ("I386", "i386", i386, None),
        ("X32", "x32", x32, "x32"),
        ("ARM", "arm", arm, "arm"),
    ]


HEADER = """//! Syscall name → number tables, generated by `scripts/gen-syscall-table.py` (do not edit;
//! run it again) from the kernel UAPI headers Debian ships: `asm/unistd_64.h` for x86_64,
//! `asm/unistd_32.h` for i386, `asm/unistd_x32.h` for x32 (the numbers include
//! `__X32_SYSCALL_BIT`), arm64's `asm/unistd.h` (`asm-generic/unistd.h` with its
//! `__ARCH_WANT_*`) for aarch64 and armhf's `asm/unistd.h` (EABI, plus the ARM-private
//! `__ARM_NR_*` calls under libseccomp's names) for 32-bit ARM; plus the calls newer than the
//! headers (451–467, shared by all of them; `map_shadow_stack` is not an i386 or x32 call).
//!
//! Every table is compiled on every architecture: a profile written for several architectures
//! names calls that exist only on some of them (`chown32`, `_llseek`, `mmap2` on the 32-bit
//! ones, `open` not on aarch64), and the filter gets one section per architecture it covers,
//! each resolving names through its own table.
"""

DOCS = {
    "X86_64": "/// `(name, number)` for x86_64, sorted by name for binary search.",
    "AARCH64": "/// `(name, number)` for aarch64, sorted by name for binary search.",
    "I386": "/// `(name, number)` for the i386 ABI (`AUDIT_ARCH_I386`), sorted by name for binary search.",
    "X32": "/// `(name, number)` for the x32 ABI (`AUDIT_ARCH_X86_64` with bit 30 set in the number), sorted\n/// by name; the numbers include `__X32_SYSCALL_BIT`.",
    "ARM": "/// `(name, number)` for 32-bit ARM EABI (`AUDIT_ARCH_ARM`), sorted by name; the ARM-private\n/// calls (`__ARM_NR_*`) as libseccomp names them.",
}


def number(value, style):
    if style == "x32":
        low = value - X32_BIT
        return "0x4000_0000 | %d" % low if low else "0x4000_0000"
    if style == "arm" and value >= 0x000F_0000:
        return "0x%04x_%04x" % (value >> 16, value & 0xFFFF)
    return "%d" % value


def render():
    out = [HEADER]
    for const, _arch, table, style in tables():
        out.append("\n" + DOCS[const] + "\n")
        out.append("pub const %s: &[(&str, u32)] = &[\n" % const)
        for name in sorted(table):
            out.append('    ("%s", %s),\n' % (name, number(table[name], style)))
        out.append("];\n")
    return "".join(out)


def main():
    text = render()
    if "--check" in sys.argv[1:]:
        with open(OUT) as f:
            current = f.read()
        if current != text:
            sys.exit(
                "gen-syscall-table: %s is not what the script generates; run "
                "scripts/gen-syscall-table.py" % os.path.relpath(OUT, ROOT)
            )
        return
    with open(OUT, "w") as f:
        f.write(text)


if __name__ == "__main__":
    main()
