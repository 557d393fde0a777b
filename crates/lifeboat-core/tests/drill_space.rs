//! A drill without room on this machine is refused before it starts. Alone in its own test
//! binary because it points the process's temporary directory (TMPDIR), where the drill's
//! media directory and, for root, its scratch cluster go, at a small tmpfs.

mod common;

use common::fixture::{both, fixture, Target};
use lifeboat_core::{DrillRequest, ErrorCode, JobStatus};

#[tokio::test]
async fn a_drill_without_room_for_its_scratch_cluster_is_refused_before_it_starts() {
    let small = common::Mount::tmpfs("size=8m");
    // Before anything is made: the home (and with it the scratch directory a non-root
    // Lifeboat uses) lands on the small filesystem too.
    std::env::set_var("TMPDIR", small.path());
    let f = fixture(Target::Local).await;
    assert!(f.lb.home().root().starts_with(small.path()));
    f.lb.backup(&both(&f.env_id, "")).await.unwrap();
    let request = DrillRequest {
        environment_id: f.env_id.clone(),
        backup_id: None,
    };

    let e = f.lb.drill(&request, None).await.unwrap_err();
    assert_eq!(e.code, ErrorCode::DiskFull, "{e:?}");
    assert!(e.message.contains("free but"), "{}", e.message);
    let job = f.lb.jobs_of(&f.env_id).await.unwrap().remove(0);
    assert_eq!(job.status, JobStatus::Failed);
    let left: Vec<String> = std::fs::read_dir(small.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("lifeboat-"))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "nothing was started");
    assert!(!f.lb.home().scratch_dir().exists());
    assert!(f.lb.drills(&f.env_id).await.unwrap().is_empty());
    // Closed before the filesystem is unmounted.
    f.lb.catalog().pool().close().await;
    drop(f);
}
