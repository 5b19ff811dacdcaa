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

/// Snapshots of one file whose successive reads return `contents` in turn (the last repeats).
fn reads_of(contents: &[&'static str]) -> impl FnMut() -> Snapshot {
    let mut i = 0;
    let contents: Vec<&'static str> = contents.to_vec();
    move || {
        let c = contents[i.min(contents.len() - 1)];
        i += 1;
        let mut files = BTreeMap::new();
        files.insert(PathBuf::from("a.pem"), Ok((c.as_bytes().to_vec(), None)));
        Snapshot { files }
    }
}

#[test]
fn a_file_being_written_is_waited_for() {
    // A writer still changing the file: reads keep disagreeing until it stops, and the
    // snapshot holds the content two consecutive reads agreed on.
    let mut waits = 0;
    let s = Snapshot::settle(reads_of(&["0", "", "1", "12", "123", "123"]), || waits += 1);
    assert_eq!(s.bytes(Path::new("a.pem")).unwrap(), b"123");
    assert_eq!(waits, 5, "one settle time between each pair of reads");
}

#[test]
fn a_file_rewritten_forever_is_taken_after_max_reads() {
    let endless: Vec<&'static str> = (0..=MAX_READS + 5)
        .map(|i| if i % 2 == 0 { "even" } else { "odd" })
        .collect();
    let mut waits = 0;
    let s = Snapshot::settle(reads_of(&endless), || waits += 1);
    assert_eq!(waits, MAX_READS);
    assert!(s.bytes(Path::new("a.pem")).is_some());
}

#[test]
fn read_stable_reads_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.pem");
    std::fs::write(&a, "settled").unwrap();
    let s = Snapshot::read_stable(std::slice::from_ref(&a));
    assert_eq!(s.bytes(&a).unwrap(), b"settled");
}
