//! Conformance cases for tamper evidence: every backend keeps each tenant's Merkle tree so
//! that roots and proofs read back from it match the tree rebuilt from the leaves.

use std::sync::Arc;

use stele_core::integrity::{
    verify_consistency, verify_inclusion, Frontier, Hash, HeadSigner, SignedTreeHead, TreeHead,
};
use stele_core::{EventId, NewEvent, PageRequest, Query, Sort, Timestamp};

use super::{all_pages, event, events_from, make_tenant, tenant};
use crate::{proofs, Redaction, Store, StoreError};

/// Every leaf of a tenant's log in seq order, from the stored events' `hash`.
async fn leaves(store: &dyn Store, id: &str) -> Vec<Hash> {
    let mut query = Query { sort: Sort::parse("seq").expect("sort"), ..all_pages(1000) };
    let mut out = Vec::new();
    loop {
        let page = store.query(&tenant(id), &query).await.expect("query");
        for e in &page.events {
            let v: serde_json::Value = serde_json::from_str(&e.json).expect("json");
            out.push(Hash::from_hex(v["hash"].as_str().expect("hash")).expect("hex"));
            assert_eq!(e.seq.get(), out.len() as u64, "seq order without gaps");
        }
        match page.next {
            Some(c) => query.page = PageRequest::After(c),
            None => return out,
        }
    }
}

fn frontier_of(leaves: &[Hash]) -> Frontier {
    let mut f = Frontier::new();
    for l in leaves {
        f.push(*l, |_, _| {});
    }
    f
}

pub async fn merkle_tree_matches_the_leaves(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &[]).await;
    make_tenant(&*store, "globex", &[]).await;
    // Batches of awkward sizes cross the stored levels (16, 256 leaves) at odd places;
    // the other tenant's appends interleave.
    for (i, n) in [1usize, 6, 33, 100, 17, 255, 2, 90].into_iter().enumerate() {
        let batch: Vec<NewEvent> = (0..n).map(|j| event(&format!("a.{i}.{j}"), 1000 + j as i64)).collect();
        store.append(&tenant("acme"), batch, None).await.expect("append");
        store.append(&tenant("globex"), vec![event("g", 5)], None).await.expect("append");
    }
    let leaves = leaves(&*store, "acme").await;
    let n = leaves.len() as u64;
    assert_eq!(n, 505);
    let tree = store.tree(&tenant("acme")).await.expect("tree");
    assert_eq!(tree.size, n);
    assert_eq!(tree.root, frontier_of(&leaves).root(), "the stored tree's root is the leaves' root");
    let globex = store.tree(&tenant("globex")).await.expect("tree");
    assert_eq!(globex.size, 9);
    assert_ne!(globex.root, tree.root);

    for m in [1u64, 2, 15, 16, 17, 255, 256, 257, 300, 504, 505] {
        let root_m = proofs::root(&*store, &tenant("acme"), m).await.expect("root");
        assert_eq!(root_m, frontier_of(&leaves[..m as usize]).root(), "root of size {m}");
        let proof = proofs::consistency(&*store, &tenant("acme"), m, n).await.expect("consistency");
        verify_consistency(m, n, &root_m, &tree.root, &proof).expect("consistency verifies");
    }
    for index in [0u64, 1, 15, 16, 100, 255, 256, 400, 504] {
        let proof = proofs::inclusion(&*store, &tenant("acme"), index, n).await.expect("inclusion");
        verify_inclusion(index, n, &leaves[index as usize], &proof, &tree.root).expect("inclusion verifies");
        let at_300 = proofs::inclusion(&*store, &tenant("acme"), index.min(299), 300).await.expect("inclusion");
        let root_300 = frontier_of(&leaves[..300]).root();
        verify_inclusion(index.min(299), 300, &leaves[index.min(299) as usize], &at_300, &root_300)
            .expect("older size");
    }
    // Many proofs with one read are the proofs one by one.
    let indexes: Vec<u64> = (0..n).step_by(7).chain([0, 255, 256, n - 1]).collect();
    let together = proofs::inclusions(&*store, &tenant("acme"), &indexes, n).await.expect("inclusions");
    assert_eq!(together.len(), indexes.len());
    for (index, proof) in indexes.iter().zip(&together) {
        assert_eq!(proof, &proofs::inclusion(&*store, &tenant("acme"), *index, n).await.expect("inclusion"));
        verify_inclusion(*index, n, &leaves[*index as usize], proof, &tree.root).expect("inclusion verifies");
    }
    assert!(proofs::inclusions(&*store, &tenant("acme"), &[], n).await.expect("none").is_empty());
    // Past the end of the log is an error, not a proof.
    assert!(matches!(proofs::inclusion(&*store, &tenant("acme"), 0, n + 1).await, Err(StoreError::Tree(_))));
    assert!(matches!(proofs::inclusions(&*store, &tenant("acme"), &[0], n + 1).await, Err(StoreError::Tree(_))));
}

pub async fn appends_report_grown_trees(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &[]).await;
    store.grown();
    store.append(&tenant("acme"), (0..20).map(|i| event("a", i)).collect(), None).await.expect("append");
    let grown = store.grown();
    let acme = grown.iter().find(|g| g.tenant == tenant("acme")).expect("acme grew");
    assert_eq!(acme.tree, store.tree(&tenant("acme")).await.expect("tree"));
    assert_eq!(acme.tree.size, 21);
    assert!(store.grown().is_empty(), "drained");
}

pub async fn signed_heads_are_kept(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &[]).await;
    make_tenant(&*store, "globex", &[]).await;
    assert!(store.latest_head(&tenant("acme")).await.expect("head").is_none());
    let signer = HeadSigner::generate();
    let sign = |size: u64| -> SignedTreeHead {
        signer.sign(TreeHead {
            tenant: tenant("acme"),
            size,
            root: stele_core::integrity::leaf_hash(&size.to_be_bytes()),
            time: Timestamp::from_micros(size as i64 * 1000),
        })
    };
    for size in [3u64, 1, 7, 5] {
        assert!(store.put_head(&sign(size)).await.expect("put"));
    }
    assert!(!store.put_head(&sign(5)).await.expect("put again"), "one head per size");
    let latest = store.latest_head(&tenant("acme")).await.expect("latest").expect("some");
    assert_eq!(latest, sign(7));
    signer.public().verify(&latest).expect("signature survives storage");
    let listed = store.heads(&tenant("acme"), 2, 6, 10).await.expect("heads");
    assert_eq!(listed.iter().map(|h| h.head.size).collect::<Vec<_>>(), vec![3, 5]);
    assert_eq!(store.heads(&tenant("acme"), 0, u64::MAX, 2).await.expect("heads").len(), 2);
    assert!(store.latest_head(&tenant("globex")).await.expect("head").is_none(), "heads are per tenant");
}

/// The signer's look for trees that grew without it: every tenant whose log is longer than
/// its latest head (or has events and no head), in one read, and none whose head covers it.
pub async fn unsigned_tenants_are_listed(store: Arc<dyn Store>) {
    for id in ["acme", "globex", "initech"] {
        make_tenant(&*store, id, &[]).await;
    }
    // Positive control: each has its creation event and no head.
    assert_eq!(unsigned(&*store).await, ["acme", "globex", "initech"]);
    let signer = HeadSigner::generate();
    store.append(&tenant("acme"), (0..4).map(|i| event("user.login", 1000 + i)).collect(), None).await.expect("append");
    sign_current(&*store, &signer, "acme").await;
    sign_current(&*store, &signer, "globex").await;
    assert_eq!(unsigned(&*store).await, ["initech"], "heads that cover their trees");
    // A head of a smaller tree does not cover it.
    store.append(&tenant("globex"), vec![event("user.login", 2000)], None).await.expect("append");
    assert_eq!(unsigned(&*store).await, ["globex", "initech"], "grown past its head");
    sign_current(&*store, &signer, "globex").await;
    sign_current(&*store, &signer, "initech").await;
    assert!(unsigned(&*store).await.is_empty(), "every tree signed");
}

/// The ids [`Store::unsigned_tenants`] lists.
async fn unsigned(store: &dyn Store) -> Vec<String> {
    let ids = store.unsigned_tenants().await.expect("unsigned tenants");
    ids.iter().map(|t| t.as_str().to_owned()).collect()
}

/// Signs and keeps a head of the tenant's tree as it is now.
async fn sign_current(store: &dyn Store, signer: &HeadSigner, id: &str) {
    let tree = store.tree(&tenant(id)).await.expect("tree");
    let head = TreeHead { tenant: tenant(id), size: tree.size, root: tree.root, time: Timestamp::now() };
    assert!(store.put_head(&signer.sign(head)).await.expect("put"));
}

pub async fn redaction_keeps_the_leaf(store: Arc<dyn Store>) {
    make_tenant(&*store, "acme", &[]).await;
    let mut batch: Vec<NewEvent> = (0..40).map(|i| event("user.login", 1000 + i)).collect();
    // The victim has a message, which the substring and full-text indexes hold.
    let body = serde_json::json!({
        "action": "user.login",
        "time": Timestamp::from_micros(1009).to_string(),
        "actor": {"id": "u_1", "email": "ana@acme.io"},
        "targets": [{"type": "User", "id": "u_7"}],
        "context": {"env": "prod"},
        "message": "Ana read the Zeppelin plans",
    });
    batch[9] = events_from(body).remove(0);
    let victim = batch[9].clone();
    let substring = Query {
        filter: Some(stele_core::Filter::parse(r#"message co "zeppelin plans""#).expect("filter")),
        ..Query::default()
    };
    let words = Query { text: stele_core::TextQuery::parse("zeppelin").expect("words"), ..Query::default() };
    store.append(&tenant("acme"), batch, None).await.expect("append");
    let before = store.tree(&tenant("acme")).await.expect("tree");
    let count_before = store.count(&tenant("acme"), &Query::default()).await.expect("count");
    // Positive controls: the message is found by substring and by word before.
    assert_eq!(store.count(&tenant("acme"), &substring).await.expect("count"), 1);
    assert_eq!(store.query(&tenant("acme"), &substring).await.expect("query").events.len(), 1);
    assert_eq!(store.count(&tenant("acme"), &words).await.expect("count"), 1);
    let redaction = Redaction { reason: "erasure".into(), by: "operator".into(), at: Timestamp::now() };
    let stone = store
        .redact(&tenant("acme"), &victim.event.id, redaction.clone(), event("stele.event.redacted", 5))
        .await
        .expect("redact");
    let v: serde_json::Value = serde_json::from_str(&stone.json).expect("json");
    assert_eq!(v["hash"], victim.leaf.expect("leaf").to_hex());
    assert_eq!(v["redacted"]["reason"], "erasure");
    assert!(v.get("actor").is_none() && v.get("targets").is_none());
    let stored = store.get_event(&tenant("acme"), &victim.event.id).await.expect("get").expect("kept");
    assert_eq!(stored.json, stone.json);
    // The tree of the old size is unchanged; the redaction event extended it.
    assert_eq!(proofs::root(&*store, &tenant("acme"), before.size).await.expect("root"), before.root);
    assert_eq!(store.tree(&tenant("acme")).await.expect("tree").size, before.size + 1);
    assert_eq!(store.count(&tenant("acme"), &Query::default()).await.expect("count"), count_before + 1);
    // Its attributes are gone from every index; the event itself is still there.
    let id = victim.event.id;
    let count = |f: String| {
        let store = store.clone();
        async move {
            let q = Query { filter: Some(stele_core::Filter::parse(&f).expect("filter")), ..Query::default() };
            store.count(&tenant("acme"), &q).await.expect("count")
        }
    };
    assert_eq!(count(format!("id eq \"{id}\"")).await, 1);
    assert_eq!(count(format!("id eq \"{id}\" and action eq \"user.login\"")).await, 1, "action stays");
    assert_eq!(count(format!("id eq \"{id}\" and actor.email eq \"ana@acme.io\"")).await, 0);
    assert_eq!(count(format!("id eq \"{id}\" and target.id eq \"u_7\"")).await, 0);
    assert_eq!(count(format!("id eq \"{id}\" and context.env eq \"prod\"")).await, 0);
    assert_eq!(store.count(&tenant("acme"), &substring).await.expect("count"), 0, "message co");
    assert!(store.query(&tenant("acme"), &substring).await.expect("query").events.is_empty(), "message co");
    assert_eq!(store.count(&tenant("acme"), &words).await.expect("count"), 0, "q");
    let again = store.redact(&tenant("acme"), &victim.event.id, redaction.clone(), event("x", 1)).await;
    assert!(matches!(again, Err(StoreError::AlreadyRedacted(_))), "{again:?}");
    let unknown = store.redact(&tenant("acme"), &EventId::new_v7(), redaction, event("x", 1)).await;
    assert!(matches!(unknown, Err(StoreError::EventNotFound(_))), "{unknown:?}");
    assert_eq!(
        store.tree(&tenant("acme")).await.expect("tree").size,
        before.size + 1,
        "failed redactions append nothing"
    );
}
