//! Request-path normalization, before routing: what is routed is what is forwarded.
//!
//! Pure and total (property-tested in `path/tests.rs`). The rules, also in the README:
//!
//! - The path must be origin-form (start with `/`).
//! - Percent-encoded *unreserved* characters (`A-Z a-z 0-9 - . _ ~`, RFC 3986 §2.3) are decoded,
//!   so `%2e` is a `.` and `%76%31` is `v1`; every other escape is kept byte for byte.
//! - Dot segments are removed (RFC 3986 §5.2.4). A `..` that would climb above `/` is refused.
//! - Refused as `client_path_invalid`, because an upstream may read them differently from us:
//!   a malformed escape (`%zz`, a lone `%`); `%00`; a double-encoded dot, slash or backslash
//!   (`%252e`, `%252f`, `%255c`); a dot segment carrying `;` parameters (`..;x`, which Java
//!   servers read as `..`); and a dot segment hidden behind an encoded separator (`..%2f`,
//!   `%2e%2e%5c`, `..\`), which upstreams that decode `%2F` or treat `\` as `/` would resolve.
//!   Encoded separators elsewhere (`/models/org%2Fname`) and `;` parameters pass unchanged.

use std::borrow::Cow;

/// Why a path was refused (the `why` of a `client_path_invalid` finding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError(pub &'static str);

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for PathError {}

/// The path with unreserved escapes decoded and dot segments removed, or why it is refused.
/// Borrows when there is nothing to change (the common case costs one scan).
pub fn normalize(path: &str) -> Result<Cow<'_, str>, PathError> {
    let decoded = decode_unreserved(path)?;
    match remove_dot_segments(&decoded)? {
        Some(out) => Ok(Cow::Owned(out)),
        None => Ok(decoded),
    }
}

/// Step one: checks escapes and decodes the unreserved ones.
pub fn decode_unreserved(path: &str) -> Result<Cow<'_, str>, PathError> {
    if !path.starts_with('/') {
        return Err(PathError(
            "the request target is not a path starting with `/`",
        ));
    }
    let bytes = path.as_bytes();
    if !bytes.contains(&b'%') {
        return Ok(Cow::Borrowed(path));
    }
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            // Copy the run up to the next escape (keeps multi-byte characters whole).
            let next = bytes[i..]
                .iter()
                .position(|&b| b == b'%')
                .map_or(bytes.len(), |p| i + p);
            out.push_str(&path[i..next]);
            i = next;
            continue;
        }
        let v = hex_pair(bytes, i + 1).ok_or(PathError(
            "a `%` in the path is not followed by two hex digits",
        ))?;
        if v == 0 {
            return Err(PathError("the path contains an encoded NUL (`%00`)"));
        }
        if v == b'%' {
            if let Some(inner) = hex_pair(bytes, i + 3) {
                if matches!(inner, b'.' | b'/' | b'\\') {
                    return Err(PathError(
                        "the path double-encodes a dot, slash or backslash (`%252e`, `%252f`, `%255c`)",
                    ));
                }
            }
        }
        if is_unreserved(v) {
            out.push(char::from(v));
        } else {
            out.push_str(&path[i..i + 3]);
        }
        i += 3;
    }
    Ok(Cow::Owned(out))
}

/// Step two, on a decoded path: `None` when it has no dot segment (nothing to change).
pub fn remove_dot_segments(path: &str) -> Result<Option<String>, PathError> {
    let mut segments = path[1..].split('/').peekable();
    let mut changed = false;
    let mut out: Vec<&str> = Vec::new();
    while let Some(seg) = segments.next() {
        check_segment(seg)?;
        let last = segments.peek().is_none();
        match seg {
            "." => {
                changed = true;
                if last {
                    out.push("");
                }
            }
            ".." => {
                changed = true;
                if out.pop().is_none() {
                    return Err(PathError("a `..` segment climbs above the root"));
                }
                if last {
                    out.push("");
                }
            }
            _ => out.push(seg),
        }
    }
    if !changed {
        return Ok(None);
    }
    let mut s = String::with_capacity(path.len());
    for seg in out {
        s.push('/');
        s.push_str(seg);
    }
    if s.is_empty() {
        s.push('/');
    }
    Ok(Some(s))
}

/// Refuses dot segments that an upstream could see where we do not: `..;x`, `..%2f`, `..\`.
fn check_segment(seg: &str) -> Result<(), PathError> {
    if !seg.contains('.') {
        return Ok(());
    }
    if !seg.contains(['%', '\\']) {
        return check_piece(seg, seg);
    }
    // The segment split at every separator an upstream might honour.
    split_separators(seg)
        .into_iter()
        .try_for_each(|piece| check_piece(piece, seg))
}

fn check_piece(piece: &str, seg: &str) -> Result<(), PathError> {
    let core = piece.split(';').next().unwrap_or("");
    if core != "." && core != ".." {
        return Ok(());
    }
    if piece.len() != core.len() {
        return Err(PathError(
            "a dot segment carries `;` parameters (e.g. `..;x`)",
        ));
    }
    if piece.len() != seg.len() {
        return Err(PathError(
            "a dot segment is hidden behind an encoded slash or a backslash (`..%2f`, `..\\`)",
        ));
    }
    Ok(())
}

/// Splits at `%2F`, `%5C` (any case) and `\`.
fn split_separators(seg: &str) -> Vec<&str> {
    let b = seg.as_bytes();
    let mut start = 0;
    let mut i = 0;
    let mut pieces = Vec::new();
    while i < b.len() {
        let sep_len = if b[i] == b'\\' {
            1
        } else if b[i] == b'%' && matches!(hex_pair(b, i + 1), Some(b'/' | b'\\')) {
            3
        } else {
            0
        };
        if sep_len > 0 {
            pieces.push(&seg[start..i]);
            i += sep_len;
            start = i;
        } else {
            i += 1;
        }
    }
    pieces.push(&seg[start..]);
    pieces
}

fn hex_pair(b: &[u8], at: usize) -> Option<u8> {
    let hi = hex(*b.get(at)?)?;
    let lo = hex(*b.get(at + 1)?)?;
    Some(hi << 4 | lo)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Whether `path` lies under a route prefix (whole segments; `""` is the root route).
pub fn is_under(path: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || (path.starts_with(prefix)
            && matches!(path.as_bytes().get(prefix.len()), None | Some(b'/')))
}

#[cfg(test)]
mod tests;
