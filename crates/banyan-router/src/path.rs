//! The path normaliser: one canonical form of a request path, used for routing and forwarded
//! as is, so that what is routed is exactly what is forwarded.
//!
//! Rules (each refusal is a 400 at the gateway):
//! - the path starts with `/`; `//` runs are merged into one `/`;
//! - `%XX` is decoded once when it names an unreserved character (`%41` → `A`, `%2e` → `.`) and
//!   otherwise kept with upper-case hex (`%3a` → `%3A`);
//! - refused: encoded `/` or `\` (`%2F`, `%5C`), a raw `\`, encoded control characters and NUL,
//!   malformed escapes (`%4`, `%zz`), double-encoded dangerous bytes (`%252e`, `%252f`, `%255c`,
//!   `%2500`), bytes outside visible ASCII, and dot segments (`.`, `..`, also `..;x` and their
//!   encoded forms), which would mean different things to different backends.

use std::borrow::Cow;
use std::fmt;

/// Why a path was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    EncodedSeparator,
    Backslash,
    ControlCharacter,
    MalformedEscape,
    DoubleEncoded,
    DotSegment,
    InvalidCharacter,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PathError::NotAbsolute => "the path must start with `/`",
            PathError::EncodedSeparator => "the path contains an encoded `/` or `\\` (%2F, %5C)",
            PathError::Backslash => "the path contains a `\\`",
            PathError::ControlCharacter => "the path contains an encoded control character or NUL",
            PathError::MalformedEscape => "the path contains a malformed percent-escape",
            PathError::DoubleEncoded => "the path contains a double-encoded separator, dot or NUL",
            PathError::DotSegment => "the path contains a `.` or `..` segment",
            PathError::InvalidCharacter => "the path contains a character outside visible ASCII",
        })
    }
}

impl std::error::Error for PathError {}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Returns the canonical form of `path` (borrowed when it already is canonical).
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    // Fast path: nothing to decode or merge; only the dot-segment check remains.
    let mut prev = 0u8;
    let plain = bytes.iter().all(|&b| {
        let merge = b == b'/' && prev == b'/';
        prev = b;
        b != b'%' && b != b'\\' && (0x21..=0x7e).contains(&b) && !merge
    });
    if plain {
        check_segments(path)?;
        return Ok(Cow::Borrowed(path));
    }
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => {
                let (h, l) = match (
                    bytes.get(i + 1).and_then(|&x| hex(x)),
                    bytes.get(i + 2).and_then(|&x| hex(x)),
                ) {
                    (Some(h), Some(l)) => (h, l),
                    _ => return Err(PathError::MalformedEscape),
                };
                let v = h << 4 | l;
                match v {
                    b'/' | b'\\' => return Err(PathError::EncodedSeparator),
                    0..=0x1f | 0x7f => return Err(PathError::ControlCharacter),
                    // Double encoding is checked on the output: see `check_double_encoding`.
                    b'%' => out.push_str("%25"),
                    v if is_unreserved(v) => out.push(v as char),
                    v => {
                        out.push('%');
                        out.push(
                            char::from_digit(u32::from(v >> 4), 16)
                                .unwrap_or('0')
                                .to_ascii_uppercase(),
                        );
                        out.push(
                            char::from_digit(u32::from(v & 0xf), 16)
                                .unwrap_or('0')
                                .to_ascii_uppercase(),
                        );
                    }
                }
                i += 3;
                continue;
            }
            b'\\' => return Err(PathError::Backslash),
            b'/' if out.ends_with('/') => {}
            0x21..=0x7e => out.push(b as char),
            _ => return Err(PathError::InvalidCharacter),
        }
        i += 1;
    }
    check_segments(&out)?;
    check_double_encoding(&out)?;
    if out == path {
        return Ok(Cow::Borrowed(path));
    }
    Ok(Cow::Owned(out))
}

/// Refuses `%25` followed by the hex of a separator, dot, control character or NUL, which a
/// backend that decodes twice would read as that byte. Checked on the output, not the input:
/// `%25%32f` decodes its `%32` to `2` and so becomes `%252f` only here.
fn check_double_encoding(out: &str) -> Result<(), PathError> {
    let bytes = out.as_bytes();
    for (i, _) in out.match_indices("%25") {
        if let (Some(h), Some(l)) = (
            bytes.get(i + 3).and_then(|&x| hex(x)),
            bytes.get(i + 4).and_then(|&x| hex(x)),
        ) && matches!(h << 4 | l, b'.' | b'/' | b'\\' | 0..=0x1f | 0x7f)
        {
            return Err(PathError::DoubleEncoded);
        }
    }
    Ok(())
}

fn check_segments(path: &str) -> Result<(), PathError> {
    // A dot segment needs a dot: most paths are cleared by this one scan.
    if !path.as_bytes().contains(&b'.') {
        return Ok(());
    }
    for seg in path.as_bytes().split(|&b| b == b'/') {
        let head = seg.split(|&b| b == b';').next().unwrap_or(seg);
        if head == b"." || head == b".." {
            return Err(PathError::DotSegment);
        }
    }
    Ok(())
}

/// Splits a canonical path into segments: `/` → [], `/a/b` → [a, b], `/a/` → [a, ""].
pub fn segments(path: &str) -> impl Iterator<Item = &str> {
    let rest = path.strip_prefix('/').unwrap_or(path);
    let empty = rest.is_empty();
    rest.split('/').filter(move |_| !empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_pass_unchanged() {
        for p in [
            "/",
            "/a",
            "/a/b/",
            "/v2/invoices/42",
            "/a;b=c",
            "/~user/x.json",
            "/%3A",
        ] {
            assert!(matches!(normalize(p), Ok(Cow::Borrowed(_))), "{p}");
        }
    }

    #[test]
    fn rewrites_to_one_form() {
        assert_eq!(normalize("//a///b").unwrap(), "/a/b");
        assert_eq!(normalize("/%61%62c").unwrap(), "/abc");
        assert_eq!(normalize("/x%3ay").unwrap(), "/x%3Ay");
        assert_eq!(normalize("/a%20b").unwrap(), "/a%20b");
        assert_eq!(normalize("/100%25").unwrap(), "/100%25");
    }

    #[test]
    fn refuses_ambiguous_paths() {
        use PathError::*;
        for (p, e) in [
            ("a", NotAbsolute),
            ("*", NotAbsolute),
            ("/a%2fb", EncodedSeparator),
            ("/a%2Fb", EncodedSeparator),
            ("/a%5cb", EncodedSeparator),
            ("/a\\b", Backslash),
            ("/a%00", ControlCharacter),
            ("/a%0a", ControlCharacter),
            ("/a%zz", MalformedEscape),
            ("/a%4", MalformedEscape),
            ("/a%252e%252e/x", DoubleEncoded),
            ("/a%252f", DoubleEncoded),
            // The second encoding spelt with escapes of its hex digits.
            ("/a%25%32f", DoubleEncoded),
            ("/a%25%32%45", DoubleEncoded),
            ("/%25%30%30", DoubleEncoded),
            ("/%25%37F", DoubleEncoded),
            ("/../etc", DotSegment),
            ("/a/./b", DotSegment),
            ("/a/%2e%2e/b", DotSegment),
            ("/a/.%2E", DotSegment),
            ("/a/..;/admin", DotSegment),
            ("/a/..", DotSegment),
            ("/a/b c", InvalidCharacter),
        ] {
            assert_eq!(normalize(p), Err(e), "{p}");
        }
    }

    #[test]
    fn segment_split() {
        assert_eq!(segments("/").count(), 0);
        assert_eq!(segments("/a/b").collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(segments("/a/").collect::<Vec<_>>(), ["a", ""]);
    }
}
