// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;
mod notifications;
mod tray;

use lifeboat_core::{Home, Lifeboat};
use tauri::Emitter;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIFEBOAT_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    let lifeboat = match Home::from_env()
        .and_then(|home| tauri::async_runtime::block_on(Lifeboat::open(home)))
    {
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
