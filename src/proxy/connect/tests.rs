use super::*;
use tokio::net::TcpListener;

#[test]
fn proxy_replies_are_told_apart() {
    let j = |head: &[u8]| {
        judge_proxy_reply(head, "10.0.0.9:3128", "api.example:443").map_err(|e| e.to_string())
    };
    assert!(j(b"HTTP/1.1 200 Connection established\r\n\r\n").is_ok());
    assert!(j(b"HTTP/1.0 200 OK\r\nProxy-Agent: x\r\n\r\n").is_ok());
    let forbidden = j(b"HTTP/1.1 403 Forbidden\r\n\r\n").unwrap_err();
    assert!(
        forbidden.contains("refused CONNECT api.example:443")
            && forbidden.contains("\"HTTP/1.1 403 Forbidden\"")
            && forbidden.contains("10.0.0.9:3128"),
        "{forbidden}"
    );
    let auth = j(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n").unwrap_err();
    assert!(auth.contains("requires authentication"), "{auth}");
    for s in [
        "502 Bad Gateway",
        "503 Service Unavailable",
        "504 Gateway Timeout",
    ] {
        let why = j(format!("HTTP/1.1 {s}\r\n\r\n").as_bytes()).unwrap_err();
        assert!(
            why.contains("could not reach the upstream api.example:443 behind it")
                && why.contains(s),
            "{why}"
        );
    }
    let garbage = j(b"\x16\x03\x01\x00\x02\r\n\r\n").unwrap_err();
    assert!(
        garbage.contains("did not answer CONNECT api.example:443 in HTTP")
            && garbage.contains("\\x16"),
        "{garbage}"
    );
    assert!(matches!(
        judge_proxy_reply(b"HTTP/1.1 407 x\r\n\r\n", "p:1", "a:443"),
        Err(ProxyReplyError::AuthenticationRequired { reply, .. }) if reply == "HTTP/1.1 407 x"
    ));
    assert!(j(b"HTTP/1.1 2000 x\r\n\r\n").is_err());
    assert!(j(b"HTTP/1.1\r\n\r\n").is_err());
    assert!(j(b"").is_err());
    // A hostile status line is escaped and shortened.
    let long = format!("HTTP/1.1 403 {}\x1b[2J\r\n\r\n", "A".repeat(500));
    let why = j(long.as_bytes()).unwrap_err();
    assert!(!why.contains('\x1b') && why.len() < 400, "{why}");
}

#[test]
fn proxy_display_brackets_ipv6() {
    let p = |host: &str| EgressProxy {
        host: host.into(),
        port: 3128,
    };
    assert_eq!(p("::1").display(), "[::1]:3128");
    assert_eq!(p("proxy.corp").display(), "proxy.corp:3128");
}

/// A one-shot proxy: records the request head, sends `reply`, then closes.
async fn one_shot_proxy(reply: &'static [u8]) -> (EgressProxy, tokio::task::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            match tcp.read_u8().await {
                Ok(b) => head.push(b),
                Err(_) => break,
            }
        }
        let _ = tcp.write_all(reply).await;
        let _ = tcp.shutdown().await;
        String::from_utf8_lossy(&head).into_owned()
    });
    let proxy = EgressProxy {
        host: "127.0.0.1".into(),
        port,
    };
    (proxy, task)
}

#[tokio::test]
async fn connect_via_proxy_sends_connect_and_keeps_tunnelled_bytes() {
    let (proxy, task) = one_shot_proxy(b"HTTP/1.1 200 Connection established\r\n\r\nTUNNEL").await;
    let mut tcp = connect_via_proxy(&proxy, "upstream.test", 8443)
        .await
        .unwrap();
    let mut rest = String::new();
    tcp.read_to_string(&mut rest).await.unwrap();
    assert_eq!(rest, "TUNNEL");
    let head = task.await.unwrap();
    assert!(
        head.starts_with("CONNECT upstream.test:8443 HTTP/1.1\r\n")
            && head.contains("Host: upstream.test:8443\r\n"),
        "{head}"
    );
    let (proxy, task) = one_shot_proxy(b"HTTP/1.1 200 OK\r\n\r\n").await;
    connect_via_proxy(&proxy, "::1", 443).await.unwrap();
    assert!(task.await.unwrap().starts_with("CONNECT [::1]:443 "));
}

#[tokio::test]
async fn connect_via_proxy_failures_name_the_step() {
    let (proxy, _t) = one_shot_proxy(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
    let e = connect_via_proxy(&proxy, "upstream.test", 443)
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::EgressProxyFailed);
    assert!(e.why.contains("\"HTTP/1.1 403 Forbidden\""), "{}", e.why);

    let (proxy, _t) = one_shot_proxy(b"").await;
    let e = connect_via_proxy(&proxy, "upstream.test", 443)
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::EgressProxyFailed);
    assert!(
        e.why
            .contains("closed the connection without answering CONNECT"),
        "{}",
        e.why
    );

    let (proxy, _t) = one_shot_proxy(b"HTTP/1.1 200 Conn").await;
    let e = connect_via_proxy(&proxy, "upstream.test", 443)
        .await
        .unwrap_err();
    assert!(e.why.contains("in the middle of its reply"), "{}", e.why);

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let proxy = EgressProxy {
        host: "127.0.0.1".into(),
        port,
    };
    let e = connect_via_proxy(&proxy, "upstream.test", 443)
        .await
        .unwrap_err();
    assert_eq!(e.code, Code::EgressProxyFailed);
    assert!(
        e.why.contains(&format!(
            "cannot reach the egress proxy 127.0.0.1:{port} itself"
        )) && e.why.contains("refused"),
        "{}",
        e.why
    );
}
