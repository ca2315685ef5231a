//! Prose from reStructuredText, by line-based rules (no full docutils parser).
//!
//! Lines are grouped into blocks: paragraphs, section titles (their adornment lines are
//! dropped), list items (bullet or enumerator removed), definition terms and definitions
//! (a change of indentation starts a new block), grid-table cells, line-block lines.
//! Left out: literal blocks (the indented block after a paragraph ending in `::`),
//! directives with their indented content (except admonitions such as `.. note::`,
//! whose text is prose), comments, targets, substitution definitions, field lists
//! (docinfo and options), doctest blocks and table borders.
//!
//! Inline: emphasis markers and substitution references (mostly badges) are dropped;
//! `` `text <url>`_ `` and `` :role:`text <target>` `` keep their text; `word_`
//! references lose the `_`; footnote and citation references (`[1]_`) are dropped;
//! ``` ``literals`` ``` and code-like roles are dropped unless inline code is kept;
//! backslash escapes are resolved.

use super::prose::{is_markup_delimiter, source_lines, BlockChars, ProseBuilder, Provenance};

/// Directives whose content is prose.
const ADMONITIONS: &[&str] = &[
    "admonition",
    "attention",
    "caution",
    "danger",
    "error",
    "hint",
    "important",
    "note",
    "seealso",
    "tip",
    "warning",
];

/// Roles whose content is code, treated like ` ``literals`` `.
const CODE_ROLES: &[&str] = &[
    "code", "literal", "math", "samp", "file", "command", "program", "envvar", "option",
];

pub(crate) fn extract(source: &str, keep_inline_code: bool) -> (String, Provenance) {
    let mut reader = Reader {
        builder: ProseBuilder::new(source),
        keep_inline_code,
        paragraph: BlockChars::default(),
        paragraph_indent: None,
        in_list_item: false,
        in_simple_table: false,
        in_grid_table: false,
        skip: Skip::Nothing,
        literal_block_after: None,
        directive_options: false,
    };
    for (offset, line) in source_lines(source) {
        reader.line(offset, line);
    }
    reader.end_block();
    reader.builder.finish()
}

/// Lines being skipped.
enum Skip {
    Nothing,
    /// Blank lines and lines indented more than this (a literal block, a directive).
    DeeperThan(usize),
    /// Everything up to the next blank line (a doctest block).
    UntilBlank,
}

struct Reader<'s> {
    builder: ProseBuilder<'s>,
    keep_inline_code: bool,
    /// The block being gathered; written out (with inline markup) when it ends.
    paragraph: BlockChars,
    /// Indentation of the block's lines; `None` takes the next line's.
    paragraph_indent: Option<usize>,
    in_list_item: bool,
    /// After a simple table's border (`===  ===`), up to a blank line: rows of cells.
    in_simple_table: bool,
    /// After a grid table's border (`+---+`), up to a blank line: `| cell | cell |` rows.
    in_grid_table: bool,
    skip: Skip,
    /// The block ended with "::": an indented block after it (deeper than this) is literal.
    literal_block_after: Option<usize>,
    /// Just after an admonition line, where `:option: value` lines are dropped.
    directive_options: bool,
}

impl Reader<'_> {
    fn line(&mut self, offset: usize, line: &str) {
        let content = line.trim_start();
        let indent = line.len() - content.len();
        let content_offset = offset + indent;
        let trimmed = content.trim_end();
        let blank = trimmed.is_empty();

        match self.skip {
            Skip::DeeperThan(depth) if blank || indent > depth => return,
            Skip::UntilBlank if !blank => return,
            _ => self.skip = Skip::Nothing,
        }
        if blank {
            self.end_block();
            self.in_list_item = false;
            self.in_simple_table = false;
            self.in_grid_table = false;
            self.directive_options = false;
            return;
        }
        if let Some(depth) = self.literal_block_after.take() {
            if indent > depth {
                self.end_block();
                self.skip = Skip::DeeperThan(depth);
                return;
            }
        }
        if std::mem::take(&mut self.directive_options) && field_marker_len(trimmed).is_some() {
            self.directive_options = true;
            return;
        }

        if trimmed == ".." || content.starts_with(".. ") || content.starts_with("__ ") {
            self.explicit_markup(content_offset, trimmed, indent);
        } else if trimmed == "::" {
            self.end_block();
            self.literal_block_after = Some(self.paragraph_indent.unwrap_or(indent));
        } else if is_grid_table_border(trimmed) {
            self.end_block();
            self.in_grid_table = true;
        } else if is_adornment(trimmed) {
            self.end_block();
        } else if is_simple_table_border(trimmed) {
            self.end_block();
            self.in_simple_table = true;
        } else if self.in_simple_table {
            self.simple_table_row(content_offset, trimmed);
        } else if self.in_grid_table && trimmed.starts_with('|') {
            self.table_row(content_offset, trimmed);
        } else if trimmed == "|" {
            // An empty line of a line block.
            self.end_block();
        } else if let Some(text) = content.strip_prefix("| ") {
            self.end_block();
            self.start_block(content_offset + 2, text, indent + 2);
            self.end_block();
        } else if content.starts_with(">>>") {
            self.end_block();
            self.skip = Skip::UntilBlank;
        } else if field_marker_len(trimmed).is_some() {
            // Field lists are metadata (docinfo, `:orphan:`), not prose.
            self.end_block();
            self.skip = Skip::DeeperThan(indent);
        } else if let Some(marker_len) = self.list_marker_len(trimmed) {
            self.end_block();
            let text = &content[marker_len..];
            self.start_block(content_offset + marker_len, text, indent + marker_len);
            self.in_list_item = true;
        } else {
            if self.paragraph_indent.is_some_and(|depth| depth != indent) {
                self.end_block();
                self.in_list_item = false;
            }
            if self.paragraph.is_empty() || self.paragraph_indent.is_none() {
                self.paragraph_indent = Some(indent);
            }
            self.add_line(content_offset, content);
        }
    }

    /// Directives, comments, targets, footnotes and substitution definitions.
    fn explicit_markup(&mut self, offset: usize, trimmed: &str, indent: usize) {
        self.end_block();
        let after_dots = trimmed.get(3..).unwrap_or("");
        let directive = after_dots.split_once("::").filter(|(name, _)| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_alphanumeric() || "-_:+.".contains(c))
        });
        match directive {
            Some((name, argument)) if ADMONITIONS.contains(&name) => {
                let argument = argument.trim_start();
                let argument_offset = offset + trimmed.len() - argument.len();
                if !argument.is_empty() {
                    self.add_line(argument_offset, argument);
                }
                // The generic admonition's argument is its title, a block of its own.
                if name == "admonition" {
                    self.end_block();
                }
                self.paragraph_indent = None;
                self.directive_options = true;
            }
            _ => self.skip = Skip::DeeperThan(indent),
        }
    }

    /// Cells of a simple table are separated by two or more spaces.
    fn simple_table_row(&mut self, offset: usize, trimmed: &str) {
        self.end_block();
        for (start, cell) in trimmed.split("  ").scan(0, |start, cell| {
            let cell_start = *start;
            *start += cell.len() + 2;
            Some((cell_start, cell))
        }) {
            let text = cell.trim();
            if !text.is_empty() {
                let text_start = start + (cell.len() - cell.trim_start().len());
                self.start_block(offset + text_start, text, 0);
                self.end_block();
            }
        }
    }

    fn table_row(&mut self, offset: usize, trimmed: &str) {
        self.end_block();
        let mut cell_start = 1;
        let inner = trimmed[1..].strip_suffix('|').unwrap_or(&trimmed[1..]);
        for cell in inner.split('|') {
            let text = cell.trim_start();
            let text_offset = offset + cell_start + (cell.len() - text.len());
            self.start_block(text_offset, text.trim_end(), 0);
            self.end_block();
            cell_start += cell.len() + 1;
        }
    }

    /// Length of a bullet or enumerator with its following spaces. Enumerators count
    /// only at the start of a block or after another item, as in docutils.
    fn list_marker_len(&self, trimmed: &str) -> Option<usize> {
        let marker_and_space = |marker_len: usize| {
            let rest = &trimmed[marker_len..];
            let spaces = rest.len() - rest.trim_start().len();
            (spaces > 0 && spaces < rest.len()).then_some(marker_len + spaces)
        };
        let first = trimmed.chars().next()?;
        if "-*+•‣⁃".contains(first) {
            return marker_and_space(first.len_utf8());
        }
        if !(self.paragraph.is_empty() || self.in_list_item) {
            return None;
        }
        let (inner, closing) = match trimmed.strip_prefix('(') {
            Some(rest) => (rest, ')'),
            None => (trimmed, '\0'),
        };
        let label_len = inner
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '#')
            .unwrap_or(inner.len());
        let label = &inner[..label_len];
        let is_label = label == "#"
            || (!label.is_empty() && label.chars().all(|c| c.is_ascii_digit()))
            || (label.len() == 1 && label.chars().all(|c| c.is_ascii_alphabetic()))
            || (!label.is_empty() && label.chars().all(|c| "ivxlcdmIVXLCDM".contains(c)));
        let delimiter = inner[label_len..].chars().next()?;
        let delimiter_ok = if closing == ')' {
            delimiter == ')'
        } else {
            delimiter == '.' || delimiter == ')'
        };
        if !is_label || !delimiter_ok {
            return None;
        }
        marker_and_space(trimmed.len() - inner.len() + label_len + 1)
    }

    fn start_block(&mut self, offset: usize, text: &str, indent: usize) {
        self.paragraph_indent = Some(indent);
        self.add_line(offset, text);
    }

    fn add_line(&mut self, offset: usize, text: &str) {
        let text = text.trim_end();
        self.paragraph.push_line(offset, text);
        if text.ends_with("::") {
            self.literal_block_after = self.paragraph_indent;
        }
    }

    fn end_block(&mut self) {
        let mut chars = self.paragraph.take();
        self.paragraph_indent = None;
        if chars.is_empty() {
            return;
        }
        strip_literal_marker(&mut chars);
        write_inline(&chars, &mut self.builder, self.keep_inline_code);
        self.builder.block_break();
    }
}

/// "Text::" reads "Text:"; "Text ::" and a lone "::" read nothing.
fn strip_literal_marker(chars: &mut Vec<(usize, char)>) {
    let ends_with_marker =
        chars.len() >= 2 && chars[chars.len() - 2..].iter().all(|&(_, c)| c == ':');
    if !ends_with_marker {
        return;
    }
    chars.pop();
    let before = chars.len().checked_sub(2).map(|i| chars[i].1);
    if before.is_none_or(char::is_whitespace) {
        chars.pop();
    }
}

/// A section adornment or transition: one punctuation character repeated (2 or more).
fn is_adornment(trimmed: &str) -> bool {
    let mut chars = trimmed.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    first.is_ascii_punctuation() && trimmed.len() >= 2 && chars.all(|c| c == first)
}

/// Grid table borders: `+---+===+`.
fn is_grid_table_border(trimmed: &str) -> bool {
    trimmed.starts_with('+')
        && trimmed.ends_with('+')
        && trimmed.len() > 2
        && trimmed.chars().all(|c| "+-=".contains(c))
}

/// Simple table borders: `=====  =====` (or with '-' for column spans).
fn is_simple_table_border(trimmed: &str) -> bool {
    ['=', '-'].iter().any(|&rule| {
        trimmed.starts_with(rule)
            && trimmed.contains(' ')
            && trimmed.chars().all(|c| c == rule || c == ' ')
    })
}

/// Length of a field marker (`:name:` followed by a space or the end), if the line starts
/// with one. A role (`:ref:` followed by a backtick) is not a field.
fn field_marker_len(trimmed: &str) -> Option<usize> {
    let rest = trimmed.strip_prefix(':')?;
    let name_len = rest.find(':')?;
    let name = &rest[..name_len];
    let after = &rest[name_len + 1..];
    let is_name = !name.is_empty() && !name.starts_with(' ') && !name.contains('`');
    (is_name && (after.is_empty() || after.starts_with(' '))).then_some(name_len + 2)
}

/// Writes a block's characters, resolving inline markup.
fn write_inline(chars: &[(usize, char)], builder: &mut ProseBuilder, keep_inline_code: bool) {
    let char_at = |i: usize| chars.get(i).map(|&(_, c)| c);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i].1;
        match c {
            '\\' => {
                if let Some(&(offset, escaped)) = chars.get(i + 1) {
                    if !escaped.is_whitespace() {
                        builder.source_char(offset, escaped);
                    }
                }
                i += 2;
            }
            '`' => i = interpreted_text(chars, i, None, builder, keep_inline_code),
            ':' => match role_at(chars, i) {
                Some((role, backtick)) => {
                    i = interpreted_text(chars, backtick, Some(&role), builder, keep_inline_code)
                }
                None => {
                    builder.source_char(chars[i].0, c);
                    i += 1;
                }
            },
            '[' => match footnote_reference_end(chars, i) {
                Some(end) => {
                    builder.drop_space();
                    i = end;
                }
                None => {
                    builder.source_char(chars[i].0, c);
                    i += 1;
                }
            },
            '|' if substitution_reference_end(chars, i).is_some() => {
                // Substitutions mostly stand for images (badges), not words.
                builder.drop_space();
                i = substitution_reference_end(chars, i).unwrap_or(i + 1);
            }
            '*' | '|' | '_' => {
                let end = i + chars[i..].iter().take_while(|&&(_, r)| r == c).count();
                let is_reference_end = c == '_'
                    && i > 0
                    && !chars[i - 1].1.is_whitespace()
                    && char_at(end).is_none_or(|next| !next.is_alphanumeric());
                let drop = match c {
                    '_' => is_reference_end || char_at(end) == Some('`'),
                    _ => is_markup_delimiter(chars, i, end),
                };
                if !drop {
                    builder.chars(&chars[i..end]);
                }
                i = end;
            }
            _ => {
                builder.source_char(chars[i].0, c);
                i += 1;
            }
        }
    }
}

/// A role prefix `:name:` directly followed by a backtick at `i`: (name, backtick index).
fn role_at(chars: &[(usize, char)], i: usize) -> Option<(String, usize)> {
    let mut j = i + 1;
    while let Some(&(_, c)) = chars.get(j) {
        if c == ':' && chars.get(j + 1).map(|&(_, c)| c) == Some('`') && j > i + 1 {
            let name: String = chars[i + 1..j].iter().map(|&(_, c)| c).collect();
            return Some((name, j + 1));
        }
        if !(c.is_alphanumeric() || "-_.:+".contains(c)) {
            return None;
        }
        j += 1;
    }
    None
}

/// Handles backquoted text starting at `start`: ``` ``literal`` ```, `` `text`_ ``,
/// `` `text <target>`_ ``, `` `text`:role: `` and `` :role:`text` ``. Returns the index
/// after it.
fn interpreted_text(
    chars: &[(usize, char)],
    start: usize,
    role: Option<&str>,
    builder: &mut ProseBuilder,
    keep_inline_code: bool,
) -> usize {
    let is_backtick = |i: usize| chars.get(i).is_some_and(|&(_, c)| c == '`');
    if is_backtick(start + 1) {
        let Some(close) = (start + 2..chars.len()).find(|&j| is_backtick(j) && is_backtick(j + 1))
        else {
            builder.chars(&chars[start..start + 2]);
            return start + 2;
        };
        if keep_inline_code {
            builder.chars(&chars[start + 2..close]);
        } else {
            builder.drop_space();
        }
        return close + 2;
    }
    let Some(close) = (start + 1..chars.len()).find(|&j| is_backtick(j)) else {
        builder.chars(&chars[start..start + 1]);
        return start + 1;
    };
    let mut end = close + 1;
    end += chars[end..].iter().take_while(|&&(_, c)| c == '_').count();
    let mut role = role.map(str::to_string);
    if end == close + 1 {
        if let Some(suffix_end) = role_suffix_end(chars, end) {
            role = Some(
                chars[end + 1..suffix_end - 1]
                    .iter()
                    .map(|&(_, c)| c)
                    .collect(),
            );
            end = suffix_end;
        }
    }
    let is_code = role
        .as_deref()
        .is_some_and(|role| CODE_ROLES.contains(&role));
    if !is_code || keep_inline_code {
        builder.chars(reference_text(&chars[start + 1..close]));
    } else {
        builder.drop_space();
    }
    end
}

/// The end of a `:role:` suffix right after interpreted text, if there is one.
fn role_suffix_end(chars: &[(usize, char)], start: usize) -> Option<usize> {
    if chars.get(start)?.1 != ':' {
        return None;
    }
    let name_len = chars[start + 1..]
        .iter()
        .take_while(|&&(_, c)| c.is_alphanumeric() || "-_.+".contains(c))
        .count();
    let close = start + 1 + name_len;
    (name_len > 0 && chars.get(close)?.1 == ':').then_some(close + 1)
}

/// The visible text of `text <target>` (a reference with an embedded target); the target
/// alone when there is no text; everything otherwise.
fn reference_text(content: &[(usize, char)]) -> &[(usize, char)] {
    if content.last().map(|&(_, c)| c) != Some('>') {
        return content;
    }
    match content.iter().rposition(|&(_, c)| c == '<') {
        Some(0) => &content[1..content.len() - 1],
        Some(open) if content[open - 1].1.is_whitespace() => &content[..open - 1],
        _ => content,
    }
}

/// The end of a substitution reference (`|name|`, `|name|_`) starting at `start`.
fn substitution_reference_end(chars: &[(usize, char)], start: usize) -> Option<usize> {
    if !is_markup_delimiter(chars, start, start + 1) {
        return None;
    }
    let name_len = chars[start + 1..]
        .iter()
        .take_while(|&&(_, c)| c != '|' && c != '\n')
        .count();
    let close = start + 1 + name_len;
    if name_len == 0 || chars.get(close)?.1 != '|' || chars[close - 1].1.is_whitespace() {
        return None;
    }
    let underscores = chars[close + 1..]
        .iter()
        .take_while(|&&(_, c)| c == '_')
        .count();
    Some(close + 1 + underscores)
}

/// The end of a footnote or citation reference (`[1]_`, `[#]_`, `[#note]_`, `[CIT2002]_`)
/// starting at `start`.
fn footnote_reference_end(chars: &[(usize, char)], start: usize) -> Option<usize> {
    let label_len = chars[start + 1..]
        .iter()
        .take_while(|&&(_, c)| c.is_alphanumeric() || "#*-_.".contains(c))
        .count();
    let close = start + 1 + label_len;
    let is_reference = label_len > 0
        && chars.get(close).map(|&(_, c)| c) == Some(']')
        && chars.get(close + 1).map(|&(_, c)| c) == Some('_');
    is_reference.then_some(close + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, keep_inline_code: bool, expected: &str) {
        let (text, _) = extract(source, keep_inline_code);
        assert_eq!(text, expected, "prose of {source:?}");
    }

    #[test]
    fn rst_prose_leaves_out_literal_blocks_directives_and_markup() {
        let cases = [
            (
                "=====\nTitle\n=====\n\nSubtitle\n--------\n\nSome *emphasis* and **strong**\ntext.\n",
                "Title\n\nSubtitle\n\nSome emphasis and strong text.",
            ),
            (
                "An example::\n\n    code here\n      more code\n\nAfter the code.\n\nExpanded form ::\n\n  hidden\n\n::\n\n  hidden too\n\nDone.\n",
                "An example:\n\nAfter the code.\n\nExpanded form\n\nDone.",
            ),
            (
                ".. code-block:: python\n\n   print('x')\n\n.. _target:\n\n.. comment\n   continues\n\n.. |sub| image:: a.png\n\nVisible text.\n",
                "Visible text.",
            ),
            (
                ".. note:: Notes are\n   prose too.\n\n.. warning::\n   :class: x\n\n   Be careful.\n",
                "Notes are prose too.\n\nBe careful.",
            ),
            (
                "- first item\n  continues\n- second item\n\n1. one\n2. two\n\n#. auto\n(a) lettered\n",
                "first item continues\n\nsecond item\n\none\n\ntwo\n\nauto\n\nlettered",
            ),
            (
                "See `the docs <https://x.org>`_, `Python`_ and Sphinx_ [1]_ [#n]_.\n\nUse :ref:`the guide <guide>` and :code:`x = 1` or ``literal``.\n",
                "See the docs, Python and Sphinx.\n\nUse the guide and or.",
            ),
            (
                ":Author: Me\n:Version: 1\n\nterm\n   Its definition.\n\n>>> 1 + 1\n2\n\n+-----+------+\n| A   | B    |\n+=====+======+\n\n| line one\n| line two\n\nsnake_case and 2 * 3 stay; escaped \\*star\\*.\n",
                "term\n\nIts definition.\n\nA\n\nB\n\nline one\n\nline two\n\nsnake_case and 2 * 3 stay; escaped *star*.",
            ),
            (
                "|badge|_ |other|\n\nThe |name| text, a | b.\n\n=====  ==========\nKey    Meaning\n=====  ==========\nK1     first one\nK2     second\n=====  ==========\n",
                "The text, a | b.\n\nKey\n\nMeaning\n\nK1\n\nfirst one\n\nK2\n\nsecond",
            ),
        ];
        for (source, expected) in cases {
            check(source, false, expected);
        }
    }

    #[test]
    fn inline_literals_are_kept_on_request() {
        check("Use ``x = 1`` and :code:`y`.\n", true, "Use x = 1 and y.");
    }

    #[test]
    fn rst_text_keeps_its_source_position() {
        let source = "Title\n=====\n\n* Item with **bold**\n  on two lines.\n";
        let (text, provenance) = extract(source, false);
        assert_eq!(text, "Title\n\nItem with bold on two lines.");
        let cases = [
            ("Title", 1, 1),
            ("Item", 4, 3),
            ("bold", 4, 15),
            ("on two", 5, 3),
        ];
        for (needle, line, column) in cases {
            let offset = text.find(needle).unwrap();
            let position = provenance.position(&text, offset);
            assert_eq!((position.line, position.column), (line, column), "{needle}");
        }
    }
}
