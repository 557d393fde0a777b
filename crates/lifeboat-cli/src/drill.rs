//! `lifeboat drill`: restore a backup into a temporary database (and its media into a
//! temporary directory), check it, time it, remove it.

use lifeboat_core::{
    parse_database_url, DrillReport, DrillRequest, Error, ErrorCode, Lifeboat, Result,
};

use crate::output::{checks_text, Output};
use crate::progress;

#[derive(clap::Args)]
pub struct DrillArgs {
    /// The application's name.
    app: String,
    /// The environment's name.
    env: String,
    /// The backup to drill; the environment's newest when absent.
    backup_id: Option<String>,
    /// Name of an environment variable holding the URL of a server to drill on (one where
    /// the role may create databases), instead of the place the environment chose (by default
    /// a scratch server Lifeboat runs on this machine for the drill).
    #[arg(long, value_name = "VAR")]
    drill_url_env: Option<String>,
}

pub async fn drill(lb: &Lifeboat, args: DrillArgs, out: &Output) -> Result<()> {
    let environment = lb.environment_named(&args.app, &args.env).await?;
    let server = match &args.drill_url_env {
        Some(var) => {
            let url = std::env::var(var)
                .map_err(|_| Error::validation("drillUrlEnv", format!("${var} is not set.")))?;
            Some(parse_database_url(&url)?)
        }
        None => None,
    };
    let request = DrillRequest {
        environment_id: environment.id,
        backup_id: args.backup_id,
    };
    let job = lb.start_drill_on(&request, server).await?;
    let job = progress::follow(lb, &job, out.json).await;
    // A drill that ran is in the history, passed or not; one that could not run has its error.
    let report = lb
        .drills(&request.environment_id)
        .await?
        .into_iter()
        .find(|r| r.id == job.id);
    let report = match (report, job.error) {
        (Some(report), _) => report,
        (None, Some(e)) => return Err(e),
        (None, None) => {
            return Err(Error::new(
                ErrorCode::Internal,
                format!("The drill ended as {:?} without a report.", job.status),
            ))
        }
    };
    // With --json a failure prints only the error object, so stdout stays one document.
    if report.ok || !out.json {
        out.show(&report, text);
    }
    report.failure().map_or(Ok(()), Err)
}

fn text(report: &DrillReport) -> String {
    let mut lines = checks_text(&report.checks);
    lines.push(format!(
        "Backup {}: database restored in {:.1} s, media in {:.1} s.",
        report.backup_id,
        report.database_restore_ms as f64 / 1000.0,
        report.media_restore_ms as f64 / 1000.0
    ));
    lines.join("\n")
}
