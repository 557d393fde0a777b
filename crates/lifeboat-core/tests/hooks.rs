//! Hooks around backups and restores, run for real by `sh` on this machine, against the real
//! PostgreSQL server, S3-compatible server and keyring.

mod common;

use common::fixture::{both, fixture, s3, Fixture};
use lifeboat_core::{ErrorCode, HookPhase, Hooks, JobStatus, RestoreRequest};

/// Hooks that leave a line in `log` naming themselves, the job's environment and its outcome.
fn logging(log: &std::path::Path) -> Hooks {
    let line = |phase: &str| {
        Some(format!(
            "echo \"{phase} $LIFEBOAT_APPLICATION/$LIFEBOAT_ENVIRONMENT $LIFEBOAT_OUTCOME\" >> {}",
            log.display()
        ))
    };
    Hooks {
        before_backup: line("before-backup"),
        after_backup: line("after-backup"),
        before_restore: line("before-restore"),
        after_restore: line("after-restore"),
        ..Hooks::default()
    }
}

fn lines(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn job_of(f: &Fixture, backup_kind: &str) -> lifeboat_core::Job {
    f.lb.jobs_of(&f.env_id)
        .await
        .unwrap()
        .into_iter()
        .find(|j| j.request.kind() == backup_kind)
        .expect("the job is recorded")
}

#[tokio::test]
async fn hooks_run_around_a_backup_and_a_restore_with_their_output_in_the_record() {
    let f = fixture(s3()).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hooks.log");
    let mut hooks = logging(&log);
    hooks.before_backup = Some(format!(
        "echo maintenance on; echo \"before-backup $LIFEBOAT_APPLICATION/$LIFEBOAT_ENVIRONMENT\" >> {}",
        log.display()
    ));
    f.lb.set_hooks(&f.env_id, &hooks).await.unwrap();

    let backup = f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    assert_eq!(
        lines(&log),
        vec![
            "before-backup shop/production",
            "after-backup shop/production succeeded"
        ]
    );
    let job = job_of(&f, "backup").await;
    let phases: Vec<HookPhase> = job.hooks.iter().map(|r| r.phase).collect();
    assert_eq!(
        phases,
        vec![HookPhase::BeforeBackup, HookPhase::AfterBackup]
    );
    assert!(job.hooks.iter().all(|r| r.exit_code == Some(0)));
    assert_eq!(job.hooks[0].output, "maintenance on\n");

    std::fs::remove_file(&log).unwrap();
    f.lb.restore(&RestoreRequest {
        backup_id: backup.backup_id.clone(),
        environment_id: f.env_id.clone(),
        database: true,
        media: true,
        safety_backup: true,
        confirmation: Some("production".into()),
    })
    .await
    .unwrap();
    // The safety backup is part of the restore: inside the restore's hooks, without its own.
    assert_eq!(
        lines(&log),
        vec![
            "before-restore shop/production ",
            "after-restore shop/production succeeded"
        ]
    );
}

#[tokio::test]
async fn a_failing_before_hook_stops_the_backup_with_nothing_stored_and_the_after_hook_still_runs()
{
    let f = fixture(s3()).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("hooks.log");
    let mut hooks = logging(&log);
    hooks.before_backup = Some("echo 'manage.py: maintenance mode unavailable' >&2; exit 3".into());
    f.lb.set_hooks(&f.env_id, &hooks).await.unwrap();

    let e = f.lb.backup(&both(&f.env_id, "")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::HookFailed, "{e:?}");
    assert!(e.message.contains("exited with 3"), "{}", e.message);
    assert_eq!(
        f.stored_objects().await,
        Vec::<String>::new(),
        "nothing stored"
    );
    assert_eq!(lines(&log), vec!["after-backup shop/production failed"]);
    let job = job_of(&f, "backup").await;
    assert_eq!(job.status, JobStatus::Failed);
    assert_eq!(job.hooks[0].exit_code, Some(3));
    assert!(job.hooks[0].output.contains("maintenance mode unavailable"));
}

#[tokio::test]
async fn a_hook_that_outlives_its_timeout_is_stopped_with_its_children() {
    let f = fixture(s3()).await;
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("child.pid");
    let hooks = Hooks {
        // A child of the hook's shell, the way a real hook's workers are.
        before_backup: Some(format!(
            "sleep 300 & echo $! > {}; wait",
            pid_file.display()
        )),
        timeout_seconds: 1,
        ..Hooks::default()
    };
    f.lb.set_hooks(&f.env_id, &hooks).await.unwrap();

    let e = f.lb.backup(&both(&f.env_id, "")).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::HookFailed, "{e:?}");
    assert!(
        e.message.contains("did not finish within 1 s"),
        "{}",
        e.message
    );
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    // Gone, or a zombie waiting for whoever adopted it to reap it: no longer running.
    let state = std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
        .ok()
        .and_then(|stat| stat.rsplit(") ").next().map(|rest| rest.chars().next()))
        .flatten();
    assert!(
        matches!(state, None | Some('Z') | Some('X')),
        "the hook's child was left running ({state:?})"
    );
    assert!(job_of(&f, "backup").await.hooks[0].timed_out);
}

#[tokio::test]
async fn a_bad_timeout_is_refused_on_its_field_and_empty_commands_are_no_hooks() {
    let f = fixture(s3()).await;
    let e =
        f.lb.set_hooks(
            &f.env_id,
            &Hooks {
                timeout_seconds: 0,
                ..Hooks::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.field.as_deref(), Some("timeoutSeconds"));
    let env =
        f.lb.set_hooks(
            &f.env_id,
            &Hooks {
                before_backup: Some("   ".into()),
                ..Hooks::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(env.hooks, Hooks::default());
}
