//! Errors that tlsgate itself produces for HTTP clients, shaped like OpenAI's so the SDKs raise
//! the right exception: `{"error":{"message","type":"tlsgate_error","param":null,"code"}}`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::config::ClientErrorDetail;
use crate::findings::{Code, Finding};

/// The HTTP status of tlsgate's answer for a finding: its catalogue row's status. A code
/// whose row has none never reaches an error response; should one, 502 is the gateway's
/// neutral answer.
pub fn status_for(code: Code) -> StatusCode {
    code.http_status()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::BAD_GATEWAY)
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
    if !finding.code.retryable() {
        h.insert("x-should-retry", HeaderValue::from_static("false"));
    }
    // A 503 is load shedding (`upstream_overloaded`): say when to come back. The OpenAI SDKs
    // and requests' Retry honour retry-after; one second spreads a burst without stalling.
    if status_for(finding.code) == StatusCode::SERVICE_UNAVAILABLE {
        h.insert(http::header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    resp
}

#[cfg(test)]
mod tests;
