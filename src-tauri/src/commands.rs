//! Tauri commands: each one hands its arguments to lifeboat-core and returns its answer.
//! Errors cross as `{code, message, field}` (lifeboat_core::Error's serialisation).

use lifeboat_core::{
    ActivityItem, AppInfo, Application, ApplicationTree, BackupEntry, BackupRequest,
    BackupSchedule, ConnectionReport, DatabaseRestorePlan, DownloadRequest, DrillPlaceInput,
    DrillReport, DrillRequest, Environment, EnvironmentChange, EnvironmentInput, EnvironmentStatus,
    Hooks, Job, Lifeboat, MediaBucketCheck, MediaBucketInput, MediaStats, PgConnectionInput,
    PruneReport, QuarantinedBackup, Recurrence, RestorePreview, RestoreRequest, Result,
    RetentionDecision, RetentionPolicy, Settings, SshHostKey, StorageTarget, SyncReport,
    TargetInput, TargetReport, VerifyReport,
};
use std::path::Path;

use tauri::{AppHandle, Runtime, State};

use crate::dialogs::{self, Picked, Purpose};

type Core<'a> = State<'a, Lifeboat>;

pub fn handler<R: Runtime>() -> impl Fn(tauri::ipc::Invoke<R>) -> bool + Send + Sync + 'static {
    tauri::generate_handler![
        app_info,
        list_applications,
        create_application,
        rename_application,
        delete_application,
        create_environment,
        change_environment,
        delete_environment,
        parse_database_url,
        test_connection,
        media_stats,
        list_targets,
        create_target,
        update_target,
        delete_target,
        test_target,
        get_settings,
        update_settings,
        create_backup,
        list_backups,
        cancel_job,
        verify_backup,
        restore_preview,
        restore_database_plan,
        start_restore,
        start_download,
        list_downloads,
        show_in_folder,
        export_recovery_key,
        import_recovery_key,
        choose_folder,
        set_hooks,
        set_server,
        set_dump_on_server,
        set_media_bucket,
        check_media_bucket,
        ssh_hosts,
        unknown_host_keys,
        trust_host_keys,
        test_server,
        set_ssh_key_passphrase,
        set_pinned,
        set_retention,
        retention_preview,
        prune,
        sync_catalog,
        quarantined_backups,
        trust_backup,
        dismiss_quarantined,
        set_schedule,
        upcoming_runs,
        environment_statuses,
        autostart_enabled,
        set_autostart,
        start_drill,
        list_drills,
        drill_checks,
        set_drill_checks,
        set_drill_schedule,
        set_drill_place,
        activity,
    ]
}

#[tauri::command]
async fn app_info(core: Core<'_>) -> Result<AppInfo> {
    core.info().await
}

#[tauri::command]
async fn list_applications(core: Core<'_>) -> Result<Vec<ApplicationTree>> {
    core.list_applications().await
}

#[tauri::command]
async fn create_application(core: Core<'_>, name: String) -> Result<Application> {
    core.create_application(&name).await
}

#[tauri::command]
async fn rename_application(core: Core<'_>, id: String, name: String) -> Result<Application> {
    core.rename_application(&id, &name).await
}

#[tauri::command]
async fn delete_application(core: Core<'_>, id: String) -> Result<()> {
    core.delete_application(&id).await
}

#[tauri::command]
async fn create_environment(core: Core<'_>, input: EnvironmentInput) -> Result<Environment> {
    core.create_environment(&input).await
}

#[tauri::command]
async fn change_environment(
    core: Core<'_>,
    id: String,
    change: EnvironmentChange,
) -> Result<Environment> {
    core.change_environment(&id, &change).await
}

#[tauri::command]
async fn delete_environment(core: Core<'_>, id: String) -> Result<()> {
    core.delete_environment(&id).await
}

#[tauri::command]
fn parse_database_url(url: String) -> Result<PgConnectionInput> {
    lifeboat_core::parse_database_url(&url)
}

#[tauri::command]
async fn test_connection(
    core: Core<'_>,
    input: PgConnectionInput,
    environment_id: Option<String>,
) -> Result<ConnectionReport> {
    core.test_connection(&input, environment_id.as_deref())
        .await
}

#[tauri::command]
async fn media_stats(
    core: Core<'_>,
    path: String,
    environment_id: Option<String>,
) -> Result<MediaStats> {
    core.media_stats(&path, environment_id.as_deref()).await
}

#[tauri::command]
async fn list_targets(core: Core<'_>) -> Result<Vec<StorageTarget>> {
    core.list_targets().await
}

#[tauri::command]
async fn create_target(core: Core<'_>, input: TargetInput) -> Result<StorageTarget> {
    core.create_target(&input).await
}

#[tauri::command]
async fn update_target(core: Core<'_>, id: String, input: TargetInput) -> Result<StorageTarget> {
    core.update_target(&id, &input).await
}

#[tauri::command]
async fn delete_target(core: Core<'_>, id: String) -> Result<()> {
    core.delete_target(&id).await
}

#[tauri::command]
async fn test_target(
    core: Core<'_>,
    input: TargetInput,
    target_id: Option<String>,
) -> Result<TargetReport> {
    core.test_target(&input, target_id.as_deref()).await
}

#[tauri::command]
async fn get_settings(core: Core<'_>) -> Result<Settings> {
    core.settings().await
}

/// The client-tools folder is what Lifeboat executes: a new one must come from its dialog.
#[tauri::command]
async fn update_settings(
    core: Core<'_>,
    picked: State<'_, Picked>,
    settings: Settings,
) -> Result<Settings> {
    let current = core.settings().await?;
    if let Some(dir) = settings
        .pg_bin_dir
        .as_deref()
        .filter(|dir| current.pg_bin_dir.as_deref() != Some(*dir))
    {
        picked.check(Purpose::PgBinDir, Path::new(dir), "pgBinDir")?;
    }
    core.update_settings(&settings).await
}

#[tauri::command]
async fn create_backup(core: Core<'_>, request: BackupRequest) -> Result<Job> {
    core.start_backup(&request).await
}

#[tauri::command]
async fn list_backups(core: Core<'_>, environment_id: String) -> Result<Vec<BackupEntry>> {
    core.list_backups(&environment_id).await
}

#[tauri::command]
fn cancel_job(core: Core<'_>, job_id: String) -> bool {
    core.cancel_job(&job_id)
}

#[tauri::command]
async fn verify_backup(core: Core<'_>, backup_id: String) -> Result<VerifyReport> {
    core.verify_backup(&backup_id).await
}

#[tauri::command]
async fn restore_preview(
    core: Core<'_>,
    backup_id: String,
    environment_id: String,
) -> Result<RestorePreview> {
    core.restore_preview(&backup_id, &environment_id).await
}

#[tauri::command]
async fn restore_database_plan(
    core: Core<'_>,
    backup_id: String,
    environment_id: String,
) -> Result<DatabaseRestorePlan> {
    core.restore_database_plan(&backup_id, &environment_id)
        .await
}

#[tauri::command]
async fn start_restore(core: Core<'_>, request: RestoreRequest) -> Result<Job> {
    core.start_restore(&request).await
}

/// Decrypted production data goes only to a folder picked in the app's dialog, or to the
/// folder of an earlier download (picked then).
#[tauri::command]
async fn start_download(
    core: Core<'_>,
    picked: State<'_, Picked>,
    request: DownloadRequest,
) -> Result<Job> {
    if core.download_folder(&request.directory).await.is_err() {
        picked.check(
            Purpose::DownloadFolder,
            Path::new(&request.directory),
            "directory",
        )?;
    }
    core.start_download(&request).await
}

#[tauri::command]
async fn choose_folder<R: Runtime>(
    app: AppHandle<R>,
    picked: State<'_, Picked>,
    purpose: Purpose,
    start: Option<String>,
) -> Result<Option<String>> {
    dialogs::pick_folder(&app, &picked, purpose, start).await
}

#[tauri::command]
async fn list_downloads(core: Core<'_>) -> Result<Vec<Job>> {
    core.list_downloads().await
}

/// Opens a folder in the system's file manager (a shell concern, so it lives here).
#[tauri::command]
async fn show_in_folder(core: Core<'_>, path: String) -> Result<()> {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    let path = core.download_folder(&path).await?;
    std::process::Command::new(opener)
        .arg(&path)
        .spawn()
        .map(drop)
        .map_err(|e| {
            lifeboat_core::Error::new(
                lifeboat_core::ErrorCode::Io,
                format!("Cannot open the file manager ({opener}): {e}"),
            )
        })
}

/// Asks where to write the key, in a dialog the app opens, and writes it: the window never
/// names the file. The file written, or nothing when the dialog was cancelled.
#[tauri::command]
async fn export_recovery_key<R: Runtime>(
    app: AppHandle<R>,
    core: Core<'_>,
) -> Result<Option<String>> {
    let Some(path) = dialogs::pick_key_destination(&app).await? else {
        return Ok(None);
    };
    core.export_recovery_key(&path).await?;
    Ok(Some(path.display().to_string()))
}

#[tauri::command]
async fn import_recovery_key<R: Runtime>(
    app: AppHandle<R>,
    core: Core<'_>,
) -> Result<Option<String>> {
    let Some(path) = dialogs::pick_key_file(&app).await? else {
        return Ok(None);
    };
    core.import_recovery_key(&path).await.map(Some)
}

#[tauri::command]
async fn set_hooks(core: Core<'_>, environment_id: String, hooks: Hooks) -> Result<Environment> {
    core.set_hooks(&environment_id, &hooks).await
}

#[tauri::command]
async fn set_media_bucket(
    core: Core<'_>,
    environment_id: String,
    input: Option<MediaBucketInput>,
) -> Result<Environment> {
    core.set_media_bucket(&environment_id, input.as_ref()).await
}

#[tauri::command]
async fn check_media_bucket(
    core: Core<'_>,
    environment_id: String,
    input: Option<MediaBucketInput>,
    write: bool,
) -> Result<MediaBucketCheck> {
    core.check_media_bucket(&environment_id, input.as_ref(), write)
        .await
}

#[tauri::command]
async fn set_server(core: Core<'_>, environment_id: String, server: String) -> Result<Environment> {
    core.set_server(&environment_id, &server).await
}

#[tauri::command]
async fn set_dump_on_server(
    core: Core<'_>,
    environment_id: String,
    on_server: bool,
) -> Result<Environment> {
    core.set_dump_on_server(&environment_id, on_server).await
}

#[tauri::command]
async fn ssh_hosts(core: Core<'_>) -> Result<Vec<String>> {
    core.ssh_hosts().await
}

#[tauri::command]
async fn unknown_host_keys(core: Core<'_>, server: String) -> Result<Vec<SshHostKey>> {
    core.unknown_host_keys(&server).await
}

#[tauri::command]
async fn trust_host_keys(
    core: Core<'_>,
    server: String,
    fingerprints: Vec<String>,
) -> Result<Vec<SshHostKey>> {
    core.trust_host_keys(&server, &fingerprints).await
}

#[tauri::command]
async fn test_server(core: Core<'_>, server: String) -> Result<()> {
    core.test_server(&server).await
}

#[tauri::command]
async fn set_ssh_key_passphrase(core: Core<'_>, key: String, passphrase: String) -> Result<()> {
    core.set_ssh_key_passphrase(&key, &passphrase).await
}

#[tauri::command]
async fn set_pinned(core: Core<'_>, backup_id: String, pinned: bool) -> Result<()> {
    core.set_pinned(&backup_id, pinned).await
}

#[tauri::command]
async fn set_retention(
    core: Core<'_>,
    environment_id: String,
    policy: RetentionPolicy,
) -> Result<Environment> {
    core.set_retention(&environment_id, &policy).await
}

#[tauri::command]
async fn retention_preview(
    core: Core<'_>,
    environment_id: String,
    policy: RetentionPolicy,
) -> Result<Vec<RetentionDecision>> {
    core.retention_preview(&environment_id, &policy).await
}

#[tauri::command]
async fn prune(core: Core<'_>, environment_id: String) -> Result<PruneReport> {
    core.prune(&environment_id, false).await
}

#[tauri::command]
async fn sync_catalog(core: Core<'_>, target_id: String) -> Result<SyncReport> {
    core.sync_catalog(&target_id).await
}

#[tauri::command]
async fn quarantined_backups(core: Core<'_>) -> Result<Vec<QuarantinedBackup>> {
    core.quarantined_backups().await
}

#[tauri::command]
async fn trust_backup(core: Core<'_>, id: String) -> Result<SyncReport> {
    core.trust_backup(&id).await
}

#[tauri::command]
async fn dismiss_quarantined(core: Core<'_>, id: String) -> Result<()> {
    core.dismiss_quarantined(&id).await
}

#[tauri::command]
async fn set_schedule(
    core: Core<'_>,
    environment_id: String,
    schedule: Option<BackupSchedule>,
) -> Result<Environment> {
    core.set_schedule(&environment_id, schedule).await
}

/// The next runs of a schedule being edited (or why it is not valid).
#[tauri::command]
fn upcoming_runs(schedule: BackupSchedule, count: usize) -> Result<Vec<String>> {
    lifeboat_core::upcoming_runs(&schedule, count.min(10))
}

#[tauri::command]
async fn environment_statuses(core: Core<'_>) -> Result<Vec<EnvironmentStatus>> {
    core.environment_statuses().await
}

/// Whether Lifeboat starts at login (an OS setting, so the shell owns it).
#[tauri::command]
fn autostart_enabled<R: Runtime>(app: AppHandle<R>) -> Result<bool> {
    use tauri_plugin_autostart::ManagerExt;
    app.autolaunch().is_enabled().map_err(autostart_error)
}

#[tauri::command]
fn set_autostart<R: Runtime>(app: AppHandle<R>, enabled: bool) -> Result<bool> {
    use tauri_plugin_autostart::ManagerExt;
    let launcher = app.autolaunch();
    if enabled {
        launcher.enable()
    } else {
        launcher.disable()
    }
    .and_then(|()| launcher.is_enabled())
    .map_err(autostart_error)
}

fn autostart_error(e: tauri_plugin_autostart::Error) -> lifeboat_core::Error {
    lifeboat_core::Error::new(
        lifeboat_core::ErrorCode::Io,
        format!("Cannot change starting at login: {e}"),
    )
}

#[tauri::command]
async fn start_drill(core: Core<'_>, request: DrillRequest) -> Result<Job> {
    core.start_drill(&request).await
}

#[tauri::command]
async fn list_drills(core: Core<'_>, environment_id: String) -> Result<Vec<DrillReport>> {
    core.drills(&environment_id).await
}

#[tauri::command]
async fn activity(core: Core<'_>, environment_id: String) -> Result<Vec<ActivityItem>> {
    core.activity(&environment_id).await
}

#[tauri::command]
async fn drill_checks(core: Core<'_>, environment_id: String) -> Result<Vec<String>> {
    core.drill_checks(&environment_id).await
}

#[tauri::command]
async fn set_drill_checks(
    core: Core<'_>,
    environment_id: String,
    checks: Vec<String>,
) -> Result<()> {
    core.set_drill_checks(&environment_id, &checks).await
}

#[tauri::command]
async fn set_drill_schedule(
    core: Core<'_>,
    environment_id: String,
    recurrence: Option<Recurrence>,
) -> Result<Environment> {
    core.set_drill_schedule(&environment_id, recurrence).await
}

#[tauri::command]
async fn set_drill_place(
    core: Core<'_>,
    environment_id: String,
    place: DrillPlaceInput,
) -> Result<Environment> {
    core.set_drill_place(&environment_id, place).await
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The window can call exactly the commands the UI calls (ui/src/lib/api.ts is the one
    /// place it calls them): a command nothing uses is only more for a script in the window to
    /// reach.
    #[test]
    fn the_window_can_call_exactly_the_commands_the_ui_uses() {
        let handler = include_str!("commands.rs");
        let listed = handler
            .split_once("generate_handler![")
            .and_then(|(_, rest)| rest.split_once(']'))
            .expect("commands::handler lists its commands")
            .0;
        let registered: BTreeSet<&str> = listed
            .split(',')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let api = include_str!("../../ui/src/lib/api.ts");
        let used: BTreeSet<&str> = api
            .split("invoke")
            .skip(1)
            .filter_map(|call| call.split('"').nth(1))
            .filter(|name| name.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
            .collect();
        assert_eq!(registered, used);
    }
}

/// Commands called the way the window calls them, through Tauri's mock runtime: what a script
/// in the window can make the shell do with paths it makes up.
#[cfg(test)]
mod window_tests {
    use lifeboat_core::{Home, Lifeboat};
    use serde_json::{json, Value};
    use tauri::test::{mock_builder, mock_context, noop_assets, MockRuntime, INVOKE_KEY};
    use tauri::webview::InvokeRequest;
    use tauri::WebviewWindow;

    fn window(home: &std::path::Path) -> (tauri::App<MockRuntime>, WebviewWindow<MockRuntime>) {
        let lifeboat =
            tauri::async_runtime::block_on(Lifeboat::open(Home::at(home))).expect("a catalog");
        let app = mock_builder()
            .manage(lifeboat)
            .manage(crate::dialogs::Picked::default())
            .invoke_handler(super::handler())
            .build(mock_context(noop_assets()))
            .expect("the app builds");
        let window = tauri::WebviewWindowBuilder::new(&app, "main", Default::default())
            .build()
            .expect("the window opens");
        (app, window)
    }

    /// The error a command answered with (its `{code, message, field}`).
    fn refusal(window: &WebviewWindow<MockRuntime>, cmd: &str, args: Value) -> Value {
        let answer = tauri::test::get_ipc_response(
            window,
            InvokeRequest {
                cmd: cmd.into(),
                callback: tauri::ipc::CallbackFn(0),
                error: tauri::ipc::CallbackFn(1),
                url: "tauri://localhost".parse().unwrap(),
                body: args.into(),
                headers: Default::default(),
                invoke_key: INVOKE_KEY.to_string(),
            },
        );
        answer.expect_err(&format!("{cmd} was refused"))
    }

    #[test]
    fn a_download_to_a_folder_the_dialog_did_not_return_is_refused_and_nothing_is_written() {
        let home = tempfile::tempdir().unwrap();
        let (_app, window) = window(home.path());
        let elsewhere = tempfile::tempdir().unwrap();
        let e = refusal(
            &window,
            "start_download",
            json!({ "request": {
                "backupId": "any", "directory": elsewhere.path(), "database": true, "media": true
            }}),
        );
        assert_eq!(
            (e["code"].as_str(), e["field"].as_str()),
            (Some("validation"), Some("directory")),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_client_tools_folder_the_dialog_did_not_return_is_refused_and_settings_stay() {
        let home = tempfile::tempdir().unwrap();
        let (app, window) = window(home.path());
        let lifeboat = tauri::Manager::state::<Lifeboat>(&app);
        let before = tauri::async_runtime::block_on(lifeboat.settings()).unwrap();
        let mut settings = serde_json::to_value(&before).unwrap();
        settings["pgBinDir"] = json!("/tmp/evil-bin");
        let e = refusal(&window, "update_settings", json!({ "settings": settings }));
        assert_eq!(e["field"].as_str(), Some("pgBinDir"), "{e}");
        let after = tauri::async_runtime::block_on(lifeboat.settings()).unwrap();
        assert_eq!(after, before);
    }

    #[test]
    fn only_the_folder_of_a_recorded_download_can_be_shown() {
        let home = tempfile::tempdir().unwrap();
        let (_app, window) = window(home.path());
        let e = refusal(&window, "show_in_folder", json!({ "path": "/etc" }));
        assert_eq!(e["field"].as_str(), Some("path"), "{e}");
    }
}
