//! `lifeboat restore`: the same safe restore as the app (safety backup, verify before touching,
//! atomic database and media), with `--yes` standing in for the typed confirmation.

use lifeboat_core::{
    DatabaseRestorePlan, Error, ErrorCode, JobOutcome, JobStatus, Lifeboat, RestoreRequest,
    RestoreSummary, Result,
};

use crate::output::Output;
use crate::progress;

#[derive(clap::Args)]
pub struct RestoreArgs {
    /// The backup to restore (an id from `lifeboat backups`).
    backup_id: String,
    /// The destination; the backup's own environment when absent.
    #[arg(long, value_name = "APP/ENV")]
    to: Option<String>,
    /// Restore the database only (with --media: both).
    #[arg(long)]
    db: bool,
    /// Restore the media only (with --db: both).
    #[arg(long)]
    media: bool,
    /// Skip the safety backup of the destination (what it holds now is then lost).
    #[arg(long)]
    no_safety_backup: bool,
    /// Confirm that the destination's current content will be overwritten (on a terminal
    /// without it, you are asked to type the destination environment's name).
    #[arg(long)]
    yes: bool,
    /// Only show what restoring the database would drop and recreate, keep as it is, and need
    /// the database's administrator for; change nothing.
    #[arg(long, conflicts_with_all = ["yes", "media", "no_safety_backup"])]
    plan: bool,
}

pub async fn restore(lb: &Lifeboat, args: RestoreArgs, out: &Output) -> Result<()> {
    let record = lb.backup_record(&args.backup_id).await?;
    let destination = match &args.to {
        Some(to) => {
            let (app, env) = to.split_once('/').ok_or_else(|| {
                Error::validation("to", "Give the destination as APPLICATION/ENVIRONMENT.")
            })?;
            lb.environment_named(app, env).await?
        }
        None => lb.environment(&record.manifest.environment.id).await?,
    };
    if args.plan {
        let plan = lb
            .restore_database_plan(&record.id, &destination.id)
            .await?;
        out.show(&plan, describe_plan);
        return Ok(());
    }
    let preview = lb.restore_preview(&record.id, &destination.id).await?;
    // Neither flag = whatever the backup holds.
    let (db, media) = if args.db || args.media {
        (args.db, args.media)
    } else {
        (
            record.manifest.database.is_some(),
            record.manifest.media.is_some(),
        )
    };
    // What cannot work is said before anyone is asked to confirm.
    if db && preview.database.is_none() {
        return Err(Error::validation(
            "db",
            format!(
                "{} / {} has no database connection; set one with `lifeboat env set --database`, or restore only the media with --media.",
                preview.application_name, preview.environment_name
            ),
        ));
    }
    if media && preview.media_dir.is_none() {
        return Err(Error::validation(
            "media",
            format!(
                "{} / {} has no media directory; set one with `lifeboat env set --media DIR` (or s3://BUCKET/PREFIX), or restore only the database with --db.",
                preview.application_name, preview.environment_name
            ),
        ));
    }
    crate::confirm::typed(
        args.yes,
        &format!(
            "Restoring overwrites the current content of {} / {}",
            preview.application_name, preview.environment_name
        ),
        &preview.environment_name,
    )?;
    let request = RestoreRequest {
        backup_id: record.id.clone(),
        environment_id: destination.id.clone(),
        database: db,
        media,
        safety_backup: !args.no_safety_backup,
        confirmation: Some(destination.name.clone()),
    };
    let job = lb.start_restore(&request).await?;
    let job = progress::follow(lb, &job, out.json).await;
    let summary = match (job.status, job.outcome, job.error) {
        (JobStatus::Succeeded, Some(JobOutcome::Restore(summary)), _) => summary,
        (_, _, Some(e)) => return Err(e),
        (status, _, None) => {
            return Err(Error::new(
                ErrorCode::Internal,
                format!("The restore ended as {status:?}."),
            ))
        }
    };
    if !summary.checks_passed() && out.json {
        return Err(failed_checks(&summary));
    }
    out.show(&summary, describe);
    if summary.checks_passed() {
        Ok(())
    } else {
        Err(failed_checks(&summary))
    }
}

fn failed_checks(summary: &RestoreSummary) -> Error {
    let failed: Vec<String> = summary
        .checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    Error::new(
        ErrorCode::RestoreChecksFailed,
        format!(
            "The restore finished but the restored destination failed checks: {}",
            failed.join("; ")
        ),
    )
}

fn describe_plan(plan: &DatabaseRestorePlan) -> String {
    let mut lines = vec![format!(
        "Restoring into the database {} as {}:",
        plan.database, plan.role
    )];
    let recreated: Vec<String> = plan
        .recreated
        .iter()
        .map(|c| format!("{} {}", c.count, c.kind))
        .collect();
    if !recreated.is_empty() {
        lines.push(format!(
            "  dropped and created again: {}",
            recreated.join(", ")
        ));
    }
    for o in &plan.kept {
        lines.push(format!(
            "  kept as it is: {} {} ({})",
            o.kind, o.name, o.reason
        ));
    }
    for o in &plan.needs_admin {
        lines.push(format!(
            "  NEEDS AN ADMINISTRATOR: {} {} ({}){}",
            o.kind,
            o.name,
            o.reason,
            o.remedy().map(|r| format!(" — {r}")).unwrap_or_default()
        ));
    }
    if plan.needs_admin.is_empty() {
        lines.push("Nothing stops this restore.".into());
    } else {
        lines
            .push("The restore will refuse to start, changing nothing, until that is done.".into());
    }
    lines.join("\n")
}

fn describe(summary: &RestoreSummary) -> String {
    let mut lines = vec![format!(
        "Restored {} in {:.1} s.",
        summary.backup_id,
        summary.duration_ms as f64 / 1000.0
    )];
    if let Some(db) = &summary.database {
        lines.push(format!("database {}: {} tables", db.database, db.tables));
        for m in &db.latest_migrations {
            lines.push(format!("  latest migration {}: {}", m.app, m.name));
        }
    }
    if let Some(media) = &summary.media {
        lines.push(format!("media {}: {} files", media.directory, media.files));
        if let Some(kept) = &media.kept_copy {
            lines.push(format!("  the replaced media was kept at {kept}"));
        }
    }
    for c in &summary.checks {
        lines.push(format!(
            "{} {}: {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.name,
            c.detail
        ));
    }
    if let Some(safety) = &summary.safety_backup_id {
        lines.push(format!(
            "Safety backup {safety} holds what was overwritten; restore it to undo."
        ));
    }
    lines.join("\n")
}
