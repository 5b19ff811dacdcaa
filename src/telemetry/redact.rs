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
mod tests {
    use super::*;

    #[test]
    fn query_values_are_redacted() {
        assert_eq!(
            redact_path_and_query("/v1/chat?api-key=abc&x=1&flag"),
            "/v1/chat?api-key=REDACTED&x=REDACTED&flag"
        );
        assert_eq!(redact_path_and_query("/v1/models"), "/v1/models");
    }

    #[test]
    fn sk_tokens_are_masked_anywhere() {
        let s = redact_text("key sk-proj-abcdef123456 and sk-ant-api03-XYZxyz7890 end");
        assert!(!s.contains("abcdef123456"), "{s}");
        assert!(!s.contains("XYZxyz7890"), "{s}");
        assert_eq!(s, "key sk-REDACTED and sk-REDACTED end");
        // Short or embedded `sk-` is not a key.
        assert_eq!(
            redact_text("task-sk-1 disk-abcdefghijk"),
            "task-sk-1 disk-abcdefghijk"
        );
        assert_eq!(redact_path_and_query("/sk-abcdefghij/x"), "/sk-REDACTED/x");
        assert_eq!(redact_text("héllo sk-"), "héllo sk-");
    }

    #[test]
    fn secret_headers() {
        for h in [
            "Authorization",
            "api-key",
            "X-Api-Key",
            "Cookie",
            "set-cookie",
        ] {
            assert!(is_secret_header(h), "{h}");
        }
        assert!(!is_secret_header("content-type"));
    }

    #[test]
    fn fingerprint_is_short_and_stable() {
        let a = fingerprint("Bearer sk-test");
        assert_eq!(a, fingerprint("Bearer sk-test"));
        assert_ne!(a, fingerprint("Bearer sk-other"));
        assert_eq!(a.len(), "sha256:".len() + 8);
    }
}
