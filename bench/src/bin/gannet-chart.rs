//! `gannet-chart`: turns the JSON lines of a comparison run (`scripts/compare.sh`) into the
//! summary JSON, the Markdown table and an SVG chart: 1 -> 1 throughput per payload size and
//! request/reply latency percentiles, gannet against nats-server, and against the second
//! reference (`nats-server-2.9`) when the run raced one. The chart shows single-server runs
//! only; the cluster cases (`--sub-url`) are in the table.
//!
//! ```text
//! gannet-chart --raw docs/perf/run.jsonl --json run.json --md run.md --svg run.svg
//! ```
//!
//! The Markdown table is also printed on stdout.

use anyhow::{bail, Context as _};
use gannet_bench::stats::si;
use gannet_bench::summary::{self, Row, Summary, GANNET, NATS, NATS_SECOND};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: gannet-chart --raw RUN.jsonl [--json OUT.json] [--md OUT.md] [--svg OUT.svg] [--title TEXT] [--meta KEY=VALUE]...";
/// Size of the SVG in pixels.
const CHART_PX: (u32, u32) = (1200, 520);
const GANNET_COLOR: RGBColor = RGBColor(0, 114, 178);
const NATS_COLOR: RGBColor = RGBColor(213, 94, 0);
const SECOND_COLOR: RGBColor = RGBColor(0, 158, 115);
/// Latency percentiles on the chart's x axis, in the order of the summary's metrics.
const PERCENTILES: [&str; 5] = ["p50", "p90", "p99", "p99.9", "max"];

#[derive(Default)]
struct Args {
    raw: Option<PathBuf>,
    json: Option<PathBuf>,
    md: Option<PathBuf>,
    svg: Option<PathBuf>,
    title: Option<String>,
    meta: Vec<(String, String)>,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args::default();
    let mut it = std::env::args().skip(1);
    while let Some(name) = it.next() {
        let mut value = || it.next().with_context(|| format!("{name} needs a value"));
        match name.as_str() {
            "--raw" => a.raw = Some(value()?.into()),
            "--json" => a.json = Some(value()?.into()),
            "--md" => a.md = Some(value()?.into()),
            "--svg" => a.svg = Some(value()?.into()),
            "--title" => a.title = Some(value()?),
            "--meta" => {
                let kv = value()?;
                let (k, v) = kv
                    .split_once('=')
                    .with_context(|| format!("--meta {kv:?}: expected KEY=VALUE"))?;
                a.meta.push((k.to_string(), v.to_string()));
            }
            _ => bail!("unknown argument {name:?}\n{USAGE}"),
        }
    }
    if a.raw.is_none() {
        bail!("{USAGE}");
    }
    Ok(a)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gannet-chart: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let args = parse_args()?;
    let raw = args.raw.as_ref().expect("checked by parse_args");
    let text =
        std::fs::read_to_string(raw).with_context(|| format!("reading {}", raw.display()))?;
    let reports = summary::parse_lines(&text).map_err(anyhow::Error::msg)?;
    let mut sum = summary::summarize(&reports);
    sum.meta = args.meta.clone();
    let md = summary::markdown(&sum);
    print!("{md}");
    if let Some(p) = &args.json {
        let json = serde_json::to_string_pretty(&sum)?;
        std::fs::write(p, json + "\n").with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &args.md {
        std::fs::write(p, &md).with_context(|| format!("writing {}", p.display()))?;
    }
    if let Some(p) = &args.svg {
        let title = args.title.as_deref().unwrap_or("gannet vs nats-server");
        draw(p, &sum, title).with_context(|| format!("drawing {}", p.display()))?;
    }
    Ok(())
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw(path: &PathBuf, sum: &Summary, title: &str) -> anyhow::Result<()> {
    let root = SVGBackend::new(path, CHART_PX).into_drawing_area();
    let result: DrawResult = (|| {
        root.fill(&WHITE)?;
        let root = root.titled(title, ("sans-serif", 22))?;
        let (left, right) = root.split_horizontally(CHART_PX.0 / 2);
        draw_throughput(&left, sum)?;
        draw_latency(&right, sum)?;
        root.present()?;
        Ok(())
    })();
    result.map_err(|e| anyhow::anyhow!("{e}"))
}

/// One server on the charts: its index into [`Row::stats`], legend name and colour.
struct Server {
    side: usize,
    name: String,
    color: RGBColor,
}

/// The servers the run raced. With a second reference, the references are named with their
/// versions from the meta lines (`nats-server 2.15.1`, `nats-server 2.9.10`) to tell them
/// apart; without one, the legend is as it always was.
fn servers(sum: &Summary) -> Vec<Server> {
    let server = |side, name, color| Server { side, name, color };
    let mut v = vec![
        server(0, GANNET.to_string(), GANNET_COLOR),
        server(1, NATS.to_string(), NATS_COLOR),
    ];
    if sum.has_second() {
        v[1].name = summary::reference_name(sum, NATS);
        v.push(server(
            2,
            summary::reference_name(sum, NATS_SECOND),
            SECOND_COLOR,
        ));
    }
    v
}

/// (size, median, min, max) of the 1 -> 1 throughput rows for one server, by size.
fn size_series(sum: &Summary, side: usize) -> Vec<(usize, f64, f64, f64)> {
    let mut v: Vec<_> = sum
        .rows
        .iter()
        .filter(|r| r.case.starts_with("pubsub 1->1 ") && r.metric == "msgs/s" && !r.cross_server)
        .filter_map(|r| {
            let s = r.stats()[side]?;
            Some((r.size, s.median, s.min, s.max))
        })
        .collect();
    v.sort_by_key(|p| p.0);
    v
}

/// The label of category `v` on a segmented axis.
fn category<'a>(names: &'a [String], v: &SegmentValue<i32>) -> &'a str {
    match v {
        SegmentValue::Exact(i) | SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| names.get(i))
            .map_or("", String::as_str),
        SegmentValue::Last => "",
    }
}

fn draw_throughput<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, sum: &Summary) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let series: Vec<_> = servers(sum)
        .into_iter()
        .map(|s| (s.name, s.color, size_series(sum, s.side)))
        .collect();
    let mut sizes: Vec<usize> = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.0))
        .collect();
    sizes.sort_unstable();
    sizes.dedup();
    if sizes.is_empty() {
        return note(area, "no pubsub 1->1 results");
    }
    let names: Vec<String> = sizes.iter().map(|&s| size_label(s)).collect();
    let x_of = |size: usize| {
        SegmentValue::CenterOf(sizes.iter().position(|&s| s == size).unwrap_or(0) as i32)
    };
    let all = series.iter().flat_map(|s| s.2.iter());
    let y_lo = all.clone().map(|p| p.2).fold(f64::INFINITY, f64::min);
    let y_hi = all.map(|p| p.3).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "1 -> 1 pub/sub throughput by payload size",
            ("sans-serif", 17),
        )
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (0..sizes.len() as i32 - 1).into_segmented(),
            (y_lo / 1.5..y_hi * 1.5).log_scale(),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(sizes.len())
        .x_label_formatter(&|v| category(&names, v).to_string())
        .x_desc("payload bytes")
        .y_desc("messages/s (median, bar: min–max)")
        .y_label_formatter(&|y| si(*y))
        .draw()?;
    for (name, color, points) in series {
        if points.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                points.iter().map(|p| (x_of(p.0), p.1)),
                color.stroke_width(2),
            ))?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart.draw_series(
            points
                .iter()
                .map(|p| Circle::new((x_of(p.0), p.1), 4, color.filled())),
        )?;
        chart.draw_series(points.iter().map(|p| {
            PathElement::new(
                vec![(x_of(p.0), p.2), (x_of(p.0), p.3)],
                color.stroke_width(1),
            )
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn size_label(n: usize) -> String {
    if n >= 1024 && n.is_multiple_of(1024) {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} B")
    }
}

/// The single-server rows of a latency scenario: the chart leaves the cluster runs (their
/// own rows in the table) out, as their route hop would make a second, slower curve.
fn latency_rows<'a>(sum: &'a Summary, scenario: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
    sum.rows
        .iter()
        .filter(move |r| r.scenario == scenario && !r.cross_server)
}

/// Median latency per percentile for one latency scenario and server.
fn latency_series(sum: &Summary, scenario: &str, side: usize) -> Vec<(SegmentValue<i32>, f64)> {
    let rows: Vec<&Row> = latency_rows(sum, scenario).collect();
    PERCENTILES
        .iter()
        .enumerate()
        .filter_map(|(i, p)| {
            let r = rows.iter().find(|r| r.metric == *p)?;
            let s = r.stats()[side]?;
            Some((SegmentValue::CenterOf(i as i32), s.median))
        })
        .collect()
}

fn draw_latency<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, sum: &Summary) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let closed = latency_rows(sum, "req").next();
    let open = latency_rows(sum, "req-open").next();
    let raced = servers(sum);
    let mut series = Vec::new();
    for (closed_loop, scenario, how) in [(true, "req", "closed"), (false, "req-open", "open")] {
        for s in &raced {
            series.push((
                format!("{} {how} loop", s.name),
                s.color,
                latency_series(sum, scenario, s.side),
                closed_loop,
            ));
        }
    }
    let values: Vec<f64> = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .collect();
    if values.is_empty() {
        return note(area, "no request/reply results");
    }
    let y_lo = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .max(0.1);
    let y_hi = values.iter().copied().fold(0.0, f64::max).max(y_lo * 2.0);
    let mut caption = "request/reply latency".to_string();
    if let Some(r) = closed.or(open) {
        caption.push_str(&format!(", {} B", r.size));
    }
    // The case is `req open <rate>/s <size>B`.
    if let Some(rate) = open.and_then(|r| r.case.split_whitespace().nth(2)) {
        caption.push_str(&format!(" (open loop at {rate})"));
    }
    let names: Vec<String> = PERCENTILES.iter().map(|p| p.to_string()).collect();
    let mut chart = ChartBuilder::on(area)
        .caption(caption, ("sans-serif", 17))
        .margin(12)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(
            (0..PERCENTILES.len() as i32 - 1).into_segmented(),
            (y_lo / 1.5..y_hi * 1.5).log_scale(),
        )?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(PERCENTILES.len())
        .x_label_formatter(&|v| category(&names, v).to_string())
        .x_desc("percentile (median of runs)")
        .y_desc("microseconds")
        .y_labels(8)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;
    for (name, color, points, closed) in series {
        if points.is_empty() {
            continue;
        }
        let style = if closed {
            color.stroke_width(2)
        } else {
            color.mix(0.55).stroke_width(2)
        };
        chart
            .draw_series(LineSeries::new(points.iter().cloned(), style))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        if closed {
            chart.draw_series(
                points
                    .iter()
                    .map(|p| Circle::new(p.clone(), 4, color.filled())),
            )?;
        } else {
            chart.draw_series(
                points
                    .iter()
                    .map(|p| TriangleMarker::new(p.clone(), 5, color.mix(0.55).filled())),
            )?;
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

fn note<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, text: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    area.draw(&Text::new(text.to_string(), (40, 60), ("sans-serif", 16)))?;
    Ok(())
}
