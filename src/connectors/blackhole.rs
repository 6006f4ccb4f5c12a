//! The `blackhole` connector, a sink only ([`WriteOnly`]): discards rows (for benchmarks).

use datafusion::arrow::record_batch::RecordBatch;

use super::sink::Sink;
use super::write_only::WriteOnly;
use crate::error::Result;

/// `'connector' = 'blackhole'`.
pub static BLACKHOLE: WriteOnly = WriteOnly::new(&["blackhole"], || Box::new(BlackholeSink));

/// `'connector' = 'blackhole'`: discards rows (for benchmarks).
pub struct BlackholeSink;

#[async_trait::async_trait]
impl Sink for BlackholeSink {
    async fn write(&mut self, _batch: &RecordBatch) -> Result<()> {
        Ok(())
    }

    async fn finish(&mut self) -> Result<()> {
        Ok(())
    }
}
