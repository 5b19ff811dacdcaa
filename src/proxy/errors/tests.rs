use super::*;

fn finding(code: Code) -> Finding {
    Finding::new(
        code,
        "the upstream refused",
        "127.0.0.1:9 refused",
        "start it",
    )
}

#[test]
fn shape_and_status() {
    let resp: Response<Bytes> =
        error_response(&finding(Code::UpstreamRefused), ClientErrorDetail::Summary);
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(resp.headers().get("x-should-retry").is_none());
    let v: serde_json::Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(v["error"]["type"], "tlsgate_error");
    assert_eq!(v["error"]["code"], "upstream_refused");
    assert_eq!(v["error"]["param"], serde_json::Value::Null);
    assert_eq!(v["error"]["message"], "tlsgate: the upstream refused");
}

#[test]
fn certificate_problems_are_not_retryable_and_timeouts_are_504() {
    let resp: Response<Bytes> = error_response(
        &finding(Code::UpstreamCertExpired),
        ClientErrorDetail::Summary,
    );
    assert_eq!(resp.headers()["x-should-retry"], "false");
    assert_eq!(
        status_for(Code::UpstreamTimeout),
        StatusCode::GATEWAY_TIMEOUT
    );
}

#[test]
fn detail_levels() {
    let f = finding(Code::UpstreamRefused);
    assert_eq!(
        client_message(&f, ClientErrorDetail::None),
        "upstream unavailable"
    );
    let full = client_message(&f, ClientErrorDetail::Full);
    assert!(full.contains("fix: start it") && full.contains("127.0.0.1:9"));
    assert!(!client_message(&f, ClientErrorDetail::Summary).contains("127.0.0.1"));
}

#[test]
fn sse_event_is_one_data_line() {
    let ev = error_sse_event(
        &finding(Code::UpstreamConnectionReset),
        ClientErrorDetail::Summary,
    );
    let text = std::str::from_utf8(&ev).unwrap();
    assert!(text.starts_with("data: {\"error\":"));
    assert!(text.ends_with("\n\n"));
    assert_eq!(text.matches('\n').count(), 2);
}
