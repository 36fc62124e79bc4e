//! Conformance: viewer credentials and sessions — stored with their audit events, only as
//! hashes; a session is answered only for an active member, before it expires and in its
//! own tenant; a member keeps a bounded number of sessions; deleting a member deletes both.

use std::sync::Arc;

use stele_core::{SecretHash, TenantId, Timestamp};

use super::directory::member;
use super::event;
use crate::directory::{MemberId, RecordChange};
use crate::sessions::{
    Credential, Invite, OidcProvider, Session, ViewerLink, MAX_LIVE_LINKS_PER_TENANT, MAX_SESSIONS_PER_MEMBER,
};
use crate::{NewTenant, Store, StoreError};

fn tenant(id: &str) -> TenantId {
    TenantId::parse(id).expect("valid tenant id")
}

async fn make(store: &dyn Store, id: &str) {
    let t = NewTenant { id: tenant(id), name: id.into(), aliases: vec![], created_at: Timestamp::now() };
    store.create_tenant(t, event("stele.tenant.created", 1)).await.expect("tenant created");
}

fn session(member: MemberId, token: &str, created: i64, expires: i64) -> Session {
    Session {
        token_hash: SecretHash::of(token),
        member,
        created_at: Timestamp::from_micros(created),
        expires_at: Timestamp::from_micros(expires),
    }
}

async fn put_session(store: &dyn Store, t: &TenantId, s: Session) -> Result<(), StoreError> {
    store.change(t, RecordChange::PutSession { session: s }, vec![event("stele.viewer.signed_in", 2)]).await
}

pub async fn credentials_and_sessions(store: Arc<dyn Store>) {
    let (a, b) = (tenant("sess-a"), tenant("sess-b"));
    make(&*store, "sess-a").await;
    make(&*store, "sess-b").await;
    let ana = member("ana", 1_000);
    store.change(&a, RecordChange::PutMember { member: ana.clone(), previous: None }, vec![]).await.expect("member");

    // Credentials: none until written; written with an invite, then replaced by a password.
    assert_eq!(store.credential(&a, &ana.id).await.expect("read"), None);
    let invite = Invite { token_hash: SecretHash::of("invite-token"), expires_at: Timestamp::from_micros(9_000) };
    let credential =
        Credential { member: ana.id, password_hash: None, invite: Some(invite), updated_at: Timestamp::from_micros(2) };
    store
        .change(
            &a,
            RecordChange::PutCredential { credential: credential.clone() },
            vec![event("stele.member.invited", 3)],
        )
        .await
        .expect("credential");
    assert_eq!(store.credential(&a, &ana.id).await.expect("read"), Some(credential));
    assert_eq!(store.credential(&b, &ana.id).await.expect("read"), None, "another tenant's member");
    let set = Credential {
        member: ana.id,
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into()),
        invite: None,
        updated_at: Timestamp::from_micros(3),
    };
    store.change(&a, RecordChange::PutCredential { credential: set.clone() }, vec![]).await.expect("password");
    assert_eq!(store.credential(&a, &ana.id).await.expect("read"), Some(set));
    let stranger =
        Credential { member: MemberId::generate(), password_hash: None, invite: None, updated_at: Timestamp::now() };
    let err = store.change(&a, RecordChange::PutCredential { credential: stranger }, vec![event("x.y", 4)]).await;
    assert!(matches!(err, Err(StoreError::UnknownMember(_))), "{err:?}");

    // Sessions: found by their token hash in their own tenant, before they expire.
    let s1 = session(ana.id, "token-1", 10, 1_000_000);
    put_session(&*store, &a, s1.clone()).await.expect("session");
    let found = store.session(&a, &SecretHash::of("token-1"), Timestamp::from_micros(20)).await.expect("read");
    assert_eq!(found.map(|(s, m)| (s, m.id)), Some((s1.clone(), ana.id)));
    assert!(store.session(&b, &SecretHash::of("token-1"), Timestamp::from_micros(20)).await.expect("read").is_none());
    assert!(store.session(&a, &SecretHash::of("token-2"), Timestamp::from_micros(20)).await.expect("read").is_none());
    assert!(
        store.session(&a, &SecretHash::of("token-1"), Timestamp::from_micros(1_000_000)).await.expect("read").is_none(),
        "expired"
    );

    // Deactivation ends every session at once; reactivation finds it again.
    let inactive = crate::directory::Member { active: false, version: 2, ..ana.clone() };
    store
        .change(&a, RecordChange::PutMember { member: inactive, previous: Some(1) }, vec![])
        .await
        .expect("deactivate");
    assert!(store.session(&a, &SecretHash::of("token-1"), Timestamp::from_micros(20)).await.expect("read").is_none());
    let err = put_session(&*store, &a, session(ana.id, "token-x", 30, 1_000_000)).await;
    assert!(matches!(err, Err(StoreError::UnknownMember(_))), "no session for an inactive member: {err:?}");
    let active = crate::directory::Member { active: true, version: 3, ..ana.clone() };
    store.change(&a, RecordChange::PutMember { member: active, previous: Some(2) }, vec![]).await.expect("reactivate");
    assert!(store.session(&a, &SecretHash::of("token-1"), Timestamp::from_micros(20)).await.expect("read").is_some());

    // Sign-out deletes one session; deleting one that is gone changes nothing.
    let out = RecordChange::DeleteSession { member: ana.id, token_hash: SecretHash::of("token-1") };
    store.change(&a, out.clone(), vec![event("stele.viewer.signed_out", 5)]).await.expect("sign out");
    assert!(store.session(&a, &SecretHash::of("token-1"), Timestamp::from_micros(20)).await.expect("read").is_none());
    store.change(&a, out, vec![]).await.expect("idempotent");

    // A member keeps at most MAX_SESSIONS_PER_MEMBER sessions: the oldest go first.
    for i in 0..MAX_SESSIONS_PER_MEMBER + 3 {
        put_session(&*store, &a, session(ana.id, &format!("many-{i}"), 100 + i as i64, 1_000_000)).await.expect("s");
    }
    assert_eq!(store.count_sessions(&a, &ana.id).await.expect("count"), MAX_SESSIONS_PER_MEMBER as u64);
    let now = Timestamp::from_micros(500);
    assert!(store.session(&a, &SecretHash::of("many-0"), now).await.expect("read").is_none(), "oldest dropped");
    let newest = format!("many-{}", MAX_SESSIONS_PER_MEMBER + 2);
    assert!(store.session(&a, &SecretHash::of(&newest), now).await.expect("read").is_some(), "newest kept");

    // Deleting the member deletes its credential and sessions.
    store.change(&a, RecordChange::DeleteMember { id: ana.id, previous: 3 }, vec![]).await.expect("delete");
    assert_eq!(store.credential(&a, &ana.id).await.expect("read"), None);
    assert_eq!(store.count_sessions(&a, &ana.id).await.expect("count"), 0);
}

async fn make_key(store: &dyn Store, t: &TenantId) -> stele_core::KeyId {
    let id = stele_core::KeyId::generate();
    let key = crate::NewKey {
        id: id.clone(),
        tenant: t.clone(),
        name: "embed".into(),
        scopes: std::collections::BTreeSet::from([stele_core::Scope::EventsRead]),
        view_filter: None,
        secret_hash: SecretHash::of("key-secret"),
        created_at: Timestamp::now(),
    };
    store.create_key(key, event("stele.key.created", 1)).await.expect("key created");
    id
}

fn link(key: &stele_core::KeyId, token: &str, created: i64, expires: i64) -> ViewerLink {
    ViewerLink {
        token_hash: SecretHash::of(token),
        key: key.clone(),
        view_filter: Some("action sw \"user.\"".into()),
        export: false,
        created_at: Timestamp::from_micros(created),
        expires_at: Timestamp::from_micros(expires),
    }
}

fn open(key: &stele_core::KeyId, token: &str, session: &str, session_expires: i64, now: i64) -> RecordChange {
    RecordChange::OpenViewerLink {
        key: key.clone(),
        token_hash: SecretHash::of(token),
        session_hash: SecretHash::of(session),
        session_expires_at: Timestamp::from_micros(session_expires),
        now: Timestamp::from_micros(now),
    }
}

/// Embed links: made by a key of the tenant, opened exactly once before they expire, their
/// session answered only in their tenant, before it expires and while the key lives; the
/// number of live links is bounded. And the tenant's OpenID Connect provider, versioned.
pub async fn viewer_links_and_oidc(store: Arc<dyn Store>) {
    let (a, b) = (tenant("link-a"), tenant("link-b"));
    make(&*store, "link-a").await;
    make(&*store, "link-b").await;
    let key = make_key(&*store, &a).await;
    let other_key = make_key(&*store, &b).await;
    let put = |l: ViewerLink| RecordChange::PutViewerLink { link: l };
    let used = || vec![event("stele.viewer.link_used", 3)];

    // A key of another tenant cannot make a link here (positive control: its own key can).
    let err = store.change(&a, put(link(&other_key, "x", 10, 1_000)), vec![]).await;
    assert!(matches!(err, Err(StoreError::KeyNotFound(_))), "another tenant's key: {err:?}");
    store
        .change(&a, put(link(&key, "t1", 10, 1_000)), vec![event("stele.viewer.link_created", 2)])
        .await
        .expect("made");

    // Opened once, before it expires, in its tenant only.
    let err = store.change(&b, open(&key, "t1", "s1", 5_000, 20), used()).await;
    assert!(matches!(err, Err(StoreError::RecordNotFound(..))), "another tenant cannot open it: {err:?}");
    let err = store.change(&a, open(&other_key, "t1", "s1", 5_000, 20), used()).await;
    assert!(matches!(err, Err(StoreError::RecordNotFound(..))), "only with the key that made it: {err:?}");
    store.change(&a, open(&key, "t1", "s1", 5_000, 20), used()).await.expect("opened");
    let err = store.change(&a, open(&key, "t1", "s2", 5_000, 30), used()).await;
    assert!(matches!(err, Err(StoreError::RecordNotFound(..))), "single use: {err:?}");
    store.change(&a, put(link(&key, "t2", 10, 1_000)), vec![]).await.expect("made");
    let err = store.change(&a, open(&key, "t2", "s3", 5_000, 1_000), used()).await;
    assert!(matches!(err, Err(StoreError::RecordNotFound(..))), "expired at its expiry: {err:?}");

    // The session: its link, in its tenant, until it expires.
    let got = store.link_session(&a, &SecretHash::of("s1"), Timestamp::from_micros(100)).await.expect("read");
    let got = got.expect("the opened link's session");
    assert_eq!(got.key, key);
    assert_eq!(got.view_filter.as_deref(), Some("action sw \"user.\""));
    assert!(store.link_session(&b, &SecretHash::of("s1"), Timestamp::from_micros(100)).await.expect("r").is_none());
    assert!(store.link_session(&a, &SecretHash::of("s1"), Timestamp::from_micros(5_000)).await.expect("r").is_none());
    assert!(store.link_session(&a, &SecretHash::of("t1"), Timestamp::from_micros(100)).await.expect("r").is_none());

    // Revoking the key ends the session, and no link of it opens any more.
    store.change(&a, put(link(&key, "t3", 10, 1_000_000)), vec![]).await.expect("made");
    store.revoke_key(&a, &key, event("stele.key.revoked", 4)).await.expect("revoked");
    assert!(store.link_session(&a, &SecretHash::of("s1"), Timestamp::from_micros(100)).await.expect("r").is_none());
    let err = store.change(&a, open(&key, "t3", "s4", 5_000_000, 200), used()).await;
    assert!(matches!(err, Err(StoreError::RecordNotFound(..))), "a revoked key's link: {err:?}");

    // At most MAX_LIVE_LINKS_PER_TENANT live links; dead ones are dropped when one is made.
    let key_b = other_key;
    for i in 0..MAX_LIVE_LINKS_PER_TENANT {
        store.change(&b, put(link(&key_b, &format!("many-{i}"), 10, 1_000)), vec![]).await.expect("within the bound");
    }
    let err = store.change(&b, put(link(&key_b, "one-more", 20, 1_000)), vec![]).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "past the bound: {err:?}");
    store.change(&b, put(link(&key_b, "later", 2_000, 3_000)), vec![]).await.expect("the expired ones were dropped");

    // The OpenID Connect provider: none, set, replaced at its version, removed.
    assert_eq!(store.oidc_provider(&a).await.expect("read"), None);
    let provider = OidcProvider {
        issuer: "https://idp.example".into(),
        client_id: "stele".into(),
        client_secret_sealed: vec![1, 2, 3],
        name: "Example".into(),
        version: 1,
        updated_at: Timestamp::from_micros(7),
    };
    let set = |p: Option<OidcProvider>, previous| RecordChange::PutOidcProvider { provider: p, previous };
    store.change(&a, set(Some(provider.clone()), None), vec![event("stele.tenant.oidc_set", 5)]).await.expect("set");
    assert_eq!(store.oidc_provider(&a).await.expect("read"), Some(provider.clone()));
    assert_eq!(store.oidc_provider(&b).await.expect("read"), None, "per tenant");
    let err = store.change(&a, set(Some(provider.clone()), None), vec![]).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "one provider per tenant: {err:?}");
    let v2 = OidcProvider { name: "Renamed".into(), version: 2, ..provider };
    let err = store.change(&a, set(Some(v2.clone()), Some(7)), vec![]).await;
    assert!(matches!(err, Err(StoreError::VersionMismatch { current: 1 })), "stale version: {err:?}");
    store.change(&a, set(Some(v2.clone()), Some(1)), vec![]).await.expect("replaced");
    assert_eq!(store.oidc_provider(&a).await.expect("read"), Some(v2));
    store.change(&a, set(None, Some(2)), vec![]).await.expect("removed");
    assert_eq!(store.oidc_provider(&a).await.expect("read"), None);
}
