//! Java date patterns, as Flink's `DATE_FORMAT` and `UNIX_TIMESTAMP` take
//! them (`yyyy-MM-dd HH:mm:ss`, SimpleDateFormat / DateTimeFormatter
//! letters), translated to the chrono strftime patterns that DataFusion's
//! `to_char` and `to_unixtime` use (`%Y-%m-%d %H:%M:%S`).
//!
//! | Java | strftime | | Java | strftime |
//! |---|---|---|---|---|
//! | `yyyy` `y` `yy` | `%Y` `%-Y` `%y` | | `HH` `H` | `%H` `%-H` |
//! | `YYYY` `YY` (week year) | `%G` `%g` (ISO) | | `hh` `h` | `%I` `%-I` |
//! | `MM` `M` `MMM` `MMMM` (also `L`) | `%m` `%-m` `%b` `%B` | | `mm` `m` | `%M` `%-M` |
//! | `dd` `d` | `%d` `%-d` | | `ss` `s` | `%S` `%-S` |
//! | `D` `DDD` | `%-j` `%j` | | `SSS` `SSSSSS` `SSSSSSSSS` | `%3f` `%6f` `%9f` |
//! | `E` `EEE` `EEEE` | `%a` `%a` `%A` | | `a` | `%p` |
//! | `w` `ww` (ISO week) | `%-V` `%V` | | `Q` `QQ` `QQQ` | `%q` `0%q` `Q%q` |
//! | `z` `Z` `X` `x` | `UTC` `+0000` `Z` `+00` when formatting; `%Z` `%z` `%#z` when parsing | | `'text'`, `''` | text, `'` |
//!
//! Other ASCII letters are pattern letters in Java too; those with no
//! strftime form (`G`, `k`, `K`, `u`, `F`, `W`, `n`, `S` or `SS`, ...) are
//! an error naming the letter, so nothing is silently printed as text. A
//! pattern that contains `%` is already strftime and is used as it is.

/// What a translated pattern is used for: zone letters print flowsql's
/// UTC, but parse an offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Formatting a timestamp (`DATE_FORMAT`).
    Format,
    /// Parsing a string (`UNIX_TIMESTAMP`).
    Parse,
}

/// The strftime form of the Java date pattern `pattern`, or a message
/// saying which letter is wrong and what to write instead.
pub fn to_strftime(pattern: &str, direction: Direction) -> Result<String, String> {
    if pattern.contains('%') {
        return Ok(pattern.to_string());
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::with_capacity(pattern.len() * 2);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            i = quoted(&chars, i, &mut out)
                .ok_or_else(|| format!("pattern '{pattern}' has an unterminated quote (')"))?;
        } else if c.is_ascii_alphabetic() {
            let count = chars[i..].iter().take_while(|&&d| d == c).count();
            let letters: String = std::iter::repeat_n(c, count).collect();
            let spec = letter(c, count, direction).map_err(|hint| {
                format!("pattern '{pattern}': '{letters}' {hint}; quote literal text, as in 'T'")
            })?;
            out.push_str(spec);
            i += count;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

/// Copies the quoted text starting at `chars[start]` (a `'`) to `out` and
/// returns the index after it; `''` is one quote, inside quotes or out.
fn quoted(chars: &[char], start: usize, out: &mut String) -> Option<usize> {
    if chars.get(start + 1) == Some(&'\'') {
        out.push('\'');
        return Some(start + 2);
    }
    let mut i = start + 1;
    loop {
        match chars.get(i)? {
            '\'' if chars.get(i + 1) == Some(&'\'') => {
                out.push('\'');
                i += 2;
            }
            '\'' => return Some(i + 1),
            &c => {
                out.push(c);
                i += 1;
            }
        }
    }
}

/// The strftime form of `count` repetitions of the pattern letter `c`, or
/// why there is none.
fn letter(c: char, count: usize, direction: Direction) -> Result<&'static str, &'static str> {
    let format = direction == Direction::Format;
    Ok(match (c, count) {
        ('y', 2) => "%y",
        ('y', 4) => "%Y",
        ('y', 1 | 3) => "%-Y",
        ('y', _) => return Err("is not a year pattern; write yyyy or yy"),
        ('Y', 2) => "%g",
        ('Y', 1 | 3 | 4) => "%G",
        ('Y', _) => return Err("is not a week-year pattern; write YYYY or YY"),
        ('M' | 'L', 1) => "%-m",
        ('M' | 'L', 2) => "%m",
        ('M' | 'L', 3) => "%b",
        ('M' | 'L', 4) => "%B",
        ('M' | 'L', _) => return Err("is not a month pattern; write M, MM, MMM or MMMM"),
        ('d', 1) => "%-d",
        ('d', 2) => "%d",
        ('d', _) => return Err("is not a day pattern; write d or dd"),
        ('D', 1) => "%-j",
        ('D', 3) => "%j",
        ('D', _) => return Err("is not a day-of-year pattern; write D or DDD"),
        ('H', 1) => "%-H",
        ('H', 2) => "%H",
        ('h', 1) => "%-I",
        ('h', 2) => "%I",
        ('H' | 'h', _) => return Err("is not an hour pattern; write HH, H, hh or h"),
        ('m', 1) => "%-M",
        ('m', 2) => "%M",
        ('m', _) => return Err("is not a minute pattern; write mm or m"),
        ('s', 1) => "%-S",
        ('s', 2) => "%S",
        ('s', _) => return Err("is not a second pattern; write ss or s"),
        ('S', 3) => "%3f",
        ('S', 6) => "%6f",
        ('S', 9) => "%9f",
        ('S', _) => {
            return Err("has no strftime form; write SSS (milliseconds), SSSSSS or SSSSSSSSS")
        }
        ('a', 1) => "%p",
        ('a', _) => return Err("is not an AM/PM pattern; write a"),
        ('E', 1..=3) => "%a",
        ('E', 4) => "%A",
        ('E', _) => return Err("is not a day-name pattern; write EEE or EEEE"),
        ('w', 1) => "%-V",
        ('w', 2) => "%V",
        ('w', _) => return Err("is not a week pattern; write w or ww"),
        ('Q' | 'q', 1) => "%q",
        ('Q' | 'q', 2) => "0%q",
        ('Q' | 'q', 3) => "Q%q",
        ('Q' | 'q', _) => return Err("is not a quarter pattern; write Q, QQ or QQQ"),
        // flowsql's timestamps are UTC: formatting prints UTC's zone.
        ('z', 1..=3) if format => "UTC",
        ('Z', 1..=3) if format => "+0000",
        ('X', 1..=3) if format => "Z",
        ('x', 1) if format => "+00",
        ('x', 2) if format => "+0000",
        ('x', 3) if format => "+00:00",
        ('z', 1..=3) => "%Z",
        ('Z', 1..=3) => "%z",
        ('X' | 'x', 1..=3) => "%#z",
        ('z' | 'Z' | 'X' | 'x', _) => {
            return Err("is not a zone pattern; write z, Z, X, XX or XXX")
        }
        ('u', _) => {
            return Err(
                "means the year to DateTimeFormatter and the day of the week to \
                        SimpleDateFormat; write yyyy, or EEE for the day's name",
            )
        }
        ('k' | 'K', _) => return Err("has no strftime form; write HH (0-23) or hh (1-12)"),
        ('G', _) => return Err("(the era) has no strftime form"),
        _ => return Err("is not a pattern letter flowsql knows"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(pattern: &str) -> String {
        to_strftime(pattern, Direction::Format).unwrap()
    }

    #[test]
    fn the_common_letters_translate() {
        let table = [
            ("yyyy-MM-dd HH:mm:ss", "%Y-%m-%d %H:%M:%S"),
            ("yyyy-MM-dd HH:mm", "%Y-%m-%d %H:%M"),
            ("yy/M/d H:m:s", "%y/%-m/%-d %-H:%-M:%-S"),
            ("y", "%-Y"),
            ("hh:mm a", "%I:%M %p"),
            ("h", "%-I"),
            ("HH:mm:ss.SSS", "%H:%M:%S.%3f"),
            ("ss.SSSSSS", "%S.%6f"),
            ("ss.SSSSSSSSS", "%S.%9f"),
            ("E, EEE, EEEE", "%a, %a, %A"),
            ("MMM MMMM", "%b %B"),
            ("LL", "%m"),
            ("D DDD", "%-j %j"),
            ("YYYY-'W'ww", "%G-W%V"),
            ("w", "%-V"),
            ("Q QQ QQQ", "%q 0%q Q%q"),
            ("z Z X XX XXX x xx xxx", "UTC +0000 Z Z Z +00 +0000 +00:00"),
        ];
        for (java, strftime) in table {
            assert_eq!(format(java), strftime, "{java}");
        }
    }

    #[test]
    fn quotes_are_literal_text() {
        assert_eq!(format("yyyy-MM-dd'T'HH:mm:ss"), "%Y-%m-%dT%H:%M:%S");
        assert_eq!(format("'at' HH 'o''clock'"), "at %H o'clock");
        assert_eq!(format("hh 'o''clock' a"), "%I o'clock %p");
        assert_eq!(format("''yy''"), "'%y'");
        assert_eq!(format("'yyyy'"), "yyyy");
        assert_eq!(format(""), "");
        assert_eq!(format("--: /.,"), "--: /.,");
        // Non-ASCII letters are text in Java patterns too.
        assert_eq!(format("yyyy年MM月dd日"), "%Y年%m月%d日");
    }

    #[test]
    fn strftime_passes_through() {
        assert_eq!(format("%Y-%m-%d %H:%M"), "%Y-%m-%d %H:%M");
        assert_eq!(format("%d.%m.%Y, yyyy"), "%d.%m.%Y, yyyy");
    }

    #[test]
    fn zones_parse_as_offsets() {
        assert_eq!(
            to_strftime("yyyy-MM-dd HH:mm:ss.SSS X", Direction::Parse).unwrap(),
            "%Y-%m-%d %H:%M:%S.%3f %#z"
        );
        assert_eq!(to_strftime("Z", Direction::Parse).unwrap(), "%z");
        assert_eq!(to_strftime("z", Direction::Parse).unwrap(), "%Z");
    }

    #[test]
    fn unknown_letters_are_errors_naming_them() {
        for (pattern, letters) in [
            ("yyyy-MM-dd T", "'T'"),
            ("yyyy-MM-dd HH:mm:ss.S", "'S'"),
            ("ss.SS", "'SS'"),
            ("kk:mm", "'kk'"),
            ("KK", "'KK'"),
            ("G yyyy", "'G'"),
            ("uuuu", "'uuuu'"),
            ("yyyyy", "'yyyyy'"),
            ("MMMMM", "'MMMMM'"),
            ("ddd", "'ddd'"),
            ("DD", "'DD'"),
            ("HHH", "'HHH'"),
            ("aa", "'aa'"),
            ("EEEEE", "'EEEEE'"),
            ("QQQQ", "'QQQQ'"),
            ("zzzz", "'zzzz'"),
            ("W", "'W'"),
            ("n", "'n'"),
            ("b", "'b'"),
        ] {
            let err = to_strftime(pattern, Direction::Format).unwrap_err();
            assert!(
                err.contains(&format!("pattern '{pattern}'")) && err.contains(letters),
                "{pattern}: {err}"
            );
        }
    }

    #[test]
    fn an_unterminated_quote_is_an_error() {
        let err = to_strftime("yyyy 'at", Direction::Format).unwrap_err();
        assert!(err.contains("unterminated quote"), "{err}");
        let err = to_strftime("'", Direction::Format).unwrap_err();
        assert!(err.contains("unterminated quote"), "{err}");
    }
}
