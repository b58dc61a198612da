//! Bundles: byte and JSON round trips, clear errors for damaged or hostile input, validation.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use omnirule_engine::bundle::{Bundle, BundleError, HEADER_LEN};

/// The format of a bundle without goals (what these tests' graphs are).
const FORMAT_VERSION: u16 = 3;
use omnirule_engine::graph::*;
use omnirule_engine::validate::GraphError;
use proptest::prelude::*;

#[test]
fn bytes_and_json_round_trip() {
    let b = Bundle::new(rich_graph()).unwrap();
    let bytes = b.to_bytes();
    assert_eq!(&bytes[..8], b"OMNIRULE");
    assert_eq!(u16::from_le_bytes([bytes[8], bytes[9]]), 3);
    let back = Bundle::from_bytes(&bytes).unwrap();
    assert_eq!(back.graph(), b.graph());
    assert_eq!(back.hash_hex(), b.hash_hex());
    assert_eq!(back.to_bytes(), bytes);
    let json = b.to_json();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["format"], "omnirule-bundle");
    assert_eq!(v["version"], 3);
    assert_eq!(v["hash"], b.hash_hex());
    let back = Bundle::from_json(&json).unwrap();
    assert_eq!(back.graph(), b.graph());
    assert_eq!(back, b);
    assert_eq!(b.hash_hex().len(), 64);
}

#[test]
fn event_types_are_found_by_name() {
    let g = rich_graph();
    let b = Bundle::new(g.clone()).unwrap();
    assert!(g.schema.events.len() > 1);
    for (i, e) in g.schema.events.iter().enumerate() {
        assert_eq!(b.event_type(&e.name), Some(i as u32), "{}", e.name);
    }
    for missing in ["", "page_vie", "page_view ", "zzz", "PAGE_VIEW"] {
        assert_eq!(b.event_type(missing), None, "{missing:?}");
    }
}

#[test]
fn json_with_awkward_numbers_round_trips_with_the_same_hash() {
    let mut g = G::new();
    for x in [
        0.1,
        1e-7,
        1e21,
        123456.789e-300,
        5e-324,
        f64::MAX,
        2.0f64.sqrt(),
    ] {
        let n = g.n(x);
        let c = g.test(n, "n");
        let r = g.rule(&format!("r{}", g.g.rules.len()), &[PAGE_VIEW], Some(c));
        g.add(r);
    }
    let b = g.bundle();
    assert_eq!(
        Bundle::from_json(&b.to_json()).unwrap().hash_hex(),
        b.hash_hex()
    );
}

#[test]
fn damaged_bundles_are_refused_with_clear_sentences() {
    let b = Bundle::new(rich_graph()).unwrap();
    let bytes = b.to_bytes();
    let msg = |r: Result<Bundle, BundleError>| r.unwrap_err().to_string();

    assert_eq!(
        msg(Bundle::from_bytes(
            b"hello world, not a bundle at all...................................."
        )),
        "not an Omnirule bundle"
    );
    assert_eq!(msg(Bundle::from_bytes(b"")), "not an Omnirule bundle");
    assert_eq!(
        msg(Bundle::from_bytes(&bytes[..20])),
        format!("the bundle is truncated: expected {HEADER_LEN} bytes, got 20")
    );
    let short = &bytes[..bytes.len() - 3];
    assert_eq!(
        msg(Bundle::from_bytes(short)),
        format!(
            "the bundle is truncated: expected {} bytes, got {}",
            bytes.len(),
            bytes.len() - 3
        )
    );
    let mut future = bytes.clone();
    future[8] = 7;
    assert_eq!(
        msg(Bundle::from_bytes(&future)),
        "bundle format 7 is newer than this engine supports (4); upgrade the engine"
    );
    let mut old = bytes.clone();
    old[8] = 2;
    assert_eq!(
        msg(Bundle::from_bytes(&old)),
        "bundle format 2 is older than this engine reads (formats 3 to 4); rebuild the bundle from its rules with `omnirule build`"
    );
    let mut flagged = bytes.clone();
    flagged[10] = 2;
    assert!(msg(Bundle::from_bytes(&flagged)).contains("flags"));
    // Flag bit 0 says a 72-byte signature block follows the body.
    let mut signed = bytes.clone();
    signed[10] = 1;
    assert!(msg(Bundle::from_bytes(&signed)).contains("truncated"));
    let mut corrupt = bytes.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x40;
    assert!(msg(Bundle::from_bytes(&corrupt)).contains("corrupted"));
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(msg(Bundle::from_bytes(&longer)).contains("1 unexpected bytes"));

    let json = b.to_json();
    let tampered = json.replacen("KNIT20", "KNIT99", 1);
    assert!(msg(Bundle::from_json(&tampered)).contains("corrupted"));
    let future = json.replacen("\"version\": 3", "\"version\": 7", 1);
    assert!(msg(Bundle::from_json(&future)).contains("newer than this engine"));
    assert_eq!(msg(Bundle::from_json("{}")), "not an Omnirule bundle");
    assert!(msg(Bundle::from_json("not json")).contains("could not be decoded"));
}

// ----- signatures ------------------------------------------------------------------------------

use omnirule_engine::bundle::signature::{SecretKey, SignatureError, TrustedKeys};

fn key(seed: u8) -> SecretKey {
    SecretKey::from_seed([seed; 32])
}

#[test]
fn a_signed_bundle_loads_only_where_its_key_is_trusted() {
    let plain = Bundle::new(rich_graph()).unwrap();
    let head_office = key(1);
    let signed = plain.clone().signed(&head_office);
    let trusted = TrustedKeys::parse(&head_office.public_text()).unwrap();
    let other = TrustedKeys::parse(&key(2).public_text()).unwrap();

    // Both forms carry the signature; the hash (the bundle's identity) is unchanged.
    for form in [signed.to_bytes(), signed.to_json().into_bytes()] {
        let loaded = Bundle::load(&form, Some(&trusted)).unwrap();
        assert_eq!(loaded.hash_hex(), plain.hash_hex());
        assert_eq!(loaded.verify(&trusted), Ok(head_office.key_id()));
        let err = Bundle::load(&form, Some(&other)).unwrap_err();
        assert_eq!(
            err,
            BundleError::Untrusted(SignatureError::UnknownKey {
                key: head_office.key_id().to_string()
            })
        );
        assert!(err.to_string().contains("does not trust"), "{err}");
        // A host that trusts no keys takes it as any bundle.
        assert!(Bundle::load(&form, None).is_ok());
    }
    let bytes = signed.to_bytes();
    assert_eq!(bytes.len(), plain.to_bytes().len() + 72);

    // Unsigned, where keys are trusted: refused, saying how to sign.
    let err = Bundle::load(&plain.to_bytes(), Some(&trusted)).unwrap_err();
    assert_eq!(err, BundleError::Untrusted(SignatureError::Unsigned));
    assert!(err.to_string().contains("omnirule build --sign"), "{err}");

    // A flipped bit in the signature, or a signature moved onto another bundle.
    let mut forged = bytes.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(matches!(
        Bundle::load(&forged, Some(&trusted)),
        Err(BundleError::Untrusted(SignatureError::BadSignature { .. }))
    ));
    let mut g = rich_graph();
    g.rules[0].priority += 1;
    let other_bundle = Bundle::new(g).unwrap().to_bytes();
    let mut moved = other_bundle.clone();
    moved[10] = 1;
    moved.extend_from_slice(&bytes[bytes.len() - 72..]);
    assert!(matches!(
        Bundle::load(&moved, Some(&trusted)),
        Err(BundleError::Untrusted(SignatureError::BadSignature { .. }))
    ));
    // Trailing bytes after the signature block are still refused.
    let mut longer = bytes.clone();
    longer.push(0);
    assert!(matches!(
        Bundle::from_bytes(&longer),
        Err(BundleError::TrailingBytes { extra: 1 })
    ));
}

#[test]
fn keys_are_text_with_clear_errors() {
    let k = key(7);
    let text = k.to_text();
    assert!(text.starts_with("omnirule-ed25519-secret:"));
    assert_eq!(
        SecretKey::from_text(&text).unwrap().public_text(),
        k.public_text()
    );
    assert!(k.public_text().starts_with("ed25519:"));
    // Several keys (a rotation), with comments.
    let list = format!(
        "# head office\n{}, {}\n",
        k.public_text(),
        key(8).public_text()
    );
    assert_eq!(TrustedKeys::parse(&list).unwrap().ids().count(), 2);
    for bad in [
        "",
        "# nothing",
        "ed25519:zz",
        "rsa:00",
        &format!("ed25519:{}", "0".repeat(63)),
    ] {
        let e = TrustedKeys::parse_checked(bad).unwrap_err();
        assert!(matches!(e, SignatureError::BadKey(_)), "{bad}: {e}");
    }
    assert!(SecretKey::from_text(&k.public_text()).is_err());
    // Well-formed text that is not a point of the curve: the checked parse says so; the
    // light one (a browser's) leaves it to verification, which refuses it.
    let not_a_point = format!("ed25519:{}", "3b".repeat(32));
    assert!(TrustedKeys::parse(&not_a_point).is_ok());
    assert!(matches!(
        TrustedKeys::parse_checked(&not_a_point),
        Err(SignatureError::BadKey(_))
    ));
}

// ----- privacy ---------------------------------------------------------------------------------

#[test]
fn a_rule_that_reads_personal_data_without_consent_is_refused_at_load() {
    // The checker refuses this in `.rules`; a graph built or altered by hand must not slip
    // past the engine either, whether it reads the field itself, through a segment, or in an
    // action's params.
    let mut g = rich_graph();
    let pii_field = g.schema.profile[0].name.clone();
    g.schema.profile[0].pii = true;
    let node = g.nodes.len() as u32;
    g.nodes.push(Node::ProfileField(pii_field.clone()));
    g.nodes.push(Node::Present(node));
    let cond = g.conds.len() as u32;
    g.conds.push(Cond::Test(node + 1));
    g.cond_sources.push("profile.x is present");
    let direct = {
        let mut g = g.clone();
        g.rules[0].consents.clear();
        g.rules[0].when = Some(cond);
        g
    };
    let e = Bundle::new(direct.clone()).unwrap_err().to_string();
    assert!(
        e.contains(&format!("personal field `profile.{pii_field}`")),
        "{e}"
    );
    assert!(e.contains("requires no consent"), "{e}");
    // With a consent, it loads.
    let mut ok = direct.clone();
    ok.rules[0].consents = vec![0];
    Bundle::new(ok).unwrap();
    // Through a segment.
    let mut via_segment = g.clone();
    let seg = via_segment.segments.len() as u32;
    via_segment.segments.push(Segment {
        name: "has_x".into(),
        cond,
        slots: 0,
    });
    let sn = via_segment.nodes.len() as u32;
    via_segment.nodes.push(Node::Segment(seg));
    let sc = via_segment.conds.len() as u32;
    via_segment.conds.push(Cond::Test(sn));
    via_segment.cond_sources.push("has_x");
    via_segment.rules[0].consents.clear();
    via_segment.rules[0].when = Some(sc);
    assert!(
        Bundle::new(via_segment)
            .unwrap_err()
            .to_string()
            .contains("personal field")
    );
}

/// A graph with a corruption applied, as the validator sees it.
fn invalid(f: impl FnOnce(&mut Graph)) -> String {
    let mut g = rich_graph();
    f(&mut g);
    let err = Bundle::new(g.clone()).unwrap_err();
    assert!(matches!(err, BundleError::InvalidGraph(_)), "{err}");
    // The same graph arriving as bytes is refused the same way.
    let body = Bundle::encode_body(&g);
    let mut bytes = b"OMNIRULE".to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    use sha2::Digest;
    bytes.extend_from_slice(&sha2::Sha256::digest(&body));
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&body);
    assert_eq!(Bundle::from_bytes(&bytes).unwrap_err(), err);
    err.to_string()
}

#[test]
fn invalid_graphs_are_refused_naming_the_problem() {
    let e = invalid(|g| g.nodes.push(Node::Not(9999)));
    assert!(e.contains("node") && e.contains("9999"), "{e}");
    let e = invalid(|g| {
        let n = g.nodes.len() as u32;
        g.nodes.push(Node::Not(n));
    });
    assert!(e.contains("does not come before it"), "{e}");
    let e = invalid(|g| {
        g.conds.push(Cond::Test(12345));
        g.cond_sources.push("x");
    });
    assert!(e.contains("12345"), "{e}");
    let e = invalid(|g| g.rules[0].when = Some(777));
    assert!(
        e.contains("rule `sweater_in_store` refers to condition 777, but there are only"),
        "{e}"
    );
    let e = invalid(|g| g.rules[0].slots = 2);
    assert!(e.contains("binding slot 4") && e.contains("2 slots"), "{e}");
    let e = invalid(|g| {
        if let Outcome::Split { arms, .. } = &mut g.rules[1].outcome {
            arms[0].basis_points = 4000;
        }
    });
    assert_eq!(
        e,
        "the bundle's rule graph is invalid: the split of rule `win_back` has arms summing to 9000 basis points instead of 10000"
    );
    let e = invalid(|g| {
        let r = g.rules[0].clone();
        g.rules.push(r);
    });
    assert!(e.contains("two rules are named `sweater_in_store`"), "{e}");
    let e = invalid(|g| g.queries[0].event = 42);
    assert!(e.contains("event type 42"), "{e}");
    let e = invalid(|g| g.triggers[0].rules.push(99));
    assert!(e.contains("rule 99"), "{e}");
    let e = invalid(|g| g.retention.pop().map(|_| ()).unwrap());
    assert!(e.contains("retention"), "{e}");
    let e = invalid(|g| g.nodes.push(Node::Lit(Literal::Number(f64::NAN))));
    assert!(e.contains("not finite"), "{e}");
    let e = invalid(|g| g.rules[0].schedule.hours = Some((600, 600)));
    assert!(e.contains("hours"), "{e}");
    let e = invalid(|g| g.cond_sources.truncate(g.cond_sources.len() - 1));
    assert!(e.contains("condition sources"), "{e}");
    let e = invalid(|g| g.nodes.push(Node::Call(Func::Lower, vec![])));
    assert!(e.contains("arguments"), "{e}");
    // A segment that refers to itself.
    let e = invalid(|g| {
        let n = g.nodes.len() as u32;
        g.nodes.push(Node::Segment(0));
        let c = g.conds.len() as u32;
        g.conds.push(Cond::Test(n));
        g.cond_sources.push("loop");
        g.segments[0].cond = c;
    });
    assert!(e.contains("segment `dormant` refers to itself"), "{e}");
    // Expressions nested too deeply.
    let e = invalid(|g| {
        let first = g.nodes.len() as u32;
        g.nodes.push(Node::Now);
        for prev in first..first + 600 {
            g.nodes.push(Node::Not(prev));
        }
    });
    assert!(e.contains("nest deeper than 512"), "{e}");
    let e = invalid(|g| g.timezone.transitions.reverse());
    assert!(e.contains("sorted"), "{e}");
}

#[test]
fn validation_errors_are_typed() {
    let mut g = rich_graph();
    g.rules[0].slots = 1;
    assert!(matches!(
        g.validate(),
        Err(GraphError::SlotOutOfRange {
            slot: 4,
            slots: 1,
            ..
        })
    ));
    assert!(rich_graph().validate().is_ok());
}

#[test]
fn deeply_nested_values_in_hostile_bytes_are_refused_without_overflowing_the_stack() {
    // A graph with one list literal, then the literal replaced by 100,000 levels of nesting.
    let mut g = G::new();
    let n = g.node(Node::Lit(Literal::List(vec![])));
    let c = g.test(n, "x");
    let r = g.rule("r", &[PAGE_VIEW], Some(c));
    g.add(r);
    let graph = g.graph();
    let body = Bundle::encode_body(&graph);
    // Node::Lit is tag 0, Literal::List tag 5, then a length.
    let marker = [0u8, 5, 0];
    let at = body.windows(3).position(|w| w == marker).unwrap();
    let mut evil = body[..at].to_vec();
    evil.push(0);
    for _ in 0..100_000 {
        evil.extend_from_slice(&[5, 1]);
    }
    evil.extend_from_slice(&[5, 0]);
    evil.extend_from_slice(&body[at + 3..]);
    let mut bytes = b"OMNIRULE".to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    use sha2::Digest;
    bytes.extend_from_slice(&sha2::Sha256::digest(&evil));
    bytes.extend_from_slice(&(evil.len() as u32).to_le_bytes());
    bytes.extend_from_slice(&evil);
    let err = Bundle::from_bytes(&bytes).unwrap_err().to_string();
    assert!(
        err.contains("could not be decoded: values nest deeper than the limit: 32"),
        "{err}"
    );
}

fn valid_bytes() -> Vec<u8> {
    Bundle::new(rich_graph()).unwrap().to_bytes()
}

/// Re-seals a damaged body with a correct hash and length, so damage reaches the decoder and
/// the validator instead of stopping at the hash check.
fn reseal(body: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let mut bytes = b"OMNIRULE".to_vec();
    bytes.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&0u16.to_le_bytes());
    bytes.extend_from_slice(&sha2::Sha256::digest(body));
    bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
    bytes.extend_from_slice(body);
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Bundle::from_bytes(&bytes);
        let mut with_magic = b"OMNIRULE".to_vec();
        with_magic.extend_from_slice(&bytes);
        let _ = Bundle::from_bytes(&with_magic);
        let _ = Bundle::from_bytes(&reseal(&bytes));
    }

    #[test]
    fn flipped_or_truncated_bundles_never_panic_and_resealed_ones_evaluate_safely(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), 1u8..=255), 1..6),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let bytes = valid_bytes();
        let mut damaged = bytes.clone();
        for (i, x) in &flips {
            let i = i.index(damaged.len());
            damaged[i] ^= x;
        }
        if truncate {
            damaged.truncate(cut.index(damaged.len()));
        }
        prop_assert!(Bundle::from_bytes(&damaged).is_err() || damaged == bytes);
        // Damage inside the body, resealed: decoding or validation may accept it; if so the
        // bundle must evaluate without panicking.
        let mut body = bytes[HEADER_LEN..].to_vec();
        for (i, x) in &flips {
            let i = i.index(body.len());
            body[i] ^= x;
        }
        if let Ok(b) = Bundle::from_bytes(&reseal(&body)) {
            let profile = omnirule_engine::input::Profile::new("c1", ["marketing", "location"], []);
            let mut memory = omnirule_engine::memory::Memory::default();
            for (i, ty) in [PAGE_VIEW, PURCHASE, BEACON, PAGE_VIEW, BEACON].iter().enumerate() {
                let e = omnirule_engine::input::Event::new(
                    *ty,
                    &format!("e{i}"),
                    1_795_168_800_000 + i as i64 * HOUR,
                    [("sku".to_string(), omnirule_engine::value::Value::string("A")),
                     ("category".to_string(), omnirule_engine::value::Value::string("knit"))],
                );
                let (out, _) = omnirule_engine::explain(&b, &memory, &profile, &e);
                memory = out.memory;
            }
        }
    }
}

proptest! {
    /// Condition sources are one text with spans; whatever the texts, each reads back as
    /// written, and the JSON form is the plain list of strings.
    #[test]
    fn condition_sources_read_back_as_written(texts in proptest::collection::vec(".{0,12}", 0..20)) {
        let sources: CondSources = texts.iter().collect();
        prop_assert_eq!(sources.len(), texts.len());
        for (i, t) in texts.iter().enumerate() {
            prop_assert_eq!(sources.get(i), Some(t.as_str()));
        }
        prop_assert_eq!(sources.get(texts.len()), None);
        prop_assert_eq!(sources.iter().collect::<Vec<_>>(), texts.iter().map(String::as_str).collect::<Vec<_>>());
        let json = serde_json::to_value(&sources).unwrap();
        prop_assert_eq!(&json, &serde_json::json!(texts));
        prop_assert_eq!(serde_json::from_value::<CondSources>(json).unwrap(), sources);
    }
}
