use super::*;

#[test]
fn watches_parent_grandparent_and_symlink_target_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let live = tmp.path().join("live");
    let archive = tmp.path().join("archive");
    std::fs::create_dir_all(&live).unwrap();
    std::fs::create_dir_all(&archive).unwrap();
    std::fs::write(archive.join("cert1.pem"), "x").unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(archive.join("cert1.pem"), live.join("cert.pem")).unwrap();
    let set = watch_dirs(&[live.join("cert.pem")]);
    assert!(set.dirs.contains(&live));
    assert!(set.parents_of_dirs.contains(tmp.path()));
    #[cfg(unix)]
    assert!(set.dirs.contains(&std::fs::canonicalize(&archive).unwrap()));
}

#[test]
fn unrelated_sibling_events_are_ignored() {
    let set = watch_dirs(&[PathBuf::from("/etc/tls/app/tls.crt")]);
    assert!(set.relevant(&[PathBuf::from("/etc/tls/app/tls.crt")]));
    assert!(set.relevant(&[PathBuf::from("/etc/tls/app")]));
    // A log file written next to the certificate directory must not trigger reloads.
    assert!(!set.relevant(&[PathBuf::from("/etc/tls/tlsgate.log")]));
    assert!(!set.relevant(&[PathBuf::from("/etc/tls/other/x")]));
}
