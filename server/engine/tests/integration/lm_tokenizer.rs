//! The model's tokenizer: exact round trips and byte offsets on awkward text.

use precedent_engine::lm::{Manifest, TextTokenizer};
use precedent_testing::{test_model_dir, tiny_model};

const TEXTS: &[&str] = &[
    "plain ASCII words.",
    "Café, naïve, über, résumé — déjà vu.",
    "日本語のテキストと中文文本。",
    "emoji 👍🏽 and a family 👨‍👩‍👧 and flags 🇫🇷",
    "Windows line\r\nendings\r\n\r\nhere",
    "\ttabs\tand  double  spaces   and trailing space ",
    "digits 1234567 and 3.14159",
    "",
    " ",
    "\n",
    "<|endoftext|> looks special but is plain text here",
];

#[test]
fn decode_of_encode_is_the_text() {
    let tokenizer = tiny_model().tokenizer();
    for text in TEXTS {
        let ids = tokenizer.encode(text).unwrap();
        assert_eq!(tokenizer.decode(&ids).unwrap(), *text, "ids {ids:?}");
    }
}

#[test]
fn offsets_cover_the_text_in_order() {
    let tokenizer = tiny_model().tokenizer();
    for text in TEXTS {
        let spans = tokenizer.encode_with_offsets(text).unwrap();
        let ids: Vec<u32> = spans.iter().map(|span| span.id).collect();
        assert_eq!(ids, tokenizer.encode(text).unwrap(), "{text:?}");
        let mut covered = 0;
        for span in &spans {
            assert!(
                span.bytes.start <= covered && span.bytes.end <= text.len(),
                "{text:?}: {spans:?}"
            );
            assert!(
                text.is_char_boundary(span.bytes.start) && text.is_char_boundary(span.bytes.end)
            );
            covered = covered.max(span.bytes.end);
        }
        assert_eq!(covered, text.len(), "{text:?}: {spans:?}");
    }
}

#[test]
fn bos_is_prepended_only_when_the_manifest_asks() {
    let dir = test_model_dir();
    let manifest = Manifest::read(&dir).unwrap();
    let bos = manifest
        .special_tokens
        .bos
        .expect("the test model has a BOS token");
    for add_bos in [false, true] {
        let manifest = Manifest {
            add_bos,
            ..manifest.clone()
        };
        let tokenizer =
            TextTokenizer::from_file(&manifest.tokenizer_path(&dir), &manifest).unwrap();
        let ids = tokenizer.encode("Hello world").unwrap();
        let plain = tokenizer
            .inner()
            .encode("Hello world", false)
            .unwrap()
            .get_ids()
            .to_vec();
        let expected: Vec<u32> = if add_bos {
            [bos].into_iter().chain(plain).collect()
        } else {
            plain
        };
        assert_eq!(ids, expected, "add_bos {add_bos}");
    }
}
