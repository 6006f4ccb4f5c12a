//! Continuous jobs: `INSERT INTO sink SELECT ...` runs in the background,
//! writing the query's rows into a sink, until its input ends or it is
//! stopped. [`Jobs`] keeps every job of an engine for `SHOW JOBS` and
//! `STOP JOB`.
//!
//! ```text
//! QueryStream ──batches──▶ job task ──▶ Sink::write ... Sink::finish (always: flushed and published)
//!                             ▲ stop signal (STOP JOB, end of script)
//! ```
//!
//! A checkpointed job (`SET 'execution.checkpointing.interval'`) also gets
//! its pipeline's states. A state is written once every result batch before
//! it has reached the sink: the sink prepares that output
//! ([`Sink::pre_commit`]), the checkpoint is written with the sink's part,
//! and then the sink publishes it ([`Sink::commit`]). A stopped or failed
//! checkpointed job publishes nothing more ([`Sink::abort`]); restarted
//! under its name, it goes on from its last checkpoint.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use datafusion::arrow::array::{Float64Array, RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use futures::StreamExt;
use tokio::sync::{mpsc, watch};

use crate::checkpoint::{CheckpointStore, QueryState};
use crate::connectors::sink::Sink;
use crate::error::{catch_panic, Error, Result};
use crate::metrics::StreamMetrics;
use crate::results::QueryStream;

/// Where a job is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Reading and writing.
    Running,
    /// Its input ended and the sink was finished.
    Finished,
    /// Stopped by `STOP JOB` (the sink was finished).
    Stopped,
    /// Failed with this error (the sink was finished).
    Failed(String),
}

impl JobState {
    /// `RUNNING`, `FINISHED`, `STOPPED` or `FAILED`.
    pub fn name(&self) -> &'static str {
        match self {
            JobState::Running => "RUNNING",
            JobState::Finished => "FINISHED",
            JobState::Stopped => "STOPPED",
            JobState::Failed(_) => "FAILED",
        }
    }
}

/// What `SHOW JOBS` shows of one job.
#[derive(Debug, Clone)]
pub struct JobInfo {
    /// The job's number.
    pub id: u64,
    /// The job's name (`pipeline.name`), when it was given one.
    pub name: Option<String>,
    /// The INSERT statement.
    pub query: String,
    /// Its state.
    pub state: JobState,
    /// Rows written to the sink.
    pub rows_out: u64,
    /// The streaming counters (rows in, late, malformed, watermark), for a
    /// job over a stream.
    pub metrics: Option<Arc<StreamMetrics>>,
    /// When it started.
    pub started: Instant,
    /// Its last checkpoint.
    pub last_checkpoint: Option<CheckpointInfo>,
    /// What restoring its checkpoint found (damaged checkpoints passed over).
    pub warnings: Vec<String>,
}

/// What `SHOW JOBS` shows of a job's last checkpoint.
#[derive(Debug, Clone, Copy)]
pub struct CheckpointInfo {
    /// Its number.
    pub id: u64,
    /// When it was complete.
    pub at: SystemTime,
    /// How long the sink's preparation, writing and publishing took.
    pub duration: Duration,
    /// Its size.
    pub bytes: u64,
}

/// Where a checkpointed job's checkpoints go, and its pipeline's states.
pub struct Checkpointing {
    /// The job's checkpoints.
    pub store: CheckpointStore,
    /// What its checkpoints belong to (see [`CheckpointStore::write`]).
    pub query: String,
    /// The pipeline's states, as it takes them.
    pub states: mpsc::UnboundedReceiver<QueryState>,
    /// The number of the next checkpoint.
    pub next_id: u64,
    /// What restoring found (damaged checkpoints passed over).
    pub warnings: Vec<String>,
}

impl Checkpointing {
    /// Writes `state` once the sink has prepared its output, then publishes
    /// that output.
    async fn write(
        &mut self,
        mut state: QueryState,
        sink: &mut dyn Sink,
    ) -> Result<CheckpointInfo> {
        let started = Instant::now();
        state.sink = sink.pre_commit().await?;
        let id = self.next_id;
        let bytes = self.store.write(id, &self.query, &state).await?;
        self.next_id += 1;
        sink.commit().await?;
        Ok(CheckpointInfo {
            id,
            at: SystemTime::now(),
            duration: started.elapsed(),
            bytes,
        })
    }
}

/// The next state of a checkpointed job's pipeline; never, for others.
async fn next_state(checkpointing: &mut Option<Checkpointing>) -> Option<QueryState> {
    match checkpointing {
        Some(c) => c.states.recv().await,
        None => std::future::pending().await,
    }
}

struct Job {
    info: Arc<Mutex<JobInfo>>,
    stop: watch::Sender<bool>,
    done: watch::Receiver<bool>,
}

/// The jobs of one engine.
#[derive(Default)]
pub struct Jobs {
    next_id: AtomicU64,
    jobs: Mutex<BTreeMap<u64, Job>>,
}

impl Jobs {
    /// A number for a new job (sinks name their files after it).
    pub fn new_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Starts job `id` (from [`Jobs::new_id`]) writing `rows` into `sink`,
    /// with checkpoints when `checkpointing` is given.
    pub fn start(
        &self,
        id: u64,
        name: Option<String>,
        query: String,
        rows: QueryStream,
        mut sink: Box<dyn Sink>,
        mut checkpointing: Option<Checkpointing>,
    ) {
        let info = Arc::new(Mutex::new(JobInfo {
            id,
            name,
            query,
            state: JobState::Running,
            rows_out: 0,
            metrics: rows.metrics(),
            started: Instant::now(),
            last_checkpoint: None,
            warnings: checkpointing
                .as_ref()
                .map(|c| c.warnings.clone())
                .unwrap_or_default(),
        }));
        let (stop, mut stopped) = watch::channel(false);
        let (finished, done) = watch::channel(false);
        let task_info = Arc::clone(&info);
        tokio::spawn(async move {
            let mut rows = rows;
            let mut written = 0u64;
            let mut waiting: VecDeque<QueryState> = VecDeque::new();
            let body = async {
                loop {
                    let end = tokio::select! {
                        _ = stopped.changed() => return Ok(JobState::Stopped),
                        Some(state) = next_state(&mut checkpointing) => {
                            waiting.push_back(state);
                            false
                        }
                        next = rows.next() => match next {
                            None => true,
                            Some(batch) => {
                                let batch = batch?;
                                sink.write(&batch).await?;
                                written += 1;
                                let warnings = sink.take_warnings();
                                if let Ok(mut info) = task_info.lock() {
                                    info.rows_out += batch.num_rows() as u64;
                                    info.warnings.extend(warnings);
                                }
                                false
                            }
                        }
                    };
                    if let Some(c) = &mut checkpointing {
                        if end {
                            // The pipeline's last state was sent before it ended.
                            while let Ok(state) = c.states.try_recv() {
                                waiting.push_back(state);
                            }
                        }
                        while waiting.front().is_some_and(|s| s.results_before <= written) {
                            let state = waiting.pop_front().expect("checked above");
                            let checkpoint = c.write(state, sink.as_mut()).await?;
                            if let Ok(mut info) = task_info.lock() {
                                info.last_checkpoint = Some(checkpoint);
                            }
                        }
                    }
                    if end {
                        return Ok(JobState::Finished);
                    }
                }
            };
            // A panic fails the job (FAILED in SHOW JOBS), never ends it
            // as if its input had ended.
            let outcome: Result<JobState> = catch_panic(format!("job {id}"), body).await;
            // Stop reading before flushing, so the sink sees no more rows.
            drop(rows);
            let what = format!("job {id}'s sink");
            let finished_sink = match outcome {
                Ok(JobState::Finished) => catch_panic(what, sink.finish()).await,
                _ if checkpointing.is_some() => catch_panic(what, sink.abort()).await,
                _ => catch_panic(what, sink.finish()).await,
            };
            let state = match (outcome, finished_sink) {
                (Ok(state), Ok(())) => state,
                (Err(e), _) | (Ok(_), Err(e)) => JobState::Failed(e.to_string()),
            };
            if let Ok(mut info) = task_info.lock() {
                info.state = state;
            }
            let _ = finished.send(true);
        });
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.insert(id, Job { info, stop, done });
        }
    }

    /// True when a running job has name `name`.
    pub fn is_running(&self, name: &str) -> bool {
        self.list()
            .iter()
            .any(|j| j.state == JobState::Running && j.name.as_deref() == Some(name))
    }

    /// Every job, oldest first.
    pub fn list(&self) -> Vec<JobInfo> {
        self.jobs
            .lock()
            .map(|jobs| {
                jobs.values()
                    .filter_map(|job| job.info.lock().ok().map(|i| i.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Stops job `id` cleanly (its sink flushed) and waits for it.
    pub async fn stop(&self, id: u64) -> Result<JobInfo> {
        let (info, mut done) = {
            let jobs = self
                .jobs
                .lock()
                .map_err(|_| Error::Internal("jobs lock poisoned".into()))?;
            let job = jobs.get(&id).ok_or_else(|| {
                let known: Vec<String> = jobs.keys().map(u64::to_string).collect();
                Error::query(format!(
                    "there is no job {id}; SHOW JOBS lists them ({})",
                    if known.is_empty() {
                        "none yet".to_string()
                    } else {
                        known.join(", ")
                    }
                ))
            })?;
            let _ = job.stop.send(true);
            (Arc::clone(&job.info), job.done.clone())
        };
        let _ = done.wait_for(|d| *d).await;
        let info = info
            .lock()
            .map_err(|_| Error::Internal("job lock poisoned".into()))?
            .clone();
        Ok(info)
    }

    /// Stops every running job cleanly and waits for them.
    pub async fn stop_all(&self) {
        let ids: Vec<u64> = self
            .list()
            .into_iter()
            .filter(|j| j.state == JobState::Running)
            .map(|j| j.id)
            .collect();
        for id in ids {
            let _ = self.stop(id).await;
        }
    }

    /// Waits until no job is running; returns every job's final state.
    pub async fn wait_all(&self) -> Vec<JobInfo> {
        let waiting: Vec<watch::Receiver<bool>> = self
            .jobs
            .lock()
            .map(|jobs| jobs.values().map(|j| j.done.clone()).collect())
            .unwrap_or_default();
        for mut done in waiting {
            let _ = done.wait_for(|d| *d).await;
        }
        self.list()
    }
}

/// The rows of `SHOW JOBS`.
pub fn jobs_batch(jobs: &[JobInfo]) -> Result<RecordBatch> {
    let metric = |f: fn(&crate::metrics::StreamMetrics) -> u64| {
        UInt64Array::from_iter(jobs.iter().map(|j| j.metrics.as_deref().map(f)))
    };
    let watermark = jobs.iter().map(|j| {
        j.metrics
            .as_ref()
            .and_then(|m| m.watermark())
            .and_then(datafusion::arrow::temporal_conversions::timestamp_ms_to_datetime)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3f").to_string())
    });
    let error = jobs.iter().map(|j| match &j.state {
        JobState::Failed(e) => Some(e.clone()),
        _ => None,
    });
    let checkpoint = |f: fn(&CheckpointInfo) -> f64| {
        Float64Array::from_iter(jobs.iter().map(|j| j.last_checkpoint.as_ref().map(f)))
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::UInt64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("query", DataType::Utf8, false),
        Field::new("state", DataType::Utf8, false),
        Field::new("rows_in", DataType::UInt64, true),
        Field::new("rows_out", DataType::UInt64, false),
        Field::new("late_rows", DataType::UInt64, true),
        Field::new("malformed", DataType::UInt64, true),
        Field::new("watermark", DataType::Utf8, true),
        Field::new("uptime_s", DataType::Float64, false),
        Field::new("last_checkpoint", DataType::UInt64, true),
        Field::new("checkpoint_age_s", DataType::Float64, true),
        Field::new("checkpoint_ms", DataType::Float64, true),
        Field::new("checkpoint_bytes", DataType::UInt64, true),
        Field::new("error", DataType::Utf8, true),
        Field::new("warnings", DataType::Utf8, true),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(UInt64Array::from_iter_values(jobs.iter().map(|j| j.id))),
            Arc::new(StringArray::from_iter(jobs.iter().map(|j| j.name.clone()))),
            Arc::new(StringArray::from_iter_values(
                jobs.iter().map(|j| j.query.clone()),
            )),
            Arc::new(StringArray::from_iter_values(
                jobs.iter().map(|j| j.state.name()),
            )),
            Arc::new(metric(|m| m.rows_in())),
            Arc::new(UInt64Array::from_iter_values(
                jobs.iter().map(|j| j.rows_out),
            )),
            Arc::new(metric(|m| m.late_rows())),
            Arc::new(metric(|m| m.malformed())),
            Arc::new(StringArray::from_iter(watermark)),
            Arc::new(Float64Array::from_iter_values(
                jobs.iter().map(|j| j.started.elapsed().as_secs_f64()),
            )),
            Arc::new(UInt64Array::from_iter(
                jobs.iter().map(|j| j.last_checkpoint.map(|c| c.id)),
            )),
            Arc::new(checkpoint(|c| {
                c.at.elapsed().map_or(0.0, |age| age.as_secs_f64())
            })),
            Arc::new(checkpoint(|c| c.duration.as_secs_f64() * 1000.0)),
            Arc::new(UInt64Array::from_iter(
                jobs.iter().map(|j| j.last_checkpoint.map(|c| c.bytes)),
            )),
            Arc::new(StringArray::from_iter(error)),
            Arc::new(StringArray::from_iter(jobs.iter().map(|j| {
                (!j.warnings.is_empty()).then(|| j.warnings.join("; "))
            }))),
        ],
    )?)
}
