// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod dialogs;
mod instance;
mod notifications;
mod tray;

use lifeboat_core::{Home, Lifeboat};
use tauri::Emitter;

fn main() {
    lifeboat_core::forget_inherited_pg_settings();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIFEBOAT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let home = match Home::from_env().and_then(|home| home.ensure().map(|()| home)) {
        Ok(home) => home,
        Err(e) => {
            tracing::error!(code = ?e.code, "Lifeboat cannot start: {}", e.message);
            std::process::exit(1);
        }
    };
    let owner = match instance::claim(home.root()) {
        Ok(instance::Launch::First(owner)) => owner,
        Ok(instance::Launch::AlreadyRunning) => {
            tracing::info!(
                "Lifeboat already runs for {}: its window was brought to the front.",
                home.root().display()
            );
            return;
        }
        Err(e) => {
            tracing::error!(
                "Lifeboat cannot start: {} cannot be locked: {e}",
                home.root().display()
            );
            std::process::exit(1);
        }
    };
    let lifeboat = match tauri::async_runtime::block_on(Lifeboat::open(home)) {
        Ok(lifeboat) => lifeboat,
        Err(e) => {
            tracing::error!(code = ?e.code, "Lifeboat cannot start: {}", e.message);
            std::process::exit(1);
        }
    };
    let events = lifeboat.clone();
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_autostart::init(
            tauri_plugin_autostart::MacosLauncher::LaunchAgent,
            None,
        ))
        .setup(move |app| {
            let handle = app.handle().clone();
            owner.serve(move || tray::show(&handle));
            forward_job_events(app.handle().clone(), &events);
            if let Err(e) = tray::install(app.handle()) {
                tracing::warn!("no tray icon: {e}");
            }
            tauri::async_runtime::spawn(events.scheduler().run());
            let cleaner = events.clone();
            tauri::async_runtime::spawn(async move {
                if let Err(e) = cleaner.clean_up_leftovers().await {
                    tracing::warn!("cleaning up after unfinished jobs failed: {}", e.message);
                }
            });
            Ok(())
        })
        .manage(lifeboat)
        .manage(dialogs::Picked::default())
        .invoke_handler(commands::handler())
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while running Lifeboat");
}

/// Job progress reaches the window as `job` events carrying the whole job record.
/// Finished jobs may also raise a native notification.
fn forward_job_events(app: tauri::AppHandle, lifeboat: &Lifeboat) {
    let mut events = lifeboat.subscribe();
    let lifeboat = lifeboat.clone();
    tauri::async_runtime::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(job) => {
                    notifications::notify_if_due(&lifeboat, &job);
                    if let Err(e) = app.emit("job", &job) {
                        tracing::warn!("could not send a job event to the window: {e}");
                    }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            }
        }
    });
}
