//! `precedent predict "text"`: the model's most probable next tokens after a text.

use std::io::Write;

use crate::options::GlobalOptions;

/// Show the language model's most probable next tokens after TEXT
///
/// Example: precedent predict "The results of the" --top 5
#[derive(clap::Args)]
#[command(verbatim_doc_comment)]
pub struct Args {
    /// The text before the cursor
    text: String,

    /// How many candidates to show
    #[arg(long, value_name = "N", default_value_t = 10)]
    top: usize,
}

pub fn run(global: &GlobalOptions, args: &Args) -> anyhow::Result<()> {
    let model = global.load_model()?;
    let tokens = model.tokenizer().encode(&args.text)?;
    if tokens.is_empty() {
        anyhow::bail!("the text is empty: give the words before the cursor, e.g. precedent predict \"The results of the\"");
    }
    let next = model.new_context().next_token(&tokens)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", args.text)?;
    for (rank, (id, log_prob)) in next.top(args.top).into_iter().enumerate() {
        let probability = f64::from(log_prob).exp() * 100.0;
        let token = format!("{:?}", model.tokenizer().token_text(id));
        writeln!(
            out,
            "{:>3}. {probability:>6.2}%  {token:<20} (token {id})",
            rank + 1
        )?;
    }
    Ok(())
}
