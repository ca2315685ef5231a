use std::path::{Path, PathBuf};

use half::f16;

use super::*;

const MODEL: &str = "smollm2-135m-q4_1:abc123";
const DIM: usize = 4;

fn sentence(text: &str, line: u32) -> SentenceInfo {
    SentenceInfo {
        text: text.into(),
        line,
        column: 1,
    }
}

fn documents() -> Vec<DocumentInfo> {
    vec![
        DocumentInfo {
            path: "guide/style.md".into(),
            content_hash: [7; 32],
            sentences: vec![
                sentence("Use the active voice.", 3),
                sentence("Prefer short sentences.", 4),
            ],
        },
        DocumentInfo {
            path: "guide/naming.md".into(),
            content_hash: [9; 32],
            sentences: vec![sentence("Name things after what they do.", 1)],
        },
    ]
}

/// (key, value, provenance) of the sample index.
fn entries() -> Vec<([f32; DIM], u32, Provenance)> {
    let p = |document, sentence, start, end, line, column| Provenance {
        document,
        sentence,
        start,
        end,
        line,
        column,
    };
    vec![
        ([0.5, -1.25, 3.0, 0.0], 11, p(0, 0, 4, 7, 3, 5)),
        ([1.0, 2.0, -0.1, 7.5], 12, p(0, 1, 0, 6, 4, 1)),
        ([100.0, 0.001, -2.0, 1.0], 13, p(1, 0, 5, 11, 1, 6)),
    ]
}

fn write_sample(path: &Path, metadata: serde_json::Value) {
    let mut writer = DatastoreWriter::create(path, MODEL, DIM).unwrap();
    for doc in documents() {
        writer.add_document(&doc);
    }
    for (key, value, provenance) in entries() {
        writer.push(&key, value, provenance).unwrap();
    }
    writer.set_metadata(metadata);
    writer.commit(&[1, 0, 0, 0, 2, 0, 0, 0]).unwrap();
}

fn sample_metadata() -> serde_json::Value {
    serde_json::json!({"lambda": 0.25, "temperature": 1.5, "model": "SmolLM2-135M"})
}

fn temp_index() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("team.index");
    (dir, path)
}

fn dir_entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn assert_is_sample(store: &Datastore) {
    assert_eq!(store.len(), 3);
    assert_eq!(store.key_dim(), DIM);
    assert_eq!(store.model_fingerprint(), MODEL);
    for (i, (key, value, provenance)) in entries().into_iter().enumerate() {
        let stored: Vec<f16> = store.keys().row(i).to_vec();
        let expected: Vec<f16> = key.iter().map(|&x| f16::from_f32(x)).collect();
        assert_eq!(stored, expected, "key {i} is the f16 rounding of the input");
        assert_eq!(store.values()[i], value);
        assert_eq!(store.provenance()[i], provenance);
    }
    assert_eq!(store.metadata(), &sample_metadata());
    assert_eq!(store.graph_bytes(), &[1, 0, 0, 0, 2, 0, 0, 0]);
}

#[test]
fn round_trip_keeps_everything() {
    let (_dir, path) = temp_index();
    write_sample(&path, sample_metadata());
    let store = Datastore::open(&path, Some(MODEL)).unwrap();
    assert_is_sample(&store);
    store.verify().unwrap();

    assert_eq!(store.document_count(), 2);
    let doc = store.document(1).unwrap();
    assert_eq!(
        (doc.path, doc.content_hash, doc.sentence_count),
        ("guide/naming.md", &[9; 32], 1)
    );
    let provenance = store.provenance()[2];
    let sentence = store
        .sentence(provenance.document, provenance.sentence)
        .unwrap();
    assert_eq!(sentence.text, "Name things after what they do.");
    assert_eq!(
        &sentence.text[provenance.start as usize..provenance.end as usize],
        "things"
    );
    assert_eq!(store.sentence(0, 1).unwrap().line, 4);
    assert!(store.sentence(0, 2).is_none() && store.document(2).is_none());
}

#[test]
fn empty_index_round_trips() {
    let (_dir, path) = temp_index();
    DatastoreWriter::create(&path, MODEL, DIM)
        .unwrap()
        .commit(&[])
        .unwrap();
    let store = Datastore::open(&path, Some(MODEL)).unwrap();
    assert!(store.is_empty() && store.keys().is_empty() && store.graph_bytes().is_empty());
    store.verify().unwrap();
}

/// What opening a damaged index must report.
#[derive(Debug)]
enum Refusal {
    NotAnIndex,
    Version {
        found: u32,
        newer: bool,
    },
    Model,
    Truncated,
    Corrupt(&'static str),
    /// Opens fine; `verify` finds the corrupt section.
    CorruptOnVerify(&'static str),
}

#[test]
fn damaged_or_foreign_indexes_are_refused_with_distinct_errors() {
    let (_dir, path) = temp_index();
    write_sample(&path, sample_metadata());
    let good = std::fs::read(&path).unwrap();
    let header = Header::decode(&good[..HEADER_LEN]).unwrap();
    let section_start = |s: Section| header.section(s).offset as usize;

    type Damage = Box<dyn Fn(&mut Vec<u8>)>;
    let set_version =
        |v: u32| -> Damage { Box::new(move |b| b[8..12].copy_from_slice(&v.to_le_bytes())) };
    let flip = |at: usize| -> Damage { Box::new(move |b| b[at] ^= 0x40) };
    let cut = |len: usize| -> Damage { Box::new(move |b| b.truncate(len)) };
    let cases: Vec<(&str, Damage, Option<&str>, Refusal)> = vec![
        (
            "other model",
            Box::new(|_| {}),
            Some("another-model:ffff"),
            Refusal::Model,
        ),
        (
            "newer format",
            set_version(FORMAT_VERSION + 1),
            None,
            Refusal::Version {
                found: FORMAT_VERSION + 1,
                newer: true,
            },
        ),
        (
            "older format",
            set_version(0),
            None,
            Refusal::Version {
                found: 0,
                newer: false,
            },
        ),
        (
            "not an index",
            Box::new(|b| b[..8].copy_from_slice(b"# Notes\n")),
            None,
            Refusal::NotAnIndex,
        ),
        ("cut inside the magic", cut(5), None, Refusal::Truncated),
        (
            "cut inside the header",
            cut(HEADER_LEN - 1),
            None,
            Refusal::Truncated,
        ),
        (
            "cut inside the keys",
            cut(HEADER_LEN + 3),
            None,
            Refusal::Truncated,
        ),
        (
            "last byte missing",
            cut(good.len() - 1),
            None,
            Refusal::Truncated,
        ),
        (
            "header bit flip",
            flip(40),
            None,
            Refusal::Corrupt("header"),
        ),
        (
            "value bit flip",
            flip(section_start(Section::Values) + 1),
            None,
            Refusal::Corrupt("values section"),
        ),
        (
            "provenance bit flip",
            flip(section_start(Section::Provenance)),
            None,
            Refusal::Corrupt("provenance section"),
        ),
        (
            "sentence text bit flip",
            flip(section_start(Section::Strings) + 20),
            None,
            Refusal::Corrupt("strings section"),
        ),
        (
            "metadata bit flip",
            flip(section_start(Section::Metadata) + 2),
            None,
            Refusal::Corrupt("metadata section"),
        ),
        (
            "key bit flip",
            flip(section_start(Section::Keys) + 5),
            None,
            Refusal::CorruptOnVerify("keys section"),
        ),
        (
            "graph bit flip",
            flip(section_start(Section::Graph)),
            None,
            Refusal::CorruptOnVerify("graph section"),
        ),
    ];
    for (name, damage, expected_model, refusal) in cases {
        let mut bytes = good.clone();
        damage(&mut bytes);
        std::fs::write(&path, &bytes).unwrap();
        let result = Datastore::open(&path, expected_model.or(Some(MODEL)));
        let error = match (&refusal, result) {
            (Refusal::CorruptOnVerify(_), Ok(store)) => store.verify().expect_err(name),
            (_, Ok(_)) => panic!("{name}: opened a damaged index"),
            (_, Err(error)) => error,
        };
        let matches = match (&refusal, &error) {
            (Refusal::NotAnIndex, DatastoreError::NotAnIndex { .. }) => true,
            (Refusal::Version { found, .. }, DatastoreError::FormatVersion { found: f, .. }) => {
                f == found
            }
            (Refusal::Model, DatastoreError::ModelMismatch { found, .. }) => found == MODEL,
            (Refusal::Truncated, DatastoreError::Truncated { .. }) => true,
            (
                Refusal::Corrupt(s) | Refusal::CorruptOnVerify(s),
                DatastoreError::Corrupt { section, .. },
            ) => section == s,
            _ => false,
        };
        assert!(matches, "{name}: expected {refusal:?}, got {error:?}");
        let message = error.to_string();
        let rebuild = format!(
            "precedent index <folders or files...> --out {}",
            path.display()
        );
        assert!(
            message.contains(&rebuild),
            "{name}: message says how to rebuild: {message}"
        );
        if let Refusal::Version { newer, .. } = refusal {
            let says = if newer {
                "newer precedent"
            } else {
                "older precedent"
            };
            assert!(message.contains(says), "{name}: {message}");
        }
    }
}

#[test]
fn an_abandoned_writer_leaves_the_old_index_intact() {
    let (dir, path) = temp_index();
    write_sample(&path, sample_metadata());
    let before = dir_entries(dir.path());

    // Dropped half-way (an error path).
    let mut writer = DatastoreWriter::create(&path, MODEL, DIM).unwrap();
    writer.push(&[9.0; DIM], 99, Provenance::default()).unwrap();
    drop(writer);

    // A panic half-way.
    let panicked = std::panic::catch_unwind(|| {
        let mut writer = DatastoreWriter::create(&path, MODEL, DIM).unwrap();
        writer.push(&[9.0; DIM], 99, Provenance::default()).unwrap();
        panic!("interrupted");
    });
    assert!(panicked.is_err());

    // A commit refused for bad input.
    let mut writer = DatastoreWriter::create(&path, MODEL, DIM).unwrap();
    let dangling = Provenance {
        document: 5,
        ..Provenance::default()
    };
    writer.push(&[9.0; DIM], 99, dangling).unwrap();
    let error = writer.commit(&[]).unwrap_err();
    assert!(
        matches!(error, DatastoreError::InvalidInput { .. }),
        "{error:?}"
    );

    assert_is_sample(&Datastore::open(&path, Some(MODEL)).unwrap());
    assert_eq!(
        dir_entries(dir.path()),
        before,
        "no temporary files are left"
    );
}

const KILLED_WRITER_TARGET: &str = "PRECEDENT_TEST_KILLED_WRITER_TARGET";

/// Runs in a child process: starts replacing the index, reports, then waits to be killed.
fn killed_writer_child(path: &Path) -> ! {
    let mut writer = DatastoreWriter::create(path, MODEL, DIM).unwrap();
    for i in 0..10_000 {
        writer
            .push(&[i as f32; DIM], 99, Provenance::default())
            .unwrap();
    }
    let _staged = writer.staged_keys().unwrap(); // the partial file is on disk now
    println!("writer-ready");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

#[test]
fn a_killed_writer_leaves_the_old_index_intact() {
    use std::io::BufRead;
    if let Some(target) = std::env::var_os(KILLED_WRITER_TARGET) {
        killed_writer_child(Path::new(&target));
    }
    let (dir, path) = temp_index();
    write_sample(&path, sample_metadata());
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "datastore::tests::a_killed_writer_leaves_the_old_index_intact",
        ])
        .args(["--nocapture", "--test-threads=1"])
        .env(KILLED_WRITER_TARGET, &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let ready = stdout
        .lines()
        .any(|line| line.is_ok_and(|l| l.contains("writer-ready")));
    assert!(ready, "the child started writing");
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();

    assert_is_sample(&Datastore::open(&path, Some(MODEL)).unwrap());
    let partials = |dir: &Path| {
        dir_entries(dir)
            .into_iter()
            .filter(|n| n.ends_with(".partial"))
            .count()
    };
    assert_eq!(
        partials(dir.path()),
        1,
        "the killed writer left its partial file"
    );
    // The next writer removes it, since its process is gone.
    write_sample(&path, sample_metadata());
    assert_eq!(partials(dir.path()), 0);
}

#[test]
fn saving_new_metadata_replaces_the_index_atomically() {
    let (_dir, path) = temp_index();
    write_sample(&path, sample_metadata());
    let store = Datastore::open(&path, Some(MODEL)).unwrap();
    let tuned = serde_json::json!({"lambda": 0.07, "temperature": 1.65});
    store.save_with_metadata(&path, &tuned).unwrap();
    // The open map still reads the old file; a new open reads the new one.
    assert_eq!(store.metadata(), &sample_metadata());
    let saved = Datastore::open(&path, Some(MODEL)).unwrap();
    assert_eq!(saved.metadata(), &tuned);
    saved.verify().unwrap();
    assert_eq!(saved.values(), store.values());
    assert_eq!(saved.keys().as_slice(), store.keys().as_slice());
}

#[test]
fn writer_refuses_bad_keys() {
    let (_dir, path) = temp_index();
    let mut writer = DatastoreWriter::create(&path, MODEL, DIM).unwrap();
    let cases: [&[f32]; 3] = [
        &[1.0; DIM + 1],
        &[f32::NAN, 0.0, 0.0, 0.0],
        &[f32::INFINITY, 0.0, 0.0, 0.0],
    ];
    for key in cases {
        let error = writer.push(key, 1, Provenance::default()).unwrap_err();
        assert!(
            matches!(error, DatastoreError::InvalidInput { .. }),
            "{key:?}"
        );
    }
    // Beyond the f16 range but finite: clamped to ±65504.
    writer
        .push(&[1e6, -1e6, 0.0, 0.0], 1, Provenance::default())
        .unwrap();
    let staged = writer.staged_keys().unwrap();
    assert_eq!(staged.matrix().row(0)[..2], [f16::MAX, f16::MIN]);
}
