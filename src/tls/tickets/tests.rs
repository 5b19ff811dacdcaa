use super::*;

fn key_bytes(seed: u8) -> Vec<u8> {
    (0..KEY_FILE_LEN as u8)
        .map(|i| i.wrapping_mul(31).wrapping_add(seed))
        .collect()
}

fn key(seed: u8) -> TicketKey {
    TicketKey::from_bytes(&key_bytes(seed)).unwrap()
}

#[test]
fn sealed_tickets_open_and_follow_the_rfc5077_layout() {
    let t = SharedTicketer::new(key(1));
    assert!(t.enabled());
    assert_eq!(t.lifetime(), TICKET_LIFETIME_S);
    for len in [0, 1, 15, 16, 17, 300] {
        let plain: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let ticket = t.encrypt(&plain).unwrap();
        // name | IV | ciphertext (padded to the block, at least one block) | MAC
        let padded = (len / 16 + 1) * 16;
        assert_eq!(ticket.len(), 16 + 16 + padded + 32, "len {len}");
        assert_eq!(&ticket[..16], &key_bytes(1)[..16], "the key name leads");
        assert_eq!(t.decrypt(&ticket).unwrap(), plain);
    }
    // A fresh IV each time.
    assert_ne!(t.encrypt(b"same").unwrap(), t.encrypt(b"same").unwrap());
}

#[test]
fn replicas_with_the_same_file_open_each_others_tickets() {
    let a = SharedTicketer::new(key(7));
    let b = SharedTicketer::new(key(7));
    let other = SharedTicketer::new(key(8));
    let ticket = a.encrypt(b"session state").unwrap();
    assert_eq!(b.decrypt(&ticket).unwrap(), b"session state");
    assert_eq!(other.decrypt(&ticket), None);
}

#[test]
fn the_layout_is_nginxs_name_hmac_aes() {
    // Built by hand from the file's three parts: the MAC is HMAC-SHA256 under bytes 16..48,
    // the body AES-256-CBC under bytes 48..80.
    let bytes = key_bytes(3);
    let t = SharedTicketer::new(key(3));
    let ticket = t.encrypt(b"hello").unwrap();
    let (sealed, mac) = ticket.split_at(ticket.len() - 32);
    let hk = hmac::Key::new(hmac::HMAC_SHA256, &bytes[16..48]);
    hmac::verify(&hk, sealed, mac).expect("MAC under bytes 16..48");
    let dec = PaddedBlockDecryptingKey::cbc_pkcs7(
        UnboundCipherKey::new(&AES_256, &bytes[48..80]).unwrap(),
    )
    .unwrap();
    let iv: [u8; 16] = sealed[16..32].try_into().unwrap();
    let mut body = sealed[32..].to_vec();
    let plain = dec
        .decrypt(&mut body, DecryptionContext::Iv128(FixedLength::from(iv)))
        .unwrap();
    assert_eq!(plain, b"hello");
}

#[test]
fn tampered_or_foreign_tickets_are_refused() {
    let t = SharedTicketer::new(key(1));
    let ticket = t.encrypt(b"state").unwrap();
    for i in [0, 16, 40, ticket.len() - 1] {
        let mut bad = ticket.clone();
        bad[i] ^= 1;
        assert_eq!(t.decrypt(&bad), None, "byte {i} flipped");
    }
    assert_eq!(t.decrypt(&ticket[..ticket.len() - 1]), None);
    assert_eq!(t.decrypt(&[]), None);
    assert_eq!(t.decrypt(&[0u8; 79]), None);
    assert_eq!(t.decrypt(&[0u8; 200]), None);
}

#[test]
fn rotation_keeps_the_previous_key_for_decryption_only() {
    let t = SharedTicketer::new(key(1));
    let old_ticket = t.encrypt(b"old").unwrap();
    assert_eq!(t.rotate(key(1)), None, "the same bytes: nothing to rotate");
    assert_eq!(t.rotate(key(2)).unwrap(), hex::encode(&key_bytes(1)[..16]));
    assert_eq!(t.current_name(), hex::encode(&key_bytes(2)[..16]));
    let new_ticket = t.encrypt(b"new").unwrap();
    assert_eq!(&new_ticket[..16], &key_bytes(2)[..16]);
    assert_eq!(t.decrypt(&old_ticket).unwrap(), b"old");
    assert_eq!(t.decrypt(&new_ticket).unwrap(), b"new");
    // Two rotations later the first key is gone.
    t.rotate(key(3));
    assert_eq!(t.decrypt(&old_ticket), None);
    assert_eq!(t.decrypt(&new_ticket).unwrap(), b"new");
}

#[test]
fn same_name_new_secrets_still_opens_old_tickets() {
    let mut changed = key_bytes(1);
    changed[60] ^= 0xff;
    let t = SharedTicketer::new(key(1));
    let old_ticket = t.encrypt(b"old").unwrap();
    assert!(t.rotate(TicketKey::from_bytes(&changed).unwrap()).is_some());
    assert_eq!(t.decrypt(&old_ticket).unwrap(), b"old");
}

#[test]
fn key_files_are_judged() {
    let p = Path::new("/etc/tlsgate/ticket.key");
    let (_, warnings) = key_from_file(p, &key_bytes(1), Some(0o100600)).unwrap();
    assert!(warnings.is_empty());
    let (_, warnings) = key_from_file(p, &key_bytes(1), Some(0o100644)).unwrap();
    assert_eq!(warnings[0].code, Code::TicketKeyPermissions);
    assert!(warnings[0].why.contains("0644"), "{}", warnings[0].why);

    let e = key_from_file(p, &key_bytes(1)[..79], None).unwrap_err();
    assert_eq!(e[0].code, Code::TicketKeyInvalid);
    assert!(e[0].why.contains("79 bytes"), "{}", e[0].why);
    let hex_text = format!("{}\n", hex::encode(key_bytes(1)));
    let e = key_from_file(p, hex_text.as_bytes(), None).unwrap_err();
    assert!(e[0].why.contains("hex"), "{}", e[0].why);
    let b64 = format!("{}=\n", "A".repeat(107));
    let e = key_from_file(p, b64.as_bytes(), None).unwrap_err();
    assert!(e[0].why.contains("base64"), "{}", e[0].why);
    let e = key_from_file(p, &[0u8; 48], None).unwrap_err();
    assert!(e[0].why.contains("AES-128"), "{}", e[0].why);

    let missing = load_key_file(Path::new("/nonexistent/tlsgate/ticket.key")).unwrap_err();
    assert_eq!(missing[0].code, Code::TicketKeyInvalid);
    assert!(missing[0].fix.contains("openssl rand 80"));
}

#[test]
fn debug_output_shows_names_not_secrets() {
    let t = SharedTicketer::new(key(1));
    let text = format!("{t:?}");
    assert!(text.contains(&hex::encode(&key_bytes(1)[..16])));
    assert!(!text.contains(&hex::encode(&key_bytes(1)[16..48])));
}
