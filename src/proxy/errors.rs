//! Errors that tlsgate itself produces for HTTP clients, shaped like OpenAI's so the SDKs raise
//! the right exception: `{"error":{"message","type":"tlsgate_error","param":null,"code"}}`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::config::ClientErrorDetail;
use crate::findings::{Code, Finding};

/// The HTTP status a finding maps to when tlsgate answers for the upstream.
pub fn status_for(code: Code) -> StatusCode {
    match code {
        Code::UpstreamTimeout | Code::UpstreamHandshakeTimeout | Code::UpstreamConnectTimeout => {
            StatusCode::GATEWAY_TIMEOUT
        }
        Code::RequestHeadersTooLarge | Code::ClientHeadersTooLarge => {
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
        }
        Code::BadRequest
        | Code::PlainHttpOnTlsPort
        | Code::ClientPathInvalid
        | Code::ClientHostInvalid
        | Code::ClientBodyInvalid
        | Code::ClientUpgradeRefused => StatusCode::BAD_REQUEST,
        Code::ClientBodyTimeout => StatusCode::REQUEST_TIMEOUT,
        Code::ClientMethodRefused => StatusCode::METHOD_NOT_ALLOWED,
        Code::ClientBodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Code::NoRoute => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_GATEWAY,
    }
}

/// Whether a retry could help. Certificate, trust, name, protocol and configuration problems
/// will fail the same way next time, so SDKs are told not to retry (`x-should-retry: false`);
/// refused connections, DNS, timeouts and resets are left to the SDK's retry policy.
pub fn is_transient(code: Code) -> bool {
    matches!(
        code,
        Code::UpstreamDnsFailed
            | Code::UpstreamRefused
            | Code::UpstreamConnectTimeout
            | Code::UpstreamUnreachable
            | Code::UpstreamHandshakeTimeout
            | Code::UpstreamTimeout
            | Code::UpstreamConnectionReset
            | Code::EgressProxyFailed
    )
}

/// The `message` text per `diagnostics.client_error_detail`.
pub fn client_message(finding: &Finding, detail: ClientErrorDetail) -> String {
    match detail {
        ClientErrorDetail::None => "upstream unavailable".to_string(),
        ClientErrorDetail::Summary => format!("tlsgate: {}", finding.summary),
        ClientErrorDetail::Full => format!(
            "tlsgate: {} ({}) — fix: {}",
            finding.summary, finding.why, finding.fix
        ),
    }
}

/// The JSON error object, as bytes.
pub fn error_json(finding: &Finding, detail: ClientErrorDetail) -> Bytes {
    let body = serde_json::json!({
        "error": {
            "message": client_message(finding, detail),
            "type": "tlsgate_error",
            "param": null,
            "code": finding.code.as_str(),
        }
    });
    Bytes::from(body.to_string())
}

/// The same error as a final SSE event, for failures after a `text/event-stream` began.
pub fn error_sse_event(finding: &Finding, detail: ClientErrorDetail) -> Bytes {
    let json = error_json(finding, detail);
    let mut out = Vec::with_capacity(json.len() + 8);
    out.extend_from_slice(b"data: ");
    out.extend_from_slice(&json);
    out.extend_from_slice(b"\n\n");
    Bytes::from(out)
}

/// A complete error response.
pub fn error_response<B: From<Bytes>>(finding: &Finding, detail: ClientErrorDetail) -> Response<B> {
    let mut resp = Response::new(B::from(error_json(finding, detail)));
    *resp.status_mut() = status_for(finding.code);
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if !is_transient(finding.code) {
        h.insert("x-should-retry", HeaderValue::from_static("false"));
    }
    resp
}

#[cfg(test)]
mod tests;
