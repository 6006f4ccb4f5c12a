//! `Engine`: the embedding API. Everything the CLI does goes through it.
//!
//! An engine owns one DataFusion `SessionContext`, configured for flowsql:
//! the information schema on (for `SHOW TABLES`), token positions collected
//! (so errors point at the offending token), and an object-store registry
//! that opens `s3://`, `gs://` and `az://` buckets on first use. Statements
//! are split, parsed (flowsql's own DDL first, then DataFusion's) and run.

use std::any::Any;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::array::{RecordBatch, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::TableReference;
use datafusion::datasource::source_as_provider;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::session_state::SessionStateBuilder;
use datafusion::logical_expr::{DdlStatement, LogicalPlan, ScalarUDF, WriteOp};
use datafusion::physical_plan::memory::MemoryStream;
use datafusion::physical_plan::EmptyRecordBatchStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::{Stream, StreamExt};

use crate::changelog::ChangelogMode;
use crate::checkpoint::{CheckpointStore, Snapshot};
use crate::config::AllowedPaths;
use crate::connectors::nexmark;
use crate::connectors::{ConnectorTable, LazyObjectStoreRegistry, RegisteredStream};
use crate::error::{catch_panic, statement_excerpt, Error, Result};
use crate::jobs::{jobs_batch, Checkpointing, Jobs};
use crate::ml;
use crate::ml::predict::PredictUdf;
use crate::ml::registry::{check_name, Registry};
use crate::pipeline::Pipeline;
use crate::planner::current_watermark::CurrentWatermarkUdf;
use crate::planner::streaming::{plan_stream, reads_stream, Sources};
use crate::planner::window_table::WindowFunction;
use crate::results::QueryStream;
use crate::settings::{ExecutionSettings, PipelineSettings, SqlClientSettings, TableSettings};
use crate::sql::function_classes::FunctionClasses;
use crate::sql::window_tvf::WINDOW_FUNCTIONS;
use crate::sql::{self, CreateFunction, CreateTable, SqlStatement, Statement};

/// Environment variable naming the default data directory.
pub const DATA_DIR_ENV: &str = "FLOWSQL_DATA_DIR";

/// The data directory used when none is given and [`DATA_DIR_ENV`] is unset.
pub const DEFAULT_DATA_DIR: &str = ".flowsql";

/// A flowsql engine: runs SQL statements and queries.
///
/// Cheap to share: wrap it in an `Arc` to use it from several tasks.
pub struct Engine {
    ctx: SessionContext,
    data_dir: PathBuf,
    jobs: Arc<Jobs>,
    models: Registry,
    function_classes: FunctionClasses,
    /// The settings the engine started with: what `SET;` compares against
    /// and `RESET` goes back to.
    initial_settings: ConfigOptions,
}

/// Configures and builds an [`Engine`].
#[derive(Debug, Default)]
pub struct EngineBuilder {
    data_dir: Option<PathBuf>,
    config: Option<SessionConfig>,
    allowed_paths: Vec<String>,
}

impl EngineBuilder {
    /// Where persisted state (models, checkpoints) lives. Defaults to
    /// `$FLOWSQL_DATA_DIR`, or `./.flowsql`. Nothing is written there until
    /// something needs persisting.
    pub fn data_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.data_dir = Some(dir.into());
        self
    }

    /// Confines every path a statement names (sources, sinks, `COPY`,
    /// external tables, checkpoint directories) to these directories or
    /// object store URL prefixes, and the data directory. Without any,
    /// statements may use any path the process can, as in DataFusion.
    pub fn allow_paths(mut self, entries: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.allowed_paths
            .extend(entries.into_iter().map(Into::into));
        self
    }

    /// Starts from this DataFusion configuration instead of the default one.
    /// flowsql still turns on the information schema and span collection.
    pub fn session_config(mut self, config: SessionConfig) -> Self {
        self.config = Some(config);
        self
    }

    /// Builds the engine.
    pub async fn build(self) -> Result<Engine> {
        let data_dir = self.data_dir.unwrap_or_else(|| {
            std::env::var_os(DATA_DIR_ENV)
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
        });
        let mut config = self
            .config
            .unwrap_or_default()
            .with_information_schema(true)
            .with_option_extension(ExecutionSettings::default())
            .with_option_extension(PipelineSettings::default())
            .with_option_extension(TableSettings::default())
            .with_option_extension(SqlClientSettings::default());
        config.options_mut().sql_parser.collect_spans = true;
        if !self.allowed_paths.is_empty() {
            let allowed =
                AllowedPaths::new(&self.allowed_paths, &data_dir).map_err(Error::query)?;
            config = config.with_extension(Arc::new(allowed));
        }
        let runtime = RuntimeEnvBuilder::new()
            .with_object_store_registry(Arc::new(LazyObjectStoreRegistry::default()))
            .build_arc()?;
        let state = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime)
            .with_default_features()
            .build();
        let ctx = SessionContext::new_with_state(state);
        for (flink_name, function) in WINDOW_FUNCTIONS {
            ctx.register_udtf(function, Arc::new(WindowFunction { name: flink_name }));
        }
        sql::flink_functions::register(&ctx);
        ctx.register_udf(ScalarUDF::new_from_impl(CurrentWatermarkUdf::unbound()));
        let models = Registry::new(&data_dir);
        ctx.register_udf(ScalarUDF::new_from_impl(PredictUdf::new(models.clone())));
        ctx.register_udf(ScalarUDF::new_from_impl(PredictUdf::versioned(
            models.clone(),
        )));
        let function_classes = FunctionClasses::default();
        function_classes.register(
            nexmark::count_char::CLASS,
            nexmark::count_char::count_char(),
        );
        let initial_settings = ctx.state().config().options().as_ref().clone();
        Ok(Engine {
            ctx,
            models,
            function_classes,
            data_dir,
            jobs: Arc::new(Jobs::default()),
            initial_settings,
        })
    }
}

impl Engine {
    /// A builder with the default settings.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::default()
    }

    /// An engine with the default settings.
    pub async fn new() -> Result<Engine> {
        Self::builder().build().await
    }

    /// The DataFusion context, to register UDFs, UDAFs, tables and object
    /// stores directly.
    pub fn session_context(&self) -> &SessionContext {
        &self.ctx
    }

    /// How the shell shows a streaming result
    /// (`SET 'sql-client.execution.result-mode'`).
    pub fn result_mode(&self) -> crate::settings::ResultMode {
        self.ctx
            .state()
            .config()
            .options()
            .extensions
            .get::<crate::settings::SqlClientSettings>()
            .map(|s| s.result_mode)
            .unwrap_or_default()
    }

    /// Where persisted state lives.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The models trained in SQL, stored under the data directory.
    pub fn models(&self) -> &Registry {
        &self.models
    }

    /// The continuous jobs started by `INSERT INTO`: list, stop, wait
    /// (shared: a signal handler may stop them while statements run).
    pub fn jobs(&self) -> &Arc<Jobs> {
        &self.jobs
    }

    /// Runs every statement in `sql` in order, discarding any rows they
    /// return. Stops at the first error, whose location (if any) is relative
    /// to `sql`.
    pub async fn execute(&self, sql: &str) -> Result<()> {
        for statement in sql::split_statements(sql)? {
            self.run_to_end(&statement).await?;
        }
        Ok(())
    }

    /// Runs the statements in `sql` and returns the rows of the last one as a
    /// stream; the statements before it are run to completion first.
    pub async fn query(&self, sql: &str) -> Result<QueryStream> {
        let mut statements = sql::split_statements(sql)?;
        let last = statements
            .pop()
            .ok_or_else(|| Error::query("no SQL statement given"))?;
        for statement in statements {
            self.run_to_end(&statement).await?;
        }
        self.run(&last.text)
            .await
            .map_err(|e| e.offset_by(last.start))
    }

    /// Registers a program's own stream of record batches as the streaming
    /// table `name`: `event_time` names its timestamp column, and the
    /// watermark trails the highest event time seen by `watermark_delay`.
    /// Queries over it run incrementally, like queries over any stream; the
    /// stream can be read by one query.
    pub fn register_stream(
        &self,
        name: &str,
        schema: SchemaRef,
        event_time: &str,
        watermark_delay: Duration,
        stream: impl Stream<Item = Result<RecordBatch>> + Send + 'static,
    ) -> Result<()> {
        let table =
            RegisteredStream::try_new(name, schema, event_time, watermark_delay, stream.boxed())?;
        self.ctx.register_table(name, Arc::new(table))?;
        Ok(())
    }

    /// Makes the scalar function `udf` what `CREATE FUNCTION name AS
    /// 'class'` names (Flink's Java class, here a Rust function): the
    /// statement registers it under `name`. The engine knows Nexmark's
    /// `com.github.nexmark.flink.udf.CountChar` from the start.
    pub fn register_function_class(&self, class: &str, udf: ScalarUDF) {
        self.function_classes.register(class, udf);
    }

    /// The Flink-style declaration of table `name`, if it was created with
    /// `CREATE TABLE ... WITH ('connector' = ...)`.
    pub async fn table_definition(&self, name: &str) -> Option<CreateTable> {
        let provider = self.ctx.table_provider(name).await.ok()?;
        let any: &dyn Any = provider.as_ref();
        any.downcast_ref::<ConnectorTable>()
            .map(|table| table.definition().clone())
    }

    /// `CREATE FUNCTION name AS 'class'`: the class's function under `name`.
    fn create_function(&self, create: &CreateFunction) -> Result<()> {
        let exists = self
            .ctx
            .state()
            .scalar_functions()
            .contains_key(&create.name);
        match (exists, create.if_not_exists) {
            (true, true) => Ok(()),
            (true, false) => Err(Error::query(format!(
                "a function named '{}' exists already; pick another name, or write CREATE \
                 FUNCTION IF NOT EXISTS",
                create.name
            ))),
            (false, _) => {
                let udf = self
                    .function_classes
                    .function(&create.class, &create.name)?;
                self.ctx.register_udf(udf);
                Ok(())
            }
        }
    }

    /// Runs one statement of a larger text to its end, discarding its rows.
    async fn run_to_end(&self, statement: &SqlStatement) -> Result<()> {
        let at = |e: Error| e.offset_by(statement.start);
        let mut rows = self.run(&statement.text).await.map_err(at)?;
        while let Some(batch) = rows.next().await {
            batch.map_err(at)?;
        }
        Ok(())
    }

    /// Runs exactly one statement; a panic while planning it or in its
    /// rows becomes an [`Error::Internal`] naming it.
    async fn run(&self, text: &str) -> Result<QueryStream> {
        let what = format!("planning '{}'", statement_excerpt(text));
        let stream = catch_panic(what, self.run_statement(text)).await?;
        Ok(stream.for_statement(text))
    }

    /// Runs exactly one statement.
    async fn run_statement(&self, typed: &str) -> Result<QueryStream> {
        let (text, changelog_modes) = sql::strip_changelog_mode(typed);
        let text = sql::window_tvf::rewrite_window_tvfs(&text)?;
        let (text, versioned) = sql::system_time::rewrite_system_time(&text)?;
        let text = ml::calls::rewrite_table_arguments(&text);
        match sql::parse_statement(&text)? {
            Statement::ShowModels => one_batch(ml::describe::models_batch(&self.models)?),
            Statement::DescribeModel { name, version } => {
                let versions = match version {
                    None => self.models.versions(&name)?,
                    Some(v) => vec![self.models.version(&name, v)?],
                };
                one_batch(ml::describe::versions_batch(&versions)?)
            }
            Statement::DropModel {
                name,
                version,
                if_exists,
            } => {
                let dropped = match version {
                    None => self.models.drop_model(&name),
                    Some(v) => self.models.drop_version(&name, v),
                };
                match dropped {
                    Err(Error::Query { .. }) if if_exists && check_name(&name).is_ok() => {}
                    other => other?,
                }
                Ok(QueryStream::new(Box::pin(EmptyRecordBatchStream::new(
                    Arc::new(Schema::empty()),
                ))))
            }
            Statement::SetModelVersion { name, version } => {
                self.models.pin(&name, version)?;
                Ok(QueryStream::new(Box::pin(EmptyRecordBatchStream::new(
                    Arc::new(Schema::empty()),
                ))))
            }
            Statement::ShowJobs => one_batch(jobs_batch(&self.jobs.list())?),
            Statement::ListSettings => one_batch(crate::settings::changed(
                &self.initial_settings,
                self.ctx.state().config().options(),
            )?),
            Statement::Reset(key) => {
                let state = self.ctx.state_ref();
                let mut state = state.write();
                crate::settings::reset(
                    state.config_mut().options_mut(),
                    &self.initial_settings,
                    key.as_deref(),
                )?;
                Ok(QueryStream::new(Box::pin(EmptyRecordBatchStream::new(
                    Arc::new(Schema::empty()),
                ))))
            }
            Statement::StopJob(id) => {
                let job = self.jobs.stop(id).await?;
                one_batch(jobs_batch(&[job])?)
            }
            Statement::CreateFunction(create) => {
                self.create_function(&create)?;
                Ok(QueryStream::new(Box::pin(EmptyRecordBatchStream::new(
                    Arc::new(Schema::empty()),
                ))))
            }
            Statement::CreateTable(definition) => {
                self.create_connector_table(*definition).await?;
                Ok(QueryStream::new(Box::pin(EmptyRecordBatchStream::new(
                    Arc::new(datafusion::arrow::datatypes::Schema::empty()),
                ))))
            }
            Statement::DataFusion(mut statement) => {
                sql::session_views(&mut statement);
                sql::group_window::rewrite_group_windows(&mut statement)?;
                sql::flink_functions::rewrite(&mut statement)?;
                if let Some(call) = ml::calls::per_window_training(&statement)? {
                    return self.train_per_window(call).await;
                }
                let mut temporaries =
                    ml::calls::resolve(&self.ctx, &self.models, &mut statement).await?;
                // Windows over CTEs read them as views of their own.
                for (name, create) in sql::cte_windows::cte_views(&mut statement) {
                    if let Err(e) = self.ctx.sql(&create).await {
                        for temporary in &temporaries {
                            self.ctx.deregister_table(temporary.as_str())?;
                        }
                        return Err(e.into());
                    }
                    temporaries.push(name);
                }
                // Tables read FOR SYSTEM_TIME AS OF: the same table under
                // the name saying so, while the statement is planned.
                let mut versioned_names = Vec::new();
                for read in &versioned {
                    let table = TableReference::from(read.table.join(".").as_str());
                    let provider = match self.ctx.table_provider(table).await {
                        Ok(provider) => provider,
                        Err(e) => {
                            for temporary in &temporaries {
                                self.ctx.deregister_table(temporary.as_str())?;
                            }
                            return Err(e.into());
                        }
                    };
                    let name = TableReference::bare(read.name.as_str());
                    self.ctx.register_table(name.clone(), provider)?;
                    versioned_names.push(name);
                }
                let plan = self.ctx.state().statement_to_plan(*statement).await;
                // The ML results, CTE views and versioned reads are in the
                // plan now; their names can go.
                for temporary in temporaries {
                    self.ctx.deregister_table(temporary.as_str())?;
                }
                for name in versioned_names {
                    self.ctx.deregister_table(name)?;
                }
                let plan = plan?;
                let statement = Typed {
                    typed,
                    text: &text,
                    changelog_modes,
                };
                if let Some(stream) = self.run_streaming(&plan, statement).await? {
                    return Ok(stream);
                }
                let frame = self.ctx.execute_logical_plan(plan).await?;
                Ok(QueryStream::new(frame.execute_stream().await?))
            }
        }
    }

    /// Runs `plan` as a streaming query when it reads a stream; `EXPLAIN`
    /// of such a query shows its operator pipeline (with each stage's
    /// changelog mode for `EXPLAIN CHANGELOG_MODE`); `INSERT INTO` a
    /// connector table starts a job (of `statement`'s text).
    async fn run_streaming(
        &self,
        plan: &LogicalPlan,
        statement: Typed<'_>,
    ) -> Result<Option<QueryStream>> {
        let text = statement.text;
        match plan {
            LogicalPlan::Explain(explain) => {
                let Some(pipeline) =
                    plan_stream(&self.ctx, &explain.plan, Sources::Unopened).await?
                else {
                    return Ok(None);
                };
                let lines = StringArray::from(if statement.changelog_modes {
                    pipeline.describe_changelog_modes()
                } else {
                    pipeline.describe()
                });
                let schema = Arc::new(Schema::new(vec![Field::new(
                    "streaming_pipeline",
                    DataType::Utf8,
                    false,
                )]));
                let batch = RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(lines)])?;
                let stream = MemoryStream::try_new(vec![batch], schema, None)?;
                Ok(Some(QueryStream::new(Box::pin(stream))))
            }
            LogicalPlan::Dml(dml) if matches!(dml.op, WriteOp::Insert(_)) => {
                let target = source_as_provider(&dml.target)?;
                let any: &dyn Any = target.as_ref();
                let Some(sink_table) = any.downcast_ref::<ConnectorTable>() else {
                    return Ok(None);
                };
                let input = dml.input.as_ref();
                let query = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let options = self.ctx.state().config().options().clone();
                let name = options
                    .extensions
                    .get::<PipelineSettings>()
                    .and_then(|p| p.name.clone());
                let execution = options.extensions.get::<ExecutionSettings>();
                let interval = execution.and_then(|e| e.interval());
                let checkpoint_dir = execution.and_then(|e| e.checkpointing_dir.clone());
                if let Some(name) = name.as_deref().filter(|n| self.jobs.is_running(n)) {
                    return Err(Error::query(format!(
                        "a job named '{name}' is running; STOP JOB it first, or SET 'pipeline.name' \
                         to another name"
                    )));
                }
                let id = self.jobs.new_id();
                let job_name = name.clone().unwrap_or_else(|| id.to_string());
                let mut mode = ChangelogMode::InsertOnly;
                let (rows, checkpointing, sink_state) =
                    match plan_stream(&self.ctx, input, Sources::Open).await? {
                        Some(mut pipeline) => {
                            mode = pipeline.changelog_mode();
                            sink_table.check_takes(mode)?;
                            let (checkpointing, sink_state) = match interval {
                                Some(every) => {
                                    let store = self
                                        .checkpoint_store(&job_name, checkpoint_dir.as_deref())?;
                                    // A checkpoint belongs to the query and to the
                                    // definitions of the tables it reads.
                                    let belongs_to = format!("{query}\n{}", pipeline.definitions());
                                    let (checkpointing, sink_state) =
                                        resume(&mut pipeline, store, belongs_to, every).await?;
                                    (Some(checkpointing), sink_state)
                                }
                                None => (None, None),
                            };
                            let rows = pipeline.start(Arc::new(input.schema().as_arrow().clone()));
                            (rows, checkpointing, sink_state)
                        }
                        None => {
                            let rows = QueryStream::new(
                                self.ctx
                                    .execute_logical_plan(input.clone())
                                    .await?
                                    .execute_stream()
                                    .await?,
                            );
                            (rows, None, None)
                        }
                    };
                let mut sink = sink_table
                    .open_sink(&job_name, checkpointing.is_some(), mode)
                    .await?;
                if checkpointing.is_some() {
                    // Also without a checkpoint: a run killed before its first
                    // one leaves hidden files to clear.
                    sink.recover(sink_state.unwrap_or_default()).await?;
                }
                self.jobs.start(
                    id,
                    name,
                    statement.typed.trim().to_string(),
                    rows,
                    sink,
                    checkpointing,
                );
                let schema = Arc::new(Schema::new(vec![Field::new(
                    "job_id",
                    DataType::UInt64,
                    false,
                )]));
                let batch =
                    RecordBatch::try_new(schema, vec![Arc::new(UInt64Array::from(vec![id]))])?;
                Ok(Some(one_batch(batch)?))
            }
            // A view over a stream is its query, planned as a stream where
            // it is read.
            LogicalPlan::Ddl(DdlStatement::CreateView(_)) => Ok(None),
            LogicalPlan::Ddl(DdlStatement::CreateExternalTable(create)) => {
                for location in &create.locations {
                    self.check_path(location)?;
                }
                Ok(None)
            }
            LogicalPlan::Copy(copy) if !reads_stream(plan)? => {
                self.check_path(&copy.output_url)?;
                Ok(None)
            }
            LogicalPlan::Ddl(_) | LogicalPlan::Dml(_) | LogicalPlan::Copy(_) => {
                if reads_stream(plan)? {
                    return Err(Error::query(
                        "writing a stream into a table or file is not supported yet; \
                         query the stream with SELECT",
                    ));
                }
                Ok(None)
            }
            _ => {
                let Some(pipeline) = plan_stream(&self.ctx, plan, Sources::Open).await? else {
                    return Ok(None);
                };
                let schema = Arc::new(plan.schema().as_arrow().clone());
                Ok(Some(pipeline.start(schema)))
            }
        }
    }

    /// Refuses `path` when it is outside the directories allowed by
    /// [`EngineBuilder::allow_paths`].
    fn check_path(&self, path: &str) -> Result<()> {
        AllowedPaths::check_in(self.ctx.state().config(), path).map_err(Error::query)
    }

    /// The checkpoints of the job named `name`, under `dir/<name>/`: `dir`
    /// is `execution.checkpointing.dir` (a directory or an object store
    /// URL), by default `<data-dir>/checkpoints`.
    fn checkpoint_store(&self, name: &str, dir: Option<&str>) -> Result<CheckpointStore> {
        if let Some(dir) = dir {
            self.check_path(dir)?;
        }
        if let Some(url) = dir.filter(|d| d.contains("://") && !d.starts_with("file://")) {
            let url = url::Url::parse(url).map_err(|e| {
                Error::query(format!(
                    "'execution.checkpointing.dir' = '{url}' is not a URL ({e}); \
                     write a directory or a URL like 's3://bucket/checkpoints'"
                ))
            })?;
            let store = self
                .ctx
                .runtime_env()
                .object_store(ObjectStoreUrl::parse(&url[..url::Position::BeforePath])?)?;
            let root = object_store::path::Path::from(url.path()).join(name);
            return Ok(CheckpointStore::new(store, root));
        }
        let root = match dir {
            Some(dir) => PathBuf::from(dir.strip_prefix("file://").unwrap_or(dir)),
            None => self.data_dir.join("checkpoints"),
        };
        std::fs::create_dir_all(&root).map_err(|e| {
            Error::External(format!(
                "cannot create the checkpoint directory '{}': {e}",
                root.display()
            ))
        })?;
        // Pruning deletes old checkpoints' files; their emptied chk-* directories go too.
        let store = object_store::local::LocalFileSystem::new_with_prefix(&root)?
            .with_automatic_cleanup(true);
        Ok(CheckpointStore::new(
            Arc::new(store),
            object_store::path::Path::from(name),
        ))
    }

    /// The unstarted streaming pipeline of `sql`, a query over a stream
    /// (checkpoints restore into it before it starts), and its schema.
    #[cfg(test)]
    pub(crate) async fn pipeline(&self, sql: &str) -> Result<(Pipeline, SchemaRef)> {
        let text = sql::window_tvf::rewrite_window_tvfs(sql)?;
        let Statement::DataFusion(mut statement) = sql::parse_statement(&text)? else {
            return Err(Error::query("only a query over a stream has a pipeline"));
        };
        sql::group_window::rewrite_group_windows(&mut statement)?;
        sql::flink_functions::rewrite(&mut statement)?;
        let plan = self.ctx.state().statement_to_plan(*statement).await?;
        let pipeline = plan_stream(&self.ctx, &plan, Sources::Open)
            .await?
            .ok_or_else(|| Error::query("the query reads no stream"))?;
        Ok((pipeline, Arc::new(plan.schema().as_arrow().clone())))
    }

    /// Trains one version per window of a window function's rows, as the
    /// windows close; each result row arrives when its version is stored.
    async fn train_per_window(&self, call: ml::calls::Call) -> Result<QueryStream> {
        let mut input = Box::pin(self.run(call.input_sql())).await?;
        let metrics = input.metrics();
        let (ctx, models) = (self.ctx.clone(), self.models.clone());
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        let task = datafusion::common::runtime::SpawnedTask::spawn(async move {
            while let Some(batch) = input.next().await {
                let trained = match batch {
                    Ok(batch) => call.train_windows(&ctx, &models, &batch).await,
                    Err(e) => Err(e),
                };
                match trained {
                    Ok(rows) => {
                        for row in rows {
                            if sender.send(Ok(row)).await.is_err() {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        let _ = sender.send(Err(e)).await;
                        return;
                    }
                }
            }
        });
        Ok(QueryStream::from_task(
            ml::calls::Call::window_results_schema(),
            receiver,
            task,
            metrics,
        ))
    }

    async fn create_connector_table(&self, definition: CreateTable) -> Result<()> {
        let name = definition.table_name();
        if self.ctx.table_exist(name.as_str())? {
            if definition.if_not_exists {
                return Ok(());
            }
            if !definition.or_replace {
                return Err(Error::query(format!(
                    "table '{name}' already exists; DROP TABLE {name} first, \
                     or use CREATE OR REPLACE TABLE"
                )));
            }
        }
        let table = ConnectorTable::try_new(&self.ctx.state(), definition).await?;
        self.ctx.deregister_table(name.as_str())?;
        self.ctx.register_table(name.as_str(), Arc::new(table))?;
        Ok(())
    }
}

/// Goes on from the newest intact checkpoint in `store` of job `query`, if
/// there is one, and has `pipeline` take checkpoints every `every`: the
/// job's checkpointing, and the sink's part of the checkpoint restored.
/// A statement as typed and as planned (after flowsql's rewrites).
#[derive(Clone, Copy)]
struct Typed<'a> {
    /// As the user typed it: what SHOW JOBS shows.
    typed: &'a str,
    /// As rewritten for DataFusion: what a checkpoint belongs to.
    text: &'a str,
    /// `EXPLAIN CHANGELOG_MODE`: say each stage's changelog mode.
    changelog_modes: bool,
}

async fn resume(
    pipeline: &mut Pipeline,
    store: CheckpointStore,
    query: String,
    every: Duration,
) -> Result<(Checkpointing, Option<Snapshot>)> {
    let (next_id, warnings, sink_state) = match store.latest(&query).await? {
        Some(restored) => {
            let sink = restored.state.sink.clone();
            pipeline.restore(restored.state)?;
            (restored.id + 1, restored.warnings, Some(sink))
        }
        None => (0, Vec::new(), None),
    };
    let checkpointing = Checkpointing {
        store,
        query,
        states: pipeline.checkpoint_every(every),
        next_id,
        warnings,
    };
    Ok((checkpointing, sink_state))
}

/// A stream of one batch.
fn one_batch(batch: RecordBatch) -> Result<QueryStream> {
    let schema = batch.schema();
    let stream = MemoryStream::try_new(vec![batch], schema, None)?;
    Ok(QueryStream::new(Box::pin(stream)))
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}
