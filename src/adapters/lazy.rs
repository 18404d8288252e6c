//! A client built the first time it is needed, then kept for the life of the process.
//!
//! One binary plays two roles, and an execution environment usually only ever plays one:
//! intake needs the SQS client, a turn needs DynamoDB, Lex and Twilio. Building every client at
//! cold start made each role pay for the other's. A [`Lazy`] value is built by its first user,
//! once (concurrent first users wait for the same build), and shared afterwards like any
//! client built at init. A failed build is not kept: the next use tries again.

use std::future::Future;

use async_trait::async_trait;
use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use crate::domain::job::Job;
use crate::ports::queue::{QueueError, TurnQueue};

/// Why a client could not be built when first needed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} could not be built: {reason}")]
pub struct BuildError {
    /// What was being built ("the SQS client").
    pub what: &'static str,
    pub reason: String,
    /// Whether a later attempt could succeed (a network read during the build, not a setting).
    pub transient: bool,
}

impl BuildError {
    /// A build that fails the same way every time: a setting or the process's own state.
    pub fn permanent(what: &'static str, reason: impl std::fmt::Display) -> Self {
        Self {
            what,
            reason: reason.to_string(),
            transient: false,
        }
    }
}

type Build<T> = Box<dyn Fn() -> BoxFuture<'static, Result<T, BuildError>> + Send + Sync>;

/// A value built on first use by `build`, or given ready.
pub struct Lazy<T> {
    cell: OnceCell<T>,
    build: Build<T>,
}

impl<T: Send + Sync> Lazy<T> {
    /// Built by `build` the first time [`Lazy::get`] is awaited.
    pub fn new<F, Fut>(build: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<T, BuildError>> + Send + 'static,
    {
        Self {
            cell: OnceCell::new(),
            build: Box::new(move || Box::pin(build())),
        }
    }

    /// Already built (tools and tests that hand over their own clients).
    pub fn ready(value: T) -> Self {
        Self {
            cell: OnceCell::new_with(Some(value)),
            build: Box::new(|| {
                Box::pin(async {
                    Err(BuildError::permanent(
                        "a ready value",
                        "it was given at construction and cannot be built again",
                    ))
                })
            }),
        }
    }

    /// The value, built now if this is its first use. The caller logs a failure where it
    /// becomes a failed event or invocation, so that it is said once.
    pub async fn get(&self) -> Result<&T, BuildError> {
        self.cell.get_or_try_init(|| (self.build)()).await
    }

    /// Whether the value has been built (or was given ready).
    pub fn is_built(&self) -> bool {
        self.cell.initialized()
    }
}

/// The turn queue, its client built on the first enqueue. A client that cannot be built is
/// the queue being unavailable (if waiting can help) or refusing the job (if not).
#[async_trait]
impl<Q: TurnQueue> TurnQueue for Lazy<Q> {
    async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
        let queue = self.get().await.map_err(|e| {
            if e.transient {
                QueueError::Unavailable(e.to_string())
            } else {
                QueueError::Refused(e.to_string())
            }
        })?;
        queue.enqueue(job).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn counting(fail_first: usize) -> (Lazy<String>, Arc<AtomicUsize>) {
        let builds = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&builds);
        let lazy = Lazy::new(move || {
            let attempt = counted.fetch_add(1, Ordering::SeqCst);
            async move {
                if attempt < fail_first {
                    Err(BuildError {
                        what: "the test client",
                        reason: format!("attempt {attempt}"),
                        transient: true,
                    })
                } else {
                    Ok(format!("built on attempt {attempt}"))
                }
            }
        });
        (lazy, builds)
    }

    #[tokio::test]
    async fn nothing_is_built_until_first_use_and_then_only_once() {
        let (lazy, builds) = counting(0);
        assert_eq!(builds.load(Ordering::SeqCst), 0);
        assert!(!lazy.is_built());
        let (a, b) = futures::join!(lazy.get(), lazy.get());
        assert_eq!(a.unwrap(), "built on attempt 0");
        assert_eq!(b.unwrap(), "built on attempt 0");
        assert_eq!(lazy.get().await.unwrap(), "built on attempt 0");
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert!(lazy.is_built());
    }

    #[tokio::test]
    async fn a_failed_build_is_reported_and_tried_again_on_the_next_use() {
        let (lazy, builds) = counting(1);
        let error = lazy.get().await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "the test client could not be built: attempt 0"
        );
        assert!(!lazy.is_built());
        assert_eq!(lazy.get().await.unwrap(), "built on attempt 1");
        assert_eq!(builds.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_ready_value_is_never_built() {
        let lazy = Lazy::ready(7);
        assert!(lazy.is_built());
        assert_eq!(*lazy.get().await.unwrap(), 7);
    }

    struct Recording(std::sync::Mutex<Vec<String>>);

    #[async_trait]
    impl TurnQueue for Recording {
        async fn enqueue(&self, job: &Job) -> Result<(), QueueError> {
            crate::lock(&self.0).push(job.key().to_string());
            Ok(())
        }
    }

    fn job() -> Job {
        crate::testing::message_job(
            "CH0123456789abcdef0123456789abcdef".parse().unwrap(),
            "IM0123456789abcdef0123456789abcdef".parse().unwrap(),
            0,
        )
    }

    #[tokio::test]
    async fn a_queue_that_cannot_be_built_fails_the_enqueue_by_whether_waiting_helps() {
        let transient: Lazy<Recording> = Lazy::new(|| async {
            Err(BuildError {
                what: "the SQS client",
                reason: "no network".into(),
                transient: true,
            })
        });
        assert_eq!(
            transient.enqueue(&job()).await,
            Err(QueueError::Unavailable(
                "the SQS client could not be built: no network".into()
            ))
        );
        let permanent: Lazy<Recording> =
            Lazy::new(|| async { Err(BuildError::permanent("the SQS client", "no TLS")) });
        assert_eq!(
            permanent.enqueue(&job()).await,
            Err(QueueError::Refused(
                "the SQS client could not be built: no TLS".into()
            ))
        );
        let ready = Lazy::ready(Recording(Default::default()));
        ready.enqueue(&job()).await.unwrap();
        assert_eq!(crate::lock(&ready.get().await.unwrap().0).len(), 1);
    }
}
