//! JSON nesting depth: no record deeper than [`MAX_JSON_DEPTH`] levels of
//! `[` and `{` reaches Arrow's JSON reader.
//!
//! Arrow's tape decoder reads any depth, but when a nested value stands
//! where a scalar is declared it writes the value into its error message
//! recursively, one stack frame per level: a record nested some tens of
//! thousands of levels deep (a line of a few hundred KB) overflows the
//! stack and aborts the process, which no error handling can stop. So a
//! JSON line from a socket is measured before it is decoded
//! ([`too_deep`]), and a JSON file before it is read ([`check_file`]; a
//! file scan is wrapped in [`JsonDepthExec`]): one pass over the bytes, a
//! small part of what decoding them costs.

use std::fmt;
use std::sync::Arc;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
use tokio::sync::OnceCell;

use crate::error::{Error, Result};

/// The deepest nesting of arrays and objects a JSON record may have
/// (Jackson's default, which Flink's JSON format uses).
pub const MAX_JSON_DEPTH: usize = 1000;

/// Measures nesting over bytes given in pieces (strings are passed over).
#[derive(Debug, Default)]
struct DepthMeter {
    depth: usize,
    in_string: bool,
    escaped: bool,
    /// Newlines seen: the line being read, from 0.
    line: u64,
}

impl DepthMeter {
    /// Reads `bytes`; returns the (0-based) line on which the nesting first
    /// passes `limit`.
    fn feed(&mut self, bytes: &[u8], limit: usize) -> Option<u64> {
        for &b in bytes {
            if self.in_string {
                match b {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    b'\n' => self.line += 1,
                    _ => {}
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'[' | b'{' => {
                    self.depth += 1;
                    if self.depth > limit {
                        return Some(self.line);
                    }
                }
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                b'\n' => self.line += 1,
                _ => {}
            }
        }
        None
    }
}

/// True when `bytes` (one record) nest `[` and `{` deeper than
/// [`MAX_JSON_DEPTH`] levels (strings are passed over).
pub fn too_deep(bytes: &[u8]) -> bool {
    DepthMeter::default().feed(bytes, MAX_JSON_DEPTH).is_some()
}

/// Fails when a record of the JSON file at `url` is nested deeper than
/// [`MAX_JSON_DEPTH`] levels, naming the file and line.
pub async fn check_file(ctx: &TaskContext, url: &str) -> Result<()> {
    let table_url = ListingTableUrl::parse(url)?;
    let store = ctx.runtime_env().object_store(table_url.object_store())?;
    let mut bytes = store.get(table_url.prefix()).await?.into_stream();
    let mut meter = DepthMeter::default();
    while let Some(chunk) = bytes.try_next().await? {
        if let Some(line) = meter.feed(&chunk, MAX_JSON_DEPTH) {
            return Err(Error::Data(format!(
                "'{url}' line {}: the record is nested deeper than {MAX_JSON_DEPTH} levels",
                line + 1
            )));
        }
    }
    Ok(())
}

/// A scan of JSON files that first checks them with [`check_file`] (once,
/// for all partitions).
#[derive(Debug)]
pub struct JsonDepthExec {
    input: Arc<dyn ExecutionPlan>,
    files: Arc<[String]>,
    checked: Arc<OnceCell<std::result::Result<(), String>>>,
}

impl JsonDepthExec {
    /// Wraps `input`, a scan of `files`.
    pub fn new(input: Arc<dyn ExecutionPlan>, files: Vec<String>) -> Self {
        JsonDepthExec {
            input,
            files: files.into(),
            checked: Arc::new(OnceCell::new()),
        }
    }
}

impl DisplayAs for JsonDepthExec {
    fn fmt_as(&self, _: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "JsonDepthExec: max_depth={MAX_JSON_DEPTH}")
    }
}

impl ExecutionPlan for JsonDepthExec {
    fn name(&self) -> &str {
        "JsonDepthExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("JsonDepthExec without input".into()))?;
        Ok(Arc::new(JsonDepthExec {
            input,
            files: Arc::clone(&self.files),
            checked: Arc::clone(&self.checked),
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        let input = Arc::clone(&self.input);
        let files = Arc::clone(&self.files);
        let checked = Arc::clone(&self.checked);
        let schema = input.schema();
        let stream = futures::stream::once(async move {
            let outcome = checked
                .get_or_init(|| async {
                    for file in files.iter() {
                        check_file(&context, file)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(())
                })
                .await;
            if let Err(message) = outcome {
                return Err(DataFusionError::Execution(message.clone()));
            }
            input.execute(partition, context)
        })
        .try_flatten();
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }

    fn apply_expressions(
        &self,
        _: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_passes_over_strings() {
        let at_limit = format!("{}{}", "[".repeat(1000), "]".repeat(1000));
        assert!(!too_deep(at_limit.as_bytes()));
        assert!(too_deep(format!("[{at_limit}]").as_bytes()));
        let quoted = format!(
            "{{\"a\": \"{}\\\"{}\"}}",
            "[".repeat(2000),
            "{".repeat(2000)
        );
        assert!(!too_deep(quoted.as_bytes()), "{quoted}");
    }

    #[test]
    fn the_meter_carries_strings_and_lines_across_pieces() {
        let mut meter = DepthMeter::default();
        assert_eq!(meter.feed(b"{\"a\": \"[[", 2), None);
        assert_eq!(meter.feed(b"[\"}\n{\"b\": [", 2), None);
        assert_eq!(meter.line, 1);
        assert_eq!(meter.feed(b"[", 2), Some(1));
    }
}
