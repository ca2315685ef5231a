//! Loading ONNX Runtime: missing or broken libraries are errors naming `precedent setup`.
//!
//! One test function: ort allows one library per process, so the order matters.

use precedent_engine::runtime::{self, LibraryLocation, RuntimeError};

#[test]
fn runtime_loads_once_and_reports_broken_libraries() {
    let scratch = tempfile::tempdir().unwrap();
    let not_a_library = scratch.path().join("libonnxruntime.so");
    std::fs::write(&not_a_library, b"this is not a shared library").unwrap();

    // (library, expected error, fragments of its message) — before anything is loaded.
    let failures = [
        (
            scratch.path().join("missing.so"),
            "NotFound",
            vec![
                "not found",
                "missing.so",
                "precedent setup",
                "ORT_DYLIB_PATH",
            ],
        ),
        (
            not_a_library.clone(),
            "Unloadable",
            vec!["could not be loaded", "precedent setup"],
        ),
    ];
    for (path, kind, fragments) in &failures {
        let error = runtime::init_from(&LibraryLocation::explicit(path)).unwrap_err();
        assert!(format!("{error:?}").starts_with(kind), "{error:?}");
        for fragment in fragments {
            assert!(
                error.to_string().contains(fragment),
                "{error} should contain {fragment:?}"
            );
        }
    }

    // A failed attempt leaves nothing behind: the real library still loads, once.
    let loaded = precedent_testing::test_runtime();
    let again = runtime::init().unwrap();
    assert_eq!(loaded.library(), again.library());
    assert!(
        loaded.build_info().contains("ORT Build Info"),
        "{}",
        loaded.build_info()
    );

    // Another library cannot replace it; a missing one is still reported as missing.
    let error = runtime::init_from(&LibraryLocation::explicit(&not_a_library)).unwrap_err();
    assert!(
        matches!(error, RuntimeError::AlreadyLoaded { .. }),
        "{error:?}"
    );
    let error = runtime::init_from(&LibraryLocation::explicit(
        scratch.path().join("missing.so"),
    ))
    .unwrap_err();
    assert!(matches!(error, RuntimeError::NotFound { .. }), "{error:?}");
}
