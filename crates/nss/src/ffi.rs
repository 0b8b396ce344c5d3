//! The entry points glibc calls (`_nss_berth_gethostbyname{,2,3,4}_r`) and the filling of its
//! result structures inside the caller's buffer. Every entry catches panics: unwinding into C
//! is undefined, and a resolver must never take its host process down.

use crate::query::{self, Answer};
use crate::registry;
use libc::{c_char, c_int, hostent, size_t};
use std::ffi::CStr;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

/// glibc's `enum nss_status`.
type NssStatus = c_int;
const NSS_STATUS_TRYAGAIN: NssStatus = -2;
const NSS_STATUS_UNAVAIL: NssStatus = -1;
const NSS_STATUS_NOTFOUND: NssStatus = 0;
const NSS_STATUS_SUCCESS: NssStatus = 1;

// <netdb.h> h_errno values.
const HOST_NOT_FOUND: c_int = 1;
const TRY_AGAIN: c_int = 2;
const NO_RECOVERY: c_int = 3;
const NO_DATA: c_int = 4;

/// How long one registered server may take (it is on loopback).
const TIMEOUT: Duration = Duration::from_millis(800);

/// glibc's `struct gaih_addrtuple` (`getaddrinfo`'s list, filled by `gethostbyname4_r`).
#[repr(C)]
pub struct GaihAddrtuple {
    next: *mut GaihAddrtuple,
    name: *mut c_char,
    family: c_int,
    addr: [u32; 4],
    scopeid: u32,
}

/// What the registered servers know of a name.
enum Lookup {
    /// Not under any registered suffix: for the next source.
    NotOurs,
    /// Under one, and no server has it.
    Missing,
    /// Under one, but no server answered.
    Unreachable,
    /// Its addresses and TTL.
    Found(Vec<Ipv4Addr>, u32),
}

fn lookup(name: &str) -> Lookup {
    let regs = registry::all(Path::new(registry::DIR));
    let mut ours = false;
    let mut answered = false;
    for reg in regs.iter().filter(|r| r.covers(name)) {
        ours = true;
        match query::lookup_a(reg.addr, name, TIMEOUT) {
            Ok(Answer::Found { addrs, ttl }) => return Lookup::Found(addrs, ttl),
            Ok(Answer::NotFound) => answered = true,
            Err(_) => {}
        }
    }
    match (ours, answered) {
        (false, _) => Lookup::NotOurs,
        (true, true) => Lookup::Missing,
        (true, false) => Lookup::Unreachable,
    }
}

/// Carves aligned pieces out of the caller's buffer.
struct Buffer {
    ptr: *mut u8,
    len: usize,
    used: usize,
}

impl Buffer {
    fn take(&mut self, size: usize, align: usize) -> Option<*mut u8> {
        let start = (self.ptr as usize + self.used).next_multiple_of(align) - self.ptr as usize;
        if start.checked_add(size)? > self.len {
            return None;
        }
        self.used = start + size;
        // SAFETY: `start + size <= len`: inside the caller's buffer.
        Some(unsafe { self.ptr.add(start) })
    }

    /// Copies `s` with a NUL; returns it as a C string.
    fn string(&mut self, s: &str) -> Option<*mut c_char> {
        let p = self.take(s.len() + 1, 1)?;
        // SAFETY: `p` has room for `s` and the NUL; the regions cannot overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
            *p.add(s.len()) = 0;
        }
        Some(p.cast())
    }
}

/// The name glibc passed, if it is valid UTF-8.
///
/// # Safety
/// `name` must be null or a NUL-terminated string.
unsafe fn name_of<'a>(name: *const c_char) -> Option<&'a str> {
    if name.is_null() {
        return None;
    }
    // SAFETY: per the contract, a NUL-terminated string.
    unsafe { CStr::from_ptr(name) }.to_str().ok()
}

/// Sets glibc's out-parameters for a status without result.
///
/// # Safety
/// `errnop` and `herrnop` must be null or valid for writes.
unsafe fn fail(
    status: NssStatus,
    errno: c_int,
    herrno: c_int,
    errnop: *mut c_int,
    herrnop: *mut c_int,
) -> NssStatus {
    // SAFETY: per the contract.
    unsafe {
        if !errnop.is_null() {
            *errnop = errno;
        }
        if !herrnop.is_null() {
            *herrnop = herrno;
        }
    }
    status
}

/// glibc's status, errno and h_errno for a lookup that has nothing to return (for a name
/// found with IPv4 addresses only, when IPv6 ones are asked: no data).
fn status_of(found: &Lookup) -> (NssStatus, c_int, c_int) {
    match found {
        Lookup::NotOurs => (NSS_STATUS_UNAVAIL, libc::ENOENT, NO_RECOVERY),
        Lookup::Unreachable => (NSS_STATUS_UNAVAIL, libc::ECONNREFUSED, TRY_AGAIN),
        Lookup::Missing => (NSS_STATUS_NOTFOUND, libc::ENOENT, HOST_NOT_FOUND),
        Lookup::Found(..) => (NSS_STATUS_NOTFOUND, libc::ENOENT, NO_DATA),
    }
}

/// `gethostbyname3_r`: a `hostent` for `af` (IPv4 only: containers have no IPv6 names yet).
///
/// # Safety
/// glibc's contract: valid pointers, `buffer` of `buflen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_berth_gethostbyname3_r(
    name: *const c_char,
    af: c_int,
    result: *mut hostent,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
    ttlp: *mut i32,
    canonp: *mut *mut c_char,
) -> NssStatus {
    let run = || {
        // SAFETY: glibc passes a NUL-terminated name.
        let Some(name) = (unsafe { name_of(name) }) else {
            return (NSS_STATUS_UNAVAIL, libc::EINVAL, NO_RECOVERY);
        };
        let found = lookup(name);
        let (Lookup::Found(addrs, ttl), true) = (&found, af == libc::AF_INET) else {
            return status_of(&found);
        };
        let mut buf = Buffer {
            ptr: buffer.cast(),
            len: buflen,
            used: 0,
        };
        let ptr = std::mem::size_of::<*mut c_char>();
        let filled = (|| {
            let h_name = buf.string(name)?;
            let aliases = buf.take(ptr, ptr)?.cast::<*mut c_char>();
            let list = buf
                .take(ptr * (addrs.len() + 1), ptr)?
                .cast::<*mut c_char>();
            // SAFETY: every pointer written below was carved from the buffer for it.
            unsafe {
                *aliases = std::ptr::null_mut();
                for (i, a) in addrs.iter().enumerate() {
                    let slot = buf.take(4, 4)?;
                    std::ptr::copy_nonoverlapping(a.octets().as_ptr(), slot, 4);
                    *list.add(i) = slot.cast();
                }
                *list.add(addrs.len()) = std::ptr::null_mut();
                *result = hostent {
                    h_name,
                    h_aliases: aliases,
                    h_addrtype: libc::AF_INET,
                    h_length: 4,
                    h_addr_list: list,
                };
                if !ttlp.is_null() {
                    *ttlp = i32::try_from(*ttl).unwrap_or(i32::MAX);
                }
                if !canonp.is_null() {
                    *canonp = h_name;
                }
            }
            Some(())
        })();
        match filled {
            Some(()) => (NSS_STATUS_SUCCESS, 0, 0),
            None => (NSS_STATUS_TRYAGAIN, libc::ERANGE, NO_RECOVERY),
        }
    };
    let (status, errno, herrno) =
        std::panic::catch_unwind(run).unwrap_or((NSS_STATUS_UNAVAIL, libc::EIO, NO_RECOVERY));
    if status == NSS_STATUS_SUCCESS {
        return status;
    }
    // SAFETY: glibc's out-parameters.
    unsafe { fail(status, errno, herrno, errnop, herrnop) }
}

/// `gethostbyname2_r`: [`_nss_berth_gethostbyname3_r`] without TTL and canonical name.
///
/// # Safety
/// As [`_nss_berth_gethostbyname3_r`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_berth_gethostbyname2_r(
    name: *const c_char,
    af: c_int,
    result: *mut hostent,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
) -> NssStatus {
    // SAFETY: passed on under the same contract.
    unsafe {
        _nss_berth_gethostbyname3_r(
            name,
            af,
            result,
            buffer,
            buflen,
            errnop,
            herrnop,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
        )
    }
}

/// `gethostbyname_r`: IPv4.
///
/// # Safety
/// As [`_nss_berth_gethostbyname3_r`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_berth_gethostbyname_r(
    name: *const c_char,
    result: *mut hostent,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
) -> NssStatus {
    // SAFETY: passed on under the same contract.
    unsafe {
        _nss_berth_gethostbyname2_r(name, libc::AF_INET, result, buffer, buflen, errnop, herrnop)
    }
}

/// `gethostbyname4_r`: the list `getaddrinfo` asks for, one tuple per address.
///
/// # Safety
/// glibc's contract: valid pointers, `buffer` of `buflen` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _nss_berth_gethostbyname4_r(
    name: *const c_char,
    pat: *mut *mut GaihAddrtuple,
    buffer: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
    herrnop: *mut c_int,
    ttlp: *mut i32,
) -> NssStatus {
    let run = || {
        // SAFETY: glibc passes a NUL-terminated name.
        let Some(name) = (unsafe { name_of(name) }) else {
            return Err(Lookup::NotOurs);
        };
        let found = lookup(name);
        let Lookup::Found(addrs, ttl) = &found else {
            return Err(found);
        };
        let mut buf = Buffer {
            ptr: buffer.cast(),
            len: buflen,
            used: 0,
        };
        let filled = (|| {
            let h_name = buf.string(name)?;
            let mut prev: *mut GaihAddrtuple = std::ptr::null_mut();
            let size = std::mem::size_of::<GaihAddrtuple>();
            let align = std::mem::align_of::<GaihAddrtuple>();
            for a in addrs {
                let t = buf.take(size, align)?.cast::<GaihAddrtuple>();
                // SAFETY: `t` was carved from the buffer for one tuple; `prev` and `pat` are
                // the previous tuple and glibc's out-pointer.
                unsafe {
                    t.write(GaihAddrtuple {
                        next: std::ptr::null_mut(),
                        name: if prev.is_null() {
                            h_name
                        } else {
                            std::ptr::null_mut()
                        },
                        family: libc::AF_INET,
                        addr: [u32::from_ne_bytes(a.octets()), 0, 0, 0],
                        scopeid: 0,
                    });
                    if prev.is_null() {
                        *pat = t;
                    } else {
                        (*prev).next = t;
                    }
                }
                prev = t;
            }
            // SAFETY: glibc's optional out-parameter.
            unsafe {
                if !ttlp.is_null() {
                    *ttlp = i32::try_from(*ttl).unwrap_or(i32::MAX);
                }
            }
            Some(())
        })();
        Ok(filled.is_some())
    };
    match std::panic::catch_unwind(run) {
        Ok(Ok(true)) => NSS_STATUS_SUCCESS,
        // SAFETY: glibc's out-parameters.
        Ok(Ok(false)) => unsafe {
            fail(
                NSS_STATUS_TRYAGAIN,
                libc::ERANGE,
                NO_RECOVERY,
                errnop,
                herrnop,
            )
        },
        Ok(Err(found)) => {
            let (status, errno, herrno) = status_of(&found);
            // SAFETY: as above.
            unsafe { fail(status, errno, herrno, errnop, herrnop) }
        }
        // SAFETY: as above.
        Err(_) => unsafe { fail(NSS_STATUS_UNAVAIL, libc::EIO, NO_RECOVERY, errnop, herrnop) },
    }
}
