//! Conformance: viewer credentials and sessions — stored with their audit events, only as
//! hashes; a session is answered only for an active member, before it expires and in its
//! own tenant; a member keeps a bounded number of sessions; deleting a member deletes both.

use std::sync::Arc;

use stele_core::{SecretHash, TenantId, Timestamp};

use super::directory::member;
use super::event;
use crate::directory::{MemberId, RecordChange};
use crate::sessions::{Credential, Invite, Session, MAX_SESSIONS_PER_MEMBER};
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
