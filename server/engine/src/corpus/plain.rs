//! Prose from plain text: paragraphs are separated by blank lines; nothing is removed.

use super::prose::{source_lines, ProseBuilder, Provenance};

pub(crate) fn extract(source: &str) -> (String, Provenance) {
    let mut builder = ProseBuilder::new(source);
    for (offset, line) in source_lines(source) {
        if line.trim().is_empty() {
            builder.block_break();
        } else {
            builder.copy(offset..offset + line.len());
            // The line break joins the next line with a space.
            builder.space(offset + line.len());
        }
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_paragraphs_are_blocks_and_lines_join() {
        let cases = [
            ("One line.\n", "One line."),
            (
                "  First paragraph\r\nwraps here.\r\n\r\n\r\n\tSecond *stays* as is.",
                "First paragraph wraps here.\n\nSecond *stays* as is.",
            ),
            ("\n \n\t\n", ""),
        ];
        for (source, expected) in cases {
            let (text, _) = extract(source);
            assert_eq!(text, expected, "prose of {source:?}");
        }
    }
}
