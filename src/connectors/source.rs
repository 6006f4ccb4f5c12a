//! `Source`: where a running streaming query reads a stream's batches, and
//! its position, which a checkpoint keeps.
//!
//! One shape for every stream: the next batch, where the source stands
//! after it, and resuming from there. Each replayable source has its own
//! position type and serializes it itself (files: the files read and the
//! rows of the last; the generator: its next event). Sources that cannot
//! be replayed (a socket, a program's stream) have none: after a restart
//! they go on with whatever arrives next.

use std::fmt::Debug;

use datafusion::arrow::record_batch::RecordBatch;

use crate::checkpoint::Snapshot;
use crate::error::Result;

/// The reading end of a stream.
#[async_trait::async_trait]
pub trait Source: Send {
    /// The next batch, or `None` at the end of the stream.
    async fn next_batch(&mut self) -> Result<Option<RecordBatch>>;

    /// Where the source stands after the last batch it gave; `None` for a
    /// source that cannot be replayed.
    fn position(&self) -> Option<Box<dyn SourcePosition>> {
        None
    }

    /// Goes on from `position`, the snapshot of a position this source's
    /// table gave before a restart. A source that cannot be replayed goes
    /// on with what arrives next.
    fn resume(&mut self, position: Snapshot) -> Result<()> {
        let _ = position;
        Ok(())
    }
}

/// A replayable source's position, as a checkpoint keeps it.
pub trait SourcePosition: Send + Sync + Debug {
    /// As a snapshot, which the same source's [`Source::resume`] reads.
    fn snapshot(&self) -> Result<Snapshot>;
}
