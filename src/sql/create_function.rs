//! Flink's `CREATE [TEMPORARY [SYSTEM]] FUNCTION [IF NOT EXISTS] name AS
//! 'class' [LANGUAGE JAVA | SCALA | PYTHON]`: in Flink the class is on the
//! classpath; in flowsql it is a Rust function a program registered under
//! that class name ([`crate::Engine::register_function_class`]), and the
//! statement gives it its SQL name.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use crate::error::{Error, Result};

/// A parsed `CREATE FUNCTION ... AS 'class'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateFunction {
    /// The SQL name (a qualified `db.name` keeps its last part).
    pub name: String,
    /// The class name, as Flink's classpath would have it.
    pub class: String,
    /// `IF NOT EXISTS`: an existing function of that name is left alone.
    pub if_not_exists: bool,
}

/// `sql` as a `CREATE FUNCTION ... AS 'class'`, or `None` when it is some
/// other statement (`CREATE FUNCTION f(x) RETURNS ...` is DataFusion's).
pub fn parse_create_function(sql: &str) -> Result<Option<CreateFunction>> {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return Ok(None);
    };
    let tokens: Vec<Token> = tokens
        .into_iter()
        .filter(|t| !matches!(t, Token::Whitespace(_) | Token::SemiColon))
        .collect();
    let keyword = |i: usize, word: &str| {
        matches!(tokens.get(i), Some(Token::Word(w))
            if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
    };
    if !keyword(0, "CREATE") {
        return Ok(None);
    }
    let mut i = 1;
    if keyword(i, "TEMPORARY") {
        i += 1;
        if keyword(i, "SYSTEM") {
            i += 1;
        }
    }
    if !keyword(i, "FUNCTION") {
        return Ok(None);
    }
    i += 1;
    let if_not_exists = keyword(i, "IF") && keyword(i + 1, "NOT") && keyword(i + 2, "EXISTS");
    if if_not_exists {
        i += 3;
    }
    // The name, perhaps qualified: word (. word)*.
    let mut name = None;
    while let Some(Token::Word(word)) = tokens.get(i) {
        name = Some(match word.quote_style {
            Some(_) => word.value.clone(),
            None => word.value.to_ascii_lowercase(),
        });
        i += 1;
        if tokens.get(i) != Some(&Token::Period) {
            break;
        }
        i += 1;
    }
    let (Some(name), true) = (name, keyword(i, "AS")) else {
        return Ok(None);
    };
    let Some(Token::SingleQuotedString(class)) = tokens.get(i + 1) else {
        return Ok(None);
    };
    i += 2;
    if keyword(i, "LANGUAGE") {
        i += 2;
    }
    if let Some(extra) = tokens.get(i) {
        return Err(Error::query(format!(
            "unexpected '{extra}' after CREATE FUNCTION {name} AS '{class}' (USING JAR is not \
             supported: the class is a Rust function registered by the program)"
        )));
    }
    Ok(Some(CreateFunction {
        name,
        class: class.clone(),
        if_not_exists,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flink_forms_parse() {
        let parsed = |sql| parse_create_function(sql).unwrap().unwrap();
        let f = parsed("CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar';");
        assert_eq!(f.name, "count_char");
        assert_eq!(f.class, "com.github.nexmark.flink.udf.CountChar");
        assert!(!f.if_not_exists);
        let f = parsed(
            "create temporary system function if not exists db.Upper2 as 'a.B' language java",
        );
        assert_eq!(
            (f.name.as_str(), f.class.as_str(), f.if_not_exists),
            ("upper2", "a.B", true)
        );
    }

    #[test]
    fn other_statements_are_not_taken() {
        for sql in [
            "CREATE FUNCTION f(x INT) RETURNS INT RETURN x + 1",
            "CREATE TABLE t (a INT)",
            "SELECT 1",
        ] {
            assert_eq!(parse_create_function(sql).unwrap(), None, "{sql}");
        }
        assert!(parse_create_function("CREATE FUNCTION f AS 'a.B' USING JAR 'x.jar'").is_err());
    }
}
