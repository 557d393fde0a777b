//! Native desktop notifications for finished jobs (what they say comes from lifeboat-core).
//! A machine without a notification service only loses the notification: the failure is
//! logged and the result stays visible in the app.

use lifeboat_core::{Job, Lifeboat};

pub fn notify_if_due(lifeboat: &Lifeboat, job: &Job) {
    if !job.is_finished() {
        return;
    }
    let (lifeboat, job) = (lifeboat.clone(), job.clone());
    tauri::async_runtime::spawn(async move {
        let Some(notice) = lifeboat.notice_for(&job).await else {
            return;
        };
        let shown = tauri::async_runtime::spawn_blocking(move || {
            notify_rust::Notification::new()
                .appname("Lifeboat")
                .summary(&notice.title)
                .body(&notice.body)
                .show()
                .map(drop)
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|shown| shown.map_err(|e| e.to_string()));
        if let Err(e) = shown {
            tracing::warn!(job_id = job.id, "no desktop notification: {e}");
        }
    });
}
