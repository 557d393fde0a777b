// No console window next to the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

mod commands;

use lifeboat_core::{Home, Lifeboat};

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
    tauri::Builder::default()
        .plugin(tauri_plugin_dialog::init())
        .manage(lifeboat)
        .invoke_handler(commands::handler())
        .run(tauri::generate_context!("../tauri.conf.json"))
        .expect("error while running Lifeboat");
}
