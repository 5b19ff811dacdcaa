use super::*;
use http_body_util::BodyExt;

async fn call(state: &Arc<State>, method: Method, path: &str) -> (StatusCode, String) {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(())
        .unwrap();
    let resp = route(state, req).await;
    let status = resp.status();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn readyz_follows_the_ready_flag() {
    let state = Arc::new(State::new());
    assert_eq!(
        call(&state, Method::GET, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "not ready before listeners are bound"
    );
    assert_eq!(
        call(&state, Method::GET, "/healthz").await.0,
        StatusCode::OK
    );
    state.set_ready(true);
    assert_eq!(call(&state, Method::GET, "/readyz").await.0, StatusCode::OK);
    state.set_ready(false);
    assert_eq!(
        call(&state, Method::GET, "/readyz").await.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "not ready again while shutting down"
    );
}

#[tokio::test]
async fn unknown_paths_and_wrong_methods() {
    let state = Arc::new(State::new());
    assert_eq!(
        call(&state, Method::GET, "/nope").await.0,
        StatusCode::NOT_FOUND
    );
    for path in ["/healthz", "/readyz", "/status", "/metrics", "/"] {
        assert_eq!(
            call(&state, Method::POST, path).await.0,
            StatusCode::METHOD_NOT_ALLOWED,
            "POST {path}"
        );
    }
    assert_eq!(
        call(&state, Method::GET, "/reload").await.0,
        StatusCode::METHOD_NOT_ALLOWED
    );
    let (code, body) = call(&state, Method::POST, "/reload").await;
    assert_eq!(code, StatusCode::OK);
    assert!(body.contains("\"none\""), "{body}");
}

#[tokio::test]
async fn every_page_renders_on_an_empty_state() {
    let state = Arc::new(State::new());
    let (code, body) = call(&state, Method::GET, "/status").await;
    assert_eq!(code, StatusCode::OK);
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["reload"]["result"], "none");
    let (code, html) = call(&state, Method::GET, "/").await;
    assert_eq!(code, StatusCode::OK);
    assert!(html.contains("http-equiv=refresh"), "{html}");
    let (code, text) = call(&state, Method::GET, "/metrics").await;
    assert_eq!(code, StatusCode::OK);
    assert!(text.ends_with("# EOF\n"), "{text}");
}

async fn call_with(
    state: &Arc<State>,
    method: Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, http::HeaderMap, String) {
    let mut b = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    let local: std::net::SocketAddr = "127.0.0.1:9901".parse().unwrap();
    let resp = handle(state, b.body(()).unwrap(), Some(local)).await;
    let status = resp.status();
    let h = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    (status, h, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn foreign_hosts_are_refused_dns_rebinding() {
    let state = Arc::new(State::new());
    for host in [
        "127.0.0.1:9901",
        "localhost:9901",
        "LOCALHOST",
        "[::1]:9901",
        "127.0.0.2",
    ] {
        let (code, _, _) = call_with(&state, Method::GET, "/healthz", &[("host", host)]).await;
        assert_eq!(code, StatusCode::OK, "{host}");
    }
    for host in [
        "evil.example",
        "evil.example:9901",
        "localhost.evil.example",
        "10.0.0.1:9901",
        "127.0.0.1:x",
    ] {
        let (code, h, body) = call_with(&state, Method::GET, "/status", &[("host", host)]).await;
        assert_eq!(code, StatusCode::FORBIDDEN, "{host}");
        assert_eq!(h["content-type"], "application/json");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"]["code"], "admin_host_refused");
    }
    let (code, _, _) = call_with(&state, Method::GET, "/healthz", &[]).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "no Host at all");
}

#[tokio::test]
async fn reload_needs_json_or_the_tlsgate_header_csrf() {
    let state = Arc::new(State::new());
    let host = ("host", "127.0.0.1:9901");
    let (code, _, body) = call_with(&state, Method::POST, "/reload", &[host]).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    let form = ("content-type", "application/x-www-form-urlencoded");
    let (code, _, body) = call_with(&state, Method::POST, "/reload", &[host, form]).await;
    assert_eq!(code, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{body}");
    assert!(body.contains("admin_content_type_refused"), "{body}");
    let json = ("content-type", "application/json; charset=utf-8");
    let (code, _, body) = call_with(&state, Method::POST, "/reload", &[host, json]).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let (code, _, _) =
        call_with(&state, Method::POST, "/reload", &[host, ("x-tlsgate", "1")]).await;
    assert_eq!(code, StatusCode::OK);
}

#[tokio::test]
async fn head_works_wherever_get_does() {
    let state = Arc::new(State::new());
    let host = ("host", "localhost");
    for path in ["/healthz", "/readyz", "/status", "/metrics", "/"] {
        let (get, gh, gbody) = call_with(&state, Method::GET, path, &[host]).await;
        let (head, hh, hbody) = call_with(&state, Method::HEAD, path, &[host]).await;
        assert_eq!(head, get, "HEAD {path}");
        assert!(hbody.is_empty(), "HEAD {path} has a body");
        assert_eq!(hh["content-type"], gh["content-type"], "{path}");
        if ["/healthz", "/readyz"].contains(&path) {
            assert_eq!(
                hh["content-length"],
                gbody.len().to_string().as_str(),
                "{path}"
            );
        } else {
            assert_ne!(hh["content-length"], "0", "{path}");
        }
    }
}
