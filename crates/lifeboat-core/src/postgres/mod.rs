//! Talking to an environment's PostgreSQL server: connection tests and the client tools.

mod probe;
pub mod tools;

pub use probe::{probe, ConnectionReport};
pub use tools::PgDumpTool;
