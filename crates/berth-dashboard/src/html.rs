//! HTML: escaping, the page layout (a skip link, the navigation, the signed-in user and a
//! sign-out button), and charts drawn as inline SVG (no script needed to see them).

use axum::response::Html;

use crate::auth::User;

/// Text or an attribute value, escaped.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn head(title: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · Berth</title><link rel="stylesheet" href="/assets/app.css">
<script src="/assets/term.js" defer></script><script src="/assets/app.js" defer></script></head>"#,
        esc(title)
    )
}

/// A page without navigation (sign-in, refusals).
pub fn page_bare(title: &str, main: &str) -> Html<String> {
    Html(format!("{}<body>{main}</body></html>", head(title)))
}

const NAV: [(&str, &str); 9] = [
    ("/", "Overview"),
    ("/containers", "Containers"),
    ("/images", "Images"),
    ("/networks", "Networks"),
    ("/volumes", "Volumes"),
    ("/stacks", "Stacks"),
    ("/events", "Events"),
    ("/sandboxes", "Sandboxes"),
    ("/audit", "Audit log"),
];

/// A page with the navigation; `main` is the page's own HTML.
pub fn page(user: &User, active: &str, title: &str, main: &str) -> Html<String> {
    let nav: String = NAV
        .iter()
        .map(|(href, label)| {
            let cur = if *href == active {
                r#" aria-current="page""#
            } else {
                ""
            };
            format!(r#"<li><a href="{href}"{cur}>{label}</a></li>"#)
        })
        .collect();
    Html(format!(
        r##"{head}<body data-csrf="{csrf}" data-role="{role}">
<a class="skip" href="#main">Skip to content</a>
<header><nav aria-label="Main"><ul>{nav}</ul></nav>
<form method="post" action="/logout" class="whoami"><input type="hidden" name="csrf" value="{csrf}">
<span>{user} ({role})</span> <button type="submit">Sign out</button></form></header>
<main id="main" tabindex="-1"><h1>{title}</h1>{main}</main></body></html>"##,
        head = head(title),
        csrf = esc(&user.csrf),
        role = user.role.as_str(),
        user = esc(&user.name),
        title = esc(title),
    ))
}

/// A small line of `values` (the last one rightmost) as inline SVG.
pub fn sparkline(values: &[f64], label: &str) -> String {
    let (w, h) = (120.0, 24.0);
    let max = values.iter().copied().fold(0.0f64, f64::max).max(1e-9);
    let n = values.len().max(2) as f64 - 1.0;
    let pts: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * w / n,
                h - v / max * (h - 2.0) - 1.0
            )
        })
        .collect();
    format!(
        r#"<svg class="spark" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{}"><polyline points="{}"/></svg>"#,
        esc(label),
        pts.join(" ")
    )
}

/// A chart of (seconds, value) points with its maximum written, as inline SVG.
pub fn chart(points: &[(f64, f64)], label: &str, unit: &str) -> String {
    let (w, h) = (600.0, 160.0);
    if points.len() < 2 {
        return format!(
            r#"<p class="chart-empty" data-chart="{}">No samples yet.</p>"#,
            esc(label)
        );
    }
    let (t0, t1) = (
        points[0].0,
        points[points.len() - 1].0.max(points[0].0 + 1.0),
    );
    let max = points.iter().map(|p| p.1).fold(0.0f64, f64::max).max(1e-9);
    let pts: Vec<String> = points
        .iter()
        .map(|(t, v)| {
            format!(
                "{:.1},{:.1}",
                (t - t0) / (t1 - t0) * w,
                h - v / max * (h - 10.0) - 5.0
            )
        })
        .collect();
    format!(
        r#"<figure class="chart" data-chart="{l}"><svg viewBox="0 0 {w} {h}" role="img" aria-label="{l}: {n} samples, at most {max:.2}{u}"><polyline points="{p}"/></svg><figcaption>{l} (max {max:.2}{u}, {n} samples)</figcaption></figure>"#,
        l = esc(label),
        u = esc(unit),
        n = points.len(),
        p = pts.join(" ")
    )
}

/// A POST button for an action (its CSRF token inside the form).
pub fn action(csrf: &str, href: &str, label: &str, danger: bool) -> String {
    let class = if danger { r#" class="danger""# } else { "" };
    format!(
        r#"<form method="post" action="{}" class="inline"><input type="hidden" name="csrf" value="{}"><button type="submit"{class}>{}</button></form>"#,
        esc(href),
        esc(csrf),
        esc(label)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_charts_drawn() {
        assert_eq!(
            esc(r#"<a href="x">'&'"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;"
        );
        let s = sparkline(&[0.0, 1.0, 2.0], "cpu");
        assert!(s.contains("polyline") && s.contains("120.0,1.0"), "{s}");
        assert!(chart(&[(0.0, 1.0)], "cpu", "%").contains("No samples"));
        assert!(chart(&[(0.0, 1.0), (10.0, 2.0)], "cpu", "%").contains("2 samples"));
    }
}
