//! Restores as the application's own role, not a superuser, over databases set up the way
//! DBAs and managed platforms set them up: extensions and schemas that belong to someone else.
//! Real PostgreSQL; every refusal ends by proving the destination unchanged.

mod common;

use common::fixture::database_only;
use lifeboat_core::{
    DatabaseRestorePlan, EnvironmentInput, ErrorCode, Lifeboat, PgConnectionInput, RestoreRequest,
};
use sqlx::{Connection, Executor};

async fn environment(lb: &Lifeboat, name: &str, connection: &PgConnectionInput) -> String {
    let app = match lb
        .catalog()
        .applications()
        .await
        .unwrap()
        .into_iter()
        .next()
    {
        Some(app) => app,
        None => lb.create_application("shop").await.unwrap(),
    };
    lb.create_environment(&EnvironmentInput {
        application_id: app.id,
        name: name.into(),
        connection: Some(connection.clone()),
        media_dir: None,
        target_id: None,
    })
    .await
    .unwrap()
    .id
}

fn database_restore(backup_id: &str, env_id: &str, confirmation: &str) -> RestoreRequest {
    RestoreRequest {
        backup_id: backup_id.to_owned(),
        environment_id: env_id.to_owned(),
        database: true,
        media: false,
        safety_backup: true,
        confirmation: Some(confirmation.to_owned()),
    }
}

/// Every extension with its object id and owner: a dropped and recreated one gets a new oid.
async fn extensions(db: &mut sqlx::PgConnection) -> Vec<(String, u32, String)> {
    sqlx::query_as::<_, (String, sqlx::postgres::types::Oid, String)>(
        "SELECT extname::text, oid, extowner::regrole::text FROM pg_extension ORDER BY 1",
    )
    .fetch_all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|(name, oid, owner)| (name, oid.0, owner))
    .collect()
}

fn kept(plan: &DatabaseRestorePlan) -> Vec<(String, String)> {
    let mut kept: Vec<(String, String)> = plan
        .kept
        .iter()
        .map(|o| (o.kind.clone(), o.name.clone()))
        .collect();
    kept.sort();
    kept
}

fn recreated(plan: &DatabaseRestorePlan, kind: &str) -> u64 {
    plan.recreated
        .iter()
        .find(|c| c.kind == kind)
        .map_or(0, |c| c.count)
}

#[tokio::test]
async fn restoring_in_place_as_the_apps_own_role_keeps_the_extensions_a_superuser_installed() {
    let (_home, lb) = common::lifeboat().await;
    let conn = common::create_app_database("djangoapp").await;
    // The DBA installs the extensions; the application's migrations create everything else.
    let mut superuser = common::connect(&conn.database).await;
    superuser
        .execute(
            r#"CREATE EXTENSION pgcrypto; CREATE EXTENSION pg_trgm; CREATE EXTENSION "uuid-ossp";"#,
        )
        .await
        .unwrap();
    let mut app = common::connect_as(&conn).await;
    app.execute(common::FIXTURE_TABLES).await.unwrap();
    app.execute(
        "CREATE INDEX shop_order_note_trgm ON shop_order USING gin (note gin_trgm_ops);
         ALTER TABLE auth_user ADD COLUMN uid uuid NOT NULL DEFAULT uuid_generate_v4();",
    )
    .await
    .unwrap();
    let original = common::fingerprint_of(&mut app).await;
    let extensions_before = extensions(&mut superuser).await;
    let env_id = environment(&lb, "production", &conn).await;
    let good = lb.backup(&database_only(&env_id)).await.unwrap();
    app.execute(
        "UPDATE shop_order SET total = 0 WHERE id < 100; DELETE FROM shop_order WHERE id > 4000;
         SELECT nextval('shop_invoice_number');",
    )
    .await
    .unwrap();
    assert_ne!(common::fingerprint_of(&mut app).await, original);
    app.close().await.ok();

    let plan = lb
        .restore_database_plan(&good.backup_id, &env_id)
        .await
        .unwrap();
    assert_eq!(plan.role, conn.user);
    assert_eq!(
        kept(&plan),
        [
            ("extension".into(), "pg_trgm".into()),
            ("extension".into(), "pgcrypto".into()),
            ("extension".into(), "uuid-ossp".into())
        ]
    );
    assert!(plan
        .kept
        .iter()
        .all(|o| o.reason.contains("owned by postgres")));
    assert!(plan.needs_admin.is_empty(), "{plan:#?}");
    assert_eq!(recreated(&plan, "table"), 3);
    assert_eq!(recreated(&plan, "extension"), 0);

    let summary = lb
        .restore(&database_restore(&good.backup_id, &env_id, "production"))
        .await
        .unwrap();
    assert!(summary.checks_passed(), "{summary:#?}");
    assert!(summary
        .checks
        .iter()
        .any(|c| c.name == "kept as they were" && c.detail.contains("extension pgcrypto")));
    assert_eq!(summary.database.as_ref().unwrap().kept.len(), 3);
    let mut app = common::connect_as(&conn).await;
    assert_eq!(common::fingerprint_of(&mut app).await, original);
    assert_eq!(extensions(&mut superuser).await, extensions_before);
    let owners: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT tableowner::text FROM pg_tables WHERE schemaname = 'public'",
    )
    .fetch_all(&mut app)
    .await
    .unwrap();
    assert_eq!(owners, std::slice::from_ref(&conn.user));

    // The safety backup was made as the same role and undoes the restore the same way.
    let mut undo = database_restore(&summary.safety_backup_id.unwrap(), &env_id, "production");
    undo.safety_backup = false;
    lb.restore(&undo).await.unwrap();
    let mut app = common::connect_as(&conn).await;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM shop_order")
        .fetch_one(&mut app)
        .await
        .unwrap();
    assert_eq!(total, 4000);
}

#[tokio::test]
async fn a_platform_admin_role_owning_the_extensions_and_a_schema_does_not_stop_the_apps_role() {
    let (_home, lb) = common::lifeboat().await;
    let conn = common::create_app_database("managedapp").await;
    // Like RDS or Cloud SQL: an admin role that is no superuser installs trusted extensions
    // and owns a schema the application writes into.
    let platform = PgConnectionInput {
        user: format!("{}_admin", conn.user),
        password: Some("platform-pw".into()),
        ..conn.clone()
    };
    let mut superuser = common::connect(&conn.database).await;
    superuser
        .execute(
            format!(
                "CREATE ROLE {0} LOGIN PASSWORD 'platform-pw'; GRANT CREATE ON DATABASE {1} TO {0};",
                platform.user, conn.database
            )
            .as_str(),
        )
        .await
        .unwrap();
    let mut admin = common::connect_as(&platform).await;
    admin
        .execute(
            format!(
                "CREATE EXTENSION pgcrypto; CREATE EXTENSION citext; CREATE SCHEMA reporting;
                 COMMENT ON SCHEMA reporting IS 'the platform''s'; GRANT USAGE, CREATE ON SCHEMA reporting TO {};",
                conn.user
            )
            .as_str(),
        )
        .await
        .unwrap();
    let mut app = common::connect_as(&conn).await;
    app.execute(common::FIXTURE_TABLES).await.unwrap();
    app.execute(
        "CREATE TABLE reporting.daily (day date PRIMARY KEY, contact citext NOT NULL, orders int);
         INSERT INTO reporting.daily SELECT date '2026-01-01' + g, 'Ops@Example.com', g FROM generate_series(1, 300) g;",
    )
    .await
    .unwrap();
    let original = common::fingerprint_of(&mut app).await;
    let extensions_before = extensions(&mut superuser).await;
    let env_id = environment(&lb, "production", &conn).await;
    let good = lb.backup(&database_only(&env_id)).await.unwrap();
    app.execute("DELETE FROM reporting.daily WHERE orders > 100; DELETE FROM shop_order;")
        .await
        .unwrap();
    app.close().await.ok();

    let plan = lb
        .restore_database_plan(&good.backup_id, &env_id)
        .await
        .unwrap();
    assert_eq!(
        kept(&plan),
        [
            ("extension".into(), "citext".into()),
            ("extension".into(), "pgcrypto".into()),
            ("schema".into(), "reporting".into())
        ]
    );
    let owned_by_admin = format!("owned by {}", platform.user);
    assert!(
        plan.kept.iter().all(|o| o.reason.contains(&owned_by_admin)),
        "{plan:#?}"
    );
    assert!(plan.needs_admin.is_empty(), "{plan:#?}");

    let summary = lb
        .restore(&database_restore(&good.backup_id, &env_id, "production"))
        .await
        .unwrap();
    assert!(summary.checks_passed(), "{summary:#?}");
    let mut app = common::connect_as(&conn).await;
    assert_eq!(common::fingerprint_of(&mut app).await, original);
    let (rows, contact): (i64, bool) = sqlx::query_as(
        "SELECT count(*), bool_and(contact = 'ops@example.com') FROM reporting.daily",
    )
    .fetch_one(&mut app)
    .await
    .unwrap();
    assert_eq!(
        (rows, contact),
        (300, true),
        "citext still compares without case"
    );
    assert_eq!(extensions(&mut superuser).await, extensions_before);
    let schema_owner: String = sqlx::query_scalar(
        "SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'reporting'",
    )
    .fetch_one(&mut app)
    .await
    .unwrap();
    assert_eq!(schema_owner, platform.user);
}

#[tokio::test]
async fn an_extension_the_role_may_not_create_stops_the_restore_before_any_change() {
    let (_home, lb) = common::lifeboat().await;
    let source = common::create_app_database("withdblink").await;
    let mut superuser = common::connect(&source.database).await;
    // dblink is not trusted: only a superuser may create it. citext is: the owner may.
    superuser
        .execute("CREATE EXTENSION pgcrypto; CREATE EXTENSION dblink;")
        .await
        .unwrap();
    let mut app = common::connect_as(&source).await;
    app.execute(common::FIXTURE_TABLES).await.unwrap();
    app.execute(
        "CREATE EXTENSION citext; CREATE TABLE contact (email citext PRIMARY KEY);
         INSERT INTO contact VALUES ('A@example.com'), ('b@example.com');",
    )
    .await
    .unwrap();
    let source_state = common::fingerprint_of(&mut app).await;
    let destination = common::create_app_database("staging").await;
    common::connect(&destination.database)
        .await
        .execute("CREATE EXTENSION pgcrypto")
        .await
        .unwrap();
    let mut staging = common::connect_as(&destination).await;
    staging.execute(common::FIXTURE_TABLES).await.unwrap();
    staging
        .execute("DELETE FROM shop_order WHERE id % 2 = 0")
        .await
        .unwrap();
    let staging_before = common::fingerprint_of(&mut staging).await;
    staging.close().await.ok();
    let production = environment(&lb, "production", &source).await;
    let staging_env = environment(&lb, "staging", &destination).await;
    let good = lb.backup(&database_only(&production)).await.unwrap();

    let plan = lb
        .restore_database_plan(&good.backup_id, &staging_env)
        .await
        .unwrap();
    let [needed] = plan.needs_admin.as_slice() else {
        panic!("{plan:#?}");
    };
    assert_eq!(
        (needed.kind.as_str(), needed.name.as_str()),
        ("extension", "dblink")
    );
    let fix = format!(
        "a superuser runs: psql -d {} -c 'CREATE EXTENSION IF NOT EXISTS \"dblink\"'",
        destination.database
    );
    assert_eq!(needed.remedy().as_deref(), Some(fix.as_str()));
    assert_eq!(recreated(&plan, "extension"), 1, "citext is created");

    let e = lb
        .restore(&database_restore(&good.backup_id, &staging_env, "staging"))
        .await
        .unwrap_err();
    assert_eq!(e.code, ErrorCode::PgNeedsAdmin, "{e:?}");
    assert!(e.message.contains(&fix), "{}", e.message);
    let mut staging = common::connect_as(&destination).await;
    assert_eq!(common::fingerprint_of(&mut staging).await, staging_before);
    let backups = lb.list_backups(&staging_env).await.unwrap();
    assert!(
        backups.iter().all(|e| e.backup.is_none()),
        "refused before the safety backup"
    );

    // The DBA runs the fix; the restore then creates citext itself.
    common::connect(&destination.database)
        .await
        .execute("CREATE EXTENSION dblink")
        .await
        .unwrap();
    let summary = lb
        .restore(&database_restore(&good.backup_id, &staging_env, "staging"))
        .await
        .unwrap();
    assert!(summary.checks_passed(), "{summary:#?}");
    let mut staging = common::connect_as(&destination).await;
    assert_eq!(common::fingerprint_of(&mut staging).await, source_state);
    let citext_owner: String = sqlx::query_scalar(
        "SELECT extowner::regrole::text FROM pg_extension WHERE extname = 'citext'",
    )
    .fetch_one(&mut staging)
    .await
    .unwrap();
    assert_eq!(citext_owner, destination.user);
}

#[tokio::test]
async fn the_roles_go_beside_the_dump_and_a_scratch_drill_restores_the_owners_with_them() {
    let (_home, lb) = common::lifeboat().await;
    let conn = common::create_app_database("withroles").await;
    common::connect(&conn.database)
        .await
        .execute("CREATE EXTENSION pgcrypto")
        .await
        .unwrap();
    let mut app = common::connect_as(&conn).await;
    app.execute(common::FIXTURE_TABLES).await.unwrap();
    app.close().await.ok();
    let env_id = environment(&lb, "production", &conn).await;
    let backup = lb.backup(&database_only(&env_id)).await.unwrap();

    // The application's role may read the roles (not their passwords).
    let globals = backup.globals.as_ref().expect("a roles artifact");
    assert!(globals.roles >= 2, "{globals:?}");
    assert_eq!(backup.globals_note, None);
    let record = lb.backup_record(&backup.backup_id).await.unwrap();
    let verified = record.verification.expect("verified after the backup");
    assert!(
        verified
            .checks
            .iter()
            .any(|c| c.name == "roles contents" && c.ok),
        "{verified:?}"
    );

    // A drill on its own scratch cluster creates the roles first, so the tables keep their
    // recorded owner instead of belonging to the drill's superuser.
    lb.set_drill_checks(
        &env_id,
        &[format!(
            "select bool_and(tableowner = '{}') from pg_tables where schemaname = 'public'",
            conn.user
        )],
    )
    .await
    .unwrap();
    let report = lb
        .drill(
            &lifeboat_core::DrillRequest {
                environment_id: env_id.clone(),
                backup_id: None,
            },
            None,
        )
        .await
        .unwrap();
    assert!(report.ok, "{:#?}", report.checks);
    let roles = report.checks.iter().find(|c| c.name == "roles").unwrap();
    assert!(
        roles.detail.contains("owners and grants"),
        "{}",
        roles.detail
    );
}

#[tokio::test]
async fn a_role_that_may_not_read_the_roles_still_backs_up_and_says_why_they_are_missing() {
    let (_home, lb) = common::lifeboat().await;
    let conn = common::create_app_database("noroles").await;
    // pg_dumpall reads this catalog for the server's parameter grants; in this database the
    // application's role may not.
    common::connect(&conn.database)
        .await
        .execute(
            "CREATE EXTENSION pgcrypto; REVOKE SELECT ON pg_catalog.pg_parameter_acl FROM PUBLIC;",
        )
        .await
        .unwrap();
    let mut app = common::connect_as(&conn).await;
    app.execute(common::FIXTURE_TABLES).await.unwrap();
    let original = common::fingerprint_of(&mut app).await;
    let env_id = environment(&lb, "production", &conn).await;

    let backup = lb.backup(&database_only(&env_id)).await.unwrap();
    assert_eq!(backup.globals, None);
    let note = backup.globals_note.as_deref().unwrap();
    assert!(
        note.starts_with("The roles were not backed up: pg_dumpall failed")
            && note.contains("permission denied"),
        "{note}"
    );

    // Never required: the backup restores as any other.
    app.execute("DELETE FROM shop_order").await.unwrap();
    app.close().await.ok();
    let mut restore = database_restore(&backup.backup_id, &env_id, "production");
    restore.safety_backup = false;
    let summary = lb.restore(&restore).await.unwrap();
    assert!(summary.checks_passed(), "{summary:#?}");
    let mut app = common::connect_as(&conn).await;
    assert_eq!(common::fingerprint_of(&mut app).await, original);
}
