//! Product images on the local filesystem (`MEDIA_DIR`).
//!
//! Files get generated names (`<32 hex>.<ext>`), so a client never chooses
//! a path: [`stored_kind`] accepts only names of that shape, which rules out
//! path traversal when serving. Formats are recognised by their bytes
//! ([`recognise`]), never by file name or declared type: the signature names
//! the format, and that format's decoder must then read the image's header.
//! Files are stored without their metadata (`metadata.rs`).

mod metadata;

use std::io::Write;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use bytes::Bytes;
use coffee_domain::catalog::{ImageKind, ImageSaveError, ImageStore};
use coffee_domain::error::InfraError;

/// The most reading an image's header may allocate (beyond the upload itself).
const MAX_HEADER_ALLOC: u64 = 8 * 1024 * 1024;

/// The most pixels an image may have: a 48-megapixel phone photo fits. A
/// small file can declare far more (a 400 KiB PNG of 60000 × 60000 pixels),
/// and every menu client showing it would try to decode gigabytes.
const MAX_PIXELS: u64 = 50_000_000;

/// Recognises a PNG, JPEG or WebP image: its signature names the format,
/// and the format's decoder reads its header (for a PNG the `IHDR` chunk
/// and its checksum, for a JPEG the markers up to the frame header, for a
/// WebP the `RIFF` chunks), and its size must be at most [`MAX_PIXELS`].
/// Anything else, a bare signature in front of other bytes included, is
/// `None`.
///
/// SIMPLIFICATION: the pixels are not decoded, so a file whose header is
/// sound but whose data is damaged is stored (browsers show it broken). The
/// fuller check decodes it on a blocking thread under `image::Limits`.
pub fn recognise(bytes: &[u8]) -> Option<ImageKind> {
    use image::ImageDecoder as _;

    let (kind, format) = match infer::get(bytes)?.mime_type() {
        "image/png" => (ImageKind::Png, image::ImageFormat::Png),
        "image/jpeg" => (ImageKind::Jpeg, image::ImageFormat::Jpeg),
        "image/webp" => (ImageKind::Webp, image::ImageFormat::WebP),
        _ => return None,
    };
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    // Reading a header allocates little, but a PNG's colour profile (`iCCP`)
    // is inflated while reading it: without a bound, a compression bomb of a
    // few hundred KiB would cost up to the default 512 MiB and run long on
    // the async executor. JPEG copies the upload once (≤ 5 MiB).
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_HEADER_ALLOC);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().ok()?;
    // The PNG decoder drops a profile past the bound without a word, and
    // reads only the first one before the image data; the file would be
    // stored with every `iCCP` it has, bomb and all, and handed to every
    // menu client to inflate. So: none, or one before the data that the
    // decoder kept.
    if kind == ImageKind::Png {
        let (profiles, late) = png_profiles(bytes);
        let kept = profiles == 0 || matches!(decoder.icc_profile(), Ok(Some(_)));
        if profiles > 1 || late || !kept {
            return None;
        }
    }
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    (pixels > 0 && pixels <= MAX_PIXELS).then_some(kind)
}

/// The colour profiles (`iCCP` chunks) of the PNG `bytes` before its
/// `IEND`: how many, and whether one comes after the image data (`IDAT`).
fn png_profiles(bytes: &[u8]) -> (usize, bool) {
    let (mut profiles, mut late, mut data) = (0, false, false);
    // After the signature: length (4 bytes), type (4), data, checksum (4).
    let mut at = 8_usize;
    while let Some(header) = bytes.get(at..at.saturating_add(8)) {
        let (length, kind) = header.split_at(4);
        match kind {
            b"iCCP" => {
                profiles += 1;
                late |= data;
            }
            b"IDAT" => data = true,
            b"IEND" => break,
            _ => {}
        }
        let length = u32::from_be_bytes([length[0], length[1], length[2], length[3]]);
        at = at.saturating_add(12).saturating_add(usize::try_from(length).unwrap_or(usize::MAX));
    }
    (profiles, late)
}

/// The format of a stored file name, or `None` if the name is not one this
/// store generates (which also refuses `..`, `/` and anything else).
pub fn stored_kind(name: &str) -> Option<ImageKind> {
    let (stem, ext) = name.split_once('.')?;
    if stem.len() != 32 || !stem.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        return None;
    }
    ImageKind::from_extension(ext)
}

/// The name a stored file has while it is being written: `.<name>.part`.
fn partial_name(name: &str) -> String {
    format!(".{name}.part")
}

/// Whether `file` is a stored file being written ([`partial_name`] of a
/// name this store generates): nothing else in the directory is swept.
fn is_partial(file: &str) -> bool {
    file.strip_prefix('.').and_then(|f| f.strip_suffix(".part")).is_some_and(|name| stored_kind(name).is_some())
}

/// [`ImageStore`] in a directory.
#[derive(Debug, Clone)]
pub struct FsImageStore {
    dir: PathBuf,
}

impl FsImageStore {
    /// A store in `dir`, created if missing. Half-written files that an
    /// earlier process left there (it stopped while writing one) are
    /// removed once they are an hour old: a replica sharing the directory
    /// may be writing a younger one right now.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, InfraError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| InfraError::caused_by(format!("MEDIA_DIR: {}", dir.display()), e))?;
        let removed = remove_partial_files(&dir, PARTIAL_FILE_AGE);
        if removed > 0 {
            tracing::info!(removed, dir = %dir.display(), "removed half-written image files left by a stopped process");
        }
        Ok(Self { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path of a stored file, if `name` is a valid stored name.
    pub fn path_of(&self, name: &str) -> Option<PathBuf> {
        stored_kind(name).map(|_| self.dir.join(name))
    }
}

#[async_trait]
impl ImageStore for FsImageStore {
    fn recognise(&self, bytes: &[u8]) -> Option<ImageKind> {
        recognise(bytes)
    }

    fn locate(&self, name: &str) -> Option<(PathBuf, ImageKind)> {
        stored_kind(name).map(|kind| (self.dir.join(name), kind))
    }

    async fn save(&self, bytes: Vec<u8>, kind: ImageKind) -> Result<String, ImageSaveError> {
        let dir = self.dir.clone();
        // Reading the container (under a millisecond for 5 MiB) and writing
        // the file both block: one trip to the blocking pool for the two.
        tokio::task::spawn_blocking(move || {
            let pieces = metadata::stripped(Bytes::from(bytes), kind).ok_or(ImageSaveError::Unreadable)?;
            let name = format!("{}.{}", uuid::Uuid::now_v7().simple(), kind.extension());
            let tmp = dir.join(partial_name(&name));
            let path = dir.join(&name);
            // Written aside, then renamed: readers never see half a file.
            write_then_rename(&pieces, &tmp, &path).map_err(|e| {
                // Whichever step failed: renamed already, the file would be
                // served by its name although no product names it.
                let _ = std::fs::remove_file(&tmp);
                let _ = std::fs::remove_file(&path);
                InfraError::caused_by(format!("cannot store image {}", path.display()), e)
            })?;
            Ok(name)
        })
        .await
        .map_err(|e| InfraError::caused_by("the image writer stopped", e))?
    }

    async fn delete(&self, name: &str) -> Result<(), InfraError> {
        let Some(path) = self.path_of(name) else { return Ok(()) };
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(InfraError::caused_by(format!("cannot remove {}", path.display()), e)),
        }
    }
}

/// How old a half-written file (`.<name>.part`) must be before a starting
/// process removes it: no upload takes this long to write.
const PARTIAL_FILE_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// Removes the `.<name>.part` files in `dir` last written more than `age`
/// ago; returns how many. Errors (a file another process removed first,
/// one it cannot read) are skipped.
// SIMPLIFICATION: a stored file no product names (a crash between writing
// it and the commit, a removal that failed) stays; the fuller sweep lists
// the files the database names and removes the others past an hour.
fn remove_partial_files(dir: &Path, age: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_name().to_str().is_some_and(is_partial))
        .filter(|entry| {
            let modified = entry.metadata().and_then(|m| m.modified());
            modified.is_ok_and(|at| at.elapsed().is_ok_and(|elapsed| elapsed > age))
        })
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

/// Writes `pieces` one after another to `tmp`, then renames it to `path`,
/// on disk before it returns: the file's data before the rename, and the
/// rename (the directory) before the caller commits the name to the
/// database. Otherwise a power loss after the commit could leave the row
/// naming an empty or missing file, which `/media` serves as immutable
/// for a year.
fn write_then_rename(pieces: &[Bytes], tmp: &Path, path: &Path) -> std::io::Result<()> {
    // A PNG comes as three pieces per chunk, some of them a few bytes long.
    let mut file = std::io::BufWriter::with_capacity(64 * 1024, std::fs::File::create(tmp)?);
    for piece in pieces {
        file.write_all(piece)?;
    }
    file.into_inner().map_err(std::io::IntoInnerError::into_error)?.sync_all()?;
    std::fs::rename(tmp, path)?;
    if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// A 1×1 RGB PNG, a 1×1 baseline JPEG and a 1×1 lossy WebP.
    const PNG: &str = "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de0000000c4944415478da63f8cf\
                       c0000003010100f70341430000000049454e44ae426082";
    const JPEG: &str = "ffd8ffe000104a46494600010100000100010000ffdb0043000101010101010101010101010101010101010101010\
                        1010101010101010101010101010101010101010101010101010101010101010101010101010101010101ffc0000b08\
                        0001000101011100ffc40014000100000000000000000000000000000000ffc400141001000000000000000000000000\
                        00000000ffda0008010100003f003fffd9";
    const WEBP: &str = "52494646220000005745425056503820160000003001009d012a010001000ec0fe25a400037000000000";

    fn bytes(hex: &str) -> Vec<u8> {
        let hex: Vec<u8> = hex.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        hex.chunks(2).map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap()).collect()
    }

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(recognise(&bytes(PNG)), Some(ImageKind::Png));
        assert_eq!(recognise(&bytes(JPEG)), Some(ImageKind::Jpeg));
        assert_eq!(recognise(&bytes(WEBP)), Some(ImageKind::Webp));
        assert_eq!(recognise(b"GIF89a......"), None);
        assert_eq!(recognise(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), None);
        assert_eq!(recognise(b"%PDF-1.7"), None);
        assert_eq!(recognise(b""), None);
    }

    #[test]
    fn a_signature_alone_is_not_an_image() {
        let png = bytes(PNG);
        let mut bad_crc = png.clone();
        bad_crc[29] ^= 1; // the IHDR checksum
        for fake in [
            png[..8].to_vec(),
            [&png[..8], b"<script>alert(1)</script>".as_slice()].concat(),
            bad_crc,
            vec![0xff, 0xd8, 0xff],
            [&[0xff, 0xd8, 0xff, 0xe0][..], &[0; 64]].concat(),
            b"RIFF\x24\0\0\0WEBPVP8 ".to_vec(),
        ] {
            assert_eq!(recognise(&fake), None, "{fake:x?}");
        }
    }

    /// The 1×1 PNG, declaring `width` × `height` pixels (with a sound checksum).
    fn png_of(width: u32, height: u32) -> Vec<u8> {
        let mut png = bytes(PNG);
        png[16..20].copy_from_slice(&width.to_be_bytes());
        png[20..24].copy_from_slice(&height.to_be_bytes());
        let crc = crc32fast::hash(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        png
    }

    #[test]
    fn an_image_may_have_at_most_fifty_megapixels_whatever_its_file_size() {
        assert_eq!(recognise(&png_of(1, 1)), Some(ImageKind::Png), "the checksum is computed right");
        assert_eq!(recognise(&png_of(8_000, 6_000)), Some(ImageKind::Png), "48 megapixels");
        for (width, height) in [(8_000, 6_251), (60_000, 60_000), (u32::MAX >> 1, 2)] {
            assert_eq!(recognise(&png_of(width, height)), None, "{width} × {height}");
        }
    }

    /// An `iCCP` chunk whose colour profile inflates to `profile`.
    fn profile_chunk(profile: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut zlib = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
        zlib.write_all(profile).unwrap();
        let data = [b"p\0\0".as_slice(), &zlib.finish().unwrap()].concat();
        let mut chunk = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        chunk.extend_from_slice(b"iCCP");
        chunk.extend_from_slice(&data);
        chunk.extend_from_slice(&crc32fast::hash(&chunk[4..]).to_be_bytes());
        chunk
    }

    #[test]
    fn a_colour_profile_that_inflates_past_the_bound_is_refused_not_dropped() {
        let png = bytes(PNG);
        // After IHDR (33 bytes in), before IDAT; and after IDAT, before IEND (the last 12).
        let (header, data, end) = (&png[..33], &png[33..png.len() - 12], &png[png.len() - 12..]);
        let fine = profile_chunk(&[7; 4096]);
        // 16 MiB from about 16 KiB: a bomb every client showing the menu would inflate.
        let bomb = profile_chunk(&vec![0; 16 << 20]);
        assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
        assert_eq!(recognise(&[header, &fine, data, end].concat()), Some(ImageKind::Png), "an ordinary profile");
        for (what, file) in [
            ("the bomb", [header, &bomb, data, end].concat()),
            ("a second profile behind a sound one", [header, &fine, &bomb, data, end].concat()),
            ("a profile after the image data", [header, data, &bomb, end].concat()),
            ("even a sound one there", [header, data, &fine, end].concat()),
        ] {
            assert_eq!(recognise(&file), None, "{what}");
        }
    }

    #[test]
    fn a_starting_store_removes_half_written_files_an_hour_old_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join(".0123456789abcdef0123456789abcdef.png.part");
        let young = dir.path().join(".fedcba9876543210fedcba9876543210.png.part");
        let stored = dir.path().join("0123456789abcdef0123456789abcdef.png");
        let foreign = dir.path().join(".backup.part");
        for path in [&old, &young, &stored, &foreign] {
            std::fs::write(path, b"x").unwrap();
        }
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for path in [&old, &stored, &foreign] {
            std::fs::File::options().write(true).open(path).unwrap().set_modified(two_hours_ago).unwrap();
        }

        FsImageStore::new(dir.path()).unwrap();

        assert!(!old.exists(), "a half-written file an hour old is removed");
        assert!(young.exists(), "one being written now (by another replica) stays");
        assert!(stored.exists(), "a stored image stays, however old");
        assert!(foreign.exists(), "a file this store did not write stays (MEDIA_DIR may hold others)");
    }

    #[test]
    fn only_generated_names_are_served() {
        assert_eq!(stored_kind("0123456789abcdef0123456789abcdef.png"), Some(ImageKind::Png));
        assert_eq!(stored_kind("0123456789abcdef0123456789abcdef.webp"), Some(ImageKind::Webp));
        for bad in [
            "../etc/passwd",
            "0123456789abcdef0123456789abcdef.png/..",
            "x.png",
            ".hidden.png",
            "0123456789ABCDEF0123456789ABCDEF.png",
            "0123456789abcdef0123456789abcdef.gif",
            "0123456789abcdef0123456789abcdef.png.part",
        ] {
            assert_eq!(stored_kind(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn saved_files_can_be_read_back_and_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsImageStore::new(dir.path().join("media")).unwrap();
        let name = store.save(bytes(PNG), ImageKind::Png).await.unwrap();
        let path = store.path_of(&name).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), bytes(PNG));
        store.delete(&name).await.unwrap();
        assert!(!path.exists());
        store.delete(&name).await.unwrap();
    }
}
