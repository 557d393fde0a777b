//! The plain data that crosses to the shells (the UI through its generated bindings, the CLI
//! as JSON): requests, reports and records of jobs, backups, restores, downloads, drills and
//! verifications, and what is set up (applications, environments, storage targets). No I/O; the operations that produce them re-export them beside themselves.

pub mod activity;
pub mod backup;
pub mod download;
pub mod drill;
pub mod hooks;
pub mod job;
pub mod restore;
pub mod settings;
pub mod setup;
pub mod verify;
