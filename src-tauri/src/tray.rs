//! The system tray: Lifeboat keeps running (and its schedules keep firing) when the window is
//! closed, and comes back from the tray icon's menu.

use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{AppHandle, Emitter, Manager, WindowEvent};

const OPEN: &str = "open";
const BACK_UP: &str = "back-up";
const QUIT: &str = "quit";

/// Adds the tray icon and makes closing the window hide it, when the desktop can show a tray;
/// otherwise closing minimises, so the window is never lost with nothing to bring it back.
pub fn install(app: &AppHandle) -> tauri::Result<()> {
    let menu = Menu::with_items(
        app,
        &[
            &MenuItem::with_id(app, OPEN, "Open Lifeboat", true, None::<&str>)?,
            &MenuItem::with_id(app, BACK_UP, "Back up now…", true, None::<&str>)?,
            &PredefinedMenuItem::separator(app)?,
            &MenuItem::with_id(app, QUIT, "Quit Lifeboat", true, None::<&str>)?,
        ],
    )?;
    let mut tray = TrayIconBuilder::with_id("main")
        .tooltip("Lifeboat")
        .menu(&menu)
        .on_menu_event(|app, event| match event.id().as_ref() {
            OPEN => show(app),
            BACK_UP => {
                show(app);
                // The window opens the backup dialog of the environment on screen.
                if let Err(e) = app.emit("tray-back-up", ()) {
                    tracing::warn!("could not ask the window for a backup: {e}");
                }
            }
            QUIT => app.exit(0),
            _ => {}
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;

    let hide_to_tray = tray_host_running();
    if let Some(window) = app.get_webview_window("main") {
        let handle = window.clone();
        window.on_window_event(move |event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                api.prevent_close();
                let hidden = if hide_to_tray {
                    handle.hide()
                } else {
                    handle.minimize()
                };
                if let Err(e) = hidden {
                    tracing::warn!("could not put the window away: {e}");
                }
            }
        });
    }
    Ok(())
}

/// Brings the main window back (from the tray, minimised or behind others).
pub fn show(app: &AppHandle) {
    if let Some(window) = app.get_webview_window("main") {
        let shown = window
            .unminimize()
            .and_then(|()| window.show())
            .and_then(|()| window.set_focus());
        if let Err(e) = shown {
            tracing::warn!("could not show the window: {e}");
        }
    }
}

/// Whether a StatusNotifier host (what shows tray icons on Linux desktops) is on the session
/// bus. GNOME without an extension has none: a hidden window could not be brought back there.
#[cfg(target_os = "linux")]
fn tray_host_running() -> bool {
    let Ok(bus) = dbus::blocking::Connection::new_session() else {
        return false;
    };
    let proxy = bus.with_proxy(
        "org.freedesktop.DBus",
        "/org/freedesktop/DBus",
        std::time::Duration::from_secs(2),
    );
    let owned: Result<(bool,), dbus::Error> = proxy.method_call(
        "org.freedesktop.DBus",
        "NameHasOwner",
        ("org.kde.StatusNotifierWatcher",),
    );
    owned.is_ok_and(|(owned,)| owned)
}

#[cfg(not(target_os = "linux"))]
fn tray_host_running() -> bool {
    true
}
