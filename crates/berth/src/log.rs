//! The daemon's log on stderr in dockerd's format (`time="…" level=info msg="…" key=value`),
//! filtered by `--log-level` / `-D` (or `log-level` / `debug` in the config file).

use std::fmt::Write as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// dockerd's level names; `fatal` and `panic` log errors only.
pub fn parse_level(s: &str) -> Option<Level> {
    Some(match s {
        "debug" | "trace" => Level::DEBUG,
        "info" => Level::INFO,
        "warn" | "warning" => Level::WARN,
        "error" | "fatal" | "panic" => Level::ERROR,
        _ => return None,
    })
}

type LevelHandle = tracing_subscriber::reload::Handle<
    tracing_subscriber::filter::LevelFilter,
    tracing_subscriber::Registry,
>;

static LEVEL: std::sync::OnceLock<LevelHandle> = std::sync::OnceLock::new();

/// Install the log for this process (once; later calls change nothing).
pub fn init(level: Level) {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let (filter, handle) = tracing_subscriber::reload::Layer::new(
        tracing_subscriber::filter::LevelFilter::from_level(level),
    );
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .event_format(Dockerd);
    if tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .try_init()
        .is_ok()
    {
        let _ = LEVEL.set(handle);
    }
}

/// A new level (a reload's `log-level` or `debug`).
pub fn set_level(level: Level) {
    if let Some(h) = LEVEL.get() {
        let _ = h.modify(|f| *f = tracing_subscriber::filter::LevelFilter::from_level(level));
    }
}

struct Dockerd;

#[derive(Default)]
struct Fields {
    msg: String,
    rest: String,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg = value.to_owned();
        } else {
            let _ = write!(self.rest, " {}={}", field.name(), quoted(value));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.record_str(field, &format!("{value:?}"));
    }
}

/// Quoted as logrus quotes: only when the value has spaces, quotes or `=`.
fn quoted(v: &str) -> String {
    if v.is_empty() || v.contains([' ', '"', '=', '\n']) {
        format!("{v:?}")
    } else {
        v.to_owned()
    }
}

impl<S, N> FormatEvent<S, N> for Dockerd
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let mut f = Fields::default();
        event.record(&mut f);
        let level = match *event.metadata().level() {
            Level::ERROR => "error",
            Level::WARN => "warning",
            Level::INFO => "info",
            _ => "debug",
        };
        writeln!(
            w,
            "time=\"{}\" level={level} msg={:?}{}",
            berth_units::now_rfc3339(),
            f.msg,
            f.rest
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_quoting_as_dockerd() {
        assert_eq!(parse_level("debug"), Some(Level::DEBUG));
        assert_eq!(parse_level("fatal"), Some(Level::ERROR));
        assert_eq!(parse_level("loud"), None);
        assert_eq!(quoted("404"), "404");
        assert_eq!(quoted("no such image"), "\"no such image\"");
        assert_eq!(quoted(""), "\"\"");
    }
}
