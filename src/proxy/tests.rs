use super::*;

fn proxy(yaml: &str) -> Proxy {
    let cfg = crate::config::parse_str(yaml, "t").unwrap();
    Proxy::new(&cfg, None).unwrap()
}

#[test]
fn routes_match_whole_segments_first_wins() {
    let p = proxy(
        "routes:\n  - {path_prefix: /v1/, upstream: a}\n  - {path_prefix: /, upstream: b}\nupstreams:\n  a: {url: 'http://127.0.0.1:1'}\n  b: {url: 'http://127.0.0.1:2'}\n",
    );
    assert_eq!(&*p.route("/v1").unwrap().name, "a");
    assert_eq!(&*p.route("/v1/models").unwrap().name, "a");
    assert_eq!(&*p.route("/v10").unwrap().name, "b");
    assert_eq!(&*p.route("/").unwrap().name, "b");
}

#[test]
fn no_route_when_nothing_matches() {
    let p = proxy("routes:\n  - {path_prefix: /v1, upstream: a}\nupstreams:\n  a: {url: 'http://127.0.0.1:1'}\n");
    assert!(p.route("/other").is_none());
    assert!(p.route("/v1/x").is_some());
}
