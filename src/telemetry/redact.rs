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

/// A path and query as it may be logged: each query value replaced by `REDACTED`, and secret-
/// looking tokens in the path masked.
pub fn redact_path_and_query(pq: &str) -> String {
    let (path, query) = match pq.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (pq, None),
    };
    let mut out = redact_text(path);
    if let Some(q) = query {
        out.push('?');
        let parts: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) => format!("{}={REDACTED}", redact_text(k)),
                None => redact_text(kv),
            })
            .collect();
        out.push_str(&parts.join("&"));
    }
    out
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
