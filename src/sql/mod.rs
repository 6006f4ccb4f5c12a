//! Parsing: splits SQL text into statements and recognizes flowsql's own
//! statements (Flink-style connector tables) among DataFusion's.
//!
//! Everything DataFusion can parse is parsed by DataFusion's `DFParser`;
//! flowsql only adds what DataFusion lacks.

pub mod create_function;
pub mod create_table;
pub(crate) mod cte_windows;
pub(crate) mod flink_functions;
pub(crate) mod function_classes;
pub(crate) mod group_window;
pub mod split;
pub(crate) mod system_time;
pub(crate) mod unsupported;
pub(crate) mod window_tvf;

use datafusion::sql::parser::{DFParserBuilder, Statement as DFStatement};

use crate::error::{Error, Result};
pub use create_function::CreateFunction;
pub use create_table::CreateTable;
pub use split::{ends_with_semicolon, split_statements, SqlStatement};

/// One parsed statement.
#[derive(Debug, Clone)]
pub enum Statement {
    /// A Flink-style `CREATE TABLE ... WITH ('connector' = ...)`.
    CreateTable(Box<CreateTable>),
    /// `SHOW JOBS`.
    ShowJobs,
    /// `STOP JOB <id>`.
    StopJob(u64),
    /// `SHOW MODELS`.
    ShowModels,
    /// `DESCRIBE MODEL <name> [VERSION <n>]`.
    DescribeModel {
        /// The model.
        name: String,
        /// One version, or all of them.
        version: Option<u32>,
    },
    /// `DROP MODEL [IF EXISTS] <name> [VERSION <n>]`.
    DropModel {
        /// The model.
        name: String,
        /// One version, or the whole model.
        version: Option<u32>,
        /// `IF EXISTS`: no model (or version) of that name is no error.
        if_exists: bool,
    },
    /// `ALTER MODEL <name> SET VERSION <n>`: the version unpinned PREDICT
    /// and EVALUATE use, until the next training.
    SetModelVersion {
        /// The model.
        name: String,
        /// The version.
        version: u32,
    },
    /// `SET;` (Flink's): the settings changed in this session.
    ListSettings,
    /// `RESET 'key'`, or `RESET;` for every setting.
    Reset(Option<String>),
    /// `CREATE FUNCTION name AS 'class'` (Flink's), the class a Rust
    /// function registered by the program.
    CreateFunction(CreateFunction),
    /// Anything DataFusion handles itself.
    DataFusion(Box<DFStatement>),
}

/// `EXPLAIN CHANGELOG_MODE <query>` (Flink's) as `EXPLAIN <query>`, the
/// words in their places (so errors point into the text as written), and
/// whether it was that.
pub fn strip_changelog_mode(sql: &str) -> (String, bool) {
    let mut words = sql.split_whitespace();
    let explain = words
        .next()
        .is_some_and(|w| w.eq_ignore_ascii_case("EXPLAIN"));
    let Some(second) = words
        .next()
        .filter(|w| explain && w.eq_ignore_ascii_case("CHANGELOG_MODE"))
    else {
        return (sql.to_string(), false);
    };
    let at = sql.find(second).unwrap_or(0);
    let mut text = sql.to_string();
    text.replace_range(at..at + second.len(), &" ".repeat(second.len()));
    (text, true)
}

/// `CREATE TEMPORARY VIEW` (Flink's usual form) as `CREATE VIEW`: flowsql's
/// catalog lives in the session, so every view is temporary in Flink's sense.
pub fn session_views(statement: &mut DFStatement) {
    use datafusion::sql::sqlparser::ast::Statement as Ast;
    if let DFStatement::Statement(ast) = statement {
        if let Ast::CreateView(view) = ast.as_mut() {
            view.temporary = false;
        }
    }
}

/// `DESCRIBE MODEL`, `DROP MODEL` and `ALTER MODEL ... SET VERSION`: the
/// name may be quoted; the registry says whether it is a model name.
fn model_statement(sql: &str) -> Result<Statement> {
    // A quoted name may hold spaces: it stands in as one word.
    let (sql, quoted) = match sql.find(['\'', '"']) {
        Some(open) => {
            let quote = &sql[open..open + 1];
            match sql[open + 1..].find(quote) {
                Some(len) => (
                    format!("{} \u{1} {}", &sql[..open], &sql[open + len + 2..]),
                    Some(sql[open + 1..open + 1 + len].to_string()),
                ),
                None => (sql.to_string(), None),
            }
        }
        None => (sql.to_string(), None),
    };
    let words: Vec<&str> = sql
        .split_whitespace()
        .map(|w| w.trim_end_matches(';'))
        .filter(|w| !w.is_empty())
        .collect();
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let upper: Vec<&str> = upper.iter().map(String::as_str).collect();
    let name = |w: &str| match (&quoted, w) {
        (Some(quoted), "\u{1}") => quoted.clone(),
        _ => w.to_string(),
    };
    let version = |w: &str| {
        w.parse::<u32>().map_err(|_| {
            Error::query(format!(
                "VERSION takes a version number, not '{w}'; DESCRIBE MODEL lists them"
            ))
        })
    };
    let usage = || {
        Error::query(
            "write DESCRIBE MODEL m [VERSION n], DROP MODEL [IF EXISTS] m [VERSION n] or \
             ALTER MODEL m SET VERSION n",
        )
    };
    match upper.as_slice() {
        ["DESCRIBE" | "DESC", "MODEL", _] => Ok(Statement::DescribeModel {
            name: name(words[2]),
            version: None,
        }),
        ["DESCRIBE" | "DESC", "MODEL", _, "VERSION", _] => Ok(Statement::DescribeModel {
            name: name(words[2]),
            version: Some(version(words[4])?),
        }),
        ["DROP", "MODEL", rest @ ..] => {
            let (if_exists, at) = match rest {
                ["IF", "EXISTS", ..] => (true, 4),
                _ => (false, 2),
            };
            match &upper[at..] {
                [_] => Ok(Statement::DropModel {
                    name: name(words[at]),
                    version: None,
                    if_exists,
                }),
                [_, "VERSION", _] => Ok(Statement::DropModel {
                    name: name(words[at]),
                    version: Some(version(words[at + 2])?),
                    if_exists,
                }),
                _ => Err(usage()),
            }
        }
        ["ALTER", "MODEL", _, "SET", "VERSION", _] => Ok(Statement::SetModelVersion {
            name: name(words[2]),
            version: version(words[5])?,
        }),
        _ => Err(usage()),
    }
}

/// Parses exactly one statement.
pub fn parse_statement(sql: &str) -> Result<Statement> {
    unsupported::refuse_unsupported(sql)?;
    let words: Vec<String> = sql
        .split_whitespace()
        .map(|w| w.trim_end_matches(';').to_ascii_uppercase())
        .collect();
    match words
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["SHOW", "JOBS"] => return Ok(Statement::ShowJobs),
        ["STOP", "JOB", id] => {
            return id.parse().map(Statement::StopJob).map_err(|_| {
                Error::query(format!(
                    "STOP JOB takes a job number, not '{id}'; SHOW JOBS lists them"
                ))
            })
        }
        ["STOP", "JOB"] => {
            return Err(Error::query(
                "STOP JOB takes a job number; SHOW JOBS lists them",
            ))
        }
        ["SHOW", "MODELS"] => return Ok(Statement::ShowModels),
        ["SET"] => return Ok(Statement::ListSettings),
        ["RESET"] => return Ok(Statement::Reset(None)),
        ["RESET", _] => {
            let key = sql.trim().trim_end_matches(';').trim()["RESET".len()..].trim();
            return Ok(Statement::Reset(Some(
                key.trim_matches(|c| c == '\'' || c == '"' || c == '`')
                    .to_string(),
            )));
        }
        ["DESCRIBE" | "DESC" | "DROP" | "ALTER", "MODEL", ..] => {
            return model_statement(sql);
        }
        _ => {}
    }
    if let Some(function) = create_function::parse_create_function(sql)? {
        return Ok(Statement::CreateFunction(function));
    }
    if let Some(table) = create_table::parse_create_table(sql)? {
        return Ok(Statement::CreateTable(Box::new(table)));
    }
    let mut statements = DFParserBuilder::new(sql).build()?.parse_statements()?;
    match (statements.pop_front(), statements.is_empty()) {
        (Some(statement), true) => Ok(Statement::DataFusion(Box::new(statement))),
        (None, _) => Err(Error::query("no SQL statement given")),
        (Some(_), false) => Err(Error::Internal(
            "parse_statement was given several statements; split them first".into(),
        )),
    }
}
