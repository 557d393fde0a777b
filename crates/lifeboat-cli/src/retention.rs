//! `lifeboat prune` and `lifeboat catalog sync`: what is in storage, made to match policy and
//! catalog.

use lifeboat_core::{human_bytes, Lifeboat, PruneReport, Result, SyncReport};

use crate::output::{table, Output};

pub async fn prune(lb: &Lifeboat, app: &str, env: &str, dry_run: bool, out: &Output) -> Result<()> {
    let environment = lb.environment_named(app, env).await?;
    let report = lb.prune(&environment.id, dry_run).await?;
    out.show(&report, prune_text);
    Ok(())
}

fn prune_text(report: &PruneReport) -> String {
    let deleted: Vec<_> = report.deleted().collect();
    let freed: u64 = deleted.iter().map(|d| d.stored_bytes).sum();
    let verb = if report.dry_run {
        "Would delete"
    } else {
        "Deleted"
    };
    let rows = deleted
        .iter()
        .map(|d| {
            vec![
                d.backup_id.clone(),
                d.kind.as_str().to_owned(),
                d.created_at.clone(),
                human_bytes(d.stored_bytes),
            ]
        })
        .collect();
    let mut text = format!(
        "{verb} {} backup(s), {}; keeping {}.",
        deleted.len(),
        human_bytes(freed),
        report.decisions.len() - deleted.len()
    );
    if !deleted.is_empty() {
        text.push('\n');
        text.push_str(&table(&["BACKUP", "KIND", "CREATED", "SIZE"], rows));
    }
    if report.finished_earlier > 0 {
        text.push_str(&format!(
            "\nFinished deleting {} backup(s) an earlier prune had begun.",
            report.finished_earlier
        ));
    }
    text
}

pub async fn sync(lb: &Lifeboat, target: &str, out: &Output) -> Result<()> {
    let target = lb.target_named(target).await?;
    let report = lb.sync_catalog(&target.id).await?;
    out.show(&report, sync_text);
    Ok(())
}

fn sync_text(report: &SyncReport) -> String {
    let mut lines = vec![format!(
        "Imported {} backup(s); {} already in the catalog.",
        report.imported.len(),
        report.already_known
    )];
    for env in &report.environments_created {
        lines.push(format!(
            "Created environment {env} (set its connection before restoring into it)."
        ));
    }
    for dir in &report.incomplete {
        lines.push(format!(
            "Skipped {dir}: no manifest (an unfinished backup)."
        ));
    }
    for problem in &report.unreadable {
        lines.push(format!(
            "Skipped {}: {}.",
            problem.directory, problem.reason
        ));
    }
    lines.join("\n")
}
