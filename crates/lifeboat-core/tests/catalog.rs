//! The catalog through the public API: applications, environments, storage targets, migrations.

mod common;

use lifeboat_core::{
    EnvironmentChange, EnvironmentInput, ErrorCode, Home, Lifeboat, LocalSettings,
    PgConnectionInput, SslMode, TargetConfig, TargetConfigInput, TargetInput,
};

fn env_input(application_id: &str, name: &str) -> EnvironmentInput {
    EnvironmentInput {
        application_id: application_id.to_owned(),
        name: name.to_owned(),
        connection: None,
        media_dir: None,
        target_id: None,
    }
}

#[tokio::test]
async fn a_fresh_catalog_has_the_local_folder_target_and_nothing_else() {
    let (home, lb) = common::lifeboat().await;
    assert!(lb.list_applications().await.unwrap().is_empty());
    let targets = lb.list_targets().await.unwrap();
    assert_eq!(targets.len(), 1);
    assert!(targets[0].is_default);
    let TargetConfig::Local(LocalSettings { path }) = &targets[0].config else {
        panic!("default target is not local: {:?}", targets[0].config);
    };
    assert_eq!(path, &home.path().join("storage").display().to_string());
}

#[tokio::test]
async fn applications_are_created_renamed_and_deleted_with_unique_names() {
    let (_home, lb) = common::lifeboat().await;
    let shop = lb.create_application("  shop ").await.unwrap();
    assert_eq!(shop.name, "shop");

    let dup = lb.create_application("SHOP").await.unwrap_err();
    assert_eq!(
        (dup.code, dup.field.as_deref()),
        (ErrorCode::Conflict, Some("name"))
    );
    let bad = lb.create_application("../etc").await.unwrap_err();
    assert_eq!(
        (bad.code, bad.field.as_deref()),
        (ErrorCode::Validation, Some("name"))
    );

    let blog = lb.create_application("blog").await.unwrap();
    let clash = lb.rename_application(&blog.id, "Shop").await.unwrap_err();
    assert_eq!(clash.code, ErrorCode::Conflict);
    let renamed = lb.rename_application(&blog.id, "journal").await.unwrap();
    assert_eq!(
        (renamed.id.as_str(), renamed.name.as_str()),
        (blog.id.as_str(), "journal")
    );

    let names: Vec<_> = lb
        .list_applications()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["journal", "shop"]);

    lb.delete_application(&shop.id).await.unwrap();
    assert_eq!(
        lb.delete_application(&shop.id).await.unwrap_err().code,
        ErrorCode::NotFound
    );
    assert_eq!(lb.list_applications().await.unwrap().len(), 1);
}

#[tokio::test]
async fn environments_belong_to_one_application_and_go_with_it() {
    let (home, lb) = common::lifeboat().await;
    let shop = lb.create_application("shop").await.unwrap();
    let blog = lb.create_application("blog").await.unwrap();
    let prod = lb
        .create_environment(&env_input(&shop.id, "production"))
        .await
        .unwrap();
    lb.create_environment(&env_input(&shop.id, "staging"))
        .await
        .unwrap();
    lb.create_environment(&env_input(&blog.id, "production"))
        .await
        .unwrap();

    let default_target = lb.list_targets().await.unwrap().remove(0);
    assert_eq!(prod.target_id, default_target.id);
    assert_eq!(prod.connection, None);

    let dup = lb
        .create_environment(&env_input(&shop.id, "Production"))
        .await
        .unwrap_err();
    assert_eq!(
        (dup.code, dup.field.as_deref()),
        (ErrorCode::Conflict, Some("name"))
    );

    let mut with_media = env_input(&shop.id, "production");
    with_media.media_dir = Some(home.path().join("missing").display().to_string());
    let missing = lb
        .update_environment(&prod.id, &with_media)
        .await
        .unwrap_err();
    assert_eq!(
        (missing.code, missing.field.as_deref()),
        (ErrorCode::MediaDirMissing, Some("mediaDir"))
    );
    let media = tempfile::tempdir().unwrap();
    with_media.media_dir = Some(media.path().display().to_string());
    let updated = lb.update_environment(&prod.id, &with_media).await.unwrap();
    assert_eq!(
        updated.media_dir.as_deref(),
        Some(media.path().to_str().unwrap())
    );

    let tree = lb.list_applications().await.unwrap();
    let shop_envs: Vec<_> = tree
        .iter()
        .find(|a| a.id == shop.id)
        .unwrap()
        .environments
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(shop_envs, ["production", "staging"]);

    lb.delete_application(&shop.id).await.unwrap();
    let tree = lb.list_applications().await.unwrap();
    assert_eq!(tree.len(), 1);
    assert_eq!(tree[0].environments.len(), 1);
    assert_eq!(
        lb.catalog().environment(&prod.id).await.unwrap_err().code,
        ErrorCode::NotFound
    );
}

#[tokio::test]
async fn changes_to_different_parts_saved_at_once_all_stick() {
    let (_home, lb) = common::lifeboat().await;
    let shop = lb.create_application("shop").await.unwrap();
    let env = lb
        .create_environment(&env_input(&shop.id, "production"))
        .await
        .unwrap();
    let media = tempfile::tempdir().unwrap();
    let media_dir = media.path().display().to_string();
    let connection = PgConnectionInput {
        host: "db.internal".into(),
        port: 5432,
        database: "shop".into(),
        user: "shop".into(),
        ssl_mode: SslMode::Prefer,
        ssl_root_cert: None,
        password: None,
    };
    let changes = [
        EnvironmentChange::Name("prod".into()),
        EnvironmentChange::MediaDir(Some(media_dir.clone())),
        EnvironmentChange::Connection(Some(connection)),
    ];
    // What the environment page does when sections are saved before any answer arrives.
    let (renamed, moved, connected) = tokio::join!(
        lb.change_environment(&env.id, &changes[0]),
        lb.change_environment(&env.id, &changes[1]),
        lb.change_environment(&env.id, &changes[2]),
    );
    let last = [renamed.unwrap(), moved.unwrap(), connected.unwrap()];
    let stored = lb.catalog().environment(&env.id).await.unwrap();
    assert!(last.contains(&stored));
    assert_eq!(stored.name, "prod");
    assert_eq!(stored.media_dir, Some(media_dir));
    assert_eq!(
        stored.connection.map(|c| c.host),
        Some("db.internal".into())
    );
    assert_eq!(stored.target_id, env.target_id);

    // A saved media directory that is gone for now (an unmounted drive) blocks no other edit.
    drop(media);
    let renamed = lb
        .change_environment(&env.id, &EnvironmentChange::Name("production".into()))
        .await
        .unwrap();
    assert_eq!(renamed.name, "production");

    let bad = lb
        .change_environment(
            &env.id,
            &EnvironmentChange::MediaDir(Some("/no/such/dir".into())),
        )
        .await
        .unwrap_err();
    assert_eq!(bad.field.as_deref(), Some("mediaDir"));
}

#[tokio::test]
async fn an_existing_catalog_reopens_with_its_data() {
    let home = tempfile::tempdir().unwrap();
    let app_id = {
        let lb = Lifeboat::open(Home::at(home.path())).await.unwrap();
        lb.create_application("shop").await.unwrap().id
    };
    let lb = Lifeboat::open(Home::at(home.path())).await.unwrap();
    let tree = lb.list_applications().await.unwrap();
    assert_eq!(tree.len(), 1);
    assert_eq!(tree[0].id, app_id);
    assert_eq!(
        lb.list_targets().await.unwrap().len(),
        1,
        "a second default target was created"
    );
}

#[tokio::test]
async fn targets_in_use_and_the_default_target_cannot_be_deleted() {
    let (home, lb) = common::lifeboat().await;
    let default_target = lb.list_targets().await.unwrap().remove(0);
    assert_eq!(
        lb.delete_target(&default_target.id).await.unwrap_err().code,
        ErrorCode::TargetInUse
    );

    let nas = lb
        .create_target(&TargetInput {
            name: "NAS".into(),
            config: TargetConfigInput::Local(LocalSettings {
                path: home.path().join("nas").display().to_string(),
            }),
        })
        .await
        .unwrap();
    let relative = lb
        .create_target(&TargetInput {
            name: "rel".into(),
            config: TargetConfigInput::Local(LocalSettings {
                path: "backups".into(),
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(
        (relative.code, relative.field.as_deref()),
        (ErrorCode::Validation, Some("path"))
    );

    let shop = lb.create_application("shop").await.unwrap();
    let mut input = env_input(&shop.id, "production");
    input.target_id = Some(nas.id.clone());
    let prod = lb.create_environment(&input).await.unwrap();
    assert_eq!(
        lb.delete_target(&nas.id).await.unwrap_err().code,
        ErrorCode::TargetInUse
    );

    lb.delete_environment(&prod.id).await.unwrap();
    lb.delete_target(&nas.id).await.unwrap();
    assert_eq!(lb.list_targets().await.unwrap().len(), 1);
}

#[tokio::test]
async fn the_home_and_catalog_are_their_owners_only_even_when_made_before() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("lifeboat");
    std::fs::create_dir(&root).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
    let _lb = Lifeboat::open(Home::at(&root)).await.unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("catalog.sqlite")), 0o600);
}

#[tokio::test]
async fn a_media_directory_a_restore_could_not_safely_replace_is_refused() {
    let (home, lb) = common::lifeboat().await;
    let app = lb.create_application("shop").await.unwrap();
    let local = tempfile::tempdir().unwrap();
    lb.create_target(&TargetInput {
        name: "disk".into(),
        config: TargetConfigInput::Local(LocalSettings {
            path: local.path().display().to_string(),
        }),
    })
    .await
    .unwrap();
    std::fs::create_dir(local.path().join("inside")).unwrap();
    // The default target's folder, as the first backup leaves it.
    std::fs::create_dir_all(home.path().join("storage")).unwrap();
    let media = tempfile::tempdir().unwrap();
    let refused = [
        "/".to_owned(),
        "relative/media".to_owned(),
        home.path().display().to_string(),
        home.path().join("storage").display().to_string(),
        local.path().join("inside").display().to_string(),
        // A folder holding Lifeboat's home.
        home.path().parent().unwrap().display().to_string(),
    ];
    for (i, dir) in refused.iter().enumerate() {
        let mut input = env_input(&app.id, &format!("env{i}"));
        input.media_dir = Some(dir.clone());
        let e = lb.create_environment(&input).await.unwrap_err();
        assert_eq!(
            (e.code, e.field.as_deref()),
            (ErrorCode::Validation, Some("mediaDir")),
            "{dir}: {e:?}"
        );
    }
    let mut input = env_input(&app.id, "fine");
    input.media_dir = Some(media.path().display().to_string());
    lb.create_environment(&input).await.unwrap();
}
