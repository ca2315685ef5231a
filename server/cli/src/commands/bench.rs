//! `precedent bench lm`: how fast the language model loads, prefills and decodes
//! (`bench style` and `bench hints` are in bench_hints.rs).

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use precedent_engine::lm::LanguageModel;
use precedent_engine::runtime;

use crate::options::GlobalOptions;

/// Measure speed (medians of several runs, after one warm-up run)
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    target: Target,
}

#[derive(clap::Subcommand)]
enum Target {
    Lm(LmArgs),
    Style(super::bench_hints::StyleArgs),
    Hints(super::bench_hints::HintsArgs),
}

/// Language model: load time, prefill tokens/s, one-token decode latency with a KV cache
///
/// Prefill runs --prefill tokens in a fresh context (logits of the last position only, as when
/// serving). Decode runs one token after --past cached tokens. Times include the hand-off to
/// the model's worker thread, as every caller sees them.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
struct LmArgs {
    /// Timed runs per measurement (the median is reported)
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..))]
    runs: u16,

    /// Cached tokens before the decoded token
    #[arg(long, value_name = "TOKENS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    past: u32,

    /// Tokens in the prefill run
    #[arg(long, value_name = "TOKENS", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    prefill: u32,
}

/// Ordinary English prose; repeated as needed to make the benchmark's token sequences.
const TEXT: &str = "The committee met on Tuesday to review the draft of the annual report. \
Most members agreed that the section on regional sales needed more detail, and several asked \
for a clearer summary of the risks the company faces next year. The chair proposed that each \
department send a short note by the end of the month, so that the editors could revise the text \
before the board meeting. A few people worried that the schedule was too tight, but in the end \
the plan was accepted without a formal vote. ";

pub fn run(global: &GlobalOptions, args: &Args) -> anyhow::Result<()> {
    match &args.target {
        Target::Lm(lm) => bench_lm(global, lm),
        Target::Style(style) => super::bench_hints::run_style(global, style),
        Target::Hints(hints) => super::bench_hints::run_hints(global, hints),
    }
}

fn bench_lm(global: &GlobalOptions, args: &LmArgs) -> anyhow::Result<()> {
    let runs = usize::from(args.runs);
    let (past, prefill) = (args.past as usize, args.prefill as usize);
    let mut out = std::io::stdout().lock();

    let started = Instant::now();
    let runtime = runtime::init()?;
    let runtime_time = started.elapsed();

    let mut model = None;
    let load = measure(runs, || {
        let started = Instant::now();
        model = Some(global.load_model_with(&runtime)?);
        Ok(started.elapsed())
    })?;
    let model: LanguageModel = model.expect("measured at least once");
    let manifest = model.manifest();
    writeln!(
        out,
        "model    {} ({}), {} threads",
        manifest.name,
        model.dir().display(),
        global.threads
    )?;
    writeln!(
        out,
        "runtime  loaded in {} ({})",
        millis(runtime_time),
        runtime.library().display()
    )?;
    writeln!(
        out,
        "load     median {} over {runs} runs",
        millis(median(load))
    )?;

    let needed = prefill.max(past + 1);
    if needed > manifest.max_positions {
        anyhow::bail!(
            "--past and --prefill must stay below the model's context of {} tokens",
            manifest.max_positions
        );
    }
    let tokens = benchmark_tokens(&model, needed)?;

    let prefill_times = measure(runs, || {
        let context = model.new_context();
        let started = Instant::now();
        context.forward(&tokens[..prefill], 1)?;
        Ok(started.elapsed())
    })?;
    let prefill_median = median(prefill_times);
    writeln!(
        out,
        "prefill  {prefill} tokens: median {} = {:.0} tokens/s over {runs} runs",
        millis(prefill_median),
        prefill as f64 / prefill_median.as_secs_f64()
    )?;

    let context = model.new_context();
    let decode_times = measure(runs, || {
        // Bring the cache back to exactly `past` tokens (untimed), then decode one more.
        context.forward(&tokens[..past], 1)?;
        let started = Instant::now();
        context.forward(&tokens[..past + 1], 1)?;
        Ok(started.elapsed())
    })?;
    writeln!(
        out,
        "decode   1 token after {past} cached: median {} over {runs} runs",
        millis(median(decode_times))
    )?;
    Ok(())
}

/// `runs` timings of `run` after one untimed warm-up call.
fn measure(
    runs: usize,
    mut run: impl FnMut() -> anyhow::Result<Duration>,
) -> anyhow::Result<Vec<Duration>> {
    run().context("warm-up run failed")?;
    (0..runs).map(|_| run()).collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    let middle = times.len() / 2;
    if times.len().is_multiple_of(2) {
        (times[middle - 1] + times[middle]) / 2
    } else {
        times[middle]
    }
}

fn millis(duration: Duration) -> String {
    format!("{:.2} ms", duration.as_secs_f64() * 1e3)
}

/// At least `len` tokens of prose, cut to exactly `len`.
fn benchmark_tokens(model: &LanguageModel, len: usize) -> anyhow::Result<Vec<u32>> {
    let mut text = String::new();
    let mut tokens = Vec::new();
    while tokens.len() < len {
        text.push_str(TEXT);
        tokens = model.tokenizer().encode(&text)?;
    }
    tokens.truncate(len);
    Ok(tokens)
}
