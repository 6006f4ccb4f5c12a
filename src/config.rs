//! Parsing of the values users write in options and settings: intervals
//! (`'10s'`, `'500ms'`, `'1 min'`) and sizes (`'128MB'`), each within
//! bounds, so a huge or odd value is a clear error, never a panic or a
//! wrapped number.
//!
//! The errors are plain text saying what is wrong; the caller says which
//! option or setting it was.
//!
//! Also [`AllowedPaths`]: the directories (`--allow-path`) that every path
//! a statement names must lie in, when the engine was given any.

use std::path::{Component, Path, PathBuf};
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

/// Where statements may read and write (`--allow-path`): every source,
/// sink, `COPY`, external table and checkpoint path must lie in one of
/// these directories (or under one of these object store URL prefixes).
/// The engine's data directory is always allowed. Kept in the session's
/// extensions, which SQL cannot change.
#[derive(Debug, Clone, Default)]
pub struct AllowedPaths {
    /// Local directories, absolute and resolved (symbolic links followed).
    dirs: Vec<PathBuf>,
    /// Object store URL prefixes (`s3://bucket/prefix/`).
    urls: Vec<String>,
}

impl AllowedPaths {
    /// The policy allowing `entries` (directories or URL prefixes) and the
    /// data directory `data_dir`.
    pub fn new(entries: &[String], data_dir: &Path) -> Result<Self, String> {
        let mut allowed = AllowedPaths::default();
        for entry in entries {
            if is_url(entry) {
                allowed
                    .urls
                    .push(format!("{}/", entry.trim_end_matches('/')));
            } else {
                let dir = resolve(Path::new(entry.strip_prefix("file://").unwrap_or(entry)))
                    .map_err(|e| format!("--allow-path '{entry}': {e}"))?;
                allowed.dirs.push(dir);
            }
        }
        allowed
            .dirs
            .push(resolve(data_dir).map_err(|e| format!("the data directory: {e}"))?);
        Ok(allowed)
    }

    /// Checks `path` against the policy of a session, if it has one.
    pub fn check_in(config: &datafusion::prelude::SessionConfig, path: &str) -> Result<(), String> {
        match config.get_extension::<AllowedPaths>() {
            Some(allowed) => allowed.check(path),
            None => Ok(()),
        }
    }

    /// Checks that `path` (a file, directory, glob or URL, as a statement
    /// wrote it) lies inside an allowed directory.
    pub fn check(&self, path: &str) -> Result<(), String> {
        let refused = || {
            let mut allowed: Vec<String> =
                self.dirs.iter().map(|d| d.display().to_string()).collect();
            allowed.extend(self.urls.iter().cloned());
            format!(
                "'{path}' is outside the directories this flowsql may use (--allow-path): {}",
                allowed.join(", ")
            )
        };
        if is_url(path) {
            let within = self
                .urls
                .iter()
                .any(|prefix| path.starts_with(prefix.as_str()) || format!("{path}/") == *prefix);
            return if within { Ok(()) } else { Err(refused()) };
        }
        let local = path.strip_prefix("file://").unwrap_or(path);
        // A glob's directory part is what is read.
        let fixed = match local.find(['*', '?', '[']) {
            Some(at) => &local[..local[..at].rfind('/').map_or(0, |slash| slash + 1)],
            None => local,
        };
        let resolved = resolve(Path::new(if fixed.is_empty() { "." } else { fixed }))?;
        if self.dirs.iter().any(|dir| resolved.starts_with(dir)) {
            Ok(())
        } else {
            Err(refused())
        }
    }
}

fn is_url(path: &str) -> bool {
    path.contains("://") && !path.starts_with("file://")
}

/// `path` made absolute, `.` and `..` resolved, and the symbolic links of
/// its longest existing ancestor followed (so a link cannot lead out of an
/// allowed directory).
fn resolve(path: &Path) -> Result<PathBuf, String> {
    let absolute = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map_err(|e| format!("cannot read the current directory: {e}"))?
            .join(path)
    };
    let mut normal = PathBuf::new();
    for component in absolute.components() {
        match component {
            Component::ParentDir => {
                normal.pop();
            }
            Component::CurDir => {}
            other => normal.push(other),
        }
    }
    // Follow links in the part that exists; keep the rest as written.
    let mut existing = normal.clone();
    let mut rest = Vec::new();
    while !existing.exists() {
        match existing.file_name() {
            Some(name) => rest.push(name.to_os_string()),
            None => break,
        }
        if !existing.pop() {
            break;
        }
    }
    let mut resolved = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        resolved.push(name);
    }
    Ok(resolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_paths_confine_files_globs_urls_and_links() {
        let root = tempfile::tempdir().unwrap();
        let inside = root.path().join("in");
        let outside = root.path().join("out");
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        let data = root.path().join("state");
        let allowed = AllowedPaths::new(
            &[inside.display().to_string(), "s3://bucket/ok".into()],
            &data,
        )
        .unwrap();
        let at = |p: &Path| p.display().to_string();
        assert!(allowed.check(&at(&inside.join("x.csv"))).is_ok());
        assert!(allowed.check(&at(&inside.join("new/dir/"))).is_ok());
        assert!(allowed.check(&format!("{}/*.csv", at(&inside))).is_ok());
        assert!(allowed.check(&at(&data.join("models/m"))).is_ok());
        assert!(allowed.check("s3://bucket/ok/part.parquet").is_ok());
        for bad in [
            at(&outside.join("x.csv")),
            format!("{}/../out/x.csv", at(&inside)),
            format!("{}/*.csv", at(&outside)),
            "/etc/shadow".to_string(),
            "s3://bucket/okay/x".to_string(),
            "s3://other/ok/x".to_string(),
        ] {
            let err = allowed.check(&bad).unwrap_err();
            assert!(err.contains("outside the directories"), "{bad}: {err}");
        }
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(&outside, inside.join("link")).unwrap();
            assert!(allowed.check(&at(&inside.join("link/x.csv"))).is_err());
        }
    }

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
