//! Flink's windowing table functions, rewritten into calls DataFusion parses.
//!
//! Flink writes `TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))`
//! and `SESSION(TABLE t PARTITION BY key, DESCRIPTOR(ts), gap)`. Neither
//! `TABLE name` as an argument nor `PARTITION BY` inside a call is SQL that
//! sqlparser accepts, so before parsing, the tokens of each such call are
//! rewritten into a table function call flowsql registers with DataFusion:
//!
//! ```text
//! TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND))
//!   -> tumble_window('bids', 'ts', INTERVAL '10' SECOND)
//! SESSION(TABLE t PARTITION BY k1, k2, DESCRIPTOR(ts), gap)
//!   -> session_window('t', 'ts', gap, 'k1', 'k2')
//! ```
//!
//! Everything else is left exactly as written, whitespace included, so that
//! error positions stay right wherever the text is not rewritten.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Word};

use crate::error::{Error, Location, Result};

/// The window table functions and the DataFusion table function each
/// becomes.
pub const WINDOW_FUNCTIONS: [(&str, &str); 4] = [
    ("TUMBLE", "tumble_window"),
    ("HOP", "hop_window"),
    ("CUMULATE", "cumulate_window"),
    ("SESSION", "session_window"),
];

/// Rewrites every window table function in `sql`; returns `sql` unchanged
/// when there is none.
pub fn rewrite_window_tvfs(sql: &str) -> Result<String> {
    let upper = sql.to_ascii_uppercase();
    if !WINDOW_FUNCTIONS
        .iter()
        .any(|(name, _)| upper.contains(name))
    {
        return Ok(sql.to_string());
    }
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location() else {
        // Let the parser report the tokenizer error with its position.
        return Ok(sql.to_string());
    };
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut changed = false;
    while i < tokens.len() {
        let call = if is_keyword(&tokens[i].token, "TABLE") {
            match_window_call(&tokens, i)?
        } else {
            None
        };
        if let Some((text, next)) = call {
            out.push_str(&text);
            i = next;
            changed = true;
        } else {
            out.push_str(&tokens[i].token.to_string());
            i += 1;
        }
    }
    Ok(if changed { out } else { sql.to_string() })
}

/// Tokens without whitespace from `i`, with their indices.
fn significant(tokens: &[TokenWithSpan], mut i: usize) -> impl Iterator<Item = (usize, &Token)> {
    std::iter::from_fn(move || {
        while i < tokens.len() {
            let at = i;
            i += 1;
            match &tokens[at].token {
                Token::Whitespace(_) => continue,
                token => return Some((at, token)),
            }
        }
        None
    })
}

fn word(token: &Token) -> Option<&Word> {
    match token {
        Token::Word(w) => Some(w),
        _ => None,
    }
}

fn is_keyword(token: &Token, keyword: &str) -> bool {
    word(token).is_some_and(|w| w.quote_style.is_none() && w.value.eq_ignore_ascii_case(keyword))
}

/// Matches `TABLE ( FN ( TABLE name [PARTITION BY cols] , DESCRIPTOR ( col ) , args ) )`
/// starting at token `start`; returns the rewritten text and the index of
/// the first token after the call.
fn match_window_call(tokens: &[TokenWithSpan], start: usize) -> Result<Option<(String, usize)>> {
    let mut it = significant(tokens, start).peekable();
    let Some((_, first)) = it.next() else {
        return Ok(None);
    };
    if !is_keyword(first, "TABLE") {
        return Ok(None);
    }
    if !matches!(it.next(), Some((_, Token::LParen))) {
        return Ok(None);
    }
    let Some((fn_at, function)) = it.next() else {
        return Ok(None);
    };
    let Some((flink_name, our_name)) = WINDOW_FUNCTIONS
        .iter()
        .find(|(name, _)| is_keyword(function, name))
    else {
        return Ok(None);
    };
    if !matches!(it.next(), Some((_, Token::LParen))) {
        return Ok(None);
    }
    let location = Location {
        line: tokens[fn_at].span.start.line,
        column: tokens[fn_at].span.start.column,
    };
    let usage = || {
        let example = match *flink_name {
            "TUMBLE" => "TUMBLE(TABLE t, DESCRIPTOR(ts), size)",
            "HOP" => "HOP(TABLE t, DESCRIPTOR(ts), slide, size)",
            "CUMULATE" => "CUMULATE(TABLE t, DESCRIPTOR(ts), step, max_size)",
            _ => "SESSION(TABLE t PARTITION BY key, DESCRIPTOR(ts), gap)",
        };
        Error::query_at(format!("{flink_name} is written {example}"), Some(location))
    };
    // TABLE name
    match it.next() {
        Some((_, t)) if is_keyword(t, "TABLE") => {}
        _ => return Err(usage()),
    }
    let table = object_name(&mut it).ok_or_else(usage)?;
    // [PARTITION BY k1, k2]
    let mut keys = Vec::new();
    if it.peek().is_some_and(|(_, t)| is_keyword(t, "PARTITION")) {
        it.next();
        match it.next() {
            Some((_, t)) if is_keyword(t, "BY") => {}
            _ => return Err(usage()),
        }
        loop {
            let key = word(it.next().ok_or_else(usage)?.1).ok_or_else(usage)?;
            keys.push(key.value.clone());
            if !matches!(it.peek(), Some((_, Token::Comma))) {
                break;
            }
            it.next();
            if it.peek().is_some_and(|(_, t)| is_keyword(t, "DESCRIPTOR")) {
                break;
            }
        }
    } else if !matches!(it.next(), Some((_, Token::Comma))) {
        return Err(usage());
    }
    if !keys.is_empty() && *flink_name != "SESSION" {
        return Err(Error::query_at(
            format!("only SESSION takes PARTITION BY; {flink_name} windows are not per key"),
            Some(location),
        ));
    }
    // DESCRIPTOR(col)
    match it.next() {
        Some((_, t)) if is_keyword(t, "DESCRIPTOR") => {}
        _ => return Err(usage()),
    }
    if !matches!(it.next(), Some((_, Token::LParen))) {
        return Err(usage());
    }
    let time_column = word(it.next().ok_or_else(usage)?.1)
        .ok_or_else(usage)?
        .value
        .clone();
    if !matches!(it.next(), Some((_, Token::RParen))) {
        return Err(usage());
    }
    // The remaining arguments, copied as written, up to the call's `)`.
    let Some((args_at, Token::Comma)) = it.next() else {
        return Err(usage());
    };
    let mut depth = 0;
    let mut args_end = None;
    for (at, token) in it.by_ref() {
        match token {
            Token::LParen => depth += 1,
            Token::RParen if depth == 0 => {
                args_end = Some(at);
                break;
            }
            Token::RParen => depth -= 1,
            _ => {}
        }
    }
    let args_end = args_end.ok_or_else(usage)?;
    // The closing `)` of TABLE(...).
    let Some((close_at, Token::RParen)) = it.next() else {
        return Err(usage());
    };
    let args: String = tokens[args_at + 1..args_end]
        .iter()
        .map(|t| t.token.to_string())
        .collect();
    let mut text = format!(
        "{our_name}({}, {},{args}",
        quote(&table),
        quote(&time_column)
    );
    for key in &keys {
        text.push_str(&format!(", {}", quote(key)));
    }
    text.push(')');
    Ok(Some((text, close_at + 1)))
}

/// `name` or `schema.name`, as written.
fn object_name<'a>(
    it: &mut std::iter::Peekable<impl Iterator<Item = (usize, &'a Token)>>,
) -> Option<String> {
    let mut name = word(it.next()?.1)?.to_string();
    while matches!(it.peek(), Some((_, Token::Period))) {
        it.next();
        name.push('.');
        name.push_str(&word(it.next()?.1)?.to_string());
    }
    Some(name)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_flink_window_functions() {
        assert_eq!(
            rewrite_window_tvfs(
                "SELECT * FROM TABLE(TUMBLE(TABLE bids, DESCRIPTOR(ts), INTERVAL '10' SECOND)) GROUP BY 1"
            )
            .unwrap(),
            "SELECT * FROM tumble_window('bids', 'ts', INTERVAL '10' SECOND) GROUP BY 1"
        );
        assert_eq!(
            rewrite_window_tvfs("FROM TABLE( HOP( TABLE b , DESCRIPTOR ( ts ) , INTERVAL '1' SECOND, INTERVAL '2' SECOND ) )")
                .unwrap(),
            "FROM hop_window('b', 'ts', INTERVAL '1' SECOND, INTERVAL '2' SECOND )"
        );
        assert_eq!(
            rewrite_window_tvfs(
                "FROM TABLE(SESSION(TABLE bids PARTITION BY auction, bidder, DESCRIPTOR(ts), INTERVAL '5' MINUTE))"
            )
            .unwrap(),
            "FROM session_window('bids', 'ts', INTERVAL '5' MINUTE, 'auction', 'bidder')"
        );
    }

    #[test]
    fn leaves_other_sql_alone() {
        let sql = "SELECT tumble FROM t -- TUMBLE\nWHERE x = 'HOP(TABLE'";
        assert_eq!(rewrite_window_tvfs(sql).unwrap(), sql);
    }

    #[test]
    fn explains_the_syntax_when_it_is_wrong() {
        let err = rewrite_window_tvfs("SELECT * FROM TABLE(HOP(bids, ts))").unwrap_err();
        assert!(
            err.to_string()
                .contains("HOP(TABLE t, DESCRIPTOR(ts), slide, size)"),
            "{err}"
        );
        assert_eq!(
            err.location(),
            Some(Location {
                line: 1,
                column: 21
            })
        );
    }
}
