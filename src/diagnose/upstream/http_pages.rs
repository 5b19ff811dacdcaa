//! TLS failures real servers report in HTTP (nginx error pages): part of the upstream classifier in `mod.rs`.

use super::*;

/// An HTTP response, as much of it as the diagnosis reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    /// The `Server` header.
    pub server: Option<String>,
    pub content_type: Option<String>,
    /// The start of the body, at most [`ERROR_PAGE_LIMIT`] bytes.
    pub body: Vec<u8>,
}

/// The largest body read to recognise a TLS problem reported as an HTTP page (nginx's are
/// about 250 bytes).
pub const ERROR_PAGE_LIMIT: usize = 4096;

/// A TLS problem a server reported in HTTP instead of in the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageCause {
    ClientCertRequired,
    ClientCertRejected,
    /// A plain HTTP request reached a TLS port.
    PlainHttpToTlsPort,
}

/// Whether a response can be a TLS problem reported in HTTP, from its head alone: nginx's
/// statuses 495/496/497, or a 400 whose body is small (declared length at most
/// [`ERROR_PAGE_LIMIT`]) and `text/html`. Anything else is streamed untouched, unread.
pub fn may_be_tls_error_page(
    status: u16,
    content_type: Option<&str>,
    content_length: Option<u64>,
) -> bool {
    match status {
        495..=497 => true,
        400 => {
            content_length.is_some_and(|n| n <= ERROR_PAGE_LIMIT as u64)
                && content_type.is_some_and(|t| {
                    t.trim_start()
                        .get(..9)
                        .is_some_and(|p| p.eq_ignore_ascii_case("text/html"))
                })
        }
        _ => false,
    }
}

/// The TLS problem an HTTP answer reports, if it is one: nginx's 495/496/497, or its 400 pages
/// ("No required SSL certificate was sent", "The SSL certificate error", "The plain HTTP
/// request was sent to HTTPS port"), and Apache's 400 for plain HTTP on its TLS port.
pub fn tls_error_page(status: u16, body: &[u8]) -> Option<PageCause> {
    const PAGES: &[(&str, PageCause)] = &[
        (
            "No required SSL certificate was sent",
            PageCause::ClientCertRequired,
        ),
        ("The SSL certificate error", PageCause::ClientCertRejected),
        (
            "The plain HTTP request was sent to HTTPS port",
            PageCause::PlainHttpToTlsPort,
        ),
        (
            "speaking plain HTTP to an SSL-enabled server port",
            PageCause::PlainHttpToTlsPort,
        ),
    ];
    match status {
        496 => Some(PageCause::ClientCertRequired),
        495 => Some(PageCause::ClientCertRejected),
        497 => Some(PageCause::PlainHttpToTlsPort),
        400 => {
            let body = body.get(..ERROR_PAGE_LIMIT).unwrap_or(body);
            PAGES
                .iter()
                .find(|(text, _)| contains(body, text.as_bytes()))
                .map(|(_, cause)| *cause)
        }
        _ => None,
    }
}

pub(super) fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

impl HttpAnswer {
    /// "HTTP 400 from nginx/1.22.1: \"400 No required SSL certificate was sent\"".
    pub(super) fn describe(&self) -> String {
        let server = self
            .server
            .as_deref()
            .map(|s| format!(" from {}", printable_prefix(s.as_bytes(), 60)))
            .unwrap_or_default();
        let title = page_title(&self.body)
            .map(|t| format!(": \"{t}\""))
            .unwrap_or_default();
        format!("HTTP {}{server}{title}", self.status)
    }
}

/// The `<title>` of an HTML page, printable and short.
pub(super) fn page_title(body: &[u8]) -> Option<String> {
    let lower: Vec<u8> = body.iter().map(u8::to_ascii_lowercase).collect();
    let start = lower.windows(7).position(|w| w == b"<title>")? + 7;
    let len = lower[start..].windows(8).position(|w| w == b"</title>")?;
    Some(printable_prefix(&body[start..start + len], 100))
}

/// The finding for a TLS problem the server reported in HTTP, if its answer is one.
pub fn http_answer_finding(ev: &UpstreamEvidence) -> Option<Finding> {
    let answer = ev.http_answer.as_ref()?;
    let cause = tls_error_page(answer.status, &answer.body)?;
    let ctx = &ev.context;
    let addr = &ev.address;
    let what = answer.describe();
    match cause {
        PageCause::PlainHttpToTlsPort if !ev.expects_tls => Some(Finding::new(
            Code::UpstreamTlsOnHttpUrl,
            "the upstream speaks TLS but the URL is http://",
            format!(
                "{addr} answered our plain HTTP request with {what}: the port expects TLS"
            ),
            format!("change {} to https://", ctx.url()),
        )),
        // We spoke TLS and something behind the server did not: not ours to fix.
        PageCause::PlainHttpToTlsPort => None,
        _ if !ev.expects_tls => None,
        PageCause::ClientCertRequired => {
            let sent = if ev.client_cert_sent {
                "we presented our client certificate, and the server says none was sent"
            } else {
                "we had no client certificate to send"
            };
            Some(Finding::new(
                Code::UpstreamClientCertRequired,
                "the upstream requires a client certificate (mutual TLS)",
                format!(
                    "{addr} completed the TLS handshake, then answered the request with {what}; {sent}. nginx answers this way when ssl_verify_client is on (it does not fail the handshake)"
                ),
                format!(
                    "configure the client certificate and key the upstream expects: {}",
                    ctx.client_cert()
                ),
            ))
        }
        PageCause::ClientCertRejected => Some(Finding::new(
            Code::UpstreamClientCertRejected,
            "the upstream rejected our client certificate",
            format!(
                "{addr} completed the TLS handshake, then answered the request with {what}: it could not verify the client certificate {}",
                if ev.client_cert_sent { "we presented" } else { "(we sent none)" }
            ),
            format!(
                "check {}: the certificate must be issued by a CA the upstream trusts (nginx: ssl_client_certificate), be valid now, and allow clientAuth",
                ctx.client_cert()
            ),
        )),
    }
}
