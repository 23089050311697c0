//! Authentication work that may take long, off the worker threads: bcrypt checks cost
//! milliseconds, and an operator-mode client whose account is not loaded yet waits for the
//! resolver (an HTTP fetch or a `$SYS` lookup, up to its timeout). Doing either on a worker
//! would stall every other connection of that worker. Workers submit a job and carry on; the
//! job's `done` callback hands the answer back (a worker's callback puts it in its own inbox).
//!
//! The pool knows nothing of workers: it runs checks and calls back, which is why it sits with
//! the auth model below the shared state that holds it.

use super::{password_matches, AuthStep, Identity, RejectReason};
use crate::connect::ConnectOpts;
use crossbeam_channel::{Sender, TrySendError};
use std::sync::Arc;

/// Threads doing the work. Two, so one slow resolver fetch does not hold up bcrypt checks.
const AUTH_THREADS: usize = 2;
/// Jobs waiting at most; beyond it new checks are refused (the client gets
/// `Authorization Violation`) rather than queueing without bound.
const AUTH_QUEUE_MAX: usize = 1024;

/// What to check.
#[derive(Debug)]
pub enum AuthWork {
    /// Accept as `then` if `given` verifies against the bcrypt `hash`.
    Bcrypt {
        /// Configured hash.
        hash: String,
        /// Client secret.
        given: String,
        /// Identity on success.
        then: Identity,
    },
    /// The whole operator-mode check, fetching the account if needed.
    Operator {
        /// The trust state.
        trust: Arc<super::operator::Trust>,
        /// The client's CONNECT.
        opts: Box<ConnectOpts>,
        /// The nonce the client was sent.
        nonce: String,
        /// The client's address.
        peer_ip: Option<std::net::IpAddr>,
    },
}

/// Where a check's answer goes; called once, on an auth thread.
pub type AuthDone = Box<dyn FnOnce(Result<Identity, RejectReason>) + Send>;

/// One check and where its answer goes.
pub struct AuthJob {
    /// The check.
    pub work: AuthWork,
    /// Called with the outcome.
    pub done: AuthDone,
}

impl std::fmt::Debug for AuthJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthJob").field("work", &self.work).finish()
    }
}

/// The pool's submission side.
#[derive(Debug, Clone)]
pub struct AuthPool {
    tx: Sender<AuthJob>,
}

impl AuthPool {
    /// Starts the threads.
    ///
    /// # Errors
    /// A thread could not be spawned.
    pub fn start() -> std::io::Result<AuthPool> {
        let (tx, rx) = crossbeam_channel::bounded::<AuthJob>(AUTH_QUEUE_MAX);
        for i in 0..AUTH_THREADS {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("gannet-auth-{i}"))
                .spawn(move || {
                    for job in rx {
                        (job.done)(run(job.work));
                    }
                })?;
        }
        Ok(AuthPool { tx })
    }

    /// Queues a job; false if the queue is full.
    pub fn submit(&self, job: AuthJob) -> bool {
        !matches!(
            self.tx.try_send(job),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_))
        )
    }
}

fn run(work: AuthWork) -> Result<Identity, RejectReason> {
    match work {
        AuthWork::Bcrypt { hash, given, then } => {
            if password_matches(&hash, &given) {
                Ok(then)
            } else {
                Err(RejectReason::Denied("invalid password"))
            }
        }
        AuthWork::Operator {
            trust,
            opts,
            nonce,
            peer_ip,
        } => match trust.check(&opts, &nonce, peer_ip, true) {
            AuthStep::Accept(identity) => Ok(identity),
            AuthStep::Reject(why) => Err(why),
            AuthStep::Resolve | AuthStep::VerifyBcrypt { .. } => {
                Err(RejectReason::Denied("account not found"))
            }
        },
    }
}
