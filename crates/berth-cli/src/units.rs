//! Docker's human units (github.com/docker/go-units) and its table layout (Go's tabwriter with
//! minwidth 10, padding 3).

/// `HumanSizeWithPrecision(size, 3)`: decimal units, three significant digits (`4.26MB`).
pub fn human_size(size: f64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut s = size;
    let mut i = 0;
    while s >= 1000.0 && i < UNITS.len() - 1 {
        s /= 1000.0;
        i += 1;
    }
    format!("{}{}", sig3(s), UNITS[i])
}

/// Go's `%.3g` for values below 1000.
fn sig3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i32 + 1;
    let decimals = (3 - digits).max(0) as usize;
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    // Rounding up to 1000 (999.6 → "1e+03" in Go).
    if s == "1000" {
        return "1e+03".into();
    }
    s
}

/// `HumanDuration`: "About an hour", "3 weeks", …
pub fn human_duration(secs: i64) -> String {
    let s = secs.max(0);
    let minutes = s / 60;
    let hours = ((s as f64) / 3600.0).round() as i64;
    if s < 1 {
        "Less than a second".into()
    } else if s == 1 {
        "1 second".into()
    } else if s < 60 {
        format!("{s} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", s / 3600 / 24 / 365)
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Unix seconds as `2024-01-02 03:04:05 +0000 UTC` (Go's time.String for UTC).
pub fn go_time(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} +0000 UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Unix seconds as RFC 3339 (`2024-01-02T03:04:05Z`).
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Lay out rows (first row = header) like Docker's tabwriter: each column but the last as wide
/// as its widest cell plus 3, at least 10.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut width = vec![0usize; cols];
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                let w = (width[i] + 3).max(10);
                line.push_str(c);
                line.push_str(&" ".repeat(w - c.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_as_docker_prints_them() {
        assert_eq!(human_size(4_261_234.0), "4.26MB");
        assert_eq!(human_size(999.0), "999B");
        assert_eq!(human_size(1_240.0), "1.24kB");
        assert_eq!(human_size(123_456_789.0), "123MB");
        assert_eq!(human_size(12_000_000.0), "12MB");
        assert_eq!(human_size(0.0), "0B");
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(45), "45 seconds");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(800 * 86400), "2 years");
    }

    #[test]
    fn times() {
        let t = 1704164645;
        assert_eq!(go_time(t), "2024-01-02 03:04:05 +0000 UTC");
        assert_eq!(rfc3339(t), "2024-01-02T03:04:05Z");
    }

    #[test]
    fn table_layout() {
        let t = table(&[
            vec!["REPOSITORY".into(), "TAG".into(), "SIZE".into()],
            vec!["busybox".into(), "latest".into(), "4MB".into()],
        ]);
        assert_eq!(
            t,
            "REPOSITORY   TAG       SIZE\nbusybox      latest    4MB\n"
        );
    }
}
