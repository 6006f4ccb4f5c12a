//! Parsing of the values users write in options and settings: intervals
//! (`'10s'`, `'500ms'`, `'1 min'`) and sizes (`'128MB'`), each within
//! bounds, so a huge or odd value is a clear error, never a panic or a
//! wrapped number.
//!
//! The errors are plain text saying what is wrong; the caller says which
//! option or setting it was.

use std::time::Duration;

/// The longest interval accepted anywhere: a year.
pub const MAX_INTERVAL: Duration = Duration::from_secs(365 * 24 * 3600);

/// The largest size accepted anywhere: 1 TiB.
pub const MAX_SIZE: u64 = 1 << 40;

/// `'1s'`, `'500ms'`, `'2 min'`, `'1h'`, `'1d'` (a number alone is
/// seconds): at least 1 ms, at most [`MAX_INTERVAL`].
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let not_interval =
        || format!("'{text}' is not an interval; write it like '10s', '500ms' or '1 min'");
    let number: f64 = number.parse().map_err(|_| not_interval())?;
    let unit_seconds = match unit.trim().to_ascii_lowercase().as_str() {
        "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 0.001,
        "" | "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
        "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
        "h" | "hour" | "hours" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        _ => return Err(not_interval()),
    };
    let seconds = number * unit_seconds;
    if !seconds.is_finite() || seconds < 0.001 || seconds > MAX_INTERVAL.as_secs_f64() {
        return Err(format!(
            "'{text}' is out of range: an interval is at least 1 ms and at most 365 days"
        ));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// `'128MB'`, `'64 KiB'`, `'1000'` (bytes): at least 1 byte, at most
/// [`MAX_SIZE`].
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let not_size = || format!("'{text}' is not a size; write it like '128MB' or '64KB'");
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(not_size()),
    };
    if number.is_empty() {
        return Err(not_size());
    }
    let out_of_range =
        || format!("'{text}' is out of range: a size is at least 1 byte and at most 1 TiB");
    let bytes = number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(factor))
        .ok_or_else(out_of_range)?;
    if bytes == 0 || bytes > MAX_SIZE {
        return Err(out_of_range());
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_intervals() {
        assert_eq!(parse_interval("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_interval("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_interval("2 min").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_interval("1.5h").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_interval("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_interval(" 10 ").unwrap(), Duration::from_secs(10));
    }

    #[test]
    fn refuses_odd_and_huge_intervals() {
        for bad in ["soon", "", "ms", "1..2s", "1 fortnight", "-1s"] {
            assert!(
                parse_interval(bad).unwrap_err().contains("not an interval"),
                "{bad}"
            );
        }
        for huge in [
            "0s",
            "0.0001ms",
            "999999999999999h",
            "366d",
            &"9".repeat(400),
        ] {
            assert!(
                parse_interval(huge).unwrap_err().contains("out of range"),
                "{huge}"
            );
        }
    }

    #[test]
    fn parses_sizes_within_bounds() {
        assert_eq!(parse_size("128MB").unwrap(), 128 << 20);
        assert_eq!(parse_size("64 KiB").unwrap(), 64 << 10);
        assert_eq!(parse_size("1000").unwrap(), 1000);
        assert_eq!(parse_size("1TB").unwrap(), 1 << 40);
        for bad in ["big", "", "MB", "1.5MB", "-1"] {
            assert!(parse_size(bad).unwrap_err().contains("not a size"), "{bad}");
        }
        // 2^64 bytes, and sizes that overflow once multiplied.
        for huge in [
            "18446744073709551616",
            "18446744073709551615",
            "17179869184GB",
            "2TB",
            "0",
        ] {
            assert!(
                parse_size(huge).unwrap_err().contains("out of range"),
                "{huge}"
            );
        }
    }
}
