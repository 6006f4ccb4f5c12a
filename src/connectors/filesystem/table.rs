//! `FileTable`: a bounded filesystem table over a directory or glob, read
//! the way a stream over the same path reads it.
//!
//! At every scan it lists the path's visible files (see
//! [`filesystem::list_files`]: hidden `.name` and `_name` files such as a
//! sink's in-progress ones are skipped, subdirectories follow DataFusion's
//! `listing_table_ignore_subdirectory`) and reads exactly those with
//! DataFusion's listing table. Parquet and JSON columns are matched by
//! name by DataFusion itself; a CSV file with a header is read by its own
//! header, each file on its own, so files whose headers order the columns
//! differently still land every value in its column, as a stream reads them.
//! CSV records are checked to be one per line ([`super::csv_records`]),
//! JSON files to nest no deeper than Arrow reads safely
//! ([`crate::connectors::json_depth`]).

use std::any::Any;
use std::sync::Arc;

use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::context::SessionState;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::union::UnionExec;
use datafusion::physical_plan::ExecutionPlan;

use super::csv_records::CsvRecordsExec;
use super::listing as filesystem;
use crate::connectors::json_depth::JsonDepthExec;
use crate::error::{Error, Result};
use crate::sql::create_table::CreateTable;

/// Creates the bounded table over the files of `table`, whose physical
/// columns are `declared`: over a directory or glob (and over any CSV), a
/// [`FileTable`] that reads the visible files as a stream would; over one
/// Parquet file, DataFusion's listing table itself.
pub async fn create_table(
    state: &SessionState,
    table: &CreateTable,
    declared: Schema,
) -> Result<Arc<dyn TableProvider>> {
    filesystem::check_options(state, table)?;
    let path = table.option("path").unwrap_or_default();
    let listing = filesystem::create_table_at(state, table, declared.clone(), path).await?;
    let format = table.option("format").unwrap_or_default();
    let csv = format.eq_ignore_ascii_case("csv");
    // CSV and JSON go through FileTable even for one file: CSV records are
    // checked, JSON files' depth is.
    if filesystem::names_one_file(path)? && format.eq_ignore_ascii_case("parquet") {
        return Ok(listing);
    }
    let header = table.option("csv.header").unwrap_or("true");
    let csv_by_header = csv && !header.eq_ignore_ascii_case("false");
    Ok(Arc::new(FileTable::try_new(
        table,
        declared,
        listing,
        csv_by_header,
    )?))
}

/// A bounded table over the visible files of a directory or glob.
#[derive(Debug, Clone)]
pub struct FileTable {
    definition: CreateTable,
    /// The declared physical columns.
    declared: Schema,
    /// The listing table DataFusion made over the whole path: its schema
    /// and options are the files'.
    listing: Arc<ListingTable>,
    /// Read CSV files one by one, each by its own header.
    csv_by_header: bool,
}

impl FileTable {
    /// Wraps `listing`, DataFusion's table over `definition`'s path.
    pub fn try_new(
        definition: &CreateTable,
        declared: Schema,
        listing: Arc<dyn TableProvider>,
        csv_by_header: bool,
    ) -> Result<Self> {
        let any: Arc<dyn Any + Send + Sync> = listing;
        let listing = any
            .downcast::<ListingTable>()
            .map_err(|_| Error::Internal("a filesystem table is not a listing table".into()))?;
        Ok(FileTable {
            definition: definition.clone(),
            declared,
            listing,
            csv_by_header,
        })
    }

    fn path(&self) -> &str {
        self.definition.option("path").unwrap_or_default()
    }

    fn options(&self) -> &ListingOptions {
        self.listing.options()
    }

    /// Each CSV file's own table, its columns projected to the declared
    /// ones (or `projection` of them), by name.
    async fn scan_by_header(
        &self,
        state: &SessionState,
        files: Vec<String>,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let schema = self.schema();
        let wanted: Vec<&str> = match projection {
            Some(indices) => indices
                .iter()
                .map(|&i| schema.field(i).name().as_str())
                .collect(),
            None => schema.fields().iter().map(|f| f.name().as_str()).collect(),
        };
        let mut plans: Vec<Arc<dyn ExecutionPlan>> = Vec::with_capacity(files.len());
        for file in files {
            let table =
                filesystem::create_table_at(state, &self.definition, self.declared.clone(), &file)
                    .await?;
            let file_schema = table.schema();
            let indices = wanted
                .iter()
                .map(|name| file_schema.index_of(name))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let scan = table.scan(state, Some(&indices), filters, limit).await?;
            plans.push(Arc::new(CsvRecordsExec::new(scan, file)));
        }
        Ok(match plans.len() {
            1 => plans.remove(0),
            _ => UnionExec::try_new(plans)?,
        })
    }
}

#[async_trait::async_trait]
impl TableProvider for FileTable {
    /// The declared columns for CSV (each file has its own order); the
    /// files' schema otherwise.
    fn schema(&self) -> SchemaRef {
        if self.csv_by_header {
            Arc::new(self.declared.clone())
        } else {
            self.listing.schema()
        }
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let state = state
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("a scan outside a SessionState".into()))?;
        let format = self.definition.option("format").unwrap_or_default();
        let files: Vec<String> = filesystem::list_files(state, self.path(), format)
            .await?
            .into_iter()
            .map(|f| f.url)
            .collect();
        if files.is_empty() {
            let schema = self.schema();
            let projected = match projection {
                Some(indices) => Arc::new(schema.project(indices)?),
                None => schema,
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        if self.csv_by_header {
            return Ok(self
                .scan_by_header(state, files, projection, filters, limit)
                .await?);
        }
        let urls = files
            .iter()
            .map(ListingTableUrl::parse)
            .collect::<DfResult<Vec<_>>>()?;
        let config = ListingTableConfig::new_with_multi_paths(urls)
            .with_listing_options(self.options().clone())
            .with_schema(self.listing.schema());
        let scan = ListingTable::try_new(config)?
            .scan(state, projection, filters, limit)
            .await?;
        Ok(if format.eq_ignore_ascii_case("csv") {
            Arc::new(CsvRecordsExec::new(scan, self.path().to_string()))
        } else if format.eq_ignore_ascii_case("json") {
            Arc::new(JsonDepthExec::new(scan, files))
        } else {
            scan
        })
    }

    /// Filters are applied again above the scan: the files are only
    /// pruned by them.
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }
}
