//! The store suite, run once on SQLite and once on PostgreSQL.

use nuage_store::testing::TestDb;
use nuage_store::*;

async fn two_instances(store: &Store) -> (InstanceRow, InstanceRow) {
    let a = store
        .create_instance(NewInstance {
            domain: "a.test".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let b = store
        .create_instance(NewInstance {
            domain: "b.test".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    (a, b)
}

fn token(hash: &str, kind: TokenKind, family: &str) -> TokenRow {
    TokenRow {
        token_hash: hash.into(),
        kind,
        client_id: Some("c1".into()),
        family: family.into(),
        scope: "io.nuage.contacts:GET".into(),
        created_at: now_ms(),
        expires_at: now_ms() + 60_000,
        used_at: None,
    }
}

async fn a_domain_belongs_to_one_instance(db: &TestDb) {
    let store = db.open().await;
    two_instances(&store).await;
    let again = store
        .create_instance(NewInstance {
            domain: "a.test".into(),
            ..Default::default()
        })
        .await;
    assert!(matches!(again, Err(StoreError::Exists(_))), "{again:?}");
    assert_eq!(store.count_instances().await.unwrap(), 2);
    let found = store.instance_by_domain("b.test").await.unwrap().unwrap();
    assert_eq!(found.domain, "b.test");
    assert!(store.instance_by_domain("c.test").await.unwrap().is_none());
}

async fn one_instance_never_sees_another_ones_credentials(db: &TestDb) {
    let store = db.open().await;
    let (a, b) = two_instances(&store).await;
    store
        .insert_token(&a.id, &token("h1", TokenKind::Cli, "f1"))
        .await
        .unwrap();
    let session = SessionRow {
        id: "s1".into(),
        token_hash: "sh1".into(),
        created_at: 1,
        last_seen_at: 1,
        expires_at: i64::MAX,
        user_agent: "test".into(),
        address: "127.0.0.1".into(),
    };
    store.create_session(&a.id, &session).await.unwrap();
    let pw = AppPasswordRow {
        id: "p1".into(),
        name: "phone".into(),
        scope: "io.nuage.contacts:ALL".into(),
        secret_hash: "ph1".into(),
        created_at: 1,
        last_used_at: None,
    };
    store.create_app_password(&a.id, &pw).await.unwrap();

    assert!(store.token(&a.id, "h1").await.unwrap().is_some());
    assert!(store.token(&b.id, "h1").await.unwrap().is_none());
    assert!(
        store
            .session_by_token(&b.id, "sh1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .app_password_by_secret(&b.id, "ph1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.list_sessions(&b.id).await.unwrap().is_empty());
    assert!(
        store
            .delete_app_password(&b.id, "p1")
            .await
            .unwrap()
            .is_none()
    );
    assert!(store.delete_session(&b.id, "s1").await.unwrap().is_none());
    // B's deletions left A untouched.
    assert_eq!(store.list_app_passwords(&a.id).await.unwrap().len(), 1);
    assert_eq!(store.list_sessions(&a.id).await.unwrap().len(), 1);
}

async fn removing_an_instance_removes_all_its_rows_and_only_its_rows(db: &TestDb) {
    let store = db.open().await;
    let (a, b) = two_instances(&store).await;
    for inst in [&a, &b] {
        store
            .insert_token(&inst.id, &token("h", TokenKind::Cli, "f"))
            .await
            .unwrap();
        store
            .record_login_failure(&inst.id, "ip:1", 1)
            .await
            .unwrap();
    }
    assert!(store.remove_instance_rows(&a.id).await);
    assert!(store.instance(&a.id).await.unwrap().is_none());
    assert!(store.token(&a.id, "h").await.unwrap().is_none());
    assert_eq!(store.throttle(&a.id, "ip:1").await.unwrap().failures, 0);
    assert!(store.token(&b.id, "h").await.unwrap().is_some());
    assert_eq!(store.throttle(&b.id, "ip:1").await.unwrap().failures, 1);
    assert!(!store.remove_instance_rows(&a.id).await);
}

async fn an_authorization_code_is_exchanged_once_and_its_replay_named(db: &TestDb) {
    let store = db.open().await;
    let (a, b) = two_instances(&store).await;
    let code = AuthCodeRow {
        code_hash: "c".into(),
        client_id: "c1".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        scope: "io.nuage.contacts:GET".into(),
        code_challenge: "x".into(),
        expires_at: now_ms() + 60_000,
    };
    store.create_auth_code(&a.id, &code).await.unwrap();
    let exchange = |inst: InstanceId, family: &'static str| {
        let store = store.clone();
        async move {
            store
                .exchange_auth_code(&inst, "c", family, now_ms(), |row| {
                    (
                        vec![token("t1", TokenKind::Access, family)],
                        row.scope.clone(),
                    )
                })
                .await
                .unwrap()
        }
    };
    // Another instance doesn't know the code.
    assert!(matches!(
        exchange(b.id.clone(), "fb").await,
        CodeExchange::Unknown
    ));
    // The first exchange takes it and stores the tokens it makes.
    let first = exchange(a.id.clone(), "fa").await;
    assert!(
        matches!(&first, CodeExchange::Taken(scope) if scope == "io.nuage.contacts:GET"),
        "{first:?}"
    );
    assert_eq!(
        store.token(&a.id, "t1").await.unwrap().unwrap().family,
        "fa"
    );
    // The second is told which family the first one made, and makes none.
    let second = exchange(a.id.clone(), "fa2").await;
    assert!(
        matches!(&second, CodeExchange::Replayed { family } if family == "fa"),
        "{second:?}"
    );
    // Past the code's lifetime, the record goes.
    assert_eq!(store.purge_expired_codes(code.expires_at).await.unwrap(), 1);
    assert!(matches!(
        exchange(a.id.clone(), "fa3").await,
        CodeExchange::Unknown
    ));
}

async fn a_refresh_token_is_used_once_and_its_family_revoked_together(db: &TestDb) {
    let store = db.open().await;
    let (a, _) = two_instances(&store).await;
    store
        .insert_token(&a.id, &token("r1", TokenKind::Refresh, "fam"))
        .await
        .unwrap();
    store
        .insert_token(&a.id, &token("a1", TokenKind::Access, "fam"))
        .await
        .unwrap();
    store
        .insert_token(&a.id, &token("other", TokenKind::Access, "fam2"))
        .await
        .unwrap();
    assert!(store.use_refresh_token(&a.id, "r1", 5).await.unwrap());
    assert!(!store.use_refresh_token(&a.id, "r1", 6).await.unwrap());
    assert!(
        !store.use_refresh_token(&a.id, "a1", 6).await.unwrap(),
        "access tokens are not refresh tokens"
    );
    let mut gone = store.delete_token_family(&a.id, "fam").await.unwrap();
    gone.sort();
    assert_eq!(gone, vec!["a1".to_owned(), "r1".to_owned()]);
    assert!(store.token(&a.id, "other").await.unwrap().is_some());
}

async fn login_failures_count_up_and_clear(db: &TestDb) {
    let store = db.open().await;
    let (a, _) = two_instances(&store).await;
    for n in 1..=3 {
        assert_eq!(
            store
                .record_login_failure(&a.id, "ip:x", n * 10)
                .await
                .unwrap(),
            n
        );
    }
    let t = store.throttle(&a.id, "ip:x").await.unwrap();
    assert_eq!((t.failures, t.last_failure_at), (3, 30));
    store.clear_login_failures(&a.id, "ip:x").await.unwrap();
    assert_eq!(store.throttle(&a.id, "ip:x").await.unwrap().failures, 0);
}

async fn recovery_codes_work_once(db: &TestDb) {
    let store = db.open().await;
    let (a, b) = two_instances(&store).await;
    store
        .replace_recovery_codes(&a.id, &["r1".into(), "r2".into()])
        .await
        .unwrap();
    assert!(!store.use_recovery_code(&b.id, "r1", 1).await.unwrap());
    assert!(store.use_recovery_code(&a.id, "r1", 1).await.unwrap());
    assert!(!store.use_recovery_code(&a.id, "r1", 2).await.unwrap());
    assert_eq!(store.unused_recovery_codes(&a.id).await.unwrap(), 1);
}

async fn a_totp_step_is_claimed_once(db: &TestDb) {
    let store = db.open().await;
    let (a, _) = two_instances(&store).await;
    assert!(store.claim_totp_step(&a.id, 100).await.unwrap());
    assert!(!store.claim_totp_step(&a.id, 100).await.unwrap());
    assert!(!store.claim_totp_step(&a.id, 99).await.unwrap());
    assert!(store.claim_totp_step(&a.id, 101).await.unwrap());
}

async fn onboarding_completes_once(db: &TestDb) {
    let store = db.open().await;
    let inst = store
        .create_instance(NewInstance {
            domain: "new.test".into(),
            onboarding_hash: Some("ob".into()),
            onboarding_expires_at: Some(now_ms() + 1000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(
        !store
            .complete_onboarding(&inst.id, "wrong", "p")
            .await
            .unwrap()
    );
    assert!(
        store
            .complete_onboarding(&inst.id, "ob", "p1")
            .await
            .unwrap()
    );
    assert!(
        !store
            .complete_onboarding(&inst.id, "ob", "p2")
            .await
            .unwrap()
    );
    let row = store.instance(&inst.id).await.unwrap().unwrap();
    assert_eq!(row.passphrase_hash.as_deref(), Some("p1"));
    assert!(row.onboarding_hash.is_none());
}

async fn reopening_a_migrated_database_is_a_no_op(db: &TestDb) {
    let store = db.open().await;
    two_instances(&store).await;
    store.close().await;
    let again = db.open().await;
    assert_eq!(again.count_instances().await.unwrap(), 2);
    again.ping().await.unwrap();
}

nuage_store::on_both_engines!(
    a_domain_belongs_to_one_instance,
    one_instance_never_sees_another_ones_credentials,
    removing_an_instance_removes_all_its_rows_and_only_its_rows,
    an_authorization_code_is_exchanged_once_and_its_replay_named,
    a_refresh_token_is_used_once_and_its_family_revoked_together,
    login_failures_count_up_and_clear,
    recovery_codes_work_once,
    a_totp_step_is_claimed_once,
    onboarding_completes_once,
    reopening_a_migrated_database_is_a_no_op,
    checkpoints_commit_without_waiting_for_the_disk_documents_do_not,
);

/// A replication checkpoint lost in a power cut costs one batch again; a
/// document lost would be data lost.
async fn checkpoints_commit_without_waiting_for_the_disk_documents_do_not(db: &TestDb) {
    let store = db.open().await;
    let (docs, checkpoints) = store.commit_durability().await;
    match db.engine {
        Engine::Sqlite => assert_eq!((docs.as_str(), checkpoints.as_str()), ("2", "1")),
        Engine::Postgres => assert_eq!((docs.as_str(), checkpoints.as_str()), ("on", "off")),
    }
}

/// Pooled connections are not pinged before every use (that is a round
/// trip per request on PostgreSQL), only after a second idle. When the
/// server side of the pool's connections goes away (a restart), the one
/// call that finds its connection gone fails; every other connection
/// opened before it is then retired instead of failing a call of its own.
#[tokio::test]
async fn postgres_connections_killed_under_the_pool_fail_one_call() {
    use sqlx::Connection;
    let db = TestDb::new(Engine::Postgres).await;
    let store = db.open().await;
    two_instances(&store).await;
    // Several connections in the pool at once.
    let counts = tokio::join!(
        store.count_instances(),
        store.count_instances(),
        store.count_instances(),
        store.count_instances()
    );
    for c in [counts.0, counts.1, counts.2, counts.3] {
        assert_eq!(c.unwrap(), 2);
    }
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let killed = killed.iter().filter(|k| **k).count();
    assert!(killed >= 2, "only {killed} pooled connection(s) to kill");
    let mut failed = 0;
    for _ in 0..killed + 2 {
        if store.count_instances().await.is_err() {
            failed += 1;
        } else {
            break;
        }
    }
    assert!(
        failed <= 1,
        "{failed} calls failed after {killed} connections died"
    );
    for _ in 0..killed + 1 {
        assert_eq!(store.count_instances().await.unwrap(), 2);
    }
}

/// Migration 0011 drops the foreign keys of `docs` and `revs` on
/// PostgreSQL by name (`DROP CONSTRAINT IF EXISTS`, silent when a name is
/// wrong): none is left, whatever its name, and the others stay.
#[tokio::test]
async fn postgres_documents_and_revisions_have_no_foreign_keys_left() {
    use sqlx::Connection;
    let db = TestDb::new(Engine::Postgres).await;
    let _store = db.open().await;
    let mut admin = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let keys: Vec<(String, String)> = sqlx::query_as(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint \
         WHERE contype = 'f' AND conrelid::regclass::text IN ('docs', 'revs', 'local_docs') \
         ORDER BY 1, 2",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(
        keys.iter().all(|(table, _)| table == "local_docs"),
        "foreign keys left on docs or revs: {keys:?}"
    );
    assert!(
        keys.iter().any(|(table, _)| table == "local_docs"),
        "the other tables' foreign keys were dropped too: {keys:?}"
    );
}
