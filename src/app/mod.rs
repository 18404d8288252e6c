//! The application shell: every setting read once ([`config`], with the Twilio credentials of
//! a Secrets Manager secret laid over them: [`secret_settings`]), the clients and roles built
//! once per execution environment ([`compose`]), the Lambda entry ([`lambda`]) with each
//! invocation's deadline ([`invocation_deadline`]), and the log line and metrics of each event
//! ([`telemetry`]).

pub mod bridge;
pub mod compose;
pub mod config;
pub mod invocation_deadline;
pub mod lambda;
pub mod metrics;
pub mod secret_settings;
pub mod telemetry;
