//! What a finished job tells the user through a native desktop notification. The shell shows
//! them; deciding which jobs deserve one, and what it says, is domain logic and lives here.

use chrono::{DateTime, Local};

use crate::context::Context;
use crate::jobs::{Job, JobOutcome, JobRequest, JobStatus};
use lifeboat_format::manifest::BackupKind;
use lifeboat_format::manifest::BackupManifest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub title: String,
    pub body: String,
}

impl Context {
    pub async fn notice_for(&self, job: &Job) -> Option<Notice> {
        match (&job.request, job.status) {
            (JobRequest::Download(request), JobStatus::Succeeded | JobStatus::Failed) => {
                let record = self.catalog().backup(&request.backup_id).await.ok()?;
                Some(download_notice(job, &record.manifest))
            }
            (JobRequest::Backup(request), JobStatus::Failed)
                if request.kind == BackupKind::Scheduled =>
            {
                self.failure_notice("Scheduled backup", job).await
            }
            (JobRequest::Drill(_), JobStatus::Failed) => {
                self.failure_notice("Restore drill", job).await
            }
            _ => None,
        }
    }

    /// "<what> of <application> / <environment> failed", with the reason.
    async fn failure_notice(&self, what: &str, job: &Job) -> Option<Notice> {
        let env = self.catalog().environment(&job.environment_id).await.ok()?;
        let app = self.catalog().application(&env.application_id).await.ok()?;
        Some(Notice {
            title: format!("{what} of {} / {} failed", app.name, env.name),
            body: error_text(job),
        })
    }
}

fn download_notice(job: &Job, manifest: &BackupManifest) -> Notice {
    let which = format!(
        "{} / {} backup of {}",
        manifest.application.name,
        manifest.environment.name,
        local_time(&manifest.created_at)
    );
    match &job.outcome {
        Some(JobOutcome::Download(summary)) if job.status == JobStatus::Succeeded => Notice {
            title: format!("Download ready: {which}"),
            body: format!("Written to {}", summary.directory),
        },
        _ => Notice {
            title: format!("Download failed: {which}"),
            body: error_text(job),
        },
    }
}

fn error_text(job: &Job) -> String {
    job.error.as_ref().map_or_else(
        || "No reason was recorded.".to_owned(),
        |e| e.message.clone(),
    )
}

fn local_time(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339).map_or_else(
        |_| rfc3339.to_owned(),
        |t| t.with_timezone(&Local).format("%Y-%m-%d %H:%M").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::download::{DownloadRequest, DownloadSummary};
    use crate::error::{Error, ErrorCode};

    fn manifest() -> BackupManifest {
        serde_json::from_value(serde_json::json!({
            "format": 1, "backupId": "b1",
            "application": {"id": "a", "name": "shop"},
            "environment": {"id": "e", "name": "production"},
            "kind": "on-demand", "createdAt": "2026-11-21T10:00:00Z",
            "finishedAt": "2026-11-21T10:01:00Z", "note": null, "database": null, "media": null,
            "compression": {"algorithm": "zstd", "level": 3},
            "encryption": {"scheme": "age-x25519", "recipient": "age1x"}
        }))
        .expect("a minimal manifest")
    }

    fn download_job(status: JobStatus) -> Job {
        Job {
            id: "j".into(),
            environment_id: "e".into(),
            request: JobRequest::Download(DownloadRequest {
                backup_id: "b1".into(),
                directory: "/home/me/Downloads".into(),
                database: true,
                media: false,
            }),
            status,
            phase: String::new(),
            bytes_done: 0,
            bytes_total: 0,
            bytes_per_second: 0,
            error: None,
            backup_id: None,
            cancellable: false,
            outcome: None,
            created_at: String::new(),
            finished_at: None,
            hooks: Vec::new(),
        }
    }

    #[test]
    fn a_ready_download_says_which_backup_and_where() {
        let mut job = download_job(JobStatus::Succeeded);
        job.outcome = Some(JobOutcome::Download(DownloadSummary {
            backup_id: "b1".into(),
            directory: "/home/me/Downloads".into(),
            files: vec![],
        }));
        let notice = download_notice(&job, &manifest());
        assert!(notice
            .title
            .starts_with("Download ready: shop / production backup of 2026-11-"));
        assert_eq!(notice.body, "Written to /home/me/Downloads");
    }

    #[test]
    fn a_failed_download_says_why() {
        let mut job = download_job(JobStatus::Failed);
        job.error = Some(Error::new(ErrorCode::DiskFull, "Not enough space."));
        let notice = download_notice(&job, &manifest());
        assert!(notice
            .title
            .starts_with("Download failed: shop / production"));
        assert_eq!(notice.body, "Not enough space.");
    }
}
