//! The TUI's config file (YAML, lazydocker's spirit): keys and colours.
//!
//! ```yaml
//! keys: { stop: s, restart: r, remove: d, pause: p, exec: E, attach: a }
//! colors: { accent: cyan, selected: blue }
//! ```

use anyhow::{Result, anyhow};
use ratatui::style::Color;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Keys {
    pub stop: char,
    pub restart: char,
    pub remove: char,
    pub pause: char,
    pub exec: char,
    pub attach: char,
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            stop: 's',
            restart: 'r',
            remove: 'd',
            pause: 'p',
            exec: 'E',
            attach: 'a',
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Colors {
    pub accent: String,
    pub selected: String,
}

impl Default for Colors {
    fn default() -> Self {
        Colors {
            accent: "cyan".into(),
            selected: "blue".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Config {
    pub keys: Keys,
    pub colors: Colors,
}

/// A colour by name (ratatui's names: red, lightblue, #rrggbb, …).
pub fn color(s: &str) -> Color {
    s.parse().unwrap_or(Color::Cyan)
}

impl Config {
    /// `path`, else $XDG_CONFIG_HOME/berth/tui.yml (or ~/.config/…); none there: defaults.
    pub fn load(path: Option<&std::path::Path>) -> Result<Config> {
        let p = match path {
            Some(p) => p.to_owned(),
            None => {
                let base = std::env::var_os("XDG_CONFIG_HOME")
                    .map(std::path::PathBuf::from)
                    .or_else(|| {
                        std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".config"))
                    });
                match base {
                    Some(b) => b.join("berth/tui.yml"),
                    None => return Ok(Config::default()),
                }
            }
        };
        match std::fs::read_to_string(&p) {
            Ok(t) => serde_yaml_ng::from_str(&t).map_err(|e| anyhow!("{}: {e}", p.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && path.is_none() => {
                Ok(Config::default())
            }
            Err(e) => Err(anyhow!("{}: {e}", p.display())),
        }
    }
}
