//! Prose from AsciiDoc, by line-based rules (no full Asciidoctor parser).
//!
//! Kept as blocks: paragraphs, section titles (`== Title`), block titles (`.Title`), list
//! items (marker and checkbox removed), description-list terms and descriptions,
//! admonition paragraphs (`NOTE:` removed), table cells, and the content of example,
//! sidebar, quote and open blocks. Left out: the document header (title attributes,
//! author and revision lines), attribute entries, comments, listing (`----`), literal
//! (`....`), passthrough (`++++`) and CSV/DSV table blocks, literal (indented)
//! paragraphs, any block marked `[source]`, `[listing]`, `[literal]` and the like, block
//! attribute lines and block macros (`image::x.png[]`).
//!
//! Inline: `*strong*`, `_emphasis_` (and doubled forms) lose their markers, links and
//! cross references keep their text, `` `monospace` `` is dropped unless inline code is
//! kept, footnotes, images, anchors and attribute references are dropped, backslash
//! escapes are resolved, and a trailing ` +` (hard line break) is removed.

use super::prose::{is_markup_delimiter, source_lines, BlockChars, ProseBuilder, Provenance};

/// Block styles whose next block is code or raw text.
const CODE_STYLES: &[&str] = &[
    "source",
    "listing",
    "literal",
    "pass",
    "stem",
    "latexmath",
    "asciimath",
    "comment",
    "csv",
];

/// Delimiters of blocks whose content is not prose, skipped up to the same line.
const SKIPPED_DELIMITER_CHARS: &[char] = &['-', '.', '+', '/'];

pub(crate) fn extract(source: &str, keep_inline_code: bool) -> (String, Provenance) {
    let mut reader = Reader {
        builder: ProseBuilder::new(source),
        keep_inline_code,
        paragraph: BlockChars::default(),
        skip_until_line: None,
        skip_paragraph: false,
        next_block_is_code: false,
        in_header: false,
        in_table: false,
        seen_content: false,
    };
    for (offset, line) in source_lines(source) {
        reader.line(offset, line);
    }
    reader.end_block();
    reader.builder.finish()
}

struct Reader<'s> {
    builder: ProseBuilder<'s>,
    keep_inline_code: bool,
    /// The block being gathered; written out (with inline markup) when it ends.
    paragraph: BlockChars,
    /// Inside a skipped delimited block that ends with this line.
    skip_until_line: Option<String>,
    /// Inside a skipped paragraph, which ends at a blank line.
    skip_paragraph: bool,
    /// A block attribute line marked the next block as code.
    next_block_is_code: bool,
    /// In the header lines right after the document title.
    in_header: bool,
    in_table: bool,
    /// Something other than comments and attributes has been read.
    seen_content: bool,
}

impl Reader<'_> {
    fn line(&mut self, offset: usize, line: &str) {
        let trimmed = line.trim_end();
        let blank = trimmed.trim_start().is_empty();
        if let Some(closing) = &self.skip_until_line {
            if trimmed == closing {
                self.skip_until_line = None;
            }
            return;
        }
        if self.skip_paragraph && !blank {
            return;
        }
        if blank {
            self.skip_paragraph = false;
            self.in_header = false;
            self.end_block();
            return;
        }
        if self.in_header || (trimmed.starts_with("//") && !is_delimiter(trimmed)) {
            return;
        }
        if is_delimiter(trimmed) {
            self.delimiter(trimmed);
            return;
        }
        if std::mem::take(&mut self.next_block_is_code) {
            self.end_block();
            self.skip_paragraph = true;
            return;
        }
        if self.paragraph.is_empty() && self.block_start_line(offset, line) {
            return;
        }
        self.seen_content = true;
        if self.in_table && trimmed.contains('|') {
            self.table_row(offset, trimmed);
        } else if is_block_macro(trimmed) || trimmed == "+" {
            self.end_block();
        } else if let Some(marker_len) = list_marker_len(line) {
            self.end_block();
            let text = &line[marker_len..];
            let checkbox = ["[ ] ", "[x] ", "[X] ", "[*] "]
                .iter()
                .find(|checkbox| text.starts_with(**checkbox))
                .map_or(0, |checkbox| checkbox.len());
            self.paragraph
                .push_line(offset + marker_len + checkbox, text[checkbox..].trim_end());
        } else if let Some((term_len, description_start)) = description_term(trimmed) {
            self.end_block();
            self.paragraph.push_line(offset, &trimmed[..term_len]);
            self.end_block();
            let description = &trimmed[description_start..];
            if !description.is_empty() {
                self.paragraph
                    .push_line(offset + description_start, description);
            }
        } else if let Some(label_len) = admonition_label_len(trimmed) {
            self.end_block();
            self.paragraph
                .push_line(offset + label_len, &trimmed[label_len..]);
        } else {
            self.paragraph.push_line(offset, trimmed);
        }
    }

    /// Lines that mean something only at the start of a block; true if `line` was one.
    fn block_start_line(&mut self, offset: usize, line: &str) -> bool {
        let trimmed = line.trim_end();
        if line.starts_with([' ', '\t']) {
            // A literal paragraph.
            self.skip_paragraph = true;
        } else if trimmed.starts_with('[') && trimmed.ends_with(']') {
            let style = trimmed[1..]
                .split([',', '#', '.', '%', ']'])
                .next()
                .unwrap_or("");
            self.next_block_is_code = CODE_STYLES.contains(&style);
        } else if is_attribute_entry(trimmed) {
        } else if let Some(title_start) = block_title_start(trimmed) {
            self.paragraph
                .push_line(offset + title_start, &trimmed[title_start..]);
            self.end_block();
        } else if let Some((level, title)) = section_title(trimmed) {
            let title_start = trimmed.len() - title.trim_start().len();
            let title = title.trim();
            let title = title.trim_end_matches('=').trim_end();
            self.paragraph.push_line(offset + title_start, title);
            self.end_block();
            self.in_header = level == 1 && !self.seen_content;
            self.seen_content = true;
        } else {
            return false;
        }
        true
    }

    fn delimiter(&mut self, trimmed: &str) {
        self.end_block();
        let first = trimmed.chars().next().unwrap_or(' ');
        if [",===", ":===", "!===", "|==="].contains(&trimmed) {
            // Tables: `|===` has prose cells; CSV and DSV tables (`,===`, `:===`) are data.
            if first == '|' && !std::mem::take(&mut self.next_block_is_code) {
                self.in_table = !self.in_table;
            } else {
                self.skip_until_line = Some(trimmed.to_string());
            }
        } else if SKIPPED_DELIMITER_CHARS.contains(&first) && trimmed != "--"
            || std::mem::take(&mut self.next_block_is_code)
        {
            self.skip_until_line = Some(trimmed.to_string());
        }
        self.next_block_is_code = false;
    }

    fn table_row(&mut self, offset: usize, trimmed: &str) {
        self.end_block();
        let cells: Vec<&str> = trimmed.split('|').collect();
        let mut cell_start = 0;
        for (index, cell) in cells.iter().enumerate() {
            let text = cell.trim_start();
            let text_offset = offset + cell_start + (cell.len() - text.len());
            // A cell specifier ("2+", "a", ".^") written right before a '|' is not prose.
            let is_specifier = index + 1 < cells.len()
                && !cell.ends_with(char::is_whitespace)
                && is_cell_specifier(text);
            if !is_specifier {
                self.paragraph.push_line(text_offset, text.trim_end());
                self.end_block();
            }
            cell_start += cell.len() + 1;
        }
    }

    fn end_block(&mut self) {
        let chars = self.paragraph.take();
        if chars.is_empty() {
            return;
        }
        write_inline(&chars, &mut self.builder, self.keep_inline_code);
        self.builder.block_break();
    }
}

fn is_cell_specifier(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 8
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || ".+*<>^adehlmsv".contains(c))
}

/// A delimited block's fence: four or more of `-.+/=*_`, `--` (open block) or a table.
fn is_delimiter(trimmed: &str) -> bool {
    let mut chars = trimmed.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let repeated = "-.+/=*_".contains(first) && trimmed.len() >= 4 && chars.all(|c| c == first);
    let table = ["|===", ",===", ":===", "!==="].contains(&trimmed);
    repeated || table || trimmed == "--"
}

fn is_attribute_entry(trimmed: &str) -> bool {
    let Some(rest) = trimmed.strip_prefix(':') else {
        return false;
    };
    let Some(name_len) = rest.find(':') else {
        return false;
    };
    let name = rest[..name_len].trim_matches('!');
    let after = &rest[name_len + 1..];
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        && (after.is_empty() || after.starts_with(' '))
}

/// `.Title`: the byte where the title starts.
fn block_title_start(trimmed: &str) -> Option<usize> {
    let rest = trimmed.strip_prefix('.')?;
    let first = rest.chars().next()?;
    (!first.is_whitespace() && first != '.').then_some(1)
}

/// `== Title` (1 to 6 '='): the level and the text after the markers.
fn section_title(trimmed: &str) -> Option<(usize, &str)> {
    let level = trimmed.chars().take_while(|&c| c == '=').count();
    let title = &trimmed[level..];
    let is_title = (1..=6).contains(&level) && title.starts_with(' ') && !title.trim().is_empty();
    is_title.then_some((level, title))
}

/// `name::target[attributes]` on a line of its own (images, includes, table of contents).
fn is_block_macro(trimmed: &str) -> bool {
    let Some((name, rest)) = trimmed.split_once("::") else {
        return false;
    };
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !rest.contains(' ')
        && rest.ends_with(']')
        && rest.contains('[')
}

/// Length of a list marker with its following spaces: `*`..`*****`, `-`, `.`..`.....`,
/// `1.`, `a.`.
fn list_marker_len(line: &str) -> Option<usize> {
    let content = line.trim_start();
    let indent = line.len() - content.len();
    let first = content.chars().next()?;
    let marker_len = match first {
        '*' | '.' => content.chars().take_while(|&c| c == first).count().min(6),
        '-' => 1,
        _ => {
            let label_len = content
                .find(|c: char| !c.is_ascii_alphanumeric())
                .unwrap_or(content.len());
            let label = &content[..label_len];
            let is_label = (!label.is_empty() && label.chars().all(|c| c.is_ascii_digit()))
                || (label.len() == 1 && label.chars().all(|c| c.is_ascii_lowercase()));
            if !is_label || !content[label_len..].starts_with('.') {
                return None;
            }
            label_len + 1
        }
    };
    if marker_len > 5 {
        return None;
    }
    let rest = &content[marker_len..];
    let spaces = rest.len() - rest.trim_start().len();
    (spaces > 0 && spaces < rest.len()).then_some(indent + marker_len + spaces)
}

/// `term:: description` (also `:::`, `::::`, `;;`): the term's length and where the
/// description starts.
fn description_term(trimmed: &str) -> Option<(usize, usize)> {
    for marker in ["::::", ":::", "::", ";;"] {
        let Some(position) = trimmed.find(marker) else {
            continue;
        };
        let after = &trimmed[position + marker.len()..];
        let term = &trimmed[..position];
        if !term.trim().is_empty() && (after.is_empty() || after.starts_with(' ')) {
            let description_start = trimmed.len() - after.trim_start().len();
            return Some((term.trim_end().len(), description_start));
        }
        return None;
    }
    None
}

/// `NOTE: text`: the length of the label with its space.
fn admonition_label_len(trimmed: &str) -> Option<usize> {
    ["NOTE: ", "TIP: ", "IMPORTANT: ", "WARNING: ", "CAUTION: "]
        .iter()
        .find(|label| trimmed.starts_with(**label))
        .map(|label| label.len())
}

/// URL schemes and macros whose bracketed text is shown: `https://x[text]`, `link:x[text]`.
const LINK_MACROS: &[&str] = &["http", "https", "ftp", "irc", "mailto", "link", "xref"];
/// Macros whose bracketed text is shown as is: `kbd:[Ctrl+C]`, `btn:[Save]`, `pass:[x]`.
const TEXT_MACROS: &[&str] = &["kbd", "btn", "pass"];
/// Macros that are not prose: footnotes, images, index terms, anchors, math.
const HIDDEN_MACROS: &[&str] = &[
    "footnote",
    "footnoteref",
    "image",
    "icon",
    "indexterm",
    "indexterm2",
    "anchor",
    "stem",
    "latexmath",
    "asciimath",
];

/// Writes a block's characters, resolving inline markup.
fn write_inline(chars: &[(usize, char)], builder: &mut ProseBuilder, keep_inline_code: bool) {
    let char_at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let mut i = 0;
    while i < chars.len() {
        let (offset, c) = chars[i];
        let at_word_start = i == 0 || !chars[i - 1].1.is_alphanumeric();
        match c {
            '\\' if char_at(i + 1).is_some_and(|next| "*_`#+{[<~^\\".contains(next)) => {
                builder.source_char(chars[i + 1].0, chars[i + 1].1);
                i += 2;
            }
            '`' => match find_closing(chars, i + 1, "`") {
                Some(close) => {
                    if keep_inline_code {
                        let content = &chars[i + 1..close];
                        let content = strip_pair(content, '+');
                        builder.chars(content);
                    } else {
                        builder.drop_space();
                    }
                    i = close + 1;
                }
                None => {
                    builder.source_char(offset, c);
                    i += 1;
                }
            },
            '*' | '_' => {
                let end = i + chars[i..].iter().take_while(|&&(_, r)| r == c).count();
                let doubled = end - i >= 2;
                if !(doubled || is_markup_delimiter(chars, i, end)) {
                    builder.chars(&chars[i..end]);
                }
                i = end;
            }
            '<' if char_at(i + 1) == Some('<') => match find_closing(chars, i + 2, ">>") {
                Some(close) => {
                    let inside = &chars[i + 2..close];
                    match inside.iter().position(|&(_, c)| c == ',') {
                        Some(comma) => builder.chars(&inside[comma + 1..]),
                        None => builder.drop_space(),
                    }
                    i = close + 2;
                }
                None => {
                    builder.source_char(offset, c);
                    i += 1;
                }
            },
            '[' if char_at(i + 1) == Some('[') => match find_closing(chars, i + 2, "]]") {
                Some(close) => i = close + 2,
                None => {
                    builder.source_char(offset, c);
                    i += 1;
                }
            },
            '{' => {
                let name_len = chars[i + 1..]
                    .iter()
                    .take_while(|&&(_, c)| c.is_alphanumeric() || c == '-' || c == '_')
                    .count();
                if name_len > 0 && char_at(i + 1 + name_len) == Some('}') {
                    i += name_len + 2;
                } else {
                    builder.source_char(offset, c);
                    i += 1;
                }
            }
            '+' if i > 0
                && chars[i - 1].1 == ' '
                && char_at(i + 1).is_none_or(|next| next == '\n') =>
            {
                i += 1;
            }
            _ if c.is_ascii_alphabetic() && at_word_start => match inline_macro(chars, i) {
                Some(InlineMacro { end, shown }) => {
                    match shown {
                        Some(shown) => builder.chars(shown),
                        None => builder.drop_space(),
                    }
                    i = end;
                }
                None => {
                    builder.source_char(offset, c);
                    i += 1;
                }
            },
            _ => {
                builder.source_char(offset, c);
                i += 1;
            }
        }
    }
}

/// An inline macro found in a block: where it ends, and the characters to show (none for
/// hidden macros).
struct InlineMacro<'c> {
    end: usize,
    shown: Option<&'c [(usize, char)]>,
}

/// An inline macro or URL with brackets starting at `start`.
fn inline_macro(chars: &[(usize, char)], start: usize) -> Option<InlineMacro<'_>> {
    let name_len = chars[start..]
        .iter()
        .take_while(|&&(_, c)| c.is_ascii_alphanumeric())
        .count();
    let colon = start + name_len;
    if chars.get(colon)?.1 != ':' {
        return None;
    }
    let name: String = chars[start..colon].iter().map(|&(_, c)| c).collect();
    let is_link = LINK_MACROS.contains(&name.as_str());
    if !(is_link || TEXT_MACROS.contains(&name.as_str()) || HIDDEN_MACROS.contains(&name.as_str()))
    {
        return None;
    }
    let target_end = colon
        + chars[colon..]
            .iter()
            .take_while(|&&(_, c)| c != '[' && !c.is_whitespace())
            .count();
    if chars.get(target_end).map(|&(_, c)| c) != Some('[') {
        // A bare URL is written as it stands.
        return None;
    }
    let close = find_closing(chars, target_end + 1, "]")?;
    let text = &chars[target_end + 1..close];
    let shown = if HIDDEN_MACROS.contains(&name.as_str()) {
        None
    } else if !text.is_empty() {
        Some(text)
    } else if is_link && !matches!(name.as_str(), "link" | "xref") {
        Some(&chars[start..target_end])
    } else {
        None
    };
    Some(InlineMacro {
        end: close + 1,
        shown,
    })
}

/// The index of the next occurrence of `closing` at or after `from`.
fn find_closing(chars: &[(usize, char)], from: usize, closing: &str) -> Option<usize> {
    let closing: Vec<char> = closing.chars().collect();
    (from..chars.len()).find(|&i| {
        chars.len() >= i + closing.len()
            && chars[i..i + closing.len()]
                .iter()
                .zip(&closing)
                .all(|(&(_, c), &expected)| c == expected)
    })
}

/// `content` without one `pair` character at each end, if it has both.
fn strip_pair(content: &[(usize, char)], pair: char) -> &[(usize, char)] {
    let wrapped =
        content.len() >= 2 && content[0].1 == pair && content[content.len() - 1].1 == pair;
    if wrapped {
        &content[1..content.len() - 1]
    } else {
        content
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, keep_inline_code: bool, expected: &str) {
        let (text, _) = extract(source, keep_inline_code);
        assert_eq!(text, expected, "prose of {source:?}");
    }

    #[test]
    fn asciidoc_prose_leaves_out_listings_attributes_and_markup() {
        let cases = [
            (
                "= Document Title\nJane Doe <jane@example.org>\nv1.0, 2024-01-01\n:toc:\n\n== First *section*\n\nSome _emphasis_ and **strong**\ntext.\n",
                "Document Title\n\nFirst section\n\nSome emphasis and strong text.",
            ),
            (
                "Intro.\n\n[source,rust]\n----\nfn main() {}\n----\n\n....\nliteral\n....\n\n[source]\nls -l\n\n  indented literal\n\n// a comment\n////\nblock comment\n////\nAfter.\n",
                "Intro.\n\nAfter.",
            ),
            (
                "* one\n** nested\n- [x] done\n. first\n2. second\n+\nContinued.\n",
                "one\n\nnested\n\ndone\n\nfirst\n\nsecond\n\nContinued.",
            ),
            (
                "CPU:: The processor.\nRAM::\nMemory.\n\nNOTE: Take care.\n\n.A block title\n====\nExample text.\n====\n",
                "CPU\n\nThe processor.\n\nRAM\n\nMemory.\n\nTake care.\n\nA block title\n\nExample text.",
            ),
            (
                "See https://example.org[the site], link:guide.html[the guide] and <<intro,the intro>> <<other>>.\nPress kbd:[Ctrl+C] now.footnote:[A note.] image:x.png[] {version}\n",
                "See the site, the guide and the intro. Press Ctrl+C now.",
            ),
            (
                "Use `make` or `+make all+` here +\nthen snake_case, 2 * 3 and \\*stars*.\n\nimage::diagram.png[]\n\n[[anchor]]Anchored text.\n",
                "Use or here then snake_case, 2 * 3 and *stars.\n\nAnchored text.",
            ),
            (
                "|===\n|Name |Use\n\n|grep\n|search text\n|===\n\n[cols=\"1,1\"]\n,===\na,b\n,===\n",
                "Name\n\nUse\n\ngrep\n\nsearch text",
            ),
        ];
        for (source, expected) in cases {
            check(source, false, expected);
        }
    }

    #[test]
    fn monospace_is_kept_on_request() {
        check(
            "Use `make` or `+make all+`.\n",
            true,
            "Use make or make all.",
        );
    }

    #[test]
    fn asciidoc_text_keeps_its_source_position() {
        let source = "== Title\n\n* An *item*\nwraps.\n";
        let (text, provenance) = extract(source, false);
        assert_eq!(text, "Title\n\nAn item wraps.");
        let cases = [
            ("Title", 1, 4),
            ("An", 3, 3),
            ("item", 3, 7),
            ("wraps", 4, 1),
        ];
        for (needle, line, column) in cases {
            let offset = text.find(needle).unwrap();
            let position = provenance.position(&text, offset);
            assert_eq!((position.line, position.column), (line, column), "{needle}");
        }
    }
}
