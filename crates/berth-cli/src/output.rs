//! Docker's output conventions shared by the commands: tables and `--format` templates over
//! typed rows, `-q` id lists, `inspect`'s indented JSON, prompts, per-object loops, filters.

use std::io::Write;

use anyhow::{Result, anyhow};
use berth_client::{Client, Method};
use berth_models::{Filters, Map};
use serde::Serialize;
use serde_json::Value;

use crate::template::Template;
use crate::units::table;

/// Labels as docker's list columns show them: `k=v,k2=v2`.
pub fn labels_text(labels: &Map) -> String {
    labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// A listing: the ids alone with `-q`, else [`print_formatted`].
pub fn print_list<T: Serialize>(
    quiet: bool,
    id: impl Fn(&T) -> &str,
    format: Option<&str>,
    default_cols: &[(&str, &str)],
    headers: &[(&str, &str)],
    rows: &[T],
) -> Result<()> {
    if quiet {
        for r in rows {
            println!("{}", id(r));
        }
        return Ok(());
    }
    print_formatted(format, default_cols, headers, rows)
}

/// Rows through a Docker `--format` (`table …`, `json`, a template), or the default table of
/// `default_cols`; `headers` name every column a table template may use.
pub fn print_formatted<T: Serialize>(
    format: Option<&str>,
    default_cols: &[(&str, &str)],
    headers: &[(&str, &str)],
    rows: &[T],
) -> Result<()> {
    let fmt = match format {
        None | Some("table") => format!(
            "table {}",
            default_cols
                .iter()
                .map(|(k, _)| format!("{{{{.{k}}}}}"))
                .collect::<Vec<_>>()
                .join("\t")
        ),
        Some("json") => "{{json .}}".to_owned(),
        Some(f) => f.replace("\\t", "\t").replace("\\n", "\n"),
    };
    let values: Vec<Value> = rows
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let mut out = std::io::stdout().lock();
    if let Some(body) = fmt.strip_prefix("table") {
        let t = Template::parse(body.trim_start())?;
        let hdr: Map = headers
            .iter()
            .map(|(k, h)| ((*k).to_owned(), (*h).to_owned()))
            .collect();
        let split = |s: String| s.split('\t').map(str::to_owned).collect::<Vec<_>>();
        let mut lines = vec![split(t.render(&serde_json::to_value(&hdr)?)?)];
        for r in &values {
            lines.push(split(t.render(r)?));
        }
        out.write_all(table(&lines).as_bytes())?;
    } else {
        let t = Template::parse(&fmt)?;
        for r in &values {
            writeln!(out, "{}", t.render(r)?)?;
        }
    }
    Ok(())
}

/// What an `inspect` found: docker's indented JSON array, or each object through `--format`
/// (`json` meaning `{{json .}}`). The objects are the daemon's JSON as sent.
pub fn print_inspected(found: Vec<Value>, format: Option<&str>) -> Result<()> {
    match format {
        None => println!("{}", pretty(&found)?),
        Some(f) => {
            let fmt = if f == "json" {
                "{{json .}}".to_owned()
            } else {
                f.replace("\\t", "\t").replace("\\n", "\n")
            };
            let t = Template::parse(&fmt)?;
            for v in &found {
                println!("{}", t.render(v)?);
            }
        }
    }
    Ok(())
}

/// JSON as docker prints it: 4-space indentation.
pub fn pretty(v: &impl Serialize) -> Result<String> {
    let mut buf = Vec::new();
    let fmt = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
    v.serialize(&mut ser)?;
    Ok(String::from_utf8(buf)?)
}

/// Ask `question`; true for y/yes.
pub fn confirm(question: &str) -> Result<bool> {
    eprint!("{question}\nAre you sure you want to continue? [y/N] ");
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// Repeated `--filter k=v` as Docker's filters.
pub fn filters(items: &[String]) -> Result<Filters> {
    let mut f = Filters::default();
    for x in items {
        let (k, v) = x
            .split_once('=')
            .ok_or_else(|| anyhow!("bad format of filter (expected name=value)"))?;
        f.add(k, v);
    }
    Ok(f)
}

/// `?filters=…` for the filters given (nothing for none).
pub fn filters_query(f: &Filters) -> String {
    if f.is_empty() {
        String::new()
    } else {
        berth_client::query(&[("filters", &f.to_json())])
    }
}

/// Run one request per object (container, network, volume), printing its name on success;
/// with `missing_ok`, an object that does not exist is no error (`rm -f`).
pub fn each_object(
    rt: &tokio::runtime::Runtime,
    c: &Client,
    names: &[String],
    missing_ok: bool,
    req: impl Fn(&str) -> (Method, String),
) -> Result<i32> {
    let mut code = 0;
    for n in names {
        let (m, path) = req(n);
        match rt.block_on(c.send_empty::<Option<Value>>(m, &path)) {
            Ok(_) => println!("{n}"),
            Err(berth_client::Error::Api { status: 404, .. }) if missing_ok => {}
            Err(e) => {
                eprintln!("{}", crate::describe(&e.into()));
                code = 1;
            }
        }
    }
    Ok(code)
}

/// An id as docker shows it: without `sha256:`, 12 characters unless `no_trunc`.
pub fn short_id(id: &str, no_trunc: bool) -> String {
    if no_trunc {
        id.to_owned()
    } else {
        id.trim_start_matches("sha256:").chars().take(12).collect()
    }
}
