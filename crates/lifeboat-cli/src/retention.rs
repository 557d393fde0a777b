//! `lifeboat prune` and `lifeboat catalog sync` (with its quarantine): what is in storage, made to match policy and
//! catalog.

use lifeboat_core::{human_bytes, Lifeboat, PruneReport, QuarantinedBackup, Result, SyncReport};

use crate::output::{table, Output};

pub async fn prune(lb: &Lifeboat, app: &str, env: &str, dry_run: bool, out: &Output) -> Result<()> {
    let environment = lb.environment_named(app, env).await?;
    let report = lb.prune(&environment.id, dry_run).await?;
    out.show(&report, prune_text);
    match report.failures.first() {
        // Exit 1 so cron notices, after the report has said what was deleted.
        Some(failure) => Err(lifeboat_core::Error::new(
            lifeboat_core::ErrorCode::StorageError,
            format!(
                "{} backup(s) could not be deleted; the first: {}",
                report.failures.len(),
                failure.reason
            ),
        )),
        None => Ok(()),
    }
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
    for failure in &report.failures {
        text.push_str(&format!(
            "\nCould not delete {}: {} It stays, and the next prune tries again.",
            failure.backup_id, failure.reason
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
    for found in &report.quarantined {
        lines.push(format!(
            "Not trusted {}: {}. Quarantined as {} (see `lifeboat catalog quarantined`).",
            found.storage_dir, found.reason, found.id
        ));
    }
    lines.join("\n")
}

pub async fn quarantined(lb: &Lifeboat, out: &Output) -> Result<()> {
    let found = lb.quarantined_backups().await?;
    let mut names = std::collections::HashMap::new();
    for target in lb.list_targets().await? {
        names.insert(target.id.clone(), target.name);
    }
    out.show(&found, |found| {
        if found.is_empty() {
            return "No quarantined backups.".to_owned();
        }
        found
            .iter()
            .map(|q| describe(q, names.get(&q.target_id).map_or("?", String::as_str)))
            .collect::<Vec<_>>()
            .join("\n\n")
    });
    Ok(())
}

/// Where a quarantined backup was found and what it claims, for deciding whether to trust it.
fn describe(q: &QuarantinedBackup, target: &str) -> String {
    let m = &q.manifest;
    format!(
        "{id}\n  found in   {target}: {dir} ({found})\n  claims     {app}/{env}, {kind} backup {backup} made {created}\n  key        {recipient}\n  not trusted because {reason}",
        id = q.id,
        dir = q.storage_dir,
        found = q.found_at,
        app = m.application.name,
        env = m.environment.name,
        kind = m.kind.as_str(),
        backup = m.backup_id,
        created = m.created_at,
        recipient = m.encryption.recipient,
        reason = q.reason,
    )
}

pub async fn trust(lb: &Lifeboat, id: &str, yes: bool, out: &Output) -> Result<()> {
    let found = lb
        .quarantined_backups()
        .await?
        .into_iter()
        .find(|q| q.id == id)
        .ok_or_else(|| {
            lifeboat_core::Error::new(
                lifeboat_core::ErrorCode::NotFound,
                format!(
                    "There is no quarantined backup {id} (see `lifeboat catalog quarantined`)."
                ),
            )
        })?;
    let target = lb
        .list_targets()
        .await?
        .into_iter()
        .find(|t| t.id == found.target_id)
        .map_or_else(|| "?".to_owned(), |t| t.name);
    if !out.json {
        eprintln!("{}", describe(&found, &target));
    }
    crate::confirm::typed(
        yes,
        "Trusting lets this backup be restored and its SQL run; trust only a backup you know you made",
        &found.manifest.backup_id,
    )?;
    let report = lb.trust_backup(id).await?;
    out.show(&report, sync_text);
    Ok(())
}
