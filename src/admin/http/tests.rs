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
