//! Brings a Milvus index up to date with a built index file, document by document.
//!
//! Order matters for a run that is killed: a new or changed document's entries go in
//! first, then its catalog rows (only then does it count), and a replaced or removed
//! document's entries go before its catalog rows. Readers see the previous version of a
//! changed document until its new one is whole. The next run deletes whatever a killed
//! run left half-done: catalog documents with missing parts, and entries numbered past
//! the catalog.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use milvus::v2::prelude::*;
use std::result::Result;

use super::collections::{
    self, Catalog, CatalogDocument, IndexMetadata, DOCUMENT, INSERT_BATCH, LAYOUT_VERSION,
    METADATA_DOCUMENT,
};
use super::connection::Connection;
use super::{hash_to_hex, MilvusError, MilvusLocation};
use crate::datastore::Datastore;
use crate::indexer::Encoding;

/// What a publish run did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PublishReport {
    /// Documents already there with the same content.
    pub kept: usize,
    pub added: usize,
    pub removed: usize,
    /// Entries written by this run, and in the collection afterwards.
    pub entries_written: usize,
    pub entries: usize,
    /// The collection was (re)created: new, or built for another model or encoding.
    pub created: bool,
    pub seconds: f64,
}

/// Document numbers deleted per request.
const DELETE_BATCH: usize = 1_000;

/// Makes the Milvus index at `location` hold exactly the documents of `store`.
/// `progress(done, total)` counts the documents to add.
pub fn publish(
    store: &Datastore,
    location: &MilvusLocation,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<PublishReport, MilvusError> {
    let started = Instant::now();
    let connection = Connection::open(location)?;
    let names = [location.collection.clone(), location.catalog_collection()];
    let present = [
        collections::exists(&connection, &names[0])?,
        collections::exists(&connection, &names[1])?,
    ];
    let mut catalog = if present == [true, true] {
        collections::read_catalog(&connection)?
    } else {
        Catalog::default()
    };
    let same_build = |metadata: &IndexMetadata| {
        metadata.layout == LAYOUT_VERSION
            && metadata.model == store.model_fingerprint()
            && metadata.key_dim == store.key_dim()
            && Encoding::from_metadata(&metadata.metadata)
                == Encoding::from_metadata(store.metadata())
    };
    let mut report = PublishReport::default();
    let reusable = present == [true, true] && catalog.metadata.as_ref().is_none_or(same_build);
    if !reusable {
        if present.contains(&true) {
            tracing::info!(index = %location, "the collection was built for another model or encoding, or half-created: starting over");
        }
        for (name, there) in names.iter().zip(present) {
            if there {
                collections::drop_collection(&connection, name)?;
            }
        }
        collections::create(&connection, store.key_dim())?;
        catalog = Catalog::default();
        report.created = true;
    }

    let mut next = catalog
        .metadata
        .as_ref()
        .map_or(1, |m| m.next_document)
        .max(catalog.highest + 1)
        .max(1);
    // Entries an interrupted run wrote for documents it never catalogued.
    collections::delete(&connection, &names[0], format!("{DOCUMENT} >= {next}"))?;

    // The built index's documents by (path, hash); each stored document that matches one
    // is kept (the first of duplicates), the rest of the built ones are added.
    let mut wanted: HashMap<(String, String), u32> = HashMap::new();
    for id in 0..store.document_count() as u32 {
        if let Some(document) = store.document(id) {
            wanted.insert(
                (
                    document.path.to_string(),
                    hash_to_hex(document.content_hash),
                ),
                id,
            );
        }
    }
    let mut keep: HashSet<i64> = HashSet::new();
    for (number, document) in &catalog.documents {
        if wanted
            .remove(&(document.path.clone(), document.hash.clone()))
            .is_some()
        {
            keep.insert(*number);
        }
    }
    report.kept = keep.len();
    let mut to_add: Vec<u32> = wanted.into_values().collect();
    to_add.sort_unstable();

    let mut entries_of: Vec<Vec<u32>> = vec![Vec::new(); store.document_count()];
    for (entry, provenance) in store.provenance().iter().enumerate() {
        if let Some(list) = entries_of.get_mut(provenance.document as usize) {
            list.push(entry as u32);
        }
    }
    for (done, &local) in to_add.iter().enumerate() {
        progress(done, to_add.len());
        let number = next;
        next += 1;
        report.entries_written +=
            insert_entries(&connection, store, &entries_of[local as usize], number)?;
        let document = store.document(local).expect("listed above");
        let sentences = (0..document.sentence_count)
            .filter_map(|s| store.sentence(local, s))
            .map(|s| (s.text.to_string(), s.line, s.column))
            .collect();
        let json = serde_json::to_string(&CatalogDocument {
            path: document.path.to_string(),
            hash: hash_to_hex(document.content_hash),
            sentences,
        })
        .expect("a catalog document serialises");
        collections::insert_catalog_document(&connection, number, &json)?;
        report.added += 1;
    }
    progress(to_add.len(), to_add.len());

    let mut gone: Vec<i64> = catalog
        .documents
        .keys()
        .filter(|n| !keep.contains(n))
        .copied()
        .collect();
    gone.extend(
        catalog
            .incomplete
            .iter()
            .filter(|&&n| n != METADATA_DOCUMENT),
    );
    report.removed = catalog.documents.len() - keep.len();
    for numbers in gone.chunks(DELETE_BATCH) {
        let list = numbers
            .iter()
            .map(i64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        collections::delete(&connection, &names[0], format!("{DOCUMENT} in [{list}]"))?;
        collections::delete(&connection, &names[1], format!("{DOCUMENT} in [{list}]"))?;
    }

    let changed = report.added > 0 || !gone.is_empty() || report.created;
    if changed {
        collections::flush(&connection, &names)?;
    }
    report.entries = match (&catalog.metadata, changed) {
        (Some(metadata), false) => metadata.entries,
        _ => collections::count_entries(&connection)?,
    };
    let metadata = IndexMetadata {
        layout: LAYOUT_VERSION,
        model: store.model_fingerprint().to_string(),
        key_dim: store.key_dim(),
        next_document: next,
        entries: report.entries,
        metadata: store.metadata().clone(),
    };
    if catalog.metadata.as_ref() != Some(&metadata) {
        let json = serde_json::to_string(&metadata).expect("metadata serialises");
        collections::replace_catalog_document(&connection, METADATA_DOCUMENT, &json)?;
        collections::flush(&connection, &names[1..])?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Inserts the entries `entries` of `store` as document `number`; returns how many.
fn insert_entries(
    connection: &Connection,
    store: &Datastore,
    entries: &[u32],
    number: i64,
) -> Result<usize, MilvusError> {
    let keys = store.keys();
    let provenance = store.provenance();
    let values = store.values();
    for (batch_index, batch) in entries.chunks(INSERT_BATCH).enumerate() {
        let first = (batch_index * INSERT_BATCH) as i64;
        let ids: Vec<i64> = (0..batch.len() as i64)
            .map(|i| number << 32 | (first + i))
            .collect();
        let vectors: Vec<Vec<f32>> = batch
            .iter()
            .map(|&e| keys.row(e as usize).iter().map(|v| v.to_f32()).collect())
            .collect();
        let of = |field: fn(&crate::datastore::Provenance) -> u32| -> Vec<i32> {
            batch
                .iter()
                .map(|&e| field(&provenance[e as usize]) as i32)
                .collect()
        };
        let columns = vec![
            FieldData::int64(collections::ID, ids),
            FieldData::float_vector(collections::KEY, vectors),
            FieldData::int32(
                collections::NEXT_TOKEN,
                batch.iter().map(|&e| values[e as usize] as i32).collect(),
            ),
            FieldData::int64(DOCUMENT, vec![number; batch.len()]),
            FieldData::int32(collections::SENTENCE, of(|p| p.sentence)),
            FieldData::int32(collections::START, of(|p| p.start)),
            FieldData::int32(collections::END, of(|p| p.end)),
            FieldData::int32(collections::LINE, of(|p| p.line)),
            FieldData::int32(collections::COLUMN, of(|p| p.column)),
        ];
        let name = connection.location().collection.clone();
        connection.call("Insert", move |client| async move {
            let request = InsertRequest::builder()
                .collection_name(name)
                .columns(columns)
                .build()?;
            client.insert(request).await?;
            Ok(())
        })?;
    }
    Ok(entries.len())
}
