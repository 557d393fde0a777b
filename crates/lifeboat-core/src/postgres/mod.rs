//! Talking to an environment's PostgreSQL server: connection tests and the client tools.

pub mod client;
pub mod migrations;
mod probe;
pub mod roles;
pub mod scratch;
pub mod toc;
pub mod tools;

pub use probe::{connect, probe, ConnectionReport};
pub use tools::PgDumpTool;
