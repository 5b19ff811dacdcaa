use super::*;

#[test]
fn hash_changes_with_content_and_missing_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.pem");
    std::fs::write(&a, "one").unwrap();
    let paths = vec![a.clone(), dir.path().join("missing.pem")];
    let s1 = Snapshot::read_stable(&paths);
    std::fs::write(&a, "two").unwrap();
    let s2 = Snapshot::read_stable(&paths);
    assert_ne!(s1.content_hash(), s2.content_hash());
    assert_eq!(s2.content_hash(), Snapshot::read(&paths).content_hash());
    let err = s2.pem(&dir.path().join("missing.pem")).unwrap_err();
    assert_eq!(err.code, crate::findings::Code::CertFileUnreadable);
}

#[test]
fn a_file_being_written_is_waited_for() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.pem");
    std::fs::write(&a, "0").unwrap();
    // A writer changing the file every 10 ms for 200 ms: reads 40 ms apart keep disagreeing
    // until it stops, so the snapshot holds the final content.
    let writer = {
        let a = a.clone();
        std::thread::spawn(move || {
            for i in 1..=20 {
                std::fs::write(&a, i.to_string()).unwrap();
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(5));
    let s = Snapshot::read_stable(std::slice::from_ref(&a));
    writer.join().unwrap();
    assert_eq!(s.bytes(&a).unwrap(), b"20");
}
