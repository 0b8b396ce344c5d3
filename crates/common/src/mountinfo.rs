//! Reading `/proc/<pid>/mountinfo` lines: the kernel escapes space, tab, newline and backslash
//! in paths as three octal digits (`\040`), and every reader of mount points (cgroup
//! detection, "is this path mounted") must undo it the same way. Pure text functions; the
//! callers read the file.

/// Undoes the kernel's octal escaping (`/a\040b` → `/a b`), byte-exact for any path.
pub fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() {
            let digits = &bytes[i + 1..i + 4];
            if digits.iter().all(|d| (b'0'..=b'7').contains(d)) {
                let value = digits
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                if let Ok(byte) = u8::try_from(value) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The mount points of a mountinfo text (its fifth field, unescaped), in order.
pub fn mount_points(text: &str) -> impl Iterator<Item = String> + '_ {
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_undone_byte_for_byte() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/tab\\011x\\134y"), "/tab\tx\\y");
        assert_eq!(unescape("/é\\040ü"), "/é ü");
        assert_eq!(unescape("/bad\\9xy"), "/bad\\9xy");
        assert_eq!(unescape("/end\\04"), "/end\\04");
        let text =
            "36 35 98:0 / /mnt\\040x rw - ext4 /dev/x rw\n37 35 98:0 / /srv rw - ext4 /dev/y rw\n";
        assert_eq!(mount_points(text).collect::<Vec<_>>(), ["/mnt x", "/srv"]);
    }
}
