//! Drawing the UI from the model; works at any terminal size (sections shrink, then
//! drop, from the bottom).

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Borders, LineGauge, Paragraph, Row, Sparkline, Table};
use tessera::format_bytes;

use super::model::{App, Phase, Placement};

/// The keys, shown on the last line.
pub const HELP: &str =
    "r run  w sweep  x cancel  e edit  c chunks  s scheduler  +/- workers  t threads  m memory  k kill  q quit";

/// Draws everything.
pub fn draw(frame: &mut Frame, app: &App, now: Instant) {
    let ops_height = (app.ops.len() as u16 + 3).min(10);
    let rows_height = ((app.rows.len() + app.pending.len()) as u16 + 3).min(12);
    let lanes = app.lanes();
    let stream_height = if lanes.is_empty() { 0 } else { (lanes.len() as u16 + 2).min(10) };
    let [header, progress, workers, stream, history, help] = Layout::vertical([
        Constraint::Length(4),
        Constraint::Length(ops_height),
        Constraint::Length(rows_height),
        Constraint::Length(stream_height),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    draw_header(frame, header, app, now);
    draw_progress(frame, progress, app, now);
    draw_workers(frame, workers, app);
    if stream_height > 0 {
        draw_stream(frame, stream, app, &lanes, now);
    }
    draw_history(frame, history, app);
    frame.render_widget(Paragraph::new(HELP).style(Style::new().add_modifier(Modifier::REVERSED)), help);
}

/// `1 worker`, `2 workers`.
fn count(n: usize, what: &str) -> String {
    if n == 1 { format!("1 {what}") } else { format!("{n} {what}s") }
}

fn place(app: &App) -> String {
    match app.place {
        Placement::SingleThreaded => "single-threaded".to_string(),
        Placement::Threads(n) => format!("threads ({})", count(n, "thread")),
        Placement::LocalCluster { workers, threads_per_worker } => {
            format!("local-cluster ({} x {})", count(workers, "worker"), count(threads_per_worker, "thread"))
        }
        Placement::Cluster(_) => "cluster (from its cluster file)".to_string(),
    }
}

fn draw_header(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let status = match &app.phase {
        Phase::Idle => Span::raw("idle: press r to run"),
        Phase::Running(_) => {
            Span::styled(format!("running {:.1} s", app.elapsed(now).as_secs_f64()), Style::new().fg(Color::Yellow))
        }
        Phase::Done(line) => Span::styled(format!("result: {line}"), Style::new().fg(Color::Green)),
        Phase::Failed(e) => Span::styled(format!("failed: {e}"), Style::new().fg(Color::Red)),
    };
    let expr = match &app.editing {
        Some(text) => {
            Line::from(vec![Span::raw("expr> "), Span::styled(format!("{text}_"), Style::new().fg(Color::Cyan))])
        }
        None => Line::from(vec![Span::raw("expr: "), Span::raw(app.expr.replace('\n', "; "))]),
    };
    let lines = vec![
        expr,
        Line::from(format!(
            "chunks: {}   scheduler: {}   memory limit: {}   log: {}",
            app.chunks(),
            place(app),
            if app.memory_limit == u64::MAX { "none".to_string() } else { format_bytes(app.memory_limit) },
            app.log_path
        )),
        Line::from(status),
    ];
    let block = Block::new().borders(Borders::TOP).title(" tessera ");
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn rate_and_eta(done: u64, total: u64, seconds: f64) -> String {
    if done == 0 || seconds <= 0.0 {
        return String::new();
    }
    let rate = done as f64 / seconds;
    let eta = total.saturating_sub(done) as f64 / rate;
    format!("{rate:>8.0}/s  ETA {eta:>5.1} s")
}

fn gauge_line(frame: &mut Frame, area: Rect, name: &str, done: u64, total: u64, extra: &str) {
    let ratio = if total == 0 { 0.0 } else { (done as f64 / total as f64).clamp(0.0, 1.0) };
    let [label, bar, counts] =
        Layout::horizontal([Constraint::Length(22), Constraint::Min(10), Constraint::Length(42)]).areas(area);
    frame.render_widget(Paragraph::new(name.to_string()), label);
    let gauge = LineGauge::default()
        .filled_style(Style::new().fg(Color::Green))
        .ratio(ratio)
        .label(format!("{:>3.0}%", ratio * 100.0));
    frame.render_widget(gauge, bar);
    frame.render_widget(Paragraph::new(format!(" {done}/{total} {extra}")), counts);
}

fn draw_progress(frame: &mut Frame, area: Rect, app: &App, now: Instant) {
    let block = Block::new().borders(Borders::TOP).title(" progress ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let seconds = app.elapsed(now).as_secs_f64();
    let lines = Layout::vertical(std::iter::repeat_n(Constraint::Length(1), app.ops.len() + 1)).split(inner);
    if let Some(&first) = lines.first() {
        let extra = if app.running() { rate_and_eta(app.done, app.total, seconds) } else { String::new() };
        gauge_line(frame, first, "all tasks", app.done, app.total, &extra);
    }
    for (op, &line) in app.ops.iter().zip(lines.iter().skip(1)) {
        gauge_line(frame, line, &op.name, op.done, op.total, "");
    }
}

fn draw_workers(frame: &mut Frame, area: Rect, app: &App) {
    let title = if matches!(app.place, Placement::Threads(_)) { " threads " } else { " workers " };
    let block = Block::new().borders(Borders::TOP).title(title);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let count = app.rows.len() + app.pending.len() + 1;
    let lines = Layout::vertical(std::iter::repeat_n(Constraint::Length(1), count)).split(inner);
    // Room for ", 314.00 MiB spilled" only once some worker has spilled.
    let spilling = app.rows.iter().any(|r| r.spilled_bytes > 0);
    let memory_width = if spilling { 42 } else { 22 };
    let columns = |line: Rect| {
        Layout::horizontal([
            Constraint::Length(10),
            Constraint::Length(16),
            Constraint::Min(8),
            Constraint::Length(memory_width),
            Constraint::Length(16),
            Constraint::Length(22),
        ])
        .split(line)
    };
    if let Some(&head) = lines.first() {
        let c = columns(head);
        for (i, title) in
            ["name", "cpu", "cpu history", "memory / limit", "tasks run/done", "net in / out"].iter().enumerate()
        {
            let title = if i == 3 && spilling { "memory / limit, spilled" } else { title };
            frame.render_widget(Paragraph::new(title).style(Style::new().add_modifier(Modifier::BOLD)), c[i]);
        }
    }
    for (row, &line) in app.rows.iter().zip(lines.iter().skip(1)) {
        let c = columns(line);
        frame.render_widget(Paragraph::new(row.name.clone()), c[0]);
        let cpu = LineGauge::default()
            .filled_style(Style::new().fg(Color::Cyan))
            .ratio((row.cpu_percent / 100.0).clamp(0.0, 1.0))
            .label(format!("{:>4.0}%", row.cpu_percent));
        frame.render_widget(cpu, c[1]);
        let history: Vec<u64> = row.cpu_history.iter().copied().collect();
        frame.render_widget(Sparkline::default().data(&history).max(100).style(Style::new().fg(Color::Cyan)), c[2]);
        let limit = if row.memory_limit == 0 || row.memory_limit == u64::MAX {
            "-".to_string()
        } else {
            format_bytes(row.memory_limit)
        };
        let spilled = if row.spilled_bytes > 0 {
            format!(", {} spilled", format_bytes(row.spilled_bytes))
        } else {
            String::new()
        };
        frame.render_widget(Paragraph::new(format!(" {} / {limit}{spilled}", format_bytes(row.memory_bytes))), c[3]);
        frame.render_widget(Paragraph::new(format!(" {}/{}", row.running, row.done)), c[4]);
        // Stored-array I/O only when there is some, so rows of pure compute stay short.
        let stored = if row.bytes_read > 0 || row.bytes_written > 0 {
            format!(", disk {} read / {} written", format_bytes(row.bytes_read), format_bytes(row.bytes_written))
        } else {
            String::new()
        };
        frame.render_widget(
            Paragraph::new(format!(" {} / {}{stored}", format_bytes(row.bytes_in), format_bytes(row.bytes_out))),
            c[5],
        );
    }
    // Launched workers that have not joined: their job's state where the numbers go.
    for ((name, state), &line) in app.pending.iter().zip(lines.iter().skip(1 + app.rows.len())) {
        let [name_area, state_area] = Layout::horizontal([Constraint::Length(10), Constraint::Min(1)]).areas(line);
        frame.render_widget(Paragraph::new(name.clone()), name_area);
        frame.render_widget(Paragraph::new(state.clone()).style(Style::new().fg(Color::Yellow)), state_area);
    }
}

/// Colors of operations in the task stream, by operation index.
const OP_COLORS: [Color; 8] = [
    Color::Green,
    Color::Cyan,
    Color::Magenta,
    Color::Yellow,
    Color::Blue,
    Color::Red,
    Color::LightGreen,
    Color::White,
];

/// The longest stretch of time the task stream shows.
const STREAM_WINDOW_S: f64 = 20.0;

/// One strip per lane: which operation ran there over the last seconds of the run.
fn draw_stream(frame: &mut Frame, area: Rect, app: &App, lanes: &[&str], now: Instant) {
    let mut title = vec![Span::raw(" task stream ")];
    for (i, op) in app.ops.iter().enumerate() {
        title.push(Span::styled("■ ", Style::new().fg(OP_COLORS[i % OP_COLORS.len()])));
        title.push(Span::raw(format!("{} ", op.name)));
    }
    let block = Block::new().borders(Borders::TOP).title(Line::from(title));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let end = match app.phase {
        Phase::Running(_) => app.elapsed(now).as_secs_f64(),
        _ => app.spans.iter().map(|s| s.end_s).fold(0.0, f64::max),
    };
    let window = end.clamp(0.5, STREAM_WINDOW_S);
    let origin = end - window;
    let label_width = 12u16;
    let width = inner.width.saturating_sub(label_width) as usize;
    if width == 0 {
        return;
    }
    let cell = window / width as f64;
    let rows = Layout::vertical(std::iter::repeat_n(Constraint::Length(1), lanes.len())).split(inner);
    for (lane, &row) in lanes.iter().zip(rows.iter()) {
        let mut cells: Vec<Option<usize>> = vec![None; width];
        for span in app.spans.iter().filter(|s| s.lane == *lane) {
            let first = ((span.start_s - origin) / cell).floor().max(0.0) as usize;
            let last = ((span.end_s - origin) / cell).ceil().max(0.0) as usize;
            for c in cells.iter_mut().take(last.min(width)).skip(first) {
                *c = Some(span.op);
            }
        }
        let mut line = vec![Span::raw(format!("{:<width$}", lane, width = label_width as usize))];
        line.extend(cells.into_iter().map(|c| match c {
            Some(op) => Span::styled("█", Style::new().fg(OP_COLORS[op % OP_COLORS.len()])),
            None => Span::raw(" "),
        }));
        frame.render_widget(Paragraph::new(Line::from(line)), row);
    }
}

fn draw_history(frame: &mut Frame, area: Rect, app: &App) {
    let block = Block::new().borders(Borders::TOP).title(" history ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // The chart shows the last runs that fit in 40 % of the width.
    let fit = ((inner.width as usize * 2 / 5).saturating_sub(2) / 11).min(app.history.len());
    let shown = &app.history[app.history.len() - fit..];
    let chart_width = if shown.len() >= 2 { shown.len() as u16 * 11 + 2 } else { 0 };
    let [table_area, chart_area] =
        Layout::horizontal([Constraint::Min(0), Constraint::Length(chart_width)]).areas(inner);
    let header = Row::new(["chunks", "scheduler", "result", "wall s", "tasks", "cpu %", "peak mem", "spilled"])
        .style(Style::new().add_modifier(Modifier::BOLD));
    let rows = app.history.iter().rev().map(|r| {
        Row::new(vec![
            r.chunks.clone(),
            r.scheduler.to_string(),
            r.result.clone(),
            format!("{:.3}", r.wall_s),
            r.tasks.to_string(),
            format!("{:.0}", r.cpu_percent),
            format_bytes(r.peak_memory_bytes),
            format_bytes(r.spilled_bytes),
        ])
    });
    let widths = [
        Constraint::Length(11),
        Constraint::Length(14),
        Constraint::Min(12),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(11),
        Constraint::Length(10),
    ];
    frame.render_widget(Table::new(rows, widths).header(header), table_area);
    if chart_width > 0 {
        // Wall time (ms) per run, labelled by chunk size: the seed's experiment at a glance.
        let bars: Vec<Bar> = shown
            .iter()
            .map(|r| {
                Bar::default()
                    .value((r.wall_s * 1000.0).round() as u64)
                    .label(Line::from(r.chunks.clone()))
                    .text_value(format!("{:.2}s", r.wall_s))
            })
            .collect();
        let chart = BarChart::default()
            .block(Block::new().title("wall time by chunks"))
            .data(BarGroup::default().bars(&bars))
            .bar_width(9)
            .bar_gap(2);
        frame.render_widget(chart, chart_area);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::ui::model::{RunRecord, WorkerRow};

    /// A run halfway through on two workers, with two earlier runs in the history.
    fn running_app(now: Instant) -> App {
        let local = Placement::LocalCluster { workers: 2, threads_per_worker: 1 };
        let mut app = App::new("x = ones((20000, 20000), chunks=2000); x.sum()", local, "ui.log");
        app.started(vec![("sum-partial".into(), 100), ("sum-combine".into(), 7), ("sum-aggregate".into(), 1)], now);
        app.phase = Phase::Running(now - Duration::from_secs(2));
        app.progress(&[50, 3, 0]);
        for cpu in [40.0, 90.0, 99.0] {
            app.workers_now(
                ["local-0", "local-1"]
                    .iter()
                    .map(|name| WorkerRow {
                        name: name.to_string(),
                        cpu_percent: cpu,
                        memory_bytes: 12 << 20,
                        memory_limit: 8 << 30,
                        running: 1,
                        done: 26,
                        bytes_in: 4096,
                        bytes_out: 2048,
                        ..WorkerRow::default()
                    })
                    .collect(),
            );
        }
        // Each worker ran partial sums back to back, and worker 1 one combine at the end.
        let spans = (0..20)
            .flat_map(|i| {
                let t = i as f64 * 0.1;
                [("local-0:0", 0, t, t + 0.09), ("local-1:0", 0, t + 0.05, t + 0.1)]
            })
            .chain([("local-1:0", 1, 1.9, 2.0)])
            .map(|(lane, op, start_s, end_s)| crate::ui::model::Span { lane: lane.into(), op, start_s, end_s })
            .collect();
        app.finished_tasks(spans);
        for (chunks, wall) in [("1000x1000", 0.9), ("4000x4000", 0.4)] {
            app.history.push(RunRecord {
                chunks: chunks.into(),
                result: "400000000.0".into(),
                wall_s: wall,
                tasks: 108,
                cpu_percent: 195.0,
                peak_memory_bytes: 30 << 20,
                spilled_bytes: 0,
                scheduler: "cluster",
            });
        }
        app
    }

    fn render(app: &App, now: Instant, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("test backend");
        terminal.draw(|f| draw(f, app, now)).expect("draws");
        terminal.backend().to_string()
    }

    #[test]
    fn main_screen_during_a_cluster_run() {
        let now = Instant::now();
        insta::assert_snapshot!(render(&running_app(now), now, 120, 30));
    }

    #[test]
    fn idle_screen_on_threads() {
        let app = App::new("ones((10,)).sum()", Placement::Threads(4), "ui.log");
        insta::assert_snapshot!(render(&app, Instant::now(), 100, 20));
    }

    #[test]
    fn tiny_terminals_do_not_panic() {
        let now = Instant::now();
        let app = running_app(now);
        for (w, h) in [(1, 1), (10, 3), (40, 8), (200, 5), (20, 60)] {
            let screen = render(&app, now, w, h);
            assert!(!screen.is_empty());
        }
    }

    #[test]
    fn the_help_line_and_progress_are_on_screen() {
        let now = Instant::now();
        let screen = render(&running_app(now), now, 120, 30);
        assert!(screen.contains("q quit"), "{screen}");
        assert!(screen.contains("53/108"), "overall done/total: {screen}");
        assert!(screen.contains("50/100") && screen.contains(" 99%"), "{screen}");
        assert!(screen.contains("wall time by chunks"), "{screen}");
        assert!(screen.contains("task stream") && screen.contains("local-1:0"), "{screen}");
    }

    #[test]
    fn a_spilling_worker_shows_its_spilled_bytes_in_full() {
        let now = Instant::now();
        let mut app = running_app(now);
        app.rows[1].memory_limit = 48 << 20;
        app.rows[1].spilled_bytes = 314 << 20;
        let screen = render(&app, now, 120, 30);
        assert!(screen.contains("12.00 MiB / 48.00 MiB, 314.00 MiB spilled"), "{screen}");
        assert!(screen.contains("memory / limit, spilled"), "{screen}");
    }
}
