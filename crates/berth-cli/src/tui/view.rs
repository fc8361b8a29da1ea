//! Drawing: the panels on the left, the main view with its tabs on the right, the status
//! line, and popups (help, confirmations, menus).

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Clear, List, ListItem, ListState, Paragraph, Sparkline, Tabs, Wrap,
};

use super::{App, PANELS, Panel, Popup};

pub type Term = ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>;

/// Take the terminal: raw mode, the alternate screen, the mouse.
pub fn enter() -> anyhow::Result<Term> {
    crossterm::terminal::enable_raw_mode()?;
    crossterm::execute!(
        std::io::stdout(),
        crossterm::terminal::EnterAlternateScreen,
        crossterm::event::EnableMouseCapture
    )?;
    Ok(ratatui::Terminal::new(
        ratatui::backend::CrosstermBackend::new(std::io::stdout()),
    )?)
}

/// Give it back as it was.
pub fn leave(t: &mut Term) -> anyhow::Result<()> {
    crossterm::terminal::disable_raw_mode()?;
    crossterm::execute!(
        t.backend_mut(),
        crossterm::event::DisableMouseCapture,
        crossterm::terminal::LeaveAlternateScreen
    )?;
    t.show_cursor()?;
    Ok(())
}

fn title(p: Panel) -> &'static str {
    match p {
        Panel::Project => "Project",
        Panel::Containers => "Containers",
        Panel::Images => "Images",
        Panel::Volumes => "Volumes",
        Panel::Networks => "Networks",
    }
}

pub fn draw(f: &mut Frame, app: &mut App) {
    let accent = super::config::color(&app.cfg.colors.accent);
    let selected = super::config::color(&app.cfg.colors.selected);
    let outer = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(3), Constraint::Length(1)])
        .split(f.area());
    let cols = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(33), Constraint::Percentage(67)])
        .split(outer[0]);
    let panels: Vec<Panel> = PANELS
        .iter()
        .copied()
        .filter(|p| *p != Panel::Project || app.project.is_some())
        .collect();
    let constraints: Vec<Constraint> = panels
        .iter()
        .map(|p| {
            if *p == app.panel {
                Constraint::Min(5)
            } else {
                Constraint::Length(5)
            }
        })
        .collect();
    let areas = Layout::default()
        .direction(Direction::Vertical)
        .constraints(constraints)
        .split(cols[0]);
    app.hit.clear();
    for (p, area) in panels.iter().zip(areas.iter()) {
        let rows = app.rows(*p);
        let focused = *p == app.panel;
        let mut t = format!(" {} ({}) ", title(*p), rows.len());
        if *p == Panel::Project {
            t = format!(" Project: {} ", app.project.clone().unwrap_or_default());
        }
        if focused && (app.filtering || !app.filter.is_empty()) {
            t.push_str(&format!("/{} ", app.filter));
        }
        let items: Vec<ListItem> = rows
            .iter()
            .map(|(_, name, extra)| {
                let st = match extra.as_str() {
                    "running" => Style::default().fg(ratatui::style::Color::Green),
                    "exited" | "dead" => Style::default().fg(ratatui::style::Color::Red),
                    "paused" => Style::default().fg(ratatui::style::Color::Yellow),
                    _ => Style::default(),
                };
                ListItem::new(Line::from(vec![
                    Span::styled(format!("{extra:<9} "), st),
                    Span::raw(name.clone()),
                ]))
            })
            .collect();
        let border = if focused {
            Style::default().fg(accent)
        } else {
            Style::default()
        };
        let list = List::new(items)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(t)
                    .border_style(border),
            )
            .highlight_style(Style::default().bg(selected).add_modifier(Modifier::BOLD));
        let mut state = ListState::default();
        if focused && !rows.is_empty() {
            let i = PANELS.iter().position(|x| x == p).unwrap_or(1);
            state.select(Some(app.selected[i].min(rows.len() - 1)));
        }
        f.render_stateful_widget(list, *area, &mut state);
        app.hit.push((
            *p,
            Rect {
                x: area.x + 1,
                y: area.y + 1,
                width: area.width.saturating_sub(2),
                height: area.height.saturating_sub(2),
            },
        ));
    }
    main_view(f, app, cols[1], accent);
    let status = if let Some(d) = &app.down {
        Line::from(Span::styled(
            format!(" daemon unreachable: {d} (retrying)"),
            Style::default().fg(ratatui::style::Color::Red),
        ))
    } else if !app.status.is_empty() {
        Line::from(format!(" {}", app.status))
    } else {
        Line::from(
            " ?: help  q: quit  /: filter  [ ]: tabs  s: stop  r: restart  d: remove  x: menu",
        )
    };
    f.render_widget(Paragraph::new(status), outer[1]);
    popup(f, app);
}

fn main_view(f: &mut Frame, app: &App, area: Rect, accent: ratatui::style::Color) {
    let tabs = app.tabs();
    let tab = app.tab.min(tabs.len() - 1);
    let parts = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Length(3), Constraint::Min(1)])
        .split(area);
    let name = app.current().map(|c| c.1).unwrap_or_default();
    f.render_widget(
        Tabs::new(tabs.iter().map(|t| Line::from(*t)).collect::<Vec<_>>())
            .select(tab)
            .highlight_style(Style::default().fg(accent).add_modifier(Modifier::BOLD))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {name} ")),
            ),
        parts[0],
    );
    let body = parts[1];
    let block = Block::default().borders(Borders::ALL);
    let is_container = matches!(app.panel, Panel::Containers | Panel::Project);
    match (is_container, tabs[tab]) {
        (true, "Logs") => {
            let lines: Vec<&str> = app.logs.lines().collect();
            let h = body.height.saturating_sub(2) as usize;
            let shown = lines[lines.len().saturating_sub(h)..].join("\n");
            f.render_widget(Paragraph::new(shown).block(block.title(" Logs ")), body);
        }
        (true, "Stats") => {
            let rows = Layout::default()
                .direction(Direction::Vertical)
                .constraints([Constraint::Percentage(50), Constraint::Percentage(50)])
                .split(body);
            let cpu_now = app.cpu.last().copied().unwrap_or(0) as f64 / 100.0;
            f.render_widget(
                Sparkline::default()
                    .block(
                        Block::default()
                            .borders(Borders::ALL)
                            .title(format!(" CPU {cpu_now:.2}% ")),
                    )
                    .data(&app.cpu)
                    .style(Style::default().fg(accent)),
                rows[0],
            );
            let (m, l) = app.mem_now;
            f.render_widget(
                Sparkline::default()
                    .block(Block::default().borders(Borders::ALL).title(format!(
                        " Memory {} / {} ",
                        berth_units::human_size(m as f64),
                        berth_units::human_size(l as f64)
                    )))
                    .data(&app.mem)
                    .style(Style::default().fg(accent)),
                rows[1],
            );
        }
        (true, "Env") => {
            let env: Vec<String> = app
                .inspect
                .as_ref()
                .and_then(|v| v["Config"]["Env"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .filter_map(|e| e.as_str().map(str::to_owned))
                .collect();
            f.render_widget(
                Paragraph::new(env.join("\n")).block(block.title(" Env ")),
                body,
            );
        }
        (true, "Top") => {
            f.render_widget(
                Paragraph::new(app.top.join("\n")).block(block.title(" Top ")),
                body,
            );
        }
        _ => {
            let text = if is_container {
                app.inspect
                    .as_ref()
                    .map(|v| serde_json::to_string_pretty(v).unwrap_or_default())
                    .unwrap_or_default()
            } else {
                let cur = app.current();
                let id = cur.as_ref().map(|c| c.0.clone()).unwrap_or_default();
                let v = match app.panel {
                    Panel::Images => app
                        .lists
                        .images
                        .iter()
                        .find(|i| i.id == id)
                        .and_then(|i| serde_json::to_value(i).ok()),
                    Panel::Volumes => app
                        .lists
                        .volumes
                        .iter()
                        .find(|x| x.name == id)
                        .and_then(|x| serde_json::to_value(x).ok()),
                    _ => app
                        .lists
                        .networks
                        .iter()
                        .find(|n| n.id == id)
                        .and_then(|n| serde_json::to_value(n).ok()),
                };
                v.map(|v| serde_json::to_string_pretty(&v).unwrap_or_default())
                    .unwrap_or_default()
            };
            f.render_widget(
                Paragraph::new(text)
                    .wrap(Wrap { trim: false })
                    .block(block.title(" Config ")),
                body,
            );
        }
    }
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

const HELP: &str = "j/k, ↑/↓   move           tab, ←/→, 1-5   panels
[ ]        tabs           m               logs
s          stop           r               restart
p          pause/unpause  d               remove (asks)
E          exec shell     a               attach
/          filter         esc             clear filter
x          menu           b               bulk commands
?          this help      q, ctrl-c       quit
mouse: click to select, wheel to move";

fn popup(f: &mut Frame, app: &App) {
    let area = f.area();
    match &app.popup {
        Popup::None => {}
        Popup::Help => {
            let r = centered(area, 64, 12);
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(HELP).block(
                    Block::default()
                        .borders(Borders::ALL)
                        .title(" Keys (any key closes) "),
                ),
                r,
            );
        }
        Popup::Confirm(q, _) => {
            let r = centered(area, (q.len() as u16 + 4).max(30), 3);
            f.render_widget(Clear, r);
            f.render_widget(
                Paragraph::new(q.as_str())
                    .block(Block::default().borders(Borders::ALL).title(" Confirm ")),
                r,
            );
        }
        Popup::Menu(t, items, i) => {
            let r = centered(area, 40, items.len() as u16 + 2);
            f.render_widget(Clear, r);
            let list = List::new(
                items
                    .iter()
                    .map(|(_, l)| ListItem::new(l.as_str()))
                    .collect::<Vec<_>>(),
            )
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!(" {t} ")),
            )
            .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
            let mut st = ListState::default();
            st.select(Some(*i));
            f.render_stateful_widget(list, r, &mut st);
        }
    }
}
