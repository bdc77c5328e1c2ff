//! Product images on the local filesystem (`MEDIA_DIR`).
//!
//! Files get generated names (`<32 hex>.<ext>`), so a client never chooses
//! a path: [`stored_kind`] accepts only names of that shape, which rules out
//! path traversal when serving. Formats are recognised by their bytes
//! ([`recognise`]), never by file name or declared type.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use coffee_domain::catalog::{ImageKind, ImageStore};
use coffee_domain::error::InfraError;

/// Recognises PNG, JPEG and WebP by their signature; anything else is `None`.
pub fn recognise(bytes: &[u8]) -> Option<ImageKind> {
    match infer::get(bytes)?.mime_type() {
        "image/png" => Some(ImageKind::Png),
        "image/jpeg" => Some(ImageKind::Jpeg),
        "image/webp" => Some(ImageKind::Webp),
        _ => None,
    }
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

/// [`ImageStore`] in a directory.
#[derive(Debug, Clone)]
pub struct FsImageStore {
    dir: PathBuf,
}

impl FsImageStore {
    /// A store in `dir`, created if missing.
    ///
    /// # Errors
    /// The directory cannot be created.
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, InfraError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| InfraError::caused_by(format!("MEDIA_DIR: {}", dir.display()), e))?;
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

    async fn save(&self, bytes: Vec<u8>, kind: ImageKind) -> Result<String, InfraError> {
        let name = format!("{}.{}", uuid::Uuid::now_v7().simple(), kind.extension());
        let tmp = self.dir.join(format!(".{name}.part"));
        let path = self.dir.join(&name);
        // Written aside, then renamed: readers never see half a file.
        let written = async {
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, &path).await
        }
        .await;
        if let Err(e) = written {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(InfraError::caused_by(format!("cannot store image {}", path.display()), e));
        }
        Ok(name)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PNG: &[u8] = &[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, b'I', b'H', b'D', b'R'];
    const JPEG: &[u8] = &[0xff, 0xd8, 0xff, 0xe0, 0, 0x10, b'J', b'F', b'I', b'F', 0];
    const WEBP: &[u8] = b"RIFF\x24\0\0\0WEBPVP8 ";

    #[test]
    fn images_are_recognised_by_their_bytes() {
        assert_eq!(recognise(PNG), Some(ImageKind::Png));
        assert_eq!(recognise(JPEG), Some(ImageKind::Jpeg));
        assert_eq!(recognise(WEBP), Some(ImageKind::Webp));
        assert_eq!(recognise(b"GIF89a......"), None);
        assert_eq!(recognise(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), None);
        assert_eq!(recognise(b"%PDF-1.7"), None);
        assert_eq!(recognise(b""), None);
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
        let name = store.save(PNG.to_vec(), ImageKind::Png).await.unwrap();
        let path = store.path_of(&name).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), PNG);
        store.delete(&name).await.unwrap();
        assert!(!path.exists());
        store.delete(&name).await.unwrap();
    }
}
