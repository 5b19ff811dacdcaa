use super::*;

fn demand(limit: u64, max_connections: usize, cap: Option<usize>, upstreams: usize) -> Demand {
    Demand {
        limit,
        open: 16,
        reserve: 64,
        admin: 64,
        max_connections,
        upstream_cap: cap,
        upstreams,
    }
}

#[test]
fn a_configuration_that_fits_is_kept_as_is() {
    let b = plan(&demand(20_000, 10_000, None, 2));
    assert_eq!(
        b,
        Budget {
            max_connections: 10_000,
            upstream_cap: AUTO_UPSTREAM_CAP,
            lowered: None
        }
    );
    // Exactly full still fits: 16 + 64 + 64 + 100 + 2 × 50 = 344.
    let b = plan(&demand(344, 100, Some(50), 2));
    assert_eq!((b.max_connections, b.upstream_cap), (100, 50));
    assert!(b.lowered.is_none());
}

#[test]
fn the_issue_case_keeps_clients_and_splits_the_rest_between_upstreams() {
    // 400 descriptors, max_connections 50, two upstreams on auto: 400 - 144 = 256 for
    // connections; the 50 clients fit, the upstreams share the remaining 206.
    let b = plan(&demand(400, 50, None, 2));
    assert_eq!(b.max_connections, 50);
    assert_eq!(b.upstream_cap, 103);
    let f = b.lowered.expect("lowered");
    assert_eq!(f.code, Code::DescriptorLimitLow);
    assert!(f.why.contains("the open-file limit is 400"), "{}", f.why);
    assert!(
        f.why.contains("upstream_max_connections: auto"),
        "{}",
        f.why
    );
    // 144 fixed + 50 + 2 × 1024.
    assert!(f.fix.contains("LimitNOFILE=2242"), "{}", f.fix);
    // Never more than the limit in all.
    assert!(16 + 64 + 64 + b.max_connections + 2 * b.upstream_cap <= 400);
}

#[test]
fn the_common_1024_soft_limit_halves_between_clients_and_upstream() {
    let b = plan(&demand(1024, 10_000, None, 1));
    // 1024 - 144 = 880: 440 clients, 440 upstream connections.
    assert_eq!((b.max_connections, b.upstream_cap), (440, 440));
    assert!(b.lowered.is_some());
}

#[test]
fn an_explicit_small_upstream_cap_leaves_the_clients_the_rest() {
    // 880 for connections; upstreams want 2 × 100: clients get 680 rather than half.
    let b = plan(&demand(1024, 10_000, Some(100), 2));
    assert_eq!((b.max_connections, b.upstream_cap), (680, 100));
    let f = b.lowered.unwrap();
    assert!(!f.why.contains("auto"), "{}", f.why);
}

#[test]
fn a_limit_below_the_fixed_part_still_leaves_one_of_each() {
    let b = plan(&demand(100, 10_000, None, 3));
    assert_eq!((b.max_connections, b.upstream_cap), (1, 1));
    assert!(b.lowered.is_some());
}

#[test]
fn unlimited_and_huge_values_do_not_overflow() {
    let b = plan(&Demand {
        limit: u64::MAX,
        open: usize::MAX,
        reserve: usize::MAX,
        admin: usize::MAX,
        max_connections: usize::MAX,
        upstream_cap: Some(usize::MAX),
        upstreams: usize::MAX,
    });
    assert!(b.max_connections >= 1 && b.upstream_cap >= 1);
    let b = plan(&demand(u64::MAX, 10_000, None, 5));
    assert!(b.lowered.is_none());
}

proptest::proptest! {
    /// Whatever the inputs, the caps in effect fit the limit whenever the fixed part does, and
    /// never exceed what was configured.
    #[test]
    fn the_plan_fits_and_never_raises(
        limit in 0u64..100_000,
        open in 0usize..2_000,
        reserve in 0usize..2_000,
        admin in 0usize..200,
        max_connections in 1usize..50_000,
        cap in proptest::option::of(1usize..5_000),
        upstreams in 1usize..20,
    ) {
        let d = Demand { limit, open, reserve, admin, max_connections, upstream_cap: cap, upstreams };
        let b = plan(&d);
        proptest::prop_assert!(b.max_connections >= 1 && b.max_connections <= max_connections);
        proptest::prop_assert!(b.upstream_cap >= 1 && b.upstream_cap <= cap.unwrap_or(AUTO_UPSTREAM_CAP));
        let fixed = open + reserve + admin;
        let used = fixed + b.max_connections + upstreams * b.upstream_cap;
        if (limit as usize) >= fixed + 1 + upstreams {
            proptest::prop_assert!(used <= limit as usize, "{used} > {limit}: {b:?}");
        }
        proptest::prop_assert_eq!(b.lowered.is_some(), fixed + max_connections + upstreams * cap.unwrap_or(AUTO_UPSTREAM_CAP) > limit as usize);
    }
}
