//! Prose from Markdown (CommonMark with GitHub extensions), parsed by pulldown-cmark.
//!
//! Kept: the text of paragraphs, headings, list items, block quotes, table cells and
//! footnotes; link text. Left out: front matter (YAML `---` or TOML `+++` at the top),
//! code blocks, raw HTML, images, footnote references, task-list boxes, and inline code
//! unless asked for.

use pulldown_cmark::{Event, Options, Parser, TagEnd};

use super::prose::{ProseBuilder, Provenance};

pub(crate) fn extract(source: &str, keep_inline_code: bool) -> (String, Provenance) {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_GFM
        | Options::ENABLE_HEADING_ATTRIBUTES
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS;
    let mut builder = ProseBuilder::new(source);
    // Depth of elements whose content is not prose (code blocks inside list items etc.).
    let mut hidden_depth = 0usize;
    for (event, range) in Parser::new_ext(source, options).into_offset_iter() {
        match event {
            Event::Start(tag) => {
                let end = TagEnd::from(tag);
                hidden_depth += usize::from(is_hidden(&end));
                if is_block(&end) {
                    builder.block_break();
                }
            }
            Event::End(end) => {
                hidden_depth -= usize::from(is_hidden(&end));
                if is_block(&end) {
                    builder.block_break();
                }
            }
            _ if hidden_depth > 0 => {}
            Event::Text(text) => builder.decoded(range, &text),
            Event::Code(code) if keep_inline_code => builder.decoded(range, &code),
            Event::Code(_) | Event::FootnoteReference(_) => builder.drop_space(),
            Event::SoftBreak | Event::HardBreak => builder.space(range.start),
            Event::Rule => builder.block_break(),
            // Raw HTML, inline code (unless kept), footnote references, task-list
            // markers and math are not prose.
            _ => {}
        }
    }
    builder.finish()
}

/// Elements whose content is left out.
fn is_hidden(end: &TagEnd) -> bool {
    matches!(
        end,
        TagEnd::CodeBlock | TagEnd::HtmlBlock | TagEnd::Image | TagEnd::MetadataBlock(_)
    )
}

/// Elements that start and end a block of prose.
fn is_block(end: &TagEnd) -> bool {
    !matches!(
        end,
        TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript
            | TagEnd::Link
            | TagEnd::Image
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, keep_inline_code: bool, expected: &str) {
        let (text, _) = extract(source, keep_inline_code);
        assert_eq!(text, expected, "prose of {source:?}");
    }

    #[test]
    fn markdown_prose_leaves_out_code_front_matter_and_markup() {
        let cases = [
            (
                "---\ntitle: A \"guide\"\ntags: [x]\n---\n# The *first* heading\n\nSome **bold**\nand _soft_ text.\n",
                "The first heading\n\nSome bold and soft text.",
            ),
            (
                "+++\ntitle = \"toml\"\n+++\n\nBody text.\n",
                "Body text.",
            ),
            (
                "Intro:\n\n```rust\nfn main() {}\n```\n\n    indented code\n\nRun `cargo build` now.\n",
                "Intro:\n\nRun now.",
            ),
            (
                "See [the guide](guide.md \"title\") and <https://example.org>.\n\n![a diagram](d.png)\n",
                "See the guide and https://example.org.",
            ),
            (
                "- one\n- two\n  - nested\n\n1. [x] done\n2. [ ] todo\n",
                "one\n\ntwo\n\nnested\n\ndone\n\ntodo",
            ),
            (
                "| Name | Use |\n|------|-----|\n| ripgrep | search \\| find |\n",
                "Name\n\nUse\n\nripgrep\n\nsearch | find",
            ),
            (
                "> [!NOTE]\n> Quoted *advice*.\n\nAT&amp;T \\*literal\\* &copy; 2024<br>\nline  \nbreak\n",
                "Quoted advice.\n\nAT&T *literal* © 2024 line break",
            ),
            (
                "<div class=\"x\">\n<p>raw html block</p>\n</div>\n\nAfter.[^1]\n\n[^1]: The note.\n\n***\n# Title {#id}\n",
                "After.\n\nThe note.\n\nTitle",
            ),
        ];
        for (source, expected) in cases {
            check(source, false, expected);
        }
    }

    #[test]
    fn inline_code_is_kept_on_request() {
        check(
            "Run `cargo build` or ``a ` b``.\n\n```\nblock\n```\n",
            true,
            "Run cargo build or a ` b.",
        );
    }
}
