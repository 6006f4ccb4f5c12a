//! [`Jobs`]: every job of an engine, each a task writing a query's rows
//! into its sink; started, listed, stopped and waited for.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::StreamExt;
use tokio::sync::watch;

use super::checkpointing::{next_state, Checkpointing};
use super::info::{JobInfo, JobState};
use crate::checkpoint::QueryState;
use crate::connectors::sink::Sink;
use crate::error::{catch_panic, Error, Result};
use crate::results::QueryStream;

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
    pub(crate) fn start(
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
                        // In this order: a state the pipeline sent is taken
                        // before any batch it sent after it, so each state
                        // is checkpointed with exactly the rows before it in
                        // the sink (a later batch in the sink's files would
                        // be written again after a restart).
                        biased;
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
                            if state.results_before < written {
                                return Err(Error::Internal(format!(
                                    "a checkpoint's state came after {} batches beyond it \
                                     reached the sink",
                                    written - state.results_before
                                )));
                            }
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
