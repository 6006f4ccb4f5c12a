//! Every connector flowsql has, in one list: adding one is a line here.

use super::blackhole::BLACKHOLE;
use super::connector::Connector;
use super::filesystem::Filesystem;
use super::nexmark::Nexmark;
use super::print::PRINT;
use super::tcp::Tcp;
use crate::error::{Error, Result};

/// The connectors, in the order error messages list them.
pub static CONNECTORS: &[&dyn Connector] = &[&Filesystem, &Tcp, &Nexmark, &PRINT, &BLACKHOLE];

/// The connector `'connector' = 'name'` names.
pub fn find(name: &str) -> Result<&'static dyn Connector> {
    CONNECTORS
        .iter()
        .copied()
        .find(|c| c.names().contains(&name))
        .ok_or_else(|| {
            let known: Vec<String> = CONNECTORS
                .iter()
                .map(|c| match c.names() {
                    [name] => name.to_string(),
                    [name, aliases @ ..] => format!("{name} (alias {})", aliases.join(", ")),
                    [] => String::new(),
                })
                .collect();
            Error::query(format!(
                "unknown connector '{name}'; flowsql has: {}",
                known.join(", ")
            ))
        })
}

/// The names of the connectors that can be written to.
pub fn sinks() -> Vec<&'static str> {
    CONNECTORS
        .iter()
        .filter(|c| c.roles().sink)
        .map(|c| c.names()[0])
        .collect()
}
