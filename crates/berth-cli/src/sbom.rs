//! `berth sbom IMAGE` (the daemon catalogues the image's unpacked layers:
//! `GET /images/{name}/sbom`) and `berth sbom --input ARCHIVE` (a `docker save` or OCI
//! archive catalogued here, no daemon needed): CycloneDX, SPDX, Berth's JSON or a table.

use std::path::PathBuf;

use anyhow::{Result, bail};
use berth_client::{enc, query};

use crate::{Global, connect};

#[derive(Debug, clap::Args)]
pub struct SbomArgs {
    /// Output format: cyclonedx-json, spdx-json, json or table
    #[arg(long, default_value = "table")]
    format: String,
    /// Write to a file instead of the standard output
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// An image archive (`docker save`'s or an OCI layout tar) instead of an image of the daemon
    #[arg(long)]
    input: Option<PathBuf>,
    /// The image
    image: Option<String>,
}

pub fn sbom(g: &Global, a: SbomArgs) -> Result<i32> {
    if !matches!(
        a.format.as_str(),
        "cyclonedx-json" | "spdx-json" | "json" | "table"
    ) {
        bail!(
            "unknown format {:?}: use cyclonedx-json, spdx-json, json or table",
            a.format
        );
    }
    let text = match (&a.input, &a.image) {
        (Some(path), None) => {
            let (view, name) = berth_sbom::archive::view(path)?;
            let s = berth_sbom::catalog(&view, &name);
            match a.format.as_str() {
                "cyclonedx-json" => berth_sbom::format::cyclonedx(&s),
                "spdx-json" => berth_sbom::format::spdx(&s),
                "json" => serde_json::to_string_pretty(&s)? + "\n",
                _ => berth_sbom::format::table(&s),
            }
        }
        (None, Some(image)) => {
            let (rt, c) = connect(g)?;
            let mut body = Vec::new();
            rt.block_on(c.download(
                &format!(
                    "/images/{}/sbom{}",
                    enc(image),
                    query(&[("format", a.format.as_str())])
                ),
                &mut body,
            ))?;
            String::from_utf8_lossy(&body).into_owned()
        }
        (Some(_), Some(_)) => bail!("give an image or --input, not both"),
        (None, None) => bail!("\"berth sbom\" requires an image or --input ARCHIVE"),
    };
    match &a.output {
        Some(p) => std::fs::write(p, text)?,
        None => print!("{text}"),
    }
    Ok(0)
}
