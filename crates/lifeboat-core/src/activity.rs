//! An environment's activity: every job that touched it (backups, restores into it with
//! their source, downloads, drills) and the prunes that deleted its backups, newest first.

use crate::context::Context;
use crate::error::Result;
use crate::jobs::JobRequest;
use crate::model::activity::ActivityItem;

impl Context {
    pub async fn activity(&self, environment_id: &str) -> Result<Vec<ActivityItem>> {
        let mut items = Vec::new();
        for job in self.catalog().jobs_of(environment_id).await? {
            let restored_from = match &job.request {
                JobRequest::Restore(r) => self.catalog().backup(&r.backup_id).await.ok().map(|b| {
                    format!(
                        "{} / {}",
                        b.manifest.application.name, b.manifest.environment.name
                    )
                }),
                _ => None,
            };
            items.push(ActivityItem {
                at: job.created_at.clone(),
                job: Some(job),
                prune: None,
                restored_from,
            });
        }
        for prune in self.catalog().prunes_of(environment_id).await? {
            items.push(ActivityItem {
                at: prune.at.clone(),
                job: None,
                prune: Some(prune),
                restored_from: None,
            });
        }
        // RFC 3339 UTC timestamps of one format sort as text.
        items.sort_by(|a, b| b.at.cmp(&a.at));
        Ok(items)
    }
}
