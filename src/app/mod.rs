//! The application shell: every setting read once ([`config`]), the clients and roles built
//! once per execution environment ([`compose`]), the Lambda entry ([`lambda`]) and the log line
//! and metrics of each event ([`telemetry`]).

pub mod bridge;
pub mod compose;
pub mod config;
pub mod lambda;
pub mod telemetry;
