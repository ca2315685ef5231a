//! `precedent bench style` and `precedent bench hints`: how many planted house-style
//! violations the word-choice hints catch with the house word as the fix, and how often
//! they fire on held-out text as written (false alarms).

use std::collections::BTreeMap;
use std::io::Write;
use std::ops::Range;
use std::path::PathBuf;

use precedent_engine::corpus;
use precedent_engine::editing::{self, AnalysisOptions, BlockAnalysis, Hint, HintThresholds};
use precedent_engine::indexer::Encoding;
use precedent_engine::lexicon::Lexicon;
use precedent_engine::random::SplitMix64;
use unicode_segmentation::UnicodeSegmentation;

use super::suggest::{open_index, KnnArgs};
use crate::options::GlobalOptions;

/// House-style violations caught, per kind, and false alarms per 1,000 words
///
/// Analyses each held-out document block by block as the editor does, and runs the
/// editor's hints: (a) on the text as written (it follows the house style, so every hint is
/// a false alarm); (b) on a copy where about one word in --every is replaced by a variant
/// the corpus never writes, taken from the corpus itself:
///   spelling        a frequent corpus word in another English spelling (organization →
///                   organisation, canceled → cancelled, catalog → catalogue)
///   capitalisation  a name the corpus always capitalises one way, in another case
///                   (GitHub → Github, Debian → debian)
///   plain-language  a plain word the corpus uses, as a wordier synonym it never uses
///                   (use → utilize, help → assist)
///   terminology     a word the corpus uses, as another word the language model finds
///                   fluent there, reading the whole sentence, but the corpus never writes
/// A planted word counts as caught when a hint there offers the original word.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct StyleArgs {
    #[command(flatten)]
    common: CommonArgs,
}

/// Word swaps caught, and false alarms per 1,000 words
///
/// As `bench style`, but each planted word is the base model's most probable other whole
/// word there, whether or not the corpus uses it: a harder test, since most such swaps are
/// fluent and not a house-style matter.
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct HintsArgs {
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(clap::Args)]
struct CommonArgs {
    /// Index of the corpus (built with `precedent index`)
    #[arg(long, value_name = "FILE")]
    index: PathBuf,

    /// Held-out documents or folders (not part of the index)
    #[arg(required = true, value_name = "PATH")]
    held_out: Vec<PathBuf>,

    /// Plant about one violation in this many words
    #[arg(long, value_name = "N", default_value_t = 30)]
    every: u64,

    /// Seed of the choice of words to replace
    #[arg(long, default_value_t = 1)]
    seed: u64,

    /// Print every hint on the text as written, and every planted word, caught or missed
    #[arg(long)]
    show: bool,

    /// Override a hint threshold (default: the editor's)
    #[arg(long, value_name = "P")]
    min_preferred_probability: Option<f32>,
    #[arg(long, value_name = "RATIO")]
    min_ratio: Option<f32>,
    #[arg(long, value_name = "RATIO")]
    max_fluency_loss: Option<f64>,
    #[arg(long, value_name = "RATIO")]
    min_count_ratio: Option<f32>,

    #[command(flatten)]
    knn: KnnArgs,
}

/// What a planted word imitates.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Planted {
    Spelling,
    Capitalisation,
    PlainLanguage,
    Terminology,
    ModelSwap,
}

impl Planted {
    fn name(self) -> &'static str {
        match self {
            Planted::Spelling => "spelling",
            Planted::Capitalisation => "capitalisation",
            Planted::PlainLanguage => "plain-language",
            Planted::Terminology => "terminology",
            Planted::ModelSwap => "model swap",
        }
    }
}

struct Plant {
    block: usize,
    /// Bytes of the planted word in the planted block.
    bytes: Range<usize>,
    original: String,
    planted: String,
    kind: Planted,
}

pub fn run_style(global: &GlobalOptions, args: &StyleArgs) -> anyhow::Result<()> {
    run(global, &args.common, false)
}

pub fn run_hints(global: &GlobalOptions, args: &HintsArgs) -> anyhow::Result<()> {
    run(global, &args.common, true)
}

fn run(global: &GlobalOptions, args: &CommonArgs, model_swaps: bool) -> anyhow::Result<()> {
    let model = global.load_model()?;
    let corpus = open_index(&model, &args.index, &args.knn)?;
    // Held-out prose read as the editor reads a document for this index.
    let config = Encoding::from_metadata(corpus.metadata()).corpus_config();
    let documents = corpus::read_corpus(&args.held_out, &config)?;
    let blocks: Vec<String> = documents
        .documents
        .iter()
        .flat_map(|d| {
            editing::block_ranges(d)
                .into_iter()
                .map(|r| d.text()[r].to_string())
        })
        .collect();
    let words: usize = blocks.iter().map(|b| b.unicode_words().count()).sum();
    let defaults = HintThresholds::default();
    let thresholds = HintThresholds {
        min_preferred_probability: args
            .min_preferred_probability
            .unwrap_or(defaults.min_preferred_probability),
        min_ratio: args.min_ratio.unwrap_or(defaults.min_ratio),
        max_fluency_loss: args.max_fluency_loss.unwrap_or(defaults.max_fluency_loss),
        min_count_ratio: args.min_count_ratio.unwrap_or(defaults.min_count_ratio),
        ..defaults
    };
    eprintln!(
        "{} documents, {} blocks, {words} words; k {}, λ {}, T {}; {thresholds:?}",
        documents.documents.len(),
        blocks.len(),
        corpus.params.k,
        corpus.params.lambda,
        corpus.params.temperature
    );
    let context = model.new_context();
    let options = AnalysisOptions {
        k: corpus.params.k,
        ..AnalysisOptions::default()
    };
    let corpora = [&corpus];
    let hints_of = |text: &str| -> anyhow::Result<(BlockAnalysis, Vec<Hint>)> {
        let analysis = editing::analyze_block(&context, &corpora, text, None, &options, &|| false)?
            .expect("never cancelled");
        let hints = editing::word_choice_hints(
            &context,
            &analysis,
            &corpora,
            &corpus.params,
            &thresholds,
            1,
        )?;
        Ok((analysis, hints))
    };
    let started = std::time::Instant::now();
    let mut clean = Vec::new();
    let mut false_alarms = Vec::new();
    for text in &blocks {
        let (analysis, hints) = hints_of(text)?;
        false_alarms.extend(hints.into_iter().map(|h| (clean.len(), h)));
        clean.push(analysis);
    }
    let seconds = started.elapsed().as_secs_f64();
    let tokens: usize = clean.iter().map(|a| a.tokens.len()).sum();
    eprintln!("text as written: {tokens} tokens analysed and checked in {seconds:.1} s");

    let texts = model.tokenizer().token_texts();
    let lexicon = corpus.lexicon();
    let mut random = SplitMix64(args.seed);
    let mut plants = Vec::new();
    let mut planted_blocks = Vec::new();
    for (block, analysis) in clean.iter().enumerate() {
        let mut chosen: Vec<(Range<usize>, String, String, Planted)> = Vec::new();
        for word in &analysis.words {
            if word.token_index < defaults.min_context_tokens {
                continue;
            }
            let original = &analysis.text[word.bytes.clone()];
            // Lexical violations apply to few words: plant one at a third of them. A word
            // swap applies almost anywhere: at one word in --every.
            let lexical = !model_swaps && random.next_u64().is_multiple_of(3);
            let swap = random.next_u64().is_multiple_of(args.every.max(1));
            let planted = if model_swaps {
                swap.then(|| model_swap(word, original, texts))
                    .flatten()
                    .map(|p| (p, Planted::ModelSwap))
            } else {
                lexical
                    .then(|| lexical_violation(lexicon, analysis, word))
                    .flatten()
                    .or_else(|| {
                        swap.then(|| {
                            // The planted sentence, read whole, must be about as fluent as
                            // the original: a word a writer could have written there.
                            let fits = |planted: &str| {
                                editing::compare_words(
                                    &context,
                                    analysis,
                                    &corpora,
                                    &corpus.params,
                                    word,
                                    planted,
                                )
                                .is_ok_and(|c| c.lm_log_ratio >= -MAX_PLANT_FLUENCY_LOSS.ln())
                            };
                            fluent_unused_word(lexicon, analysis, word, original, texts, fits)
                        })
                        .flatten()
                        .map(|p| (p, Planted::Terminology))
                    })
            };
            if let Some((replacement, kind)) = planted {
                chosen.push((word.bytes.clone(), original.to_string(), replacement, kind));
            }
        }
        let mut text = analysis.text.clone();
        for (bytes, _, replacement, _) in chosen.iter().rev() {
            text.replace_range(bytes.clone(), replacement);
        }
        let mut shift: isize = 0;
        for (bytes, original, planted, kind) in chosen {
            let start = (bytes.start as isize + shift) as usize;
            shift += planted.len() as isize - bytes.len() as isize;
            plants.push(Plant {
                block,
                bytes: start..start + planted.len(),
                original,
                planted,
                kind,
            });
        }
        planted_blocks.push(text);
    }
    let mut caught = vec![false; plants.len()];
    let mut hints_on_planted = 0;
    for (block, text) in planted_blocks.iter().enumerate() {
        if !plants.iter().any(|p| p.block == block) {
            continue;
        }
        let (_, hints) = hints_of(text)?;
        hints_on_planted += hints.len();
        for hint in hints {
            if let Some(at) = plants.iter().position(|p| {
                p.block == block
                    && p.bytes == hint.bytes
                    && p.original.eq_ignore_ascii_case(&hint.preferred)
            }) {
                caught[at] = true;
            }
        }
    }

    let mut out = std::io::stdout().lock();
    if args.show {
        for (block, hint) in &false_alarms {
            let text = &clean[*block].text;
            writeln!(
                out,
                "false alarm: {} -> {} [{}] {} | …{}",
                hint.written,
                hint.preferred,
                hint.kind.name(),
                editing::hint_message(hint),
                tail(&text[..hint.bytes.end], 80)
            )?;
        }
        for (plant, was_caught) in plants.iter().zip(&caught) {
            let text = &planted_blocks[plant.block];
            writeln!(
                out,
                "{} {}: {} (was {}) | …{}‸{}…",
                if *was_caught { "caught" } else { "missed" },
                plant.kind.name(),
                plant.planted,
                plant.original,
                tail(&text[..plant.bytes.end], 60),
                head(&text[plant.bytes.end..], 30),
            )?;
        }
    }
    let mut per_kind: BTreeMap<Planted, (usize, usize)> = BTreeMap::new();
    for (plant, &was_caught) in plants.iter().zip(&caught) {
        let entry = per_kind.entry(plant.kind).or_default();
        entry.0 += usize::from(was_caught);
        entry.1 += 1;
    }
    writeln!(out, "planted kind     caught / planted")?;
    for (kind, (found, total)) in &per_kind {
        writeln!(
            out,
            "{:<15}  {found:>4} / {total:<4} ({:.1}%)",
            kind.name(),
            100.0 * *found as f64 / (*total).max(1) as f64
        )?;
    }
    let found: usize = caught.iter().filter(|c| **c).count();
    writeln!(
        out,
        "all              {found:>4} / {:<4} ({:.1}%)",
        plants.len(),
        100.0 * found as f64 / plants.len().max(1) as f64
    )?;
    writeln!(
        out,
        "false alarms on the text as written: {} in {words} words = {:.2} per 1,000 words",
        false_alarms.len(),
        1000.0 * false_alarms.len() as f64 / words.max(1) as f64
    )?;
    writeln!(out, "hints on the planted text: {hints_on_planted}")?;
    Ok(())
}

fn head(text: &str, chars: usize) -> String {
    text.chars()
        .take(chars)
        .collect::<String>()
        .replace('\n', " ")
}

fn tail(text: &str, chars: usize) -> String {
    let count = text.chars().count();
    text.chars()
        .skip(count.saturating_sub(chars))
        .collect::<String>()
        .replace('\n', " ")
}

/// The base model's most probable other whole word at `word`.
fn model_swap(word: &editing::WordAnalysis, original: &str, texts: &[String]) -> Option<String> {
    let mut candidates = word.lm_log_probs.clone();
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
    candidates.iter().find_map(|&(token, _)| {
        let body = texts.get(token as usize)?.strip_prefix(' ')?;
        let whole = body.len() > 1 && body.chars().all(char::is_alphabetic);
        (token != word.written && whole && !body.eq_ignore_ascii_case(original))
            .then(|| body.to_string())
    })
}

/// A spelling, capitalisation or plain-language violation of the corpus's own usage at
/// `word`, if one applies.
fn lexical_violation(
    lexicon: &Lexicon,
    analysis: &BlockAnalysis,
    word: &editing::WordAnalysis,
) -> Option<(String, Planted)> {
    let original = &analysis.text[word.bytes.clone()];
    let unused = |w: &str| lexicon.count_inflected(w) == 0;
    let lower = original.chars().all(char::is_lowercase);
    let spelling = (lower && lexicon.count_folded(original) >= 2)
        .then(|| other_spellings(original).into_iter().find(|v| unused(v)))
        .flatten()
        .map(|v| (v, Planted::Spelling));
    let plain = || {
        PLAIN_LANGUAGE
            .iter()
            .find(|(plain, _)| *plain == original)
            .map(|(_, wordy)| wordy.to_string())
            .filter(|wordy| unused(wordy))
            .map(|v| (v, Planted::PlainLanguage))
    };
    let case =
        || other_case(lexicon, analysis, word, original).map(|v| (v, Planted::Capitalisation));
    spelling.or_else(plain).or_else(case)
}

/// A name the corpus always writes one way (with a capital), in another case: "GitHub" →
/// "Github", "Debian" → "debian". Not at a sentence start.
fn other_case(
    lexicon: &Lexicon,
    analysis: &BlockAnalysis,
    word: &editing::WordAnalysis,
    original: &str,
) -> Option<String> {
    let before = &analysis.text[..word.bytes.start];
    let inside_sentence = before
        .trim_end()
        .chars()
        .next_back()
        .is_some_and(|c| c.is_alphanumeric() || c == ',');
    let forms: Vec<_> = lexicon.forms_of(original).collect();
    let consistent = forms.len() == 1 && forms[0].0 == original && forms[0].1.count >= 2;
    if !inside_sentence || !consistent || !original.chars().any(char::is_uppercase) {
        return None;
    }
    let inner_capital = original.chars().skip(1).any(char::is_uppercase);
    let lower = original.to_lowercase();
    let planted = if inner_capital {
        let mut chars = lower.chars();
        chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())?
    } else {
        lower
    };
    (planted != original && lexicon.count(&planted) == 0).then_some(planted)
}

/// How much less probable than the original a planted word may make its sentence (the
/// word and the rest of its sentence, as a hint's check reads it) under the base model.
const MAX_PLANT_FLUENCY_LOSS: f32 = 20.0;

/// A word the language model finds about as fluent here as the original (one token,
/// letters only, at most [`MAX_PLANT_FLUENCY_LOSS`] times less probable given the text
/// before it, and `fits` the whole sentence), which the corpus never writes.
fn fluent_unused_word(
    lexicon: &Lexicon,
    analysis: &BlockAnalysis,
    word: &editing::WordAnalysis,
    original: &str,
    texts: &[String],
    fits: impl Fn(&str) -> bool,
) -> Option<String> {
    let lowercase = original.chars().all(char::is_lowercase);
    let one_token = analysis.tokens[word.token_index].bytes.end >= word.bytes.end;
    if !lowercase || !one_token || original.len() < 3 || lexicon.count_folded(original) < 3 {
        return None;
    }
    let written = word.lm_log_prob(word.written)?;
    let mut candidates = word.lm_log_probs.clone();
    candidates.sort_by(|a, b| b.1.total_cmp(&a.1));
    candidates
        .iter()
        .filter_map(|&(token, log_p)| {
            let body = texts.get(token as usize)?.strip_prefix(' ')?;
            let plain = body.len() >= 3 && body.chars().all(|c| c.is_ascii_lowercase());
            (token != word.written
                && plain
                && log_p >= written - MAX_PLANT_FLUENCY_LOSS.ln()
                && lexicon.count_inflected(body) == 0)
                .then(|| body.to_string())
        })
        .take(PLANT_TRIES)
        .find(|body| fits(body))
}

/// Fluent unused words tried per word, the likeliest first.
const PLANT_TRIES: usize = 3;

/// Other English spellings of a word (American ↔ British), by its ending. An ending that
/// other words share is changed one way only: "-ize" → "-ise" ("organize" → "organise"),
/// never back ("raise", "otherwise", "concise" have no "-ize" spelling); "-eled" → "-elled"
/// ("canceled" → "cancelled"), never back ("spelled"). "-ence" / "-ense" and "-log" /
/// "-logue" only in the words that have both ("licence", "defence"; "catalogue", "dialogue";
/// not "reference", "backlog").
fn other_spellings(word: &str) -> Vec<String> {
    const BOTH_WAYS: &[(&str, &str)] = &[
        ("ization", "isation"),
        ("izations", "isations"),
        ("yze", "yse"),
        ("yzed", "ysed"),
        ("yzing", "ysing"),
        ("avior", "aviour"),
        ("aviors", "aviours"),
        ("olor", "olour"),
        ("olors", "olours"),
        ("avor", "avour"),
        ("avorite", "avourite"),
        ("onor", "onour"),
        ("abor", "abour"),
        ("ighbor", "ighbour"),
        ("ighbors", "ighbours"),
        ("icense", "icence"),
        ("efense", "efence"),
        ("ffense", "ffence"),
        ("atalog", "atalogue"),
        ("atalogs", "atalogues"),
        ("ialog", "ialogue"),
        ("ialogs", "ialogues"),
        ("dgment", "dgement"),
        ("center", "centre"),
        ("centers", "centres"),
    ];
    const AMERICAN_TO_BRITISH: &[(&str, &str)] = &[
        ("ize", "ise"),
        ("izes", "ises"),
        ("ized", "ised"),
        ("izing", "ising"),
        ("yzes", "yses"),
        ("eled", "elled"),
        ("eling", "elling"),
    ];
    let both_ways = BOTH_WAYS.iter().flat_map(|&(a, b)| [(a, b), (b, a)]);
    let mut found = Vec::new();
    for (from, to) in both_ways.chain(AMERICAN_TO_BRITISH.iter().copied()) {
        let Some(stem) = word.strip_suffix(from) else {
            continue;
        };
        // "size", "seize", "prize" are no "-ize" words; "feeling", "peeled" no "-eling".
        let one_way = AMERICAN_TO_BRITISH.contains(&(from, to));
        if one_way && (stem.len() < 3 || stem.ends_with('e')) {
            continue;
        }
        found.push(format!("{stem}{to}"));
    }
    found
}

/// Plain words and the wordier synonyms plain-language guides replace with them. Not pairs
/// where the plain word is mostly another part of speech than the synonym: "about" (mostly
/// a preposition, no place for "approximately"), "first" (an ordinal, not "initially"),
/// "end" (mostly a noun, not "terminate").
const PLAIN_LANGUAGE: &[(&str, &str)] = &[
    ("use", "utilize"),
    ("uses", "utilizes"),
    ("used", "utilized"),
    ("using", "utilizing"),
    ("help", "assist"),
    ("helps", "assists"),
    ("need", "require"),
    ("needs", "requires"),
    ("get", "obtain"),
    ("gets", "obtains"),
    ("show", "demonstrate"),
    ("shows", "demonstrates"),
    ("start", "commence"),
    ("starts", "commences"),
    ("buy", "purchase"),
    ("enough", "sufficient"),
    ("many", "numerous"),
    ("change", "modify"),
    ("changes", "modifies"),
    ("changed", "modified"),
    ("try", "attempt"),
    ("allow", "permit"),
    ("allows", "permits"),
    ("find", "locate"),
    ("keep", "retain"),
    ("part", "portion"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn other_spellings_are_real_english_variants() {
        let cases: &[(&str, &[&str])] = &[
            ("organize", &["organise"]),
            ("organisation", &["organization"]),
            ("behaviour", &["behavior"]),
            ("colors", &["colours"]),
            ("canceled", &["cancelled"]),
            ("license", &["licence"]),
            ("catalog", &["catalogue"]),
            ("analyzes", &["analyses"]),
            ("raise", &[]),
            ("otherwise", &[]),
            ("reference", &[]),
            ("spelled", &[]),
            ("backlog", &[]),
            ("size", &[]),
            ("feeling", &[]),
            ("analyses", &[]),
        ];
        for (word, expected) in cases {
            assert_eq!(other_spellings(word), *expected, "{word}");
        }
    }
}
