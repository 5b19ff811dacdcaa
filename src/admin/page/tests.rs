use super::*;

fn doc(name: &str, summary: &str) -> serde_json::Value {
    serde_json::json!({
        "version": "1", "started_at": "2025-01-01T00:00:00Z",
        "listeners": [{"name": name, "bind": "127.0.0.1:1", "tls": true,
            "certificates": [{"subject": "CN=<b>", "sans": ["<i>x</i>"], "issuer": "CA & co",
                "not_after": "2030-01-01T00:00:00Z", "days_left": 12, "fingerprint_sha256": "ab'cd",
                "cert_file": "/x/\"c\".pem", "key_file": "/x/k.pem", "loaded_at": "t",
                "findings": [{"code": "cert_expiring_soon", "severity": "warning", "summary": summary, "fix": "<renew>"}]}],
            "handshake_failures": {"total": 3, "by_code": {"<sni>": 2, "not_tls": 1},
                "recent": [{"at": "t", "code": "unknown_sni", "sni": "<script>alert(1)</script>", "peer": "1.2.3.4:5", "summary": "s"}]}}],
        "upstreams": [{"name": "up<1>", "url": "https://x/?a=<b>", "status": "failing", "checked_at": null,
            "tls_version": null, "cipher": null, "alpn": null, "chain": [], "findings": []}],
        "reload": {"result": "rejected", "last_attempt_at": "t", "findings": [{"code": "key_mismatch", "severity": "error", "summary": "<k>", "fix": ""}]}
    })
}

#[test]
fn escapes_untrusted_text() {
    let mut req = RequestCounts::new();
    req.entry("<up>".into())
        .or_default()
        .insert("5xx".into(), 2);
    let html = render(&doc("<script>", "soon <b>"), &req);
    for raw in [
        "<script>", "<b>", "<i>", "<sni>", "<renew>", "<k>", "<up>", "up<1>", "ab'cd",
    ] {
        assert!(!html.contains(raw), "unescaped {raw}");
    }
    assert!(html.contains("&lt;script&gt;"));
    assert!(html.contains("ab&#39;cd"));
    assert!(html.contains("CA &amp; co"));
}

#[test]
fn shows_expiry_failures_upstreams_and_reload_at_a_glance() {
    let mut req = RequestCounts::new();
    req.entry("up<1>".into())
        .or_default()
        .insert("5xx".into(), 2);
    let html = render(&doc("main", "expires soon"), &req);
    assert!(html.contains("<meta http-equiv=refresh content=10>"));
    assert!(html.contains("12 days left"), "days left shown");
    assert!(
        html.contains("class='fill warn'"),
        "amber bar under 30 days"
    );
    assert!(html.contains("not_tls"));
    assert!(html.contains("pill err'>failing"));
    assert!(html.contains("5xx&nbsp;2"));
    assert!(html.contains("rejected"));
    assert!(html.contains("needs attention"));
    // No external assets: nothing is loaded from anywhere.
    for needle in [
        "<script",
        "<link",
        "src=",
        "url(",
        "@import",
        "http://",
        "https://x/?a=<",
    ] {
        assert!(!html.contains(needle), "found {needle}");
    }
}

#[test]
fn days_phrases() {
    assert_eq!(days_phrase(45), "45 days left");
    assert_eq!(days_phrase(1), "1 day left");
    assert_eq!(days_phrase(0), "expires within a day");
    assert_eq!(days_phrase(-3), "expired 3 days ago");
}
