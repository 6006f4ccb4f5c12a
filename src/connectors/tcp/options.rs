//! A tcp table's options (`hostname`, `port`, `mode`, `format`, limits),
//! read and checked once, when the table is created.

use std::time::Duration;

use super::line_decoder::LineFormat;
use crate::connectors::options::Options;
use crate::error::{Error, Result};
use crate::sql::create_table::CreateTable;

/// Options the tcp connector understands, besides `connector`.
pub const OPTIONS: &[&str] = &[
    "hostname",
    "port",
    "mode",
    "format",
    "reconnect",
    "max-line-bytes",
    "max-connections",
    "idle-timeout",
    "json.ignore-parse-errors",
    "csv.ignore-parse-errors",
];

/// Bytes of lines buffered between the socket readers and the query (and
/// the longest a line may be).
pub(super) const QUEUE_BYTES: usize = 64 << 20;
/// Producers a server-mode source reads at once, by default.
const MAX_CONNECTIONS: usize = 64;
/// How long a server-mode producer may send nothing before it is
/// disconnected, by default.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// A tcp table's settings, checked.
#[derive(Debug, Clone)]
pub struct TcpOptions {
    pub(super) hostname: String,
    pub(super) port: u16,
    pub(super) server: bool,
    pub(super) format: LineFormat,
    pub(super) reconnect: bool,
    pub(super) ignore_parse_errors: bool,
    pub(super) max_line_bytes: usize,
    pub(super) max_connections: usize,
    pub(super) idle_timeout: Duration,
}

impl TcpOptions {
    /// Reads and checks the `WITH (...)` options of `table`.
    pub fn from_table(table: &CreateTable) -> Result<Self> {
        let options = Options::new(table, OPTIONS)?;
        let hostname = options
            .get("hostname")
            .map_or("127.0.0.1", |o| o.value)
            .to_string();
        let port = options.required("port")?;
        let port = port
            .value
            .parse::<u16>()
            .map_err(|_| port.error(format!("'{}' is not a port number", port.value)))?;
        let server = match options.get("mode") {
            None => false,
            Some(o) if o.value.eq_ignore_ascii_case("client") => false,
            Some(o) if o.value.eq_ignore_ascii_case("server") => true,
            Some(o) => return Err(o.error("use 'client' or 'server'".into())),
        };
        let format = match options.get("format") {
            Some(o) if o.value.eq_ignore_ascii_case("json") => LineFormat::Json,
            Some(o) if o.value.eq_ignore_ascii_case("csv") => LineFormat::Csv,
            Some(o) => return Err(o.error("use 'json' or 'csv' (one record per line)".into())),
            None => {
                return Err(Error::query(format!(
                "table '{}' needs the option 'format' ('json' or 'csv') in its WITH (...) clause",
                table.table_name()
            )))
            }
        };
        let flag = |key: &str| -> Result<bool> {
            match options.get(key) {
                None => Ok(false),
                Some(o) => o
                    .value
                    .parse::<bool>()
                    .map_err(|_| o.error("use 'true' or 'false'".into())),
            }
        };
        let ignore_parse_errors = flag(&format!("{}.ignore-parse-errors", format.name()))?;
        let max_line_bytes = match options.get("max-line-bytes") {
            None => 1 << 20,
            Some(o) => crate::config::parse_size(o.value)
                .map_err(|problem| o.error(problem))
                .and_then(|bytes| match usize::try_from(bytes) {
                    Ok(bytes) if bytes <= QUEUE_BYTES => Ok(bytes),
                    _ => Err(o.error(format!("a line may be at most {} MiB", QUEUE_BYTES >> 20))),
                })?,
        };
        let max_connections = match options.get("max-connections") {
            None => MAX_CONNECTIONS,
            Some(o) => o
                .value
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=65_536).contains(n))
                .ok_or_else(|| o.error("use a number of connections from 1 to 65536".into()))?,
        };
        let idle_timeout = match options.get("idle-timeout") {
            None => IDLE_TIMEOUT,
            Some(o) => {
                crate::config::parse_interval(o.value).map_err(|problem| o.error(problem))?
            }
        };
        Ok(TcpOptions {
            hostname,
            port,
            server,
            format,
            reconnect: flag("reconnect")?,
            ignore_parse_errors,
            max_line_bytes,
            max_connections,
            idle_timeout,
        })
    }

    /// True with `'reconnect' = 'true'`.
    pub fn reconnects(&self) -> bool {
        self.reconnect
    }

    /// True for `'mode' = 'server'`.
    pub fn is_server(&self) -> bool {
        self.server
    }

    /// The line format.
    pub fn format(&self) -> LineFormat {
        self.format
    }

    /// `hostname:port`.
    pub fn address(&self) -> String {
        format!("{}:{}", self.hostname, self.port)
    }

    /// One line for EXPLAIN.
    pub fn describe(&self, table: &str) -> String {
        let mode = if self.server {
            "listening on"
        } else {
            "connected to"
        };
        format!(
            "source: tcp stream '{table}', {} lines, {mode} {}",
            self.format.name(),
            self.address()
        )
    }
}
