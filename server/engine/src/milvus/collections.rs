//! The two Milvus collections of one index, and how precedent's data maps onto them.
//!
//! - Entries (`COLLECTION`): one row per token, as in an index file: the key, the next
//!   token and the provenance (document, sentence, token bytes, line and column). The row
//!   id is `document << 32 | entry within the document`, so ids never collide across runs.
//! - Catalog (`COLLECTION_catalog`): each document's path, content hash and sentences, and
//!   the index metadata (document 0), as JSON split into parts of at most [`PART_BYTES`].
//!   A document counts only when all its parts are there, and its parts are written after
//!   its entries: a run killed mid-way leaves the previous documents whole and searchable,
//!   and the next run removes what the killed one left half-done.
//!
//! Milvus wants a vector field in every collection, so the catalog has a two-value one.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use milvus::v2::prelude::*;
use serde::{Deserialize, Serialize};
use std::result::Result;

use super::connection::Connection;
use super::MilvusError;
use crate::search::HnswParams;

pub(crate) const ID: &str = "id";
pub(crate) const KEY: &str = "key";
pub(crate) const NEXT_TOKEN: &str = "next_token";
pub(crate) const DOCUMENT: &str = "document";
pub(crate) const SENTENCE: &str = "sentence";
pub(crate) const START: &str = "start";
pub(crate) const END: &str = "end";
pub(crate) const LINE: &str = "line";
pub(crate) const COLUMN: &str = "column";
const PART: &str = "part";
const PARTS: &str = "parts";
const TEXT: &str = "text";
const UNUSED_VECTOR: &str = "unused";

/// The provenance fields a search returns with each hit.
pub(crate) const PROVENANCE_FIELDS: [&str; 7] =
    [NEXT_TOKEN, DOCUMENT, SENTENCE, START, END, LINE, COLUMN];

/// Catalog JSON is cut into parts of at most this many bytes (Milvus caps a VarChar at 65,535).
const PART_BYTES: usize = 60_000;
/// The catalog's metadata lives under this document number; documents count from 1.
pub(crate) const METADATA_DOCUMENT: i64 = 0;
/// Rows per insert request (each entry row is about 2.3 KB with 576-value keys).
pub(crate) const INSERT_BATCH: usize = 512;
/// Most rows one query may return (Milvus's default result window).
const QUERY_LIMIT: usize = 16_384;
/// Catalog documents read per query while paging.
const DOCUMENTS_PER_QUERY: i64 = 1_024;

/// The version of this layout, checked on open.
pub(crate) const LAYOUT_VERSION: u32 = 1;

/// The index metadata, as stored in the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct IndexMetadata {
    pub layout: u32,
    pub model: String,
    pub key_dim: usize,
    /// The next document number to give out.
    pub next_document: i64,
    pub entries: usize,
    /// As in an index file: encoding options, tuned λ, T and adaptive table.
    pub metadata: serde_json::Value,
}

/// One document of the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct CatalogDocument {
    pub path: String,
    /// The content hash in hex, as the corpus reader computed it.
    pub hash: String,
    /// (text, line, column) of each sentence.
    pub sentences: Vec<(String, u32, u32)>,
}

/// What the catalog holds: whole documents by number, the numbers of documents with
/// missing parts, and the metadata (absent until a first run completes).
#[derive(Debug, Default)]
pub(crate) struct Catalog {
    pub documents: BTreeMap<i64, CatalogDocument>,
    pub incomplete: Vec<i64>,
    pub metadata: Option<IndexMetadata>,
    /// The highest document number seen, whole or not.
    pub highest: i64,
}

pub(crate) fn exists(connection: &Connection, collection: &str) -> Result<bool, MilvusError> {
    let name = collection.to_string();
    connection.call("HasCollection", move |client| async move {
        let request = HasCollectionRequest::builder()
            .collection_name(name)
            .build()?;
        Ok(client.has_collection(request).await?.exists())
    })
}

pub(crate) fn drop_collection(
    connection: &Connection,
    collection: &str,
) -> Result<(), MilvusError> {
    let name = collection.to_string();
    connection.call("DropCollection", move |client| async move {
        let request = DropCollectionRequest::builder()
            .collection_name(name)
            .build()?;
        client.drop_collection(request).await?;
        Ok(())
    })
}

/// Creates both collections with their vector indexes and loads them.
pub(crate) fn create(connection: &Connection, key_dim: usize) -> Result<(), MilvusError> {
    let location = connection.location();
    let int32 = |name: &str| FieldSchema::new().name(name).data_type(DataType::Int32);
    let entries = CollectionSchema::new()
        .add_field(
            FieldSchema::new()
                .name(ID)
                .data_type(DataType::Int64)
                .primary_key(true),
        )
        .add_field(
            FieldSchema::new()
                .name(KEY)
                .data_type(DataType::FloatVector)
                .dimension(key_dim as u32),
        )
        .add_field(int32(NEXT_TOKEN))
        .add_field(FieldSchema::new().name(DOCUMENT).data_type(DataType::Int64))
        .add_field(int32(SENTENCE))
        .add_field(int32(START))
        .add_field(int32(END))
        .add_field(int32(LINE))
        .add_field(int32(COLUMN));
    let catalog = CollectionSchema::new()
        .add_field(
            FieldSchema::new()
                .name(ID)
                .data_type(DataType::Int64)
                .primary_key(true),
        )
        .add_field(FieldSchema::new().name(DOCUMENT).data_type(DataType::Int64))
        .add_field(int32(PART))
        .add_field(int32(PARTS))
        .add_field(
            FieldSchema::new()
                .name(TEXT)
                .data_type(DataType::VarChar)
                .max_length(65_535),
        )
        .add_field(
            FieldSchema::new()
                .name(UNUSED_VECTOR)
                .data_type(DataType::FloatVector)
                .dimension(2),
        );
    // The graph parameters of an index file's HNSW graph, so both search alike.
    let graph = HnswParams::default();
    let hnsw = IndexParam::new()
        .field_name(KEY)
        .index_type(IndexType::Hnsw)
        .metric_type(MetricType::L2)
        .extra_params(HashMap::from([
            ("M".to_string(), graph.m.to_string()),
            (
                "efConstruction".to_string(),
                graph.ef_construction.to_string(),
            ),
        ]));
    let flat = IndexParam::new()
        .field_name(UNUSED_VECTOR)
        .index_type(IndexType::Flat)
        .metric_type(MetricType::L2);
    for (name, schema, index) in [
        (location.collection.clone(), entries, hnsw),
        (location.catalog_collection(), catalog, flat),
    ] {
        let field = index.get_field_name().to_string();
        let create_name = name.clone();
        connection.call("CreateCollection", move |client| async move {
            let request = CreateCollectionRequest::builder()
                .collection_name(create_name)
                .schema(schema)
                .consistency_level(ConsistencyLevel::Bounded)
                .build()?;
            client.create_collection(request).await
        })?;
        let index_name = name.clone();
        // `sync(false)`, then our own wait: the SDK's wait asks for a timestamp that
        // milvus-lite does not serve (docs/milvus-spike.md, error 1).
        connection.call("CreateIndex", move |client| async move {
            let request = CreateIndexRequest::builder()
                .collection_name(index_name)
                .index_param(index)
                .sync(false)
                .build()?;
            client.create_index(request).await
        })?;
        wait_for_index(connection, &name, &field)?;
        load(connection, &name)?;
    }
    Ok(())
}

fn wait_for_index(
    connection: &Connection,
    collection: &str,
    field: &str,
) -> Result<(), MilvusError> {
    let started = Instant::now();
    loop {
        let (name, field_name) = (collection.to_string(), field.to_string());
        let states = connection.call("DescribeIndex", move |client| async move {
            let request = DescribeIndexRequest::builder()
                .collection_name(name)
                .index_name(field_name)
                .build()?;
            let described = client.describe_index(request).await?;
            Ok(described
                .indexes()
                .iter()
                .map(|i| i.get_state())
                .collect::<Vec<_>>())
        })?;
        if states.iter().all(|s| *s == IndexStateCode::Finished) {
            return Ok(());
        }
        if states.contains(&IndexStateCode::Failed) || started.elapsed() > Duration::from_secs(600)
        {
            return Err(MilvusError::Call {
                location: connection.location().to_string(),
                what: format!("building the index of {collection}"),
                detail: format!("state {states:?}"),
            });
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub(crate) fn load(connection: &Connection, collection: &str) -> Result<(), MilvusError> {
    let name = collection.to_string();
    connection.call("LoadCollection", move |client| async move {
        let request = LoadCollectionRequest::builder()
            .collection_name(name)
            .build()?;
        client.load_collection(request).await
    })
}

pub(crate) fn flush(connection: &Connection, collections: &[String]) -> Result<(), MilvusError> {
    let names = collections.to_vec();
    connection.call("Flush", move |client| async move {
        let request = FlushRequest::builder()
            .collection_names(names)
            .wait_flushed_ms(60_000)
            .build()?;
        client.flush(request).await?;
        Ok(())
    })
}

/// Reads the whole catalog, a page of document numbers at a time.
pub(crate) fn read_catalog(connection: &Connection) -> Result<Catalog, MilvusError> {
    let collection = connection.location().catalog_collection();
    let mut parts = CatalogParts::new();
    // The metadata says how far document numbers went; numbers given out by a run that
    // did not finish follow it without gaps, so paging goes on to the first empty page.
    let mut from = METADATA_DOCUMENT;
    let mut bound = METADATA_DOCUMENT + 1;
    let mut step = DOCUMENTS_PER_QUERY;
    loop {
        let rows = read_catalog_page(connection, &collection, from..from + step, &mut parts)?;
        if rows >= QUERY_LIMIT && step > 1 {
            step /= 2;
            parts.retain(|&document, _| document < from);
            continue;
        }
        if from == METADATA_DOCUMENT {
            if let Some(metadata) = assemble(parts.get(&METADATA_DOCUMENT))
                .and_then(|json| serde_json::from_str::<IndexMetadata>(&json).ok())
            {
                bound = metadata.next_document;
            }
        }
        from += step;
        step = DOCUMENTS_PER_QUERY;
        if rows == 0 && from >= bound {
            break;
        }
    }
    let mut catalog = Catalog::default();
    for (document, pieces) in &parts {
        catalog.highest = catalog.highest.max(*document);
        let Some(json) = assemble(Some(pieces)) else {
            catalog.incomplete.push(*document);
            continue;
        };
        if *document == METADATA_DOCUMENT {
            catalog.metadata =
                Some(
                    serde_json::from_str(&json).map_err(|e| MilvusError::Malformed {
                        location: connection.location().to_string(),
                        detail: format!("the index metadata is not readable: {e}"),
                    })?,
                );
        } else {
            match serde_json::from_str(&json) {
                Ok(parsed) => {
                    catalog.documents.insert(*document, parsed);
                }
                Err(_) => catalog.incomplete.push(*document),
            }
        }
    }
    Ok(catalog)
}

/// Adds the catalog rows of documents `documents` to `parts`; returns how many rows came.
fn read_catalog_page(
    connection: &Connection,
    collection: &str,
    documents: std::ops::Range<i64>,
    parts: &mut CatalogParts,
) -> Result<usize, MilvusError> {
    let name = collection.to_string();
    let filter = format!(
        "{DOCUMENT} >= {} and {DOCUMENT} < {}",
        documents.start, documents.end
    );
    let rows = connection.call("Query (catalog)", move |client| async move {
        let request = QueryRequest::builder()
            .collection_name(name)
            .filter(filter)
            .output_fields([DOCUMENT, PART, PARTS, TEXT])
            .limit(QUERY_LIMIT as i64)
            .consistency_level(ConsistencyLevel::Strong)
            .build()?;
        Ok(client.query(request).await?.results().clone())
    })?;
    let malformed = || MilvusError::Malformed {
        location: connection.location().to_string(),
        detail: "a catalog query returned no document, part or text column".into(),
    };
    let numbers = rows
        .get_output_field(DOCUMENT)
        .and_then(|f| f.as_int64())
        .ok_or_else(malformed)?;
    let part = rows
        .get_output_field(PART)
        .and_then(|f| f.as_int32())
        .ok_or_else(malformed)?;
    let total = rows
        .get_output_field(PARTS)
        .and_then(|f| f.as_int32())
        .ok_or_else(malformed)?;
    let text = rows
        .get_output_field(TEXT)
        .and_then(|f| f.as_varchar())
        .ok_or_else(malformed)?;
    for row in 0..numbers.len() {
        let entry = parts
            .entry(numbers[row])
            .or_insert((total[row], Vec::new()));
        entry.1.push((part[row], text[row].clone()));
    }
    Ok(numbers.len())
}

/// Catalog rows by document: (number of parts, [(part, text)]).
type CatalogParts = BTreeMap<i64, (i32, Vec<(i32, String)>)>;

/// The JSON of one catalog document, when all its parts are there.
fn assemble(pieces: Option<&(i32, Vec<(i32, String)>)>) -> Option<String> {
    let (total, pieces) = pieces?;
    let mut ordered: Vec<&(i32, String)> = pieces.iter().collect();
    ordered.sort_by_key(|(part, _)| *part);
    ordered.dedup_by_key(|(part, _)| *part);
    let whole = ordered.len() == *total as usize
        && ordered
            .iter()
            .enumerate()
            .all(|(i, (part, _))| *part as usize == i);
    whole.then(|| ordered.iter().map(|(_, text)| text.as_str()).collect())
}

/// Writes `json` as the catalog rows of a new `document` (a number never given before).
pub(crate) fn insert_catalog_document(
    connection: &Connection,
    document: i64,
    json: &str,
) -> Result<(), MilvusError> {
    let columns = catalog_columns(document, json);
    let collection = connection.location().catalog_collection();
    connection.call("Insert (catalog)", move |client| async move {
        let insert = InsertRequest::builder()
            .collection_name(collection)
            .columns(columns)
            .build()?;
        client.insert(insert).await?;
        Ok(())
    })
}

/// Writes `json` as the catalog rows of `document` in place of the ones it has.
pub(crate) fn replace_catalog_document(
    connection: &Connection,
    document: i64,
    json: &str,
) -> Result<(), MilvusError> {
    let columns = catalog_columns(document, json);
    let parts = columns
        .first()
        .and_then(|ids| ids.as_int64())
        .map_or(0, <[i64]>::len);
    let collection = connection.location().catalog_collection();
    connection.call("Upsert (catalog)", move |client| async move {
        let insert = InsertRequest::builder()
            .collection_name(collection)
            .columns(columns)
            .build()?;
        client
            .upsert(UpsertRequest::builder().insert(insert).build()?)
            .await?;
        Ok(())
    })?;
    // Parts beyond the new count belong to an older, longer version.
    let filter = format!("{DOCUMENT} == {document} and {PART} >= {parts}");
    delete(
        connection,
        &connection.location().catalog_collection(),
        filter,
    )
}

/// The catalog rows of `document`, `json` cut into parts (ids first).
fn catalog_columns(document: i64, json: &str) -> Vec<FieldData> {
    let pieces = split_at_char_boundaries(json, PART_BYTES);
    let parts = pieces.len() as i32;
    let count = pieces.len();
    vec![
        FieldData::int64(
            ID,
            (0..count as i64)
                .map(|part| document << 16 | part)
                .collect(),
        ),
        FieldData::int64(DOCUMENT, vec![document; count]),
        FieldData::int32(PART, (0..parts).collect()),
        FieldData::int32(PARTS, vec![parts; count]),
        FieldData::varchar(TEXT, pieces),
        FieldData::float_vector(UNUSED_VECTOR, vec![vec![0.0, 0.0]; count]),
    ]
}

pub(crate) fn delete(
    connection: &Connection,
    collection: &str,
    filter: String,
) -> Result<(), MilvusError> {
    let name = collection.to_string();
    connection.call("Delete", move |client| async move {
        client
            .delete(
                DeleteRequest::builder()
                    .collection_name(name)
                    .filter(filter)
                    .build()?,
            )
            .await?;
        Ok(())
    })
}

/// The number of rows of the entries collection.
pub(crate) fn count_entries(connection: &Connection) -> Result<usize, MilvusError> {
    let name = connection.location().collection.clone();
    let rows = connection.call("Query count(*)", move |client| async move {
        let request = QueryRequest::builder()
            .collection_name(name)
            .output_fields(["count(*)"])
            .consistency_level(ConsistencyLevel::Strong)
            .build()?;
        Ok(client.query(request).await?.results().clone())
    })?;
    rows.get_output_field("count(*)")
        .and_then(|f| f.as_int64())
        .and_then(|counts| counts.first())
        .map(|&count| count as usize)
        .ok_or_else(|| MilvusError::Malformed {
            location: connection.location().to_string(),
            detail: "count(*) returned no count".into(),
        })
}

fn split_at_char_boundaries(text: &str, max_bytes: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut end = rest.len().min(max_bytes);
        while !rest.is_char_boundary(end) {
            end -= 1;
        }
        pieces.push(rest[..end].to_string());
        rest = &rest[end..];
    }
    if pieces.is_empty() {
        pieces.push(String::new());
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_parts_join_back_whole_only() {
        let text = "é".repeat(40_000); // 80,000 bytes: two parts, never cut inside a character
        let pieces = split_at_char_boundaries(&text, PART_BYTES);
        assert_eq!(
            pieces.iter().map(String::len).collect::<Vec<_>>(),
            vec![60_000, 20_000]
        );
        let stored = (2, vec![(1, pieces[1].clone()), (0, pieces[0].clone())]);
        assert_eq!(assemble(Some(&stored)).as_deref(), Some(text.as_str()));
        let missing_one = (2, vec![(1, pieces[1].clone())]);
        assert_eq!(assemble(Some(&missing_one)), None);
        assert_eq!(
            split_at_char_boundaries("", PART_BYTES),
            vec![String::new()]
        );
    }
}
