//! Background WAL checkpoints.
//!
//! SQLite's automatic checkpoint runs inside whichever commit crosses the threshold, which
//! then pays for copying pages and for the fsyncs. Here a thread of our own checkpoints
//! (`PASSIVE`: never waits for readers or the writer) on its own connection at an interval, so
//! commits do not. The automatic checkpoint stays on at a higher threshold as a backstop,
//! except for the commit of a bulk import, which would always cross it.

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use crate::error::{Error, Result};

/// Pages in the WAL above which a commit checkpoints itself (the backstop; SQLite's default is
/// 1000).
pub(super) const BACKSTOP_PAGES: u32 = 10_000;

/// The checkpoint thread; stopped and joined on drop.
pub(super) struct Checkpointer {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts checkpointing through `conn` every `interval`.
    pub(super) fn start(conn: Connection, interval: Duration) -> Result<Self> {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("keyprov-sqlite-checkpoint".to_owned())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                    let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
                        Ok((row.get::<_, i64>(1)?, row.get::<_, i64>(2)?))
                    });
                    match result {
                        Ok((log, done)) => {
                            tracing::trace!(log, done, "sqlite wal checkpoint");
                        }
                        // The backstop checkpoint still runs; the next tick tries again.
                        Err(e) => tracing::warn!(error = %e, "sqlite wal checkpoint failed"),
                    }
                }
            })
            .map_err(|e| Error::storage("cannot start the sqlite checkpoint thread", false, e))?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
