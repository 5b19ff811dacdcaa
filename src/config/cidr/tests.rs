use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn networks_and_hosts() {
    let net = Cidr::parse("10.0.0.0/8").unwrap();
    assert!(net.contains(ip("10.200.1.2")));
    assert!(!net.contains(ip("11.0.0.1")));
    assert!(net.contains(ip("::ffff:10.1.2.3")), "IPv4-mapped");
    assert!(!net.contains(ip("2001:db8::1")));

    let host = Cidr::parse("127.0.0.1").unwrap();
    assert_eq!(host.to_string(), "127.0.0.1/32");
    assert!(host.contains(ip("127.0.0.1")));
    assert!(!host.contains(ip("127.0.0.7")));

    let v6 = Cidr::parse("2001:db8::/32").unwrap();
    assert!(v6.contains(ip("2001:db8:1::5")));
    assert!(!v6.contains(ip("2001:db9::1")));

    let all = Cidr::parse("0.0.0.0/0").unwrap();
    assert!(all.contains(ip("203.0.113.9")));
    assert!(Cidr::parse("::/0").unwrap().contains(ip("::1")));
}

#[test]
fn mistakes_are_explained() {
    let e = Cidr::parse("10.1.2.3/8").unwrap_err();
    assert!(e.contains("10.0.0.0/8") && e.contains("10.1.2.3/32"), "{e}");
    assert!(Cidr::parse("10.0.0.0/33").unwrap_err().contains("0 to 32"));
    assert!(Cidr::parse("2001:db8::/129")
        .unwrap_err()
        .contains("0 to 128"));
    assert!(Cidr::parse("lb.internal")
        .unwrap_err()
        .contains("not an IP"));
    assert!(Cidr::parse("10.0.0.0/x").is_err());
}
