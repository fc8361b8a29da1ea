//! Local image commands: `images`, `inspect`, `tag`, `rmi`, `image prune`, `history`.

use anyhow::{Result, bail};
use berth_client::{Method, query};
use berth_models::image::{DeleteItem, HistoryItem, PruneResponse, Summary};
use clap::Args;
use serde::Serialize;
use serde_json::Value;

use crate::output::{confirm, filters, filters_query, print_formatted, print_inspected, short_id};
use crate::registry::{reference, repository};
use crate::run::start::post_empty;
use crate::units::{go_time, human_duration, human_size, now};
use crate::{Global, connect};

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short, long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided
    #[arg(short, long)]
    filter: Vec<String>,
    /// Format output using a custom template ('table', 'table TEMPLATE', 'json', 'TEMPLATE')
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Only this repository[:tag]
    reference: Option<String>,
}

const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("ID", "IMAGE ID"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
    ("VirtualSize", "VIRTUAL SIZE"),
];

/// One row of `images`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Row {
    containers: String,
    created_at: String,
    created_since: String,
    digest: String,
    #[serde(rename = "ID")]
    id: String,
    repository: String,
    shared_size: String,
    size: String,
    tag: String,
    unique_size: String,
    virtual_size: String,
}

/// (repository, tag, digest) rows of one image, as docker lists them.
fn names_of(s: &Summary, by_reference: bool) -> Vec<(String, String, String)> {
    let tags: Vec<&String> = s
        .repo_tags
        .iter()
        .filter(|t| *t != "<none>:<none>")
        .collect();
    let digests: Vec<&String> = s
        .repo_digests
        .iter()
        .filter(|t| *t != "<none>@<none>")
        .collect();
    let digest_for = |repo: &str| {
        digests
            .iter()
            .find(|d| d.split('@').next() == Some(repo))
            .and_then(|d| d.split('@').nth(1))
            .unwrap_or("<none>")
            .to_owned()
    };
    let mut names: Vec<(String, String, String)> = Vec::new();
    for t in tags {
        let (repo, tag) = match t.rsplit_once(':') {
            Some((r, tg)) if !tg.contains('/') => (r.to_owned(), tg.to_owned()),
            _ => (t.clone(), "<none>".into()),
        };
        let d = digest_for(&repo);
        names.push((repo, tag, d));
    }
    if !by_reference {
        for rd in &digests {
            if let Some((repo, d)) = rd.split_once('@') {
                if !names.iter().any(|(r, _, _)| r == repo) {
                    names.push((repo.to_owned(), "<none>".into(), d.to_owned()));
                }
            }
        }
    }
    if names.is_empty() {
        names.push(("<none>".into(), "<none>".into(), "<none>".into()));
    }
    names
}

pub fn ls(g: &Global, a: LsArgs) -> Result<i32> {
    let _ = a.all;
    let mut f = filters(&a.filter)?;
    if let Some(r) = &a.reference {
        f.add("reference", r);
    }
    let (rt, c) = connect(g)?;
    let list: Vec<Summary> = rt.block_on(c.get(&format!(
        "/images/json{}",
        query(&[("filters", &f.to_json())])
    )))?;
    let by_reference = f.contains("reference");
    let mut rows = Vec::new();
    for s in &list {
        let size = human_size(s.size as f64);
        for (repository, tag, digest) in names_of(s, by_reference) {
            rows.push(Row {
                containers: "N/A".into(),
                created_at: go_time(s.created),
                created_since: format!("{} ago", human_duration(now() - s.created)),
                digest,
                id: short_id(&s.id, a.no_trunc),
                repository,
                shared_size: "N/A".into(),
                size: size.clone(),
                tag,
                unique_size: "N/A".into(),
                virtual_size: size.clone(),
            });
        }
    }
    if a.quiet {
        let mut seen = std::collections::HashSet::new();
        for r in &rows {
            if seen.insert(r.id.clone()) {
                println!("{}", r.id);
            }
        }
        return Ok(0);
    }
    let mut cols = vec![("Repository", "REPOSITORY"), ("Tag", "TAG")];
    if a.digests {
        cols.push(("Digest", "DIGEST"));
    }
    cols.extend([
        ("ID", "IMAGE ID"),
        ("CreatedSince", "CREATED"),
        ("Size", "SIZE"),
    ]);
    print_formatted(a.format.as_deref(), &cols, IMAGE_HEADERS, &rows)?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short, long)]
    format: Option<String>,
    /// Only images (the only kind Berth inspects so far)
    #[arg(long = "type")]
    pub(crate) kind: Option<String>,
    /// Display total file sizes (containers only)
    #[arg(short, long)]
    size: bool,
    #[arg(required = true)]
    names: Vec<String>,
}

pub fn inspect(g: &Global, a: InspectArgs) -> Result<i32> {
    if let Some(k) = a
        .kind
        .as_deref()
        .filter(|k| *k != "image" && *k != "container")
    {
        bail!("\"{k}\" is not a valid value for --type");
    }
    let _ = a.size;
    let (rt, c) = connect(g)?;
    let mut found = Vec::new();
    let mut code = 0;
    let mut missing = Vec::new();
    let containers_too = a.kind.is_none() || a.kind.as_deref() == Some("container");
    let images_too = a.kind.as_deref() != Some("container");
    for n in &a.names {
        if containers_too {
            if let Ok(v) = rt.block_on(c.get::<Value>(&format!("/containers/{n}/json"))) {
                found.push(v);
                continue;
            }
        }
        if !images_too {
            missing.push(format!("Error: No such container: {n}"));
            code = 1;
            continue;
        }
        match rt.block_on(c.get::<Value>(&format!("/images/{n}/json"))) {
            Ok(v) => found.push(v),
            Err(berth_client::Error::Api { status: 404, .. }) => {
                missing.push(if a.kind.is_none() {
                    format!("Error: No such object: {n}")
                } else {
                    format!("Error: No such image: {n}")
                });
                code = 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    print_inspected(found, a.format.as_deref())?;
    for m in missing {
        eprintln!("{m}");
    }
    Ok(code)
}

#[derive(Debug, Args)]
pub struct TagArgs {
    source: String,
    target: String,
}

pub fn tag(g: &Global, a: TagArgs) -> Result<i32> {
    let target = reference(&a.target)?;
    let repo = repository(&target);
    let (rt, c) = connect(g)?;
    post_empty(
        &rt,
        &c,
        &format!(
            "/images/{}/tag{}",
            a.source,
            query(&[
                ("repo", &repo),
                ("tag", target.tag.as_deref().unwrap_or("latest"))
            ])
        ),
    )?;
    Ok(0)
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short, long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    no_prune: bool,
    #[arg(required = true)]
    images: Vec<String>,
}

pub fn rmi(g: &Global, a: RmiArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let mut code = 0;
    for name in &a.images {
        let mut q: Vec<(&str, &str)> = Vec::new();
        if a.force {
            q.push(("force", "1"));
        }
        if a.no_prune {
            q.push(("noprune", "1"));
        }
        match rt.block_on(
            c.send_empty::<Vec<DeleteItem>>(
                Method::DELETE,
                &format!("/images/{name}{}", query(&q)),
            ),
        ) {
            Ok(items) => {
                for item in items {
                    match item {
                        DeleteItem::Untagged(u) => println!("Untagged: {u}"),
                        DeleteItem::Deleted(d) => println!("Deleted: {d}"),
                    }
                }
            }
            Err(e) => {
                eprintln!("{}", crate::describe(&anyhow::Error::from(e)));
                code = 1;
            }
        }
    }
    Ok(code)
}

/// A prune's removed images, as docker prints them.
pub fn print_deleted_images(items: Option<&[DeleteItem]>, blank_after: bool) {
    let items = items.unwrap_or_default();
    if items.is_empty() {
        return;
    }
    println!("Deleted Images:");
    for item in items {
        match item {
            DeleteItem::Untagged(u) => println!("untagged: {u}"),
            DeleteItem::Deleted(d) => println!("deleted: {d}"),
        }
    }
    if blank_after {
        println!();
    }
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short, long)]
    all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long)]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short, long)]
    force: bool,
}

pub fn prune(g: &Global, a: PruneArgs) -> Result<i32> {
    let what = if a.all {
        "WARNING! This will remove all images without at least one container associated to them."
    } else {
        "WARNING! This will remove all dangling images."
    };
    if !a.force && !confirm(what)? {
        return Ok(0);
    }
    let mut f = filters(&a.filter)?;
    if a.all {
        f.add("dangling", "false");
    }
    let (rt, c) = connect(g)?;
    let v: PruneResponse =
        rt.block_on(c.send_empty(Method::POST, &format!("/images/prune{}", filters_query(&f))))?;
    print_deleted_images(v.images_deleted.as_deref(), true);
    println!(
        "Total reclaimed space: {}",
        human_size(v.space_reclaimed as f64)
    );
    Ok(0)
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    image: String,
}

/// One row of `history`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct HistoryRow {
    #[serde(rename = "ID")]
    id: String,
    created_since: String,
    created_at: String,
    created_by: String,
    size: String,
    comment: String,
}

pub fn history(g: &Global, a: HistoryArgs) -> Result<i32> {
    let (rt, c) = connect(g)?;
    let items: Vec<HistoryItem> = rt.block_on(c.get(&format!("/images/{}/history", a.image)))?;
    let id_of = |id: &str| {
        if id == "<missing>" {
            id.to_owned()
        } else {
            short_id(id, a.no_trunc)
        }
    };
    if a.quiet {
        for h in &items {
            println!("{}", id_of(&h.id));
        }
        return Ok(0);
    }
    let rows: Vec<HistoryRow> = items
        .iter()
        .map(|h| {
            let by = h.created_by.replace('\t', " ");
            let by = if a.no_trunc || by.chars().count() <= 45 {
                by
            } else {
                format!("{}…", by.chars().take(44).collect::<String>())
            };
            HistoryRow {
                id: id_of(&h.id),
                created_since: if a.human {
                    format!("{} ago", human_duration(now() - h.created))
                } else {
                    crate::units::rfc3339(h.created)
                },
                created_at: crate::units::rfc3339(h.created),
                created_by: by,
                size: if a.human {
                    human_size(h.size as f64)
                } else {
                    h.size.to_string()
                },
                comment: h.comment.clone(),
            }
        })
        .collect();
    print_formatted(
        a.format.as_deref(),
        &[
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedBy", "CREATED BY"),
            ("Size", "SIZE"),
            ("Comment", "COMMENT"),
        ],
        &[
            ("ID", "IMAGE"),
            ("CreatedSince", "CREATED"),
            ("CreatedAt", "CREATED AT"),
            ("CreatedBy", "CREATED BY"),
            ("Size", "SIZE"),
            ("Comment", "COMMENT"),
        ],
        &rows,
    )?;
    Ok(0)
}
