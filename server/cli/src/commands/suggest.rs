//! `precedent suggest`: next-word suggestions for the end of a text, with their evidence.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use precedent_engine::assist::{Assistant, Corpora, IndexNews, OpenDocument, SuggestedText};
use precedent_engine::corpus::Format;
use precedent_engine::datastore::Datastore;
use precedent_engine::editing::{CompletionOptions, HintThresholds};
use precedent_engine::evidence::SupportingSentence;
use precedent_engine::knnlm::{CorpusIndex, IndexEntries, KnnOverrides, KnnParams};
use precedent_engine::lm::LanguageModel;
use precedent_engine::milvus::{self, MilvusIndex, MilvusLocation};
use precedent_engine::search::{NeighbourIndex, SearchOptions};

use crate::options::GlobalOptions;

/// Suggest the next words after TEXT, ranked by the kNN-LM, with supporting corpus sentences
///
/// The same suggestions an editor gets from `precedent serve` at the end of TEXT: whole words,
/// and a short phrase where the distribution is confident; a word the corpus's style guide
/// rules out ("Write select, not click") comes last, with the word to write instead. Each shows the final probability
/// p, the language model's p_LM and the corpus p_kNN, and under it the corpus sentences
/// (file:line, the word marked [like this]) whose neighbours carried the probability, with
/// their weights. k, λ and T default to the values saved in the index by
/// `precedent eval --tune --save`.
///
/// Example: precedent suggest --index team.index "To share a report, select"
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The text whose continuation to suggest
    pub text: String,
    /// Index file built by `precedent index`
    #[arg(long, value_name = "FILE")]
    pub index: PathBuf,
    /// Number of suggestions
    #[arg(long, short = 'n', default_value_t = 5)]
    pub count: usize,
    #[command(flatten)]
    pub knn: KnnArgs,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
}

/// Command-line overrides of the index's kNN-LM parameters.
#[derive(clap::Args, Clone, Default)]
pub struct KnnArgs {
    /// Neighbours retrieved from the corpus
    #[arg(long)]
    pub k: Option<usize>,
    /// Interpolation weight λ of the corpus distribution, 0..1
    #[arg(long, value_parser = parse_unit)]
    pub lambda: Option<f32>,
    /// Softmax temperature T over negative squared distances
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Don't retrieve among the text's own earlier positions
    #[arg(long)]
    pub no_document_cache: bool,
    /// Leave the N positions right before the query out of the document cache
    #[arg(long, value_name = "N")]
    pub cache_skip_recent: Option<usize>,
    /// Use the global λ even if the index has a distance-dependent λ table
    #[arg(long)]
    pub no_adaptive_lambda: bool,
}

fn parse_unit(text: &str) -> Result<f32, String> {
    let value: f32 = text.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err("λ must be between 0 and 1".to_string())
    }
}

impl KnnArgs {
    /// The overrides of the index's parameters these options ask for.
    pub fn overrides(&self) -> KnnOverrides {
        KnnOverrides {
            k: self.k,
            lambda: self.lambda,
            temperature: self.temperature,
            document_cache: self.no_document_cache.then_some(false),
            cache_skip_recent: self.cache_skip_recent,
            adaptive_lambda: self.no_adaptive_lambda.then_some(false),
        }
    }

    pub fn apply(&self, params: KnnParams) -> KnnParams {
        params.with_overrides(&self.overrides())
    }
}

/// "cannot use the index …", without a password written into a Milvus location.
pub fn cannot_use(index: &Path) -> String {
    let index = index.display().to_string();
    format!(
        "cannot use the index {}",
        milvus::redact_credentials(&index)
    )
}

/// Opens an index for `model`, refusing one built for another model.
pub fn open_index(
    model: &LanguageModel,
    path: &Path,
    overrides: &KnnArgs,
) -> anyhow::Result<CorpusIndex> {
    let fingerprint = &model.manifest().fingerprint;
    if let Some(location) = MilvusLocation::from_path(path) {
        let index = MilvusIndex::open(&location.map_err(anyhow::Error::msg)?, Some(fingerprint))?;
        let params = overrides.apply(KnnParams::from_metadata(index.metadata()));
        return Ok(CorpusIndex::with_entries(
            IndexEntries::Milvus(Box::new(index)),
            params,
        ));
    }
    let store = Datastore::open(path, Some(fingerprint))?;
    let params = overrides.apply(KnnParams::from_metadata(store.metadata()));
    let index = NeighbourIndex::new(Arc::new(store), SearchOptions::default())?;
    Ok(CorpusIndex::new(index, params))
}

/// Suggestions for the next word after `text`: the editor's completions for a cursor after
/// `text` and a space, in a plain-text document whose blocks have been analysed (so its own
/// earlier positions are the document cache, as in the editor).
pub fn suggest_for_text(
    assistant: &Assistant,
    corpora: &Corpora,
    text: &str,
    count: usize,
) -> anyhow::Result<Vec<SuggestedText>> {
    let text = text.trim_end();
    anyhow::ensure!(!text.is_empty(), "the text is empty: nothing to continue");
    let document = OpenDocument::new(
        "suggest".into(),
        PathBuf::from("suggest.txt"),
        Format::PlainText,
        0,
        format!("{text} "),
        None,
    );
    assistant.analyse_document(&document, corpora);
    let options = CompletionOptions {
        max_items: count,
        ..CompletionOptions::default()
    };
    let cursor = document.text.len();
    let completions = assistant
        .completions(
            &document,
            corpora,
            cursor,
            &options,
            &HintThresholds::default(),
            &|| true,
        )
        .context("no prose to continue in the text")?;
    Ok(completions.items)
}

/// The index at `path` opened by `assistant` with the options' parameters, as the only
/// corpus.
pub fn open_corpora(assistant: &Assistant, path: &Path, knn: &KnnArgs) -> anyhow::Result<Corpora> {
    let (corpora, news) = assistant.corpora(&[path.to_path_buf()], &knn.overrides());
    for event in news {
        if let IndexNews::Problem { error, .. } = event {
            anyhow::bail!("{error}");
        }
    }
    Ok(corpora)
}

pub fn run(global: &GlobalOptions, args: &Args) -> anyhow::Result<()> {
    let assistant = Assistant::new(global.load_model()?);
    let corpora = open_corpora(&assistant, &args.index, &args.knn)
        .with_context(|| cannot_use(&args.index))?;
    let suggestions = suggest_for_text(&assistant, &corpora, &args.text, args.count)?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&to_json(&args.text, &suggestions))?
        );
    } else {
        print!("{}", render(&args.text, &suggestions));
    }
    Ok(())
}

/// Human-readable suggestions with their evidence.
pub fn render(text: &str, suggestions: &[SuggestedText]) -> String {
    let mut out = format!("{}…\n", text.trim_end());
    for (rank, suggested) in suggestions.iter().enumerate() {
        let s = &suggested.completion;
        let ruled_out = suggested
            .ruled_out_by
            .as_ref()
            .map_or(String::new(), |house| {
                format!("   (the corpus says to write \u{201c}{house}\u{201d})")
            });
        out += &format!(
            "  {}. {:<18} p {:>5.1}%   p_LM {:>5.1}%   p_kNN {:>5.1}%{}{ruled_out}\n",
            rank + 1,
            format!("{:?}", s.text),
            100.0 * s.probability,
            100.0 * s.lm_probability,
            100.0 * s.knn_probability,
            if s.is_phrase { "   (phrase)" } else { "" }
        );
        for support in &s.support {
            out += &format!(
                "       {:>5.1}%  {}:{}  {}\n",
                100.0 * support.weight,
                support.path.as_deref().unwrap_or("this text"),
                support.line,
                marked(support)
            );
        }
    }
    out
}

/// The sentence with the supporting token in [brackets], on one line.
pub fn marked(support: &SupportingSentence) -> String {
    let text = &support.sentence;
    let floor = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let (start, end) = (
        floor(support.mark.start.min(text.len())),
        floor(support.mark.end.min(text.len())),
    );
    let line = format!("{}[{}]{}", &text[..start], &text[start..end], &text[end..]);
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn to_json(text: &str, suggestions: &[SuggestedText]) -> serde_json::Value {
    serde_json::json!({
        "text": text,
        "suggestions": suggestions.iter().map(|suggested| (&suggested.completion, suggested)).map(|(s, suggested)| serde_json::json!({
            "text": s.text,
            "ruled_out_by": suggested.ruled_out_by,
            "phrase": s.is_phrase,
            "p": s.probability,
            "p_lm": s.lm_probability,
            "p_knn": s.knn_probability,
            "examples": s.support_count,
            "support": s.support.iter().map(|e| serde_json::json!({
                "path": e.path,
                "line": e.line,
                "column": e.column,
                "sentence": e.sentence,
                "mark": [e.mark.start, e.mark.end],
                "weight": e.weight,
            })).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}
