use super::Catalog;
use crate::error::{Error, ErrorCode, Result};
use crate::model::job::{Job, JobOutcome, JobRequest, JobStatus};

const COLUMNS: &str =
    "id, environment_id, request, status, phase, bytes_done, bytes_total, bytes_per_second, \
                       error_code, error_message, backup_id, cancellable, outcome, created_at, finished_at, hooks";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    environment_id: String,
    request: String,
    status: String,
    phase: String,
    bytes_done: i64,
    bytes_total: i64,
    bytes_per_second: i64,
    error_code: Option<String>,
    error_message: Option<String>,
    backup_id: Option<String>,
    cancellable: bool,
    outcome: Option<String>,
    created_at: String,
    finished_at: Option<String>,
    hooks: Option<String>,
}

fn from_text<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned()))
        .map_err(|e| Error::new(ErrorCode::Catalog, format!("Unreadable job record: {e}")))
}

pub(super) fn to_text<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl TryFrom<Row> for Job {
    type Error = Error;

    fn try_from(r: Row) -> Result<Job> {
        let request: JobRequest = serde_json::from_str(&r.request)
            .map_err(|e| Error::new(ErrorCode::Catalog, format!("Unreadable job request: {e}")))?;
        let error = match r.error_code {
            Some(code) => Some(Error::new(
                from_text(&code).unwrap_or(ErrorCode::Internal),
                r.error_message.unwrap_or_default(),
            )),
            None => None,
        };
        Ok(Job {
            id: r.id,
            environment_id: r.environment_id,
            request,
            status: from_text(&r.status)?,
            phase: r.phase,
            bytes_done: r.bytes_done.max(0) as u64,
            bytes_total: r.bytes_total.max(0) as u64,
            bytes_per_second: r.bytes_per_second.max(0) as u64,
            error,
            backup_id: r.backup_id,
            cancellable: r.cancellable,
            outcome: r.outcome.and_then(|o| serde_json::from_str(&o).ok()),
            created_at: r.created_at,
            finished_at: r.finished_at,
            hooks: r
                .hooks
                .and_then(|json| serde_json::from_str(&json).ok())
                .unwrap_or_default(),
        })
    }
}

impl Catalog {
    /// Adds a hook's run to its job's record.
    pub async fn record_hook_run(
        &self,
        job_id: &str,
        run: &crate::model::hooks::HookRun,
    ) -> Result<()> {
        let json = serde_json::to_string(run)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        sqlx::query(
            "UPDATE jobs SET hooks = json_insert(COALESCE(hooks, '[]'), '$[#]', json(?)) WHERE id = ?",
        )
        .bind(json)
        .bind(job_id)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    pub async fn insert_job(
        &self,
        id: &str,
        environment_id: &str,
        request: &JobRequest,
    ) -> Result<Job> {
        let kind = request.kind();
        let request = serde_json::to_string(request)
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        let sql = format!(
            "INSERT INTO jobs (id, kind, environment_id, status, request) VALUES (?, ?, ?, ?, ?) RETURNING {COLUMNS}"
        );
        let row: Row = sqlx::query_as(&sql)
            .bind(id)
            .bind(kind)
            .bind(environment_id)
            .bind(to_text(&JobStatus::Running))
            .bind(request)
            .fetch_one(self.pool())
            .await?;
        row.try_into()
    }

    pub async fn job(&self, id: &str) -> Result<Job> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = ?");
        let row: Option<Row> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(self.pool())
            .await?;
        row.ok_or_else(|| Error::not_found("The job"))?.try_into()
    }

    pub async fn jobs_of_kind(&self, kind: &str) -> Result<Vec<Job>> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE kind = ? ORDER BY created_at DESC");
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(kind)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn jobs_of(&self, environment_id: &str) -> Result<Vec<Job>> {
        let sql =
            format!("SELECT {COLUMNS} FROM jobs WHERE environment_id = ? ORDER BY created_at DESC");
        let rows: Vec<Row> = sqlx::query_as(&sql)
            .bind(environment_id)
            .fetch_all(self.pool())
            .await?;
        rows.into_iter().map(TryInto::try_into).collect()
    }

    /// The environment's newest backup job, whatever became of it.
    pub async fn latest_backup_job(&self, environment_id: &str) -> Result<Option<Job>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs WHERE environment_id = ? AND kind = 'backup'
             ORDER BY created_at DESC LIMIT 1"
        );
        let row: Option<Row> = sqlx::query_as(&sql)
            .bind(environment_id)
            .fetch_optional(self.pool())
            .await?;
        row.map(TryInto::try_into).transpose()
    }

    /// Where the job writes, so its objects can be found again if it never finishes.
    pub async fn set_job_location(
        &self,
        id: &str,
        backup_id: &str,
        target_id: &str,
        dir: &str,
    ) -> Result<()> {
        sqlx::query("UPDATE jobs SET backup_id = ?, target_id = ?, cleanup_dir = ? WHERE id = ?")
            .bind(backup_id)
            .bind(target_id)
            .bind(dir)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn update_job_progress(&self, job: &Job) -> Result<()> {
        sqlx::query("UPDATE jobs SET phase = ?, bytes_done = ?, bytes_total = ?, bytes_per_second = ?, cancellable = ? WHERE id = ?")
            .bind(&job.phase)
            .bind(job.bytes_done as i64)
            .bind(job.bytes_total as i64)
            .bind(job.bytes_per_second as i64)
            .bind(job.cancellable)
            .bind(&job.id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn finish_job(
        &self,
        id: &str,
        status: JobStatus,
        error: Option<&Error>,
        outcome: Option<&JobOutcome>,
    ) -> Result<Job> {
        let sql = format!(
            "UPDATE jobs SET status = ?, error_code = ?, error_message = ?, bytes_per_second = 0,
                 outcome = ?, cancellable = 0, finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = ? RETURNING {COLUMNS}"
        );
        let outcome = outcome
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| Error::new(ErrorCode::Internal, e.to_string()))?;
        let row: Row = sqlx::query_as(&sql)
            .bind(to_text(&status))
            .bind(error.map(|e| to_text(&e.code)))
            .bind(error.map(|e| e.message.as_str()))
            .bind(outcome)
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        row.try_into()
    }

    pub async fn running_job_ids(&self) -> Result<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT id FROM jobs WHERE status IN (?, ?)")
                .bind(to_text(&JobStatus::Queued))
                .bind(to_text(&JobStatus::Running))
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Marks a job that no process runs any more (its process died) as interrupted.
    pub async fn interrupt_job(&self, id: &str) -> Result<()> {
        sqlx::query(
            "UPDATE jobs SET status = ?, error_code = ?, bytes_per_second = 0,
                 error_message = CASE WHEN cancellable
                     THEN 'Lifeboat stopped while this job was running; nothing it wrote was kept.'
                     WHEN phase = 'writing-bucket'
                     THEN 'Lifeboat stopped while this restore was writing into the media bucket: the prefix holds restored objects beside old ones. Restore again to complete it.'
                     ELSE 'Lifeboat stopped after this restore passed its point of no return; the database restore may still have completed, so check the destination.'
                 END,
                 finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')
             WHERE id = ? AND status IN (?, ?)",
        )
        .bind(to_text(&JobStatus::Failed))
        .bind(to_text(&ErrorCode::Interrupted))
        .bind(id)
        .bind(to_text(&JobStatus::Queued))
        .bind(to_text(&JobStatus::Running))
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Finished jobs that still owe a cleanup: (job id, target id, storage directory).
    pub async fn pending_cleanups(&self) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, target_id, cleanup_dir FROM jobs
             WHERE cleanup_dir IS NOT NULL AND target_id IS NOT NULL AND status NOT IN (?, ?)",
        )
        .bind(to_text(&JobStatus::Queued))
        .bind(to_text(&JobStatus::Running))
        .fetch_all(self.pool())
        .await?)
    }

    /// Records the local directory a job is replacing (see `local_dir` in the migration).
    pub async fn set_job_local_dir(&self, id: &str, dir: Option<&str>) -> Result<()> {
        sqlx::query("UPDATE jobs SET local_dir = ? WHERE id = ?")
            .bind(dir)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Finished jobs whose local files still have to be put right: (job id, kind, local_dir).
    pub async fn pending_local_repairs(&self) -> Result<Vec<(String, String, String)>> {
        Ok(sqlx::query_as(
            "SELECT id, kind, local_dir FROM jobs WHERE local_dir IS NOT NULL AND status NOT IN (?, ?)",
        )
        .bind(to_text(&JobStatus::Queued))
        .bind(to_text(&JobStatus::Running))
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn clear_cleanup(&self, job_id: &str) -> Result<()> {
        sqlx::query("UPDATE jobs SET cleanup_dir = NULL WHERE id = ?")
            .bind(job_id)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}
