use super::*;

#[test]
fn serialises_with_the_contract_shape() {
    let f = Finding::new(Code::CertExpired, "expired", "not_after 2020", "renew");
    let v = serde_json::to_value(&f).unwrap();
    assert_eq!(
        v,
        serde_json::json!({"code":"cert_expired","severity":"error","summary":"expired","why":"not_after 2020","fix":"renew"})
    );
}

#[test]
fn importance_sort_is_stable_within_severity() {
    let mut v = vec![
        Finding::new(Code::ChainIncludesRoot, "a", "", ""),
        Finding::new(Code::CertExpired, "b", "", ""),
        Finding::new(Code::MissingAki, "c", "", ""),
        Finding::new(Code::ChainIncomplete, "d", "", ""),
    ];
    sort_by_importance(&mut v);
    let order: Vec<_> = v.iter().map(|f| f.summary.as_str()).collect();
    assert_eq!(order, ["b", "d", "c", "a"]);
}
