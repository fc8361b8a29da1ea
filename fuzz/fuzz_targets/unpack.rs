//! Fuzz the layer unpacker: any input must either fail cleanly or unpack inside the layer
//! directory — never create anything next to it. Run with `cargo +nightly fuzz run unpack`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(dir) = tempfile::tempdir() else { return };
    let layer = dir.path().join("layer");
    if std::fs::create_dir(&layer).is_err() {
        return;
    }
    let _ = berth_image::unpack::unpack(data, &layer);
    let names: Vec<_> = std::fs::read_dir(dir.path()).into_iter().flatten().flatten().map(|e| e.file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("layer")], "the unpacker wrote outside the layer");
});
