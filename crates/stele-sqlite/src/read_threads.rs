//! The threads reads run on: a fixed set, one per read connection.
//!
//! Reads used to run on tokio's blocking pool. Under a steady stream of short reads that
//! pool kept growing — a read spawned while every thread was still finishing its previous
//! one started a new thread, and threads that all took turns never idled long enough to
//! exit — to 143 threads after nine minutes of `stele bench soak`, each with an allocator
//! heap of its own, and resident memory climbed with them. A fixed set of threads bounds
//! both; written here because it is twenty lines around a channel, and the pool is
//! Stele's own resource bound.

use std::panic::{catch_unwind, AssertUnwindSafe};

use stele_store::StoreError;

type Job = Box<dyn FnOnce() + Send>;

/// Runs closures on `n` threads of its own; they end when this is dropped.
pub(crate) struct ReadThreads {
    jobs: flume::Sender<Job>,
}

impl ReadThreads {
    pub(crate) fn start(n: usize) -> std::io::Result<Self> {
        let (jobs, queue) = flume::unbounded::<Job>();
        for i in 0..n {
            let queue = queue.clone();
            std::thread::Builder::new().name(format!("stele-sqlite-read-{i}")).spawn(move || {
                while let Ok(job) = queue.recv() {
                    job();
                }
            })?;
        }
        Ok(Self { jobs })
    }

    /// Runs `f` on one of the threads and waits for its result. A panic in `f` is an
    /// error of this read only; the thread goes on.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let outcome = catch_unwind(AssertUnwindSafe(f))
                .unwrap_or_else(|_| Err(StoreError::Backend("a read panicked".into())));
            // The caller may have gone away; its read is simply dropped.
            let _ = done.send(outcome);
        });
        self.jobs.send(job).map_err(|_| StoreError::Closed)?;
        result.await.map_err(|_| StoreError::Closed)?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reads_run_on_the_fixed_threads_and_a_panic_fails_only_its_read() {
        let threads = ReadThreads::start(2).expect("start");
        let name = threads.run(|| Ok(std::thread::current().name().map(str::to_owned))).await.expect("run");
        assert!(name.is_some_and(|n| n.starts_with("stele-sqlite-read-")));
        let panicked = threads.run::<()>(|| panic!("boom")).await;
        assert!(matches!(panicked, Err(StoreError::Backend(_))), "{panicked:?}");
        // Both threads still answer (a panic did not end one).
        for _ in 0..4 {
            assert_eq!(threads.run(|| Ok(7)).await.expect("run"), 7);
        }
    }
}
