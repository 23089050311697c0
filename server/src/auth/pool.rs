//! bcrypt checks off the worker threads. A bcrypt verification costs milliseconds; doing it on
//! a worker would stall every other connection of that worker. Workers submit a job and carry
//! on; the answer comes back through the worker's inbox as [`WorkerMsg::AuthResult`].

use super::{password_matches, Identity};
use crate::worker::{WorkerHandle, WorkerMsg};
use crossbeam_channel::{Sender, TrySendError};

/// Threads verifying bcrypt hashes.
const BCRYPT_THREADS: usize = 2;
/// Jobs waiting at most; beyond it new checks are refused (the client gets
/// `Authorization Violation`) rather than queueing without bound.
const BCRYPT_QUEUE_MAX: usize = 1024;

/// One bcrypt check and where its answer goes.
#[derive(Debug)]
pub struct BcryptJob {
    /// Worker to answer.
    pub worker: WorkerHandle,
    /// Connection slot in that worker.
    pub slot: usize,
    /// Connection id (slots are reused).
    pub cid: u64,
    /// Configured hash.
    pub hash: String,
    /// Client secret.
    pub given: String,
    /// Identity on success.
    pub then: Identity,
}

/// The pool's submission side.
#[derive(Debug, Clone)]
pub struct BcryptPool {
    tx: Sender<BcryptJob>,
}

impl BcryptPool {
    /// Starts the threads.
    ///
    /// # Errors
    /// A thread could not be spawned.
    pub fn start() -> std::io::Result<BcryptPool> {
        let (tx, rx) = crossbeam_channel::bounded::<BcryptJob>(BCRYPT_QUEUE_MAX);
        for i in 0..BCRYPT_THREADS {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("gannet-bcrypt-{i}"))
                .spawn(move || {
                    for job in rx {
                        let ok = password_matches(&job.hash, &job.given);
                        let identity = ok.then_some(job.then);
                        job.worker.send(WorkerMsg::AuthResult {
                            slot: job.slot,
                            cid: job.cid,
                            identity,
                        });
                    }
                })?;
        }
        Ok(BcryptPool { tx })
    }

    /// Queues a job; false if the queue is full.
    pub fn submit(&self, job: BcryptJob) -> bool {
        !matches!(
            self.tx.try_send(job),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_))
        )
    }
}
