//! The Lambda function: build everything once, then hand each event to the bridge.

use flexlex::app::telemetry::LogFormat;
use lambda_runtime::{Error, LambdaEvent, service_fn};

// One thread: Lambda gives an execution environment one invocation at a time, and a turn waits
// on the network, not the CPU. No worker threads to start at every cold start.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    // A bad setting fails init with the variable's name; Lambda reports it as an init error.
    let bridge = flexlex::app::compose::bridge_from_env().await?;
    let format = LogFormat::from_env();
    lambda_runtime::run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        flexlex::app::lambda::invoke(&bridge, event, format)
    }))
    .await
}
