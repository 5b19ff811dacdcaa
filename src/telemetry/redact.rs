//! Redaction: the one place that decides what of a request may reach a log or the admin API.
//!
//! Secrets never reach a log: credential headers are dropped or fingerprinted, query values are
//! replaced (API keys travel in queries: `?api-key=` for Azure, `?key=` for Google), and any
//! `sk-…`-looking token anywhere in logged text is masked.

/// Header names whose values are credentials.
pub const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "api-key",
    "x-api-key",
    "cookie",
    "set-cookie",
    "x-goog-api-key",
    "openai-organization",
];

/// Whether a header's value must never be logged.
pub fn is_secret_header(name: &str) -> bool {
    SECRET_HEADERS.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The placeholder for a removed value.
pub const REDACTED: &str = "REDACTED";

/// A path and query as it may be logged. Query values, valueless query tokens and `;`
/// path-parameter values are replaced by `REDACTED` (keys travel there: `?api-key=`,
/// `?key=`, `;api_key=`, a bare `?<key>`); so is a parameter name that is not a plain word,
/// and the segment after a key/token/secret-like segment (`/key/<key>`); `sk-…` tokens are
/// masked anywhere.
pub fn redact_path_and_query(pq: &str) -> String {
    let (path, query) = match pq.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (pq, None),
    };
    let mut out = String::with_capacity(pq.len());
    let mut after_secret_name = false;
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let (name, params) = match seg.split_once(';') {
            Some((n, p)) => (n, Some(p)),
            None => (seg, None),
        };
        if after_secret_name && !name.is_empty() {
            out.push_str(REDACTED);
        } else {
            out.push_str(&redact_text(name));
        }
        after_secret_name = is_secret_name(name);
        if let Some(params) = params {
            out.push(';');
            redact_params(params, ';', &mut out);
        }
    }
    if let Some(q) = query {
        out.push('?');
        redact_params(q, '&', &mut out);
    }
    out
}

/// `name=value` pairs separated by `sep`: values replaced, odd names and bare tokens too.
fn redact_params(params: &str, sep: char, out: &mut String) {
    for (i, kv) in params.split(sep).enumerate() {
        if i > 0 {
            out.push(sep);
        }
        match kv.split_once('=') {
            Some((k, _)) => {
                if is_plain_name(k) {
                    out.push_str(k);
                } else {
                    out.push_str(REDACTED);
                }
                out.push('=');
                out.push_str(REDACTED);
            }
            None if kv.is_empty() => {}
            None => out.push_str(REDACTED),
        }
    }
}

/// A parameter name that is a word (`api_key`, `stream`, `api-version`), not a token: shorter
/// than keys are (20), and without the digit runs that keys are made of.
fn is_plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() < 20
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'))
        && name.bytes().filter(u8::is_ascii_digit).count() <= 2
}

/// A path segment naming a credential: `key`, `api_key`, `apiKey`, `token`, `secret`, …
fn is_secret_name(seg: &str) -> bool {
    let norm: String = seg
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect();
    [
        "key",
        "keys",
        "token",
        "tokens",
        "secret",
        "secrets",
        "password",
        "passwd",
        "auth",
        "credential",
        "credentials",
    ]
    .iter()
    .any(|s| norm.ends_with(s))
}

/// Masks API-key-looking tokens: `sk-` (OpenAI, Anthropic `sk-ant-`) followed by at least 8
/// key characters. The prefix stays so a reader knows a key was there.
pub fn redact_text(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"sk-") && (i == 0 || !is_key_char(bytes[i - 1])) {
            let end = bytes[i + 3..]
                .iter()
                .position(|b| !is_key_char(*b))
                .map(|p| i + 3 + p)
                .unwrap_or(bytes.len());
            if end - (i + 3) >= 8 {
                out.push_str("sk-");
                out.push_str(REDACTED);
                i = end;
                continue;
            }
        }
        // Push the whole UTF-8 character starting at i.
        let ch_len = text[i..].chars().next().map(char::len_utf8).unwrap_or(1);
        out.push_str(&text[i..i + ch_len]);
        i += ch_len;
    }
    out
}

fn is_key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// A short, stable fingerprint of a secret (first 8 hex of SHA-256), so an operator can tell
/// which key is injected without the key being shown.
pub fn fingerprint(secret: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    format!("sha256:{}", hex::encode(&d.as_ref()[..4]))
}

/// A client address as logs show it: the full IP (operators need it to find a client); kept as
/// one function so a privacy mode can change it in one place.
pub fn peer(addr: std::net::SocketAddr) -> String {
    addr.to_string()
}

#[cfg(test)]
mod tests;
