//! Flink's `FOR SYSTEM_TIME AS OF`, which sqlparser's generic dialect does
//! not parse: `JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r` is rewritten,
//! before parsing, into a read of a table whose name says it all,
//!
//! ```text
//! JOIN rates FOR SYSTEM_TIME AS OF o.ts AS r
//!   -> JOIN "rates FOR SYSTEM_TIME AS OF o.ts" AS r
//! JOIN rates FOR SYSTEM_TIME AS OF o.ts
//!   -> JOIN "rates FOR SYSTEM_TIME AS OF o.ts" AS rates
//! ```
//!
//! The engine registers that name, for the statement's planning only, as
//! the same table (`rates`), so the plan scans the real table under a name
//! the streaming planner reads the time from (a lookup join, or a temporal
//! join of a versioned stream). The time must be a column, qualified or
//! not, as Flink requires (a time attribute of the probe side).

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Word};

use crate::error::{Error, Result};

/// What the rewritten name puts between the table and the time (the
/// streaming planner reads it back).
pub(crate) const AS_OF: &str = " FOR SYSTEM_TIME AS OF ";

/// A table read `FOR SYSTEM_TIME AS OF` a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedRead {
    /// The name the rewritten statement reads it under.
    pub name: String,
    /// The table's name, its parts as DataFusion normalizes them.
    pub table: Vec<String>,
}

/// `sql` with each `t FOR SYSTEM_TIME AS OF x` rewritten (see the module),
/// and the tables so read; `sql` unchanged and none when it has none.
pub fn rewrite_system_time(sql: &str) -> Result<(String, Vec<VersionedRead>)> {
    if !sql.to_ascii_uppercase().contains("SYSTEM_TIME") {
        return Ok((sql.to_string(), Vec::new()));
    }
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Ok((sql.to_string(), Vec::new()));
    };
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    let keyword = |k: usize, word: &str| {
        matches!(significant.get(k).map(|&i| &tokens[i]), Some(Token::Word(w))
            if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
    };
    // Rewrites as (first token, token after, replacement text).
    let mut rewrites: Vec<(usize, usize, String)> = Vec::new();
    let mut reads = Vec::new();
    let mut k = 0;
    while k < significant.len() {
        if !(keyword(k, "FOR")
            && keyword(k + 1, "SYSTEM_TIME")
            && keyword(k + 2, "AS")
            && keyword(k + 3, "OF"))
        {
            k += 1;
            continue;
        }
        let Some((table_start, table)) = name_before(&tokens, &significant, k) else {
            return Err(Error::query(
                "FOR SYSTEM_TIME AS OF follows the table it versions: JOIN rates FOR \
                 SYSTEM_TIME AS OF o.order_time AS r",
            ));
        };
        let Some((after, time)) = name_after(&tokens, &significant, k + 4) else {
            return Err(Error::query(format!(
                "FOR SYSTEM_TIME AS OF on '{}' takes a time column of the other side (its \
                 event time, or a PROCTIME() column): FOR SYSTEM_TIME AS OF o.order_time",
                table.join(".")
            )));
        };
        let name = format!("{}{AS_OF}{}", table.join("."), time.join("."));
        if name.contains('"') {
            return Err(Error::query(
                "a table read FOR SYSTEM_TIME AS OF cannot have '\"' in its name",
            ));
        }
        let aliased = match significant.get(after).map(|&i| &tokens[i]) {
            Some(Token::Word(w)) => w.quote_style.is_some() || !ends_table(w),
            _ => false,
        };
        let mut text = format!("\"{name}\"");
        if !aliased {
            let last = table.last().cloned().unwrap_or_default();
            text.push_str(&format!(" AS \"{last}\""));
        }
        let end = significant.get(after).copied().unwrap_or(tokens.len());
        rewrites.push((significant[table_start], end, text));
        reads.push(VersionedRead { name, table });
        k = after;
    }
    if rewrites.is_empty() {
        return Ok((sql.to_string(), reads));
    }
    let mut out = String::with_capacity(sql.len() + 32);
    let mut i = 0;
    for (start, end, text) in rewrites {
        for token in &tokens[i..start] {
            out.push_str(&token.to_string());
        }
        out.push_str(&text);
        out.push(' ');
        i = end;
    }
    for token in &tokens[i..] {
        out.push_str(&token.to_string());
    }
    Ok((out, reads))
}

/// Whether `word`, after a table, starts the next clause rather than
/// naming an alias.
fn ends_table(word: &Word) -> bool {
    matches!(
        word.keyword,
        Keyword::ON
            | Keyword::USING
            | Keyword::JOIN
            | Keyword::INNER
            | Keyword::LEFT
            | Keyword::RIGHT
            | Keyword::FULL
            | Keyword::CROSS
            | Keyword::NATURAL
            | Keyword::WHERE
            | Keyword::GROUP
            | Keyword::HAVING
            | Keyword::ORDER
            | Keyword::LIMIT
            | Keyword::UNION
            | Keyword::WINDOW
    )
}

/// A name's part as DataFusion normalizes it: unquoted words lowercased.
fn part(word: &Word) -> String {
    match word.quote_style {
        Some(_) => word.value.clone(),
        None => word.value.to_ascii_lowercase(),
    }
}

/// The dotted name ending right before significant token `k`: its first
/// significant token and its parts.
fn name_before(tokens: &[Token], significant: &[usize], k: usize) -> Option<(usize, Vec<String>)> {
    let mut parts = Vec::new();
    let mut at = k.checked_sub(1)?;
    loop {
        let Token::Word(word) = &tokens[significant[at]] else {
            return None;
        };
        parts.push(part(word));
        match at.checked_sub(1).map(|p| &tokens[significant[p]]) {
            Some(Token::Period) if at >= 2 => at -= 2,
            _ => break,
        }
    }
    parts.reverse();
    Some((at, parts))
}

/// The dotted name starting at significant token `k`: the significant
/// token after it and its parts.
fn name_after(
    tokens: &[Token],
    significant: &[usize],
    mut k: usize,
) -> Option<(usize, Vec<String>)> {
    let mut parts = Vec::new();
    loop {
        let Some(Token::Word(word)) = significant.get(k).map(|&i| &tokens[i]) else {
            return None;
        };
        parts.push(part(word));
        k += 1;
        match significant.get(k).map(|&i| &tokens[i]) {
            Some(Token::Period) => {}
            // A function call, not a column.
            Some(Token::LParen) => return None,
            _ => return Some((k, parts)),
        }
        k += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versioned_reads_become_named_tables() {
        let (text, reads) = rewrite_system_time(
            "SELECT * FROM orders AS o JOIN Rates FOR SYSTEM_TIME AS OF o.order_time AS r \
             ON o.c = r.c",
        )
        .unwrap();
        assert_eq!(
            text,
            "SELECT * FROM orders AS o JOIN \"rates FOR SYSTEM_TIME AS OF o.order_time\" AS r \
             ON o.c = r.c"
        );
        assert_eq!(reads[0].table, vec!["rates".to_string()]);
        // No alias: the table's own name qualifies its columns.
        let (text, _) = rewrite_system_time(
            "SELECT * FROM b JOIN db.side FOR SYSTEM_TIME AS OF b.p_time ON b.k = side.key",
        )
        .unwrap();
        assert_eq!(
            text,
            "SELECT * FROM b JOIN \"db.side FOR SYSTEM_TIME AS OF b.p_time\" AS \"side\" ON b.k = side.key"
        );
        let (text, _) = rewrite_system_time(
            "SELECT * FROM b JOIN side FOR SYSTEM_TIME AS OF b.p_time S ON b.k = S.key",
        )
        .unwrap();
        assert!(
            text.contains("\"side FOR SYSTEM_TIME AS OF b.p_time\" S ON"),
            "{text}"
        );
    }

    #[test]
    fn malformed_forms_are_errors_and_others_untouched() {
        assert!(rewrite_system_time("SELECT * FROM t FOR SYSTEM_TIME AS OF NOW()").is_err());
        let sql = "SELECT 'FOR SYSTEM_TIME AS OF' FROM t";
        assert_eq!(rewrite_system_time(sql).unwrap(), (sql.to_string(), vec![]));
    }
}
