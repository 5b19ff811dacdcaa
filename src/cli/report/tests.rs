use super::*;
use crate::findings::Code;

#[test]
fn text_has_mark_code_why_and_fix() {
    let f = vec![
        Finding::new(Code::CertExpired, "expired", "not_after 2020", "renew"),
        Finding::new(Code::ChainIncludesRoot, "root sent", "", "drop it"),
    ];
    let mut out = String::new();
    render_text("bundle.pem", &f, &mut out);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "bundle.pem");
    assert_eq!(lines[1], "  error  cert_expired: expired");
    assert_eq!(lines[2], "           why: not_after 2020");
    assert_eq!(lines[3], "           fix: renew");
    assert_eq!(lines[4], "  ok     chain_includes_root: root sent");
    assert_eq!(lines[5], "           fix: drop it");
    assert_eq!(render_summary(&f), "1 error, 0 warnings, 1 info");
}

#[test]
fn empty_list_says_so() {
    let mut out = String::new();
    render_text("", &[], &mut out);
    assert!(out.contains("no problems found"));
}

#[test]
fn cert_header_shows_days_left() {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut p = rcgen::CertificateParams::new(vec!["a.test".to_string()]).unwrap();
    let now = OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(20) + time::Duration::hours(1);
    let c = CertInfo::parse(p.self_signed(&key).unwrap().der()).unwrap();
    let mut out = String::new();
    render_cert_header("certificate #1", &c, now, &mut out);
    assert!(out.contains("names:       a.test"), "{out}");
    assert!(out.contains("(20 day(s) left)"), "{out}");
    assert!(out.contains("key:         EC P-256"), "{out}");
}
