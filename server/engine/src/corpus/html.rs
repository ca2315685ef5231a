//! Prose from HTML, tokenized by html5gum (a WHATWG tokenizer without a DOM).
//!
//! Text is kept, tags are dropped, entities are decoded. Block elements (paragraphs,
//! headings, list items, table cells, ...) separate prose blocks. Left out: the content of
//! `<head>`, `<script>`, `<style>`, `<pre>`, `<code>` (unless inline code is kept and it is
//! not inside `<pre>`), `<nav>`, `<template>`, `<noscript>`, `<svg>`, `<math>`,
//! `<textarea>` and `<select>`, and comments.

use std::collections::BTreeMap;

use html5gum::{DefaultEmitter, HtmlString, Spanned, Token, Tokenizer};

use super::prose::{ProseBuilder, Provenance};

/// Elements whose whole content is not prose.
const HIDDEN_ELEMENTS: &[&str] = &[
    "head", "script", "style", "pre", "code", "nav", "template", "noscript", "svg", "math",
    "textarea", "select", "button",
];

/// ARIA roles of page furniture rather than prose.
const HIDDEN_ROLES: &[&str] = &["navigation", "menu", "menubar", "toolbar", "search"];

/// Elements without content or end tag.
const VOID_ELEMENTS: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements that start and end a block of prose.
const BLOCK_ELEMENTS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "caption",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "legend",
    "li",
    "main",
    "ol",
    "p",
    "section",
    "summary",
    "table",
    "tbody",
    "td",
    "tfoot",
    "th",
    "thead",
    "title",
    "tr",
    "ul",
];

type Attributes = BTreeMap<HtmlString, Spanned<HtmlString, usize>>;

pub(crate) fn extract(source: &str, keep_inline_code: bool) -> (String, Provenance) {
    let mut emitter = DefaultEmitter::<usize>::new_with_span();
    // Read <script>, <style>, <textarea> and <title> content as text, not as tags.
    emitter.naively_switch_states(true);
    let tokenizer = Tokenizer::new_with_emitter(source, emitter);
    let mut builder = ProseBuilder::new(source);
    // Open hidden elements, innermost last, so that a missing end tag inside one
    // (`<pre><code>...</pre>`) does not hide the rest of the page.
    let mut hidden: Vec<String> = Vec::new();
    for token in tokenizer {
        let Ok(token) = token;
        match token {
            Token::StartTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                let has_content = !tag.self_closing && !VOID_ELEMENTS.contains(&name.as_str());
                let is_inline_code = name == "code" && keep_inline_code && hidden.is_empty();
                let hides = is_hidden_element(&name, &tag.attributes) && !is_inline_code;
                // Inside a hidden element every element is tracked, so that the end tag
                // of a nested `<ul>` does not end a hidden `<ul role="menu">`.
                if has_content && (hides || !hidden.is_empty()) {
                    builder.drop_space();
                    hidden.push(name.clone());
                }
                separate(&name, &mut builder, tag.span.start);
            }
            Token::EndTag(tag) => {
                let name = String::from_utf8_lossy(&tag.name).to_ascii_lowercase();
                if let Some(open) = hidden.iter().rposition(|open| *open == name) {
                    hidden.truncate(open);
                }
                separate(&name, &mut builder, tag.span.start);
            }
            Token::String(text) if hidden.is_empty() => {
                let decoded = String::from_utf8_lossy(&text.value);
                builder.decoded(text.span.start..text.span.end, &decoded);
            }
            // Hidden text, comments, doctypes and parse errors.
            _ => {}
        }
    }
    builder.finish()
}

/// Whether the element's content is not prose: by its name, its `role`, or `hidden` /
/// `aria-hidden="true"`.
fn is_hidden_element(name: &str, attributes: &Attributes) -> bool {
    let attribute = |key: &str| {
        attributes
            .get(key.as_bytes())
            .map(|value| String::from_utf8_lossy(&value.value).to_ascii_lowercase())
    };
    HIDDEN_ELEMENTS.contains(&name)
        || attribute("hidden").is_some()
        || attribute("aria-hidden").as_deref() == Some("true")
        || attribute("role").is_some_and(|role| HIDDEN_ROLES.contains(&role.as_str()))
}

/// Breaks the prose at block elements; `<br>` is a space.
fn separate(name: &str, builder: &mut ProseBuilder, offset: usize) {
    if BLOCK_ELEMENTS.contains(&name) {
        builder.block_break();
    } else if name == "br" {
        builder.space(offset);
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
    fn html_prose_leaves_out_tags_code_and_scripts() {
        let cases = [
            (
                "<!DOCTYPE html><html><head><title>Page</title><style>p{}</style></head>\n<body><h1>Main title</h1>\n<p>Some <b>bold</b> and <a href=\"x\">linked</a>\n   text.</p></body></html>",
                "Main title\n\nSome bold and linked text.",
            ),
            (
                "<p>Call <code>run()</code> first.</p><pre><code>let x = 1;\n</code></pre><p>Then stop.</p>",
                "Call first.\n\nThen stop.",
            ),
            (
                "<ul><li>One &amp; two</li><li>&lt;three&gt; &eacute;t&#233;</li></ul><!-- hidden --><p>AT&T</p>",
                "One & two\n\n<three> été\n\nAT&T",
            ),
            (
                "<script>if (a < b) { document.write('<p>no</p>') }</script><p>Yes.</p><nav><a>Home</a></nav>",
                "Yes.",
            ),
            (
                "<table><tr><th>Name</th><td>Value</td></tr></table><p>Line<br>break and<br/>more</p>",
                "Name\n\nValue\n\nLine break and more",
            ),
            (
                "<pre><code>unclosed code</pre><p>Still <em>here</em>.</p>",
                "Still here.",
            ),
            (
                "<ul role=\"menu\"><li>Menu<ul><li>Sub</li></ul> more</li></ul>\
                 <p hidden>Hidden.</p><div aria-hidden=\"true\">Icon</div>\
                 <p>Kept<img src=x> <button>Click</button> text.</p>",
                "Kept text.",
            ),
        ];
        for (source, expected) in cases {
            check(source, false, expected);
        }
    }

    #[test]
    fn inline_code_is_kept_on_request_but_not_in_pre() {
        check(
            "<p>Call <code>run()</code> first.</p><pre><code>hidden</code></pre>",
            true,
            "Call run() first.",
        );
    }

    #[test]
    fn html_text_keeps_its_source_position() {
        let source = "<p>\n  caf&eacute; <i>open</i>\r\n</p>\n<p>late</p>";
        let (text, provenance) = extract(source, false);
        assert_eq!(text, "café open\n\nlate");
        let cases = [("caf", 2, 3), ("é", 2, 6), ("open", 2, 18), ("late", 4, 4)];
        for (needle, line, column) in cases {
            let offset = text.find(needle).unwrap();
            let position = provenance.position(&text, offset);
            assert_eq!((position.line, position.column), (line, column), "{needle}");
        }
    }
}
