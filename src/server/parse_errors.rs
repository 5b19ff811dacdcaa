//! hyper answers an HTTP/1.1 request it cannot parse (a malformed request line or header, a
//! head over its buffer) itself, before any service sees it, with an empty-bodied 400, 414 or
//! 431. This wrapper around the connection's I/O replaces that canned answer with tlsgate's
//! OpenAI-shaped JSON error, so SDKs get a readable error there too.
//!
//! How it tells hyper's answer from a response tlsgate sends: the service marks each request
//! it is handed (`Owed`); a response head written while no request is owed an answer can only
//! be hyper's own. Only hyper's exact canned form (status line, `content-length: 0`, `date`)
//! is replaced. What stays hyper's: a canned head hyper coalesces into one write with the end
//! of a previous response (pipelined requests), which goes out as hyper wrote it.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::rt::{Read, ReadBufCursor, Write};

use crate::config::ClientErrorDetail;
use crate::findings::{Code, Finding};
use crate::proxy::errors::error_json;
use crate::status::ClientErrors;

/// Whether a request was handed to the service and its response head is still to be written.
#[derive(Clone, Default)]
pub struct Owed(Arc<AtomicBool>);

impl Owed {
    /// Called by the service for each request.
    pub fn request_received(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The connection's I/O with hyper's canned parse-error answers replaced.
pub struct RewriteParseErrors<I> {
    inner: I,
    owed: Owed,
    detail: ClientErrorDetail,
    /// Each rewritten answer is a request refused as the client's fault.
    client_errors: ClientErrors,
    /// Replacement bytes still to be written before anything else.
    pending: Bytes,
}

impl<I> RewriteParseErrors<I> {
    pub fn new(
        inner: I,
        owed: Owed,
        detail: ClientErrorDetail,
        client_errors: ClientErrors,
    ) -> Self {
        RewriteParseErrors {
            inner,
            owed,
            detail,
            client_errors,
            pending: Bytes::new(),
        }
    }
}

/// The canned heads hyper writes (`role.rs`, `on_error`), and what each becomes.
fn canned(status_line: &str) -> Option<(Code, &'static str, &'static str, &'static str)> {
    match status_line {
        "HTTP/1.1 400 Bad Request" => Some((
            Code::BadRequest,
            "HTTP/1.1 400 Bad Request",
            "the request is not valid HTTP/1.1 (a malformed request line, header or body framing)",
            "fix the client: it sent a request line or header that does not parse",
        )),
        "HTTP/1.1 431 Request Header Fields Too Large" => Some((
            Code::ClientHeadersTooLarge,
            "HTTP/1.1 431 Request Header Fields Too Large",
            "the request headers are larger than this server accepts",
            "send smaller headers, or raise limits.max_request_header_bytes",
        )),
        "HTTP/1.1 414 URI Too Long" => Some((
            Code::ClientHeadersTooLarge,
            "HTTP/1.1 414 URI Too Long",
            "the request target is longer than this server accepts",
            "send a shorter URI (move data into the body)",
        )),
        _ => None,
    }
}

/// When `buf` starts with one of hyper's canned heads: its length and the replacement.
pub fn replacement(buf: &[u8], detail: ClientErrorDetail) -> Option<(usize, Bytes, Code)> {
    if !buf.starts_with(b"HTTP/1.1 4") {
        return None;
    }
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&buf[..end]).ok()?;
    let mut lines = head.split("\r\n");
    let (code, status_line, summary, fix) = canned(lines.next()?)?;
    // Exactly hyper's canned form: an empty body, a date, perhaps `connection: close`.
    let mut empty_body = false;
    for field in lines.filter(|l| !l.is_empty()) {
        let f = field.to_ascii_lowercase();
        if f == "content-length: 0" {
            empty_body = true;
        } else if !(f.starts_with("date: ") || f == "connection: close") {
            return None;
        }
    }
    if !empty_body {
        return None;
    }
    let finding = Finding::new(
        code,
        summary,
        "rejected while parsing the request head",
        fix,
    );
    let json = error_json(&finding, detail);
    let retry = if code.retryable() {
        ""
    } else {
        "x-should-retry: false\r\n"
    };
    let mut out = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{retry}connection: close\r\n\r\n",
        json.len()
    )
    .into_bytes();
    out.extend_from_slice(&json);
    Some((end, Bytes::from(out), code))
}

impl<I: Write + Unpin> RewriteParseErrors<I> {
    /// Writes what is pending; `Ready(Ok)` once nothing is.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let n = std::task::ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            let _ = self.pending.split_to(n);
        }
        Poll::Ready(Ok(()))
    }

    /// Looks at the start of a write: marks our response heads, replaces hyper's.
    fn intercept(&mut self, buf: &[u8]) -> Option<usize> {
        if !buf.starts_with(b"HTTP/1.") {
            return None;
        }
        if self.owed.0.load(Ordering::Relaxed) {
            // `100 Continue` is hyper's interim answer, not the response owed.
            if !buf.starts_with(b"HTTP/1.1 100 ") {
                self.owed.0.store(false, Ordering::Relaxed);
            }
            return None;
        }
        let (consumed, bytes, code) = replacement(buf, self.detail)?;
        self.client_errors.record(code);
        self.pending = bytes;
        Some(consumed)
    }
}

impl<I: Read + Unpin> Read for RewriteParseErrors<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<I: Write + Unpin> Write for RewriteParseErrors<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        if let Some(consumed) = this.intercept(buf) {
            // Hyper's bytes are taken as written; ours go out in their place.
            let _ = this.poll_pending(cx)?;
            return Poll::Ready(Ok(consumed));
        }
        Pin::new(&mut this.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        std::task::ready!(this.poll_pending(cx))?;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            if let Some(consumed) = this.intercept(first) {
                let _ = this.poll_pending(cx)?;
                return Poll::Ready(Ok(consumed));
            }
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_canned_heads_are_replaced() {
        let canned = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Tue, 01 Dec 2026 10:00:00 GMT\r\n\r\n";
        let (n, out, _) = replacement(canned, ClientErrorDetail::Summary).unwrap();
        assert_eq!(n, canned.len());
        let text = String::from_utf8(out.to_vec()).unwrap();
        assert!(text.starts_with("HTTP/1.1 431 "), "{text}");
        assert!(
            text.contains("\"code\":\"client_headers_too_large\""),
            "{text}"
        );
        let body = text.split("\r\n\r\n").nth(1).unwrap();
        assert!(
            text.contains(&format!("content-length: {}\r\n", body.len())),
            "{text}"
        );
        let bad = b"HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\ndate: x, y\r\n\r\n";
        let (_, out, _) = replacement(bad, ClientErrorDetail::Summary).unwrap();
        assert!(String::from_utf8_lossy(&out).contains("\"bad_request\""));
        // A proxied 400 with headers of its own is not hyper's.
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\ndate: x, y\r\n\r\n";
        assert!(replacement(ours, ClientErrorDetail::Summary).is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\n\r\n", ClientErrorDetail::Summary).is_none());
        assert!(replacement(b"HTTP/1.1 400 Bad Req", ClientErrorDetail::Summary).is_none());
    }
}
