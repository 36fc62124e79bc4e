//! The Merkle tree against the RFC 6962 test vectors, and property tests of proofs built the
//! way stores build them (from leaf hashes and stored-level nodes).
//!
//! Vectors: transparency-dev/merkle, `proof/verify_test.go` (leaves, roots for sizes 1-8,
//! inclusion and consistency proofs), which are the RFC 6962 reference test data from
//! certificate-transparency-go.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] functions

use proptest::prelude::*;
use stele_core::integrity::*;

fn h(hex: &str) -> Hash {
    Hash::from_hex(hex).unwrap()
}

fn leaves() -> Vec<Vec<u8>> {
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
        .iter()
        .map(|s| hex::decode(s).unwrap())
        .collect()
}

const ROOTS: [&str; 8] = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, proof)
fn inclusion_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (
            0,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            5,
            8,
            vec![
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (2, 3, vec![h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
        (
            1,
            5,
            vec![
                h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
    ]
}

/// (size1, size2, proof)
fn consistency_vectors() -> Vec<(u64, u64, Vec<Hash>)> {
    vec![
        (1, 1, vec![]),
        (
            1,
            8,
            vec![
                h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
            ],
        ),
        (
            6,
            8,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
        (
            2,
            5,
            vec![
                h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
                h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            ],
        ),
        (
            6,
            7,
            vec![
                h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
                h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
                h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
            ],
        ),
    ]
}

/// An in-memory "store": leaf hashes plus the stored-level nodes a Frontier emits, read
/// exactly as the database backends read them.
struct MemTree {
    leaves: Vec<Hash>,
    stored: std::collections::HashMap<(u32, u64), Hash>,
    frontier: Frontier,
}

impl MemTree {
    fn new() -> Self {
        MemTree { leaves: Vec::new(), stored: Default::default(), frontier: Frontier::new() }
    }
    fn push(&mut self, leaf: Hash) {
        self.leaves.push(leaf);
        let stored = &mut self.stored;
        self.frontier.push(leaf, |id, hash| {
            stored.insert((id.level, id.index), hash);
        });
    }
    fn read(&self, read: NodeRead) -> Vec<Hash> {
        match read {
            NodeRead::Leaves { begin, end } => self.leaves[begin as usize..end as usize].to_vec(),
            NodeRead::Stored { level, begin, end } => (begin..end).map(|i| self.stored[&(level, i)]).collect(),
        }
    }
    fn run(&self, plan: &ProofPlan) -> Vec<Hash> {
        plan.assemble(plan.reads().into_iter().map(|r| self.read(r)).collect()).unwrap()
    }
    fn root(&self, size: u64) -> Hash {
        self.run(&ProofPlan::root(size)).first().copied().unwrap_or_else(Hash::empty)
    }
}

/// The RFC's MTH, written out directly as the reference.
fn mth(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Hash::empty(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&mth(&leaves[..k]), &mth(&leaves[k..]))
        }
    }
}

fn vector_tree() -> MemTree {
    let mut t = MemTree::new();
    for l in leaves() {
        t.push(leaf_hash(&l));
    }
    t
}

#[test]
fn roots_match_the_rfc6962_vectors() {
    let mut t = MemTree::new();
    for (i, l) in leaves().iter().enumerate() {
        t.push(leaf_hash(l));
        assert_eq!(t.frontier.root(), h(ROOTS[i]), "frontier root of size {}", i + 1);
        assert_eq!(mth(&t.leaves), h(ROOTS[i]), "reference MTH of size {}", i + 1);
    }
    for size in 1..=8u64 {
        assert_eq!(t.root(size), h(ROOTS[size as usize - 1]), "stored-node root of size {size}");
    }
    assert_eq!(Hash::empty(), h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"));
}

#[test]
fn inclusion_proofs_match_the_rfc6962_vectors() {
    let t = vector_tree();
    for (index, size, proof) in inclusion_vectors() {
        assert_eq!(t.run(&ProofPlan::inclusion(index, size)), proof, "proof of {index} in {size}");
        let leaf = leaf_hash(&leaves()[index as usize]);
        verify_inclusion(index, size, &leaf, &proof, &h(ROOTS[size as usize - 1])).unwrap();
        // The vectors' own corruptions must fail.
        let root = h(ROOTS[size as usize - 1]);
        assert!(verify_inclusion(index + 1, size, &leaf, &proof, &root).is_err());
        assert!(verify_inclusion(index, size * 2, &leaf, &proof, &root).is_err());
        assert!(verify_inclusion(index, size, &leaf_hash(b"WrongLeaf"), &proof, &root).is_err());
        assert!(verify_inclusion(index, size, &leaf, &proof, &Hash::empty()).is_err());
        let mut longer = proof.clone();
        longer.push(root);
        assert!(verify_inclusion(index, size, &leaf, &longer, &root).is_err());
        if !proof.is_empty() {
            assert!(verify_inclusion(index, size, &leaf, &proof[..proof.len() - 1], &root).is_err());
        }
    }
    // A one-leaf tree: empty proof, root = leaf.
    let one = leaf_hash(b"data");
    verify_inclusion(0, 1, &one, &[], &one).unwrap();
    assert!(verify_inclusion(0, 0, &one, &[], &one).is_err());
    assert!(verify_inclusion(1, 1, &one, &[], &one).is_err());
}

#[test]
fn consistency_proofs_match_the_rfc6962_vectors() {
    let t = vector_tree();
    for (m, n, proof) in consistency_vectors() {
        assert_eq!(t.run(&ProofPlan::consistency(m, n)), proof, "proof {m} -> {n}");
        let (r1, r2) = (h(ROOTS[m as usize - 1]), h(ROOTS[n as usize - 1]));
        verify_consistency(m, n, &r1, &r2, &proof).unwrap();
        if !proof.is_empty() {
            assert!(verify_consistency(m, n, &r2, &r1, &proof).is_err(), "swapped roots");
            assert!(verify_consistency(m - 1, n, &r1, &r2, &proof).is_err(), "size1 - 1");
            assert!(verify_consistency(m, n, &r1, &r2, &[]).is_err(), "empty proof");
            assert!(verify_consistency(m, n, &r1, &r2, &proof[..proof.len() - 1]).is_err(), "truncated");
        }
    }
    let (r1, r2) = (leaf_hash(b"1"), leaf_hash(b"2"));
    verify_consistency(0, 0, &r1, &r1, &[]).unwrap();
    verify_consistency(0, 1, &r1, &r2, &[]).unwrap();
    assert!(verify_consistency(1, 0, &r1, &r2, &[]).is_err(), "time travel");
    assert!(verify_consistency(1, 1, &r1, &r2, &[]).is_err(), "roots differ");
    assert!(verify_consistency(1, 2, &r1, &r2, &[]).is_err(), "empty proof");
}

#[test]
fn signed_heads_verify_and_fail_when_changed() {
    let signer = HeadSigner::generate();
    let key = signer.public();
    let head = TreeHead {
        tenant: stele_core::TenantId::parse("acme").unwrap(),
        size: 8,
        root: h(ROOTS[7]),
        time: stele_core::Timestamp::from_micros(1_700_000_000_000_000),
    };
    let signed = signer.sign(head.clone());
    key.verify(&signed).unwrap();
    let round: SignedTreeHead = serde_json::from_str(&serde_json::to_string(&signed).unwrap()).unwrap();
    key.verify(&round).unwrap();
    let back = HeadKey::from_base64(&key.to_base64()).unwrap();
    back.verify(&signed).unwrap();
    let mut bigger = signed.clone();
    bigger.head.size = 9;
    assert_eq!(key.verify(&bigger), Err(SignatureError::Invalid));
    let mut moved = signed.clone();
    moved.head.root = h(ROOTS[6]);
    assert_eq!(key.verify(&moved), Err(SignatureError::Invalid));
    let other = HeadSigner::generate().public();
    assert!(matches!(other.verify(&signed), Err(SignatureError::WrongKey { .. })));
    // The signed bytes are the JCS form: sorted keys, no spaces.
    let text = String::from_utf8(head.signed_bytes()).unwrap();
    assert!(text.starts_with("{\"root\":\"5dc9"), "{text}");
    assert!(text.contains("\"size\":8,\"tenant\":\"acme\",\"time\":\"2023-11-14T22:13:20.000000Z\""), "{text}");
}

#[test]
fn served_events_rehash_to_their_leaf() {
    let event: stele_core::Event = serde_json::from_value(serde_json::json!({
        "id": "0190b4a4-7c4e-7d2a-9d1c-3b2f6a1e9c01", "time": "2026-01-02T03:04:05.000006Z",
        "received_at": "2026-01-02T03:04:05.000007Z", "action": "user.login", "status": "success",
        "metadata": {"n": 1.0, "z": [1, 2.5e3], "a": "\u{00e9}"}, "truncated": false
    }))
    .unwrap();
    let new = stele_core::NewEvent::new(event);
    let served = stele_core::StoredEvent { seq: stele_core::Seq::new(7).unwrap(), json: new.json.clone() }.to_json();
    let value: serde_json::Value = serde_json::from_str(&served).unwrap();
    assert_eq!(value["hash"], new.leaf.unwrap().to_hex());
    assert_eq!(served_leaf(&value).unwrap(), new.leaf.unwrap());
    let mut changed = value.clone();
    changed["action"] = "user.logout".into();
    assert_ne!(served_leaf(&changed).unwrap(), new.leaf.unwrap());
    let mut redacted = value.clone();
    redacted["redacted"] = serde_json::json!({"reason": "gdpr"});
    assert_eq!(served_leaf(&redacted), Err(LeafError::Redacted));
}

fn flip(hashes: &[Hash], which: usize, bit: u8) -> Vec<Hash> {
    let mut out = hashes.to_vec();
    let i = which % out.len();
    out[i].0[(bit / 8) as usize % 32] ^= 1 << (bit % 8);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// For a random size n: every m ≤ n has a root equal to the reference MTH; every leaf's
    /// inclusion proof and every consistency proof verify, and fail with any bit flipped.
    #[test]
    fn proofs_verify_for_all_sizes(n in 1u64..300, which in 0usize..64, bit in 0u8..=255) {
        let mut t = MemTree::new();
        for i in 0..n {
            t.push(leaf_hash(&i.to_be_bytes()));
        }
        prop_assert_eq!(t.frontier.root(), mth(&t.leaves));
        let n_root = t.root(n);
        for m in 1..=n {
            let m_root = t.root(m);
            prop_assert_eq!(m_root, mth(&t.leaves[..m as usize]));
            let proof = t.run(&ProofPlan::consistency(m, n));
            prop_assert!(verify_consistency(m, n, &m_root, &n_root, &proof).is_ok(), "consistency {} -> {}", m, n);
            if !proof.is_empty() {
                prop_assert!(verify_consistency(m, n, &m_root, &n_root, &flip(&proof, which, bit)).is_err());
            }
        }
        for index in 0..n {
            let leaf = t.leaves[index as usize];
            let proof = t.run(&ProofPlan::inclusion(index, n));
            prop_assert!(verify_inclusion(index, n, &leaf, &proof, &n_root).is_ok());
            if !proof.is_empty() {
                prop_assert!(verify_inclusion(index, n, &leaf, &flip(&proof, which, bit), &n_root).is_err());
            }
            let mut bad_leaf = leaf;
            bad_leaf.0[(bit / 8) as usize] ^= 1 << (bit % 8);
            prop_assert!(verify_inclusion(index, n, &bad_leaf, &proof, &n_root).is_err());
        }
    }

    /// Rebuilding a frontier from its stored parts gives the same tree as appending to it.
    #[test]
    fn frontier_rebuilds_from_stored_nodes(n in 0u64..2000, more in 1u64..40) {
        let mut t = MemTree::new();
        for i in 0..n {
            t.push(leaf_hash(&i.to_le_bytes()));
        }
        let results = Frontier::reads_of(n).into_iter().map(|r| t.read(r)).collect();
        let mut rebuilt = Frontier::from_reads(n, results).unwrap();
        prop_assert_eq!(&rebuilt, &t.frontier);
        for i in n..n + more {
            let leaf = leaf_hash(&i.to_le_bytes());
            rebuilt.push(leaf, |_, _| {});
            t.push(leaf);
        }
        prop_assert_eq!(rebuilt.root(), t.frontier.root());
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    // Names and strings mix ASCII, BMP (incl. U+E000..U+FFFF) and supplementary characters:
    // the ones where UTF-8 and UTF-16 orders differ; controls exercise escaping.
    let text = prop::collection::vec(
        prop_oneof![
            prop::char::range('a', 'e'),
            prop::char::range('\u{0}', '\u{1f}'),
            Just('"'),
            Just('\\'),
            Just('\u{7f}'),
            Just('\u{e9}'),
            prop::char::range('\u{e000}', '\u{e002}'),
            Just('\u{fffd}'),
            prop::char::range('\u{1f600}', '\u{1f602}'),
        ],
        0..6,
    )
    .prop_map(|cs| cs.into_iter().collect::<String>());
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        prop_oneof![Just(1.0f64), Just(1e21), Just(1e-7), Just(0.1), Just(-0.0), Just(123456789.125)]
            .prop_map(Value::from),
        text.clone().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::vec((text.clone(), inner), 0..6)
                .prop_map(|members| Value::Object(members.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The fast canonical writer produces exactly the bytes of serde_jcs (RFC 8785).
    #[test]
    fn canonical_json_equals_serde_jcs(value in json_value()) {
        let ours = stele_core::integrity::canonical::canonical(&value);
        let reference = serde_jcs::to_vec(&value).unwrap();
        prop_assert_eq!(String::from_utf8(ours).unwrap(), String::from_utf8(reference).unwrap());
    }
}

#[test]
fn canonical_json_matches_rfc8785_examples() {
    // RFC 8785 §3.2.2 (number serialisation) and §3.2.3 (sorting) examples.
    let v: serde_json::Value = serde_json::from_str(
        r#"{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
            "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/", "literals": [null, true, false]}"#,
    )
    .unwrap();
    let text = String::from_utf8(stele_core::integrity::canonical::canonical(&v)).unwrap();
    assert_eq!(
        text,
        r#"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
    );
    let sorted: serde_json::Value = serde_json::from_str(
        r#"{"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
            "1": "One", "\ud83d\ude00": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}"#,
    )
    .unwrap();
    let text = String::from_utf8(stele_core::integrity::canonical::canonical(&sorted)).unwrap();
    let order: Vec<&str> =
        ["Carriage Return", "One", "Control", "Latin Small", "Euro Sign", "Emoji", "Hebrew"].to_vec();
    let positions: Vec<usize> = order.iter().map(|w| text.find(w).unwrap()).collect();
    assert!(positions.windows(2).all(|p| p[0] < p[1]), "{text}");
}

fn any_event() -> impl Strategy<Value = stele_core::Event> {
    use std::collections::BTreeMap;

    use serde_json::Value;
    use stele_core::{Actor, Changes, Event, EventId, FreeJson, Origin, RequestInfo, Status, Target, Timestamp};
    // Strings as in `json_value`: the characters where escaping and UTF-16 order matter.
    let text = || {
        prop::collection::vec(
            prop_oneof![
                prop::char::range('a', 'c'),
                Just('\u{1}'),
                Just('"'),
                Just('\\'),
                Just('\u{e9}'),
                Just('\u{e001}'),
                Just('\u{1f600}'),
            ],
            0..5,
        )
        .prop_map(|cs| cs.into_iter().collect::<String>())
    };
    let opt = move || prop::option::of(text());
    let object = || {
        json_value().prop_map(|v| match v {
            serde_json::Value::Object(m) => m,
            other => [("v".to_owned(), other)].into_iter().collect(),
        })
    };
    let actor = (opt(), opt(), opt(), opt(), opt(), opt()).prop_map(|(kind, id, name, email, ip, user_agent)| Actor {
        kind,
        id,
        name,
        email,
        ip,
        user_agent,
    });
    let target = (opt(), opt(), opt(), opt()).prop_map(|(kind, id, name, email)| Target { kind, id, name, email });
    let request = (
        opt(),
        opt(),
        opt(),
        prop::option::of(object()),
        prop::option::of(any::<u16>()),
        prop::option::of(json_value()),
        prop::option::of(json_value()),
    )
        .prop_map(|(id, method, path, query, status_code, body, response_body)| RequestInfo {
            id,
            method,
            path,
            query: query.map(|m| FreeJson::from_value(&Value::Object(m))),
            status_code,
            body: body.as_ref().map(FreeJson::from_value),
            response_body: response_body.as_ref().map(FreeJson::from_value),
        });
    let changes = (prop::option::of(json_value()), prop::option::of(json_value())).prop_map(|(before, after)| {
        Changes { before: before.as_ref().map(FreeJson::from_value), after: after.as_ref().map(FreeJson::from_value) }
    });
    let status =
        prop_oneof![Just(Status::Success), Just(Status::Failure), Just(Status::Warning), Just(Status::Pending)];
    let origin = prop::option::of(prop_oneof![Just(Origin::User), Just(Origin::Api), Just(Origin::System)]);
    let time = || (0i64..4_000_000_000_000_000).prop_map(Timestamp::from_micros);
    (
        (time(), time(), text(), status, opt(), opt(), prop::option::of(actor), origin),
        (
            prop::collection::vec(target, 0..3),
            prop::collection::vec((text(), text()), 0..4),
            prop::option::of(request),
            prop::option::of(changes),
            opt(),
            prop::option::of(object()),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (time, received_at, action, status, message, reason, actor, origin),
                (targets, context, request, changes, correlation_id, metadata, truncated),
            )| Event {
                id: EventId::new_v7(),
                time,
                received_at,
                action,
                status,
                message,
                reason,
                actor,
                origin,
                targets,
                context: context.into_iter().collect::<BTreeMap<_, _>>(),
                request,
                changes,
                correlation_id,
                metadata: metadata.map(|m| FreeJson::from_value(&Value::Object(m))),
                truncated,
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The leaf's writer for typed events gives the bytes of the generic path (the event as
    /// a JSON value, written canonically).
    #[test]
    fn canonical_event_equals_the_generic_path(event in any_event()) {
        let generic = canonical::canonical(&serde_json::to_value(&event).unwrap());
        let direct = canonical_event(&event);
        prop_assert_eq!(String::from_utf8(direct).unwrap(), String::from_utf8(generic).unwrap());
    }
}
