//! The byte layout of an index file (little-endian throughout).
//!
//! ```text
//! offset 0     header (HEADER_LEN bytes, zero padded)
//!   0..8         magic "PRCDNTIX"
//!   8..12        format version (u32)            } bytes 0..12 keep this meaning in
//!   12..16       header length (u32)             } every version, so that any
//!   16..20       key dimension (u32)               version can say "too new/old"
//!   20..24       key encoding (u32, 1 = f16)
//!   24..32       entry count (u64)
//!   32..34       model fingerprint length (u16)
//!   34..290      model fingerprint (UTF-8, zero padded)
//!   296..680     section table: 8 × (offset u64, length u64, SHA-256 [32])
//!   680..712     SHA-256 of bytes 0..680
//! HEADER_LEN   keys: entry count × dimension × f16   (page aligned)
//! then, each aligned to SECTION_ALIGN: values (u32 each), provenance (Provenance each),
//! documents (DocumentRecord each), sentences (SentenceRecord each), strings (UTF-8),
//! metadata (JSON), graph (the search module's HNSW format; empty without a graph).
//! ```

use bytemuck::{Pod, Zeroable};

pub(crate) const MAGIC: [u8; 8] = *b"PRCDNTIX";

/// The format this build reads and writes. Bump on any layout change.
pub const FORMAT_VERSION: u32 = 1;

/// Keys start here, so they are page aligned in the memory map.
pub(crate) const HEADER_LEN: usize = 4096;
pub(crate) const SECTION_ALIGN: u64 = 64;
pub(crate) const KEY_ENCODING_F16: u32 = 1;
pub(crate) const MAX_FINGERPRINT_LEN: usize = 256;

const FINGERPRINT_AT: usize = 32;
const SECTION_TABLE_AT: usize = 296;
const SECTION_ENTRY_LEN: usize = 48;
const HEADER_CHECKSUM_AT: usize = SECTION_TABLE_AT + SECTION_COUNT * SECTION_ENTRY_LEN;
/// The part of the header covered by the header checksum.
pub(crate) const HEADER_CHECKED_LEN: usize = HEADER_CHECKSUM_AT;

/// The sections of an index file, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Section {
    Keys,
    Values,
    Provenance,
    Documents,
    Sentences,
    Strings,
    Metadata,
    Graph,
}

pub(crate) const SECTION_COUNT: usize = 8;

impl Section {
    pub(crate) const ALL: [Section; SECTION_COUNT] = [
        Section::Keys,
        Section::Values,
        Section::Provenance,
        Section::Documents,
        Section::Sentences,
        Section::Strings,
        Section::Metadata,
        Section::Graph,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Section::Keys => "keys",
            Section::Values => "values",
            Section::Provenance => "provenance",
            Section::Documents => "documents",
            Section::Sentences => "sentences",
            Section::Strings => "strings",
            Section::Metadata => "metadata",
            Section::Graph => "graph",
        }
    }

    /// Whether `Datastore::open` checks this section's checksum. The large sections
    /// (keys, graph) are checked only by `Datastore::verify`, to keep opening fast.
    pub(crate) fn checked_on_open(self) -> bool {
        !matches!(self, Section::Keys | Section::Graph)
    }
}

/// Where a section lies in the file and its SHA-256.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SectionEntry {
    pub offset: u64,
    pub len: u64,
    pub sha256: [u8; 32],
}

impl SectionEntry {
    pub(crate) fn end(&self) -> u64 {
        self.offset.saturating_add(self.len)
    }
}

/// The decoded header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub format_version: u32,
    pub key_dim: u32,
    pub key_encoding: u32,
    pub entry_count: u64,
    pub model_fingerprint: String,
    pub sections: [SectionEntry; SECTION_COUNT],
}

impl Header {
    pub(crate) fn section(&self, section: Section) -> &SectionEntry {
        &self.sections[section as usize]
    }

    /// The header bytes, checksum included.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = vec![0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..12].copy_from_slice(&self.format_version.to_le_bytes());
        out[12..16].copy_from_slice(&(HEADER_LEN as u32).to_le_bytes());
        out[16..20].copy_from_slice(&self.key_dim.to_le_bytes());
        out[20..24].copy_from_slice(&self.key_encoding.to_le_bytes());
        out[24..32].copy_from_slice(&self.entry_count.to_le_bytes());
        let fingerprint = self.model_fingerprint.as_bytes();
        assert!(
            fingerprint.len() <= MAX_FINGERPRINT_LEN,
            "fingerprint checked by the writer"
        );
        out[FINGERPRINT_AT..FINGERPRINT_AT + 2]
            .copy_from_slice(&(fingerprint.len() as u16).to_le_bytes());
        out[FINGERPRINT_AT + 2..FINGERPRINT_AT + 2 + fingerprint.len()]
            .copy_from_slice(fingerprint);
        for (i, entry) in self.sections.iter().enumerate() {
            let at = SECTION_TABLE_AT + i * SECTION_ENTRY_LEN;
            out[at..at + 8].copy_from_slice(&entry.offset.to_le_bytes());
            out[at + 8..at + 16].copy_from_slice(&entry.len.to_le_bytes());
            out[at + 16..at + 48].copy_from_slice(&entry.sha256);
        }
        let checksum = sha256(&out[..HEADER_CHECKED_LEN]);
        out[HEADER_CHECKSUM_AT..HEADER_CHECKSUM_AT + 32].copy_from_slice(&checksum);
        out
    }

    /// Decodes a header whose magic and version were already accepted. `None` if the
    /// header checksum does not match.
    pub(crate) fn decode(bytes: &[u8]) -> Option<Header> {
        let checked = &bytes[..HEADER_CHECKED_LEN];
        if sha256(checked) != bytes[HEADER_CHECKSUM_AT..HEADER_CHECKSUM_AT + 32] {
            return None;
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let fingerprint_len = usize::from(u16::from_le_bytes(
            bytes[FINGERPRINT_AT..FINGERPRINT_AT + 2]
                .try_into()
                .unwrap(),
        ))
        .min(MAX_FINGERPRINT_LEN);
        let fingerprint = &bytes[FINGERPRINT_AT + 2..FINGERPRINT_AT + 2 + fingerprint_len];
        let mut sections = [SectionEntry::default(); SECTION_COUNT];
        for (i, entry) in sections.iter_mut().enumerate() {
            let at = SECTION_TABLE_AT + i * SECTION_ENTRY_LEN;
            *entry = SectionEntry {
                offset: u64_at(at),
                len: u64_at(at + 8),
                sha256: bytes[at + 16..at + 48].try_into().unwrap(),
            };
        }
        Some(Header {
            format_version: u32_at(8),
            key_dim: u32_at(16),
            key_encoding: u32_at(20),
            entry_count: u64_at(24),
            model_fingerprint: String::from_utf8_lossy(fingerprint).into_owned(),
            sections,
        })
    }
}

/// Reads the format version from the stable first 12 bytes, if the magic is right.
pub(crate) fn read_version(bytes: &[u8]) -> Option<u32> {
    if bytes.len() < 12 || bytes[0..8] != MAGIC {
        return None;
    }
    Some(u32::from_le_bytes(bytes[8..12].try_into().unwrap()))
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

pub(crate) fn align_up(offset: u64) -> u64 {
    offset.div_ceil(SECTION_ALIGN) * SECTION_ALIGN
}

/// Where one token's entry came from. Fixed size, stored once per entry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub struct Provenance {
    /// Index into the documents table.
    pub document: u32,
    /// Index of the sentence within its document.
    pub sentence: u32,
    /// Byte range of the target token within the sentence text (to mark the word).
    pub start: u32,
    pub end: u32,
    /// 1-based line and column (in characters) of the token in the source file.
    pub line: u32,
    pub column: u32,
}

/// A document as stored: its path and sentences point into the strings section.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub(crate) struct DocumentRecord {
    pub path_offset: u64,
    pub path_len: u32,
    /// Global index of the document's first sentence in the sentences section.
    pub first_sentence: u32,
    pub sentence_count: u32,
    pub reserved: u32,
    pub content_hash: [u8; 32],
}

/// A sentence as stored: its text lies in the strings section.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Pod, Zeroable)]
pub(crate) struct SentenceRecord {
    pub text_offset: u64,
    pub text_len: u32,
    pub document: u32,
    /// 1-based line and column where the sentence starts in the source file.
    pub line: u32,
    pub column: u32,
}

#[cfg(target_endian = "big")]
compile_error!("the index format is little-endian and memory mapped as is");
