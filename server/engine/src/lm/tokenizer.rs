//! The model's tokenizer: text ↔ token ids exactly as the model was trained on them.

use std::ops::Range;
use std::path::Path;
use std::sync::OnceLock;

use tokenizers::Tokenizer;

use super::error::LmError;
use super::manifest::Manifest;

/// One token of a text and the bytes of the text it covers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSpan {
    pub id: u32,
    /// Byte range in the encoded text; byte-level BPE can split a character across tokens,
    /// in which case neighbouring spans overlap on that character.
    pub bytes: Range<usize>,
}

pub struct TextTokenizer {
    inner: Tokenizer,
    /// Prepended to every encoded text when the manifest says `add_bos`.
    bos: Option<u32>,
    /// Every token's text, decoded once on first use (completion filters the whole
    /// vocabulary by the typed prefix on every keystroke).
    token_texts: OnceLock<Vec<String>>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("bos", &self.bos)
            .finish_non_exhaustive()
    }
}

impl TextTokenizer {
    /// Loads `tokenizer.json` and checks that its ids fit the model's vocabulary.
    pub fn from_file(path: &Path, manifest: &Manifest) -> Result<TextTokenizer, LmError> {
        let failed = |reason: String| LmError::Tokenizer {
            path: path.to_path_buf(),
            reason,
        };
        if !path.is_file() {
            return Err(failed("the file does not exist".to_string()));
        }
        let inner = Tokenizer::from_file(path).map_err(|error| failed(error.to_string()))?;
        let largest_id = inner.get_vocab(true).into_values().max().unwrap_or(0);
        if largest_id as usize >= manifest.vocab_size {
            return Err(failed(format!(
                "it has token id {largest_id} but the model's vocabulary has {} tokens",
                manifest.vocab_size
            )));
        }
        let bos = if manifest.add_bos {
            manifest.special_tokens.bos
        } else {
            None
        };
        Ok(TextTokenizer {
            inner,
            bos,
            token_texts: OnceLock::new(),
        })
    }

    /// Token ids of `text` as the model sees it: no special tokens except BOS when the model wants one.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LmError> {
        let encoding = self.encode_plain(text)?;
        Ok(self
            .bos
            .into_iter()
            .chain(encoding.get_ids().iter().copied())
            .collect())
    }

    /// Like [`encode`](Self::encode), with the bytes each token covers (BOS covers `0..0`).
    pub fn encode_with_offsets(&self, text: &str) -> Result<Vec<TokenSpan>, LmError> {
        let encoding = self.encode_plain(text)?;
        let bos = self.bos.map(|id| TokenSpan { id, bytes: 0..0 });
        let tokens =
            encoding
                .get_ids()
                .iter()
                .zip(encoding.get_offsets())
                .map(|(&id, &(start, end))| TokenSpan {
                    id,
                    bytes: start..end,
                });
        Ok(bos.into_iter().chain(tokens).collect())
    }

    fn encode_plain(&self, text: &str) -> Result<tokenizers::Encoding, LmError> {
        self.inner
            .encode(text, false)
            .map_err(|error| LmError::Encode(error.to_string()))
    }

    /// The text of `ids`, special tokens included (so that decode(encode(text)) == text).
    pub fn decode(&self, ids: &[u32]) -> Result<String, LmError> {
        self.inner
            .decode(ids, false)
            .map_err(|error| LmError::Encode(error.to_string()))
    }

    /// The text of one token for display; bytes that are not valid UTF-8 on their own
    /// (a piece of a character) show as U+FFFD.
    pub fn token_text(&self, id: u32) -> String {
        self.decode(&[id])
            .unwrap_or_else(|_| format!("<token {id}>"))
    }

    /// The text of every token id, indexed by id (see [`token_text`](Self::token_text)).
    pub fn token_texts(&self) -> &[String] {
        self.token_texts.get_or_init(|| {
            let size = self.inner.get_vocab_size(true) as u32;
            (0..size).map(|id| self.token_text(id)).collect()
        })
    }

    /// The BOS id prepended by [`encode`](Self::encode), if any.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// The underlying HF tokenizer, for callers that need more than ids.
    pub fn inner(&self) -> &Tokenizer {
        &self.inner
    }
}
