//! An upload's metadata is dropped before it is stored.
//!
//! Phone photos carry where and when they were taken (EXIF GPS tags), the
//! camera's serial number, editing history (XMP), comments, sometimes a
//! second picture or a video after the image (MPF, motion photos). A
//! product image is public, so all of it goes. What the picture's rendering
//! depends on stays: the colour profile, the JPEG colour transform (`Adobe`),
//! transparency, animation, and the EXIF orientation, which is written back
//! alone so a phone photo is not shown turned.
//!
//! Nothing is decoded or copied: the result is pieces of the upload (and a
//! few new bytes), written to the file one after another.

use bytes::Bytes;
use coffee_domain::catalog::ImageKind;
use image::metadata::Orientation;
use img_parts::ImageEXIF;
use img_parts::png::Png;
use img_parts::riff::RiffContent;
use img_parts::webp::{self, WebP};

/// The most segments or chunks an image may have. A PNG from libpng has one
/// image data chunk per 8 KiB (640 for 5 MiB); a file of nothing but empty
/// chunks would have 400 000, each a piece to hold (32 bytes) and write.
const MAX_PARTS: usize = 16_384;

/// `image` without its metadata, as pieces to write in order; `None` if its
/// container cannot be read (a truncated file, a JPEG without its end) or has
/// more than [`MAX_PARTS`] segments or chunks.
pub(crate) fn stripped(image: Bytes, kind: ImageKind) -> Option<Vec<Bytes>> {
    match kind {
        ImageKind::Jpeg => jpeg(&image),
        ImageKind::Png => png(image),
        ImageKind::Webp => webp(image),
    }
}

/// A TIFF structure (what EXIF is) holding one tag, the orientation; `None`
/// when the image is shown as stored anyway.
fn orientation_only(orientation: Option<Orientation>) -> Option<Bytes> {
    let value = orientation.filter(|o| *o != Orientation::NoTransforms)?.to_exif();
    let mut tiff = Vec::with_capacity(26);
    tiff.extend_from_slice(b"MM\0\x2a"); // big-endian TIFF
    tiff.extend_from_slice(&8u32.to_be_bytes()); // the first directory right after
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry:
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation,
    tiff.extend_from_slice(&3u16.to_be_bytes()); // a SHORT,
    tiff.extend_from_slice(&1u32.to_be_bytes()); // one of it,
    tiff.extend_from_slice(&[0, value, 0, 0]); // its value, padded to 4 bytes
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next directory
    Some(tiff.into())
}

// JPEG markers (ITU T.81 table B.1).
const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const APP0: u8 = 0xE0;
const APP1: u8 = 0xE1;
const APP2: u8 = 0xE2;
const APP14: u8 = 0xEE;
const APP15: u8 = 0xEF;
const COM: u8 = 0xFE;
const EXIF_PREFIX: &[u8] = b"Exif\0\0";

/// Whether a JPEG segment is kept: every table, frame and scan header, and of
/// the application segments and comments only the JFIF header, the colour
/// profile and Adobe's colour transform.
fn keeps_segment(marker: u8, contents: &[u8]) -> bool {
    match marker {
        APP0 => contents.starts_with(b"JFIF\0"),
        APP2 => contents.starts_with(b"ICC_PROFILE\0"),
        APP14 => contents.starts_with(b"Adobe"),
        APP1..=APP15 | COM => false,
        _ => true,
    }
}

/// Walks a JPEG marker by marker up to its end (EOI): segments that are not
/// kept are left out, so is anything after the end (a second picture, a
/// motion photo's video). The entropy-coded data after each scan header runs
/// to the next marker that is neither a restart marker nor a stuffed byte.
///
/// img-parts reads segments only up to the first scan and keeps the rest of
/// the file whole, which would keep metadata between progressive scans and
/// everything after the image.
fn jpeg(image: &Bytes) -> Option<Vec<Bytes>> {
    let bytes = image.as_ref();
    if bytes.get(..2)? != [0xFF, SOI] {
        return None;
    }
    let mut pieces = vec![image.slice(..2)];
    let mut exif_at = 1;
    let mut orientation = None;
    let mut at = 2;
    loop {
        // A marker: 0xFF, any fill bytes (0xFF), the code. Stray bytes
        // between segments are skipped, as decoders do.
        at += memchr::memchr(0xFF, bytes.get(at..)?)?;
        while *bytes.get(at + 1)? == 0xFF {
            at += 1;
        }
        let (start, marker) = (at, bytes[at + 1]);
        at += 2;
        match marker {
            EOI => {
                pieces.push(image.slice(start..at));
                break;
            }
            // Restart markers, and the markers of arithmetic coding's tests: no length.
            0xD0..=0xD7 | 0x01 | SOI => continue,
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]));
        let end = at.checked_add(length).filter(|end| length >= 2 && *end <= bytes.len())?;
        let contents = &bytes[at + 2..end];
        if keeps_segment(marker, contents) {
            if pieces.len() > MAX_PARTS {
                return None;
            }
            pieces.push(image.slice(start..end));
            if marker == APP0 && pieces.len() == 2 {
                exif_at = 2;
            }
        } else if marker == APP1 && orientation.is_none() {
            orientation = contents.strip_prefix(EXIF_PREFIX).and_then(Orientation::from_exif_chunk);
        }
        at = end;
        if marker == SOS {
            let data = at;
            loop {
                at += memchr::memchr(0xFF, bytes.get(at..)?)?;
                match *bytes.get(at + 1)? {
                    0x00 | 0xD0..=0xD7 => at += 2,
                    0xFF => at += 1,
                    _ => break,
                }
            }
            pieces.push(image.slice(data..at));
        }
    }
    if let Some(tiff) = orientation_only(orientation) {
        let mut segment = Vec::with_capacity(4 + EXIF_PREFIX.len() + tiff.len());
        segment.extend_from_slice(&[0xFF, APP1]);
        segment.extend_from_slice(&u16::try_from(2 + EXIF_PREFIX.len() + tiff.len()).ok()?.to_be_bytes());
        segment.extend_from_slice(EXIF_PREFIX);
        segment.extend_from_slice(&tiff);
        pieces.insert(exif_at, segment.into());
    }
    Some(pieces)
}

/// PNG chunks kept besides the critical ones (`IHDR`, `PLTE`, `IDAT`,
/// `IEND`): those that change how the pixels look, and APNG's animation.
/// Text (`tEXt`, `zTXt`, `iTXt`, where XMP lives), `eXIf`, `tIME` and
/// private chunks go.
const PNG_KEPT: [&[u8; 4]; 14] = [
    b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"iCCP", b"sBIT", b"bKGD", b"pHYs", b"cICP", b"mDCV", b"cLLI", b"acTL",
    b"fcTL", b"fdAT",
];

/// Whether an image has at most [`MAX_PARTS`] chunks, counted from their
/// length fields alone, before img-parts reads them: it holds every chunk it
/// reads, so a 5 MiB file of 437 000 empty chunks cost 17.5 MB at its peak
/// just to be refused (0.5 MB now; measured with `VmHWM`). `next(at)` is where the chunk
/// at `at` ends, or `None` if it is the last (img-parts refuses a chunk cut
/// short).
fn at_most_max_parts(len: usize, mut at: usize, next: impl Fn(usize) -> Option<usize>) -> bool {
    for _ in 0..MAX_PARTS {
        match next(at) {
            Some(end) if end < len => at = end,
            _ => return true,
        }
    }
    false
}

fn png(image: Bytes) -> Option<Vec<Bytes>> {
    // After the signature: length (4 bytes), type (4), data, checksum (4).
    // img-parts stops at IEND, so nothing after the image is counted or kept.
    let chunk_end = |at: usize| {
        let header = image.get(at..at.checked_add(8)?)?;
        let length = usize::try_from(u32::from_be_bytes(header[..4].try_into().ok()?)).ok()?;
        (&header[4..] != b"IEND").then(|| at.checked_add(12)?.checked_add(length)).flatten()
    };
    if !at_most_max_parts(image.len(), 8, chunk_end) {
        return None;
    }
    let mut png = Png::from_bytes(image).ok()?;
    let orientation = png.exif().and_then(|exif| Orientation::from_exif_chunk(&exif));
    png.chunks_mut().retain(|chunk| {
        let kind = chunk.kind();
        kind[0].is_ascii_uppercase() || PNG_KEPT.contains(&&kind)
    });
    png.set_exif(orientation_only(orientation));
    Some(png.encoder().collect())
}

/// WebP chunks kept: the image data, alpha, animation, the colour profile
/// and the extended header (whose flags img-parts keeps in step).
const WEBP_KEPT: [[u8; 4]; 7] = [
    webp::CHUNK_VP8,
    webp::CHUNK_VP8L,
    webp::CHUNK_VP8X,
    webp::CHUNK_ALPH,
    webp::CHUNK_ANIM,
    webp::CHUNK_ANMF,
    webp::CHUNK_ICCP,
];

/// The XMP flag of the extended header (`VP8X`).
const WEBP_XMP_FLAG: u8 = 0b0000_0100;

fn webp(image: Bytes) -> Option<Vec<Bytes>> {
    // After the RIFF header (12 bytes): id (4), size (4, little-endian),
    // data, padded to an even length; the header's size bounds them.
    let riff_end = usize::try_from(u32::from_le_bytes(image.get(4..8)?.try_into().ok()?)).ok()?.saturating_add(8);
    let chunk_end = |at: usize| {
        let size =
            usize::try_from(u32::from_le_bytes(image.get(at.checked_add(4)?..at.checked_add(8)?)?.try_into().ok()?))
                .ok()?;
        at.checked_add(8)?.checked_add(size)?.checked_add(size & 1)
    };
    if !at_most_max_parts(image.len().min(riff_end), 12, chunk_end) {
        return None;
    }
    let mut webp = WebP::from_bytes(image).ok()?;
    let orientation = webp.exif().and_then(|exif| Orientation::from_exif_chunk(&exif));
    webp.chunks_mut().retain(|chunk| WEBP_KEPT.contains(&chunk.id()));
    // Updates the header's EXIF flag, or drops the header if it has nothing
    // left to describe; its XMP flag img-parts leaves, so it is cleared here.
    webp.set_exif(orientation_only(orientation));
    let header = webp.chunks_mut().iter_mut().find(|chunk| chunk.id() == webp::CHUNK_VP8X);
    if let Some(RiffContent::Data(data)) = header.map(|chunk| chunk.content_mut())
        && data.first().is_some_and(|flags| flags & WEBP_XMP_FLAG != 0)
    {
        let mut flags = data.to_vec();
        flags[0] &= !WEBP_XMP_FLAG;
        *data = flags.into();
    }
    Some(webp.encoder().collect())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use image::{ImageDecoder, ImageFormat};
    use std::io::Cursor;

    const SECRET: &[u8] = b"SECRET";

    /// A little-endian EXIF block with a description naming a place, and `orientation`.
    fn exif(orientation: u16) -> Vec<u8> {
        let text = b"SECRET 41.40338 N 2.17403 E\0";
        let mut tiff = b"II\x2a\0".to_vec();
        tiff.extend_from_slice(&8u32.to_le_bytes());
        tiff.extend_from_slice(&2u16.to_le_bytes());
        let text_at = 8 + 2 + 2 * 12 + 4;
        tiff.extend_from_slice(&0x010Eu16.to_le_bytes()); // ImageDescription
        tiff.extend_from_slice(&2u16.to_le_bytes());
        tiff.extend_from_slice(&u32::try_from(text.len()).unwrap().to_le_bytes());
        tiff.extend_from_slice(&u32::try_from(text_at).unwrap().to_le_bytes());
        tiff.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        tiff.extend_from_slice(&3u16.to_le_bytes());
        tiff.extend_from_slice(&1u32.to_le_bytes());
        tiff.extend_from_slice(&orientation.to_le_bytes());
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&0u32.to_le_bytes());
        tiff.extend_from_slice(text);
        tiff
    }

    /// A `side` × `side` gradient in `format`, as its encoder writes it (no metadata).
    fn encoded(format: ImageFormat, side: u32) -> Vec<u8> {
        let pixels = image::RgbImage::from_fn(side, side, |x, y| image::Rgb([(x * 16) as u8, (y * 16) as u8, 128]));
        let mut bytes = Vec::new();
        image::DynamicImage::ImageRgb8(pixels).write_to(&mut Cursor::new(&mut bytes), format).unwrap();
        bytes
    }

    fn segment(marker: u8, contents: &[u8]) -> Vec<u8> {
        let mut s = vec![0xFF, marker];
        s.extend_from_slice(&u16::try_from(contents.len() + 2).unwrap().to_be_bytes());
        s.extend_from_slice(contents);
        s
    }

    fn joined(pieces: Vec<Bytes>) -> Vec<u8> {
        pieces.concat()
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    fn decoded(bytes: &[u8], format: ImageFormat) -> (Vec<u8>, Orientation) {
        let mut decoder = image::ImageReader::with_format(Cursor::new(bytes), format).into_decoder().unwrap();
        let orientation = decoder.orientation().unwrap();
        (image::DynamicImage::from_decoder(decoder).unwrap().into_bytes(), orientation)
    }

    #[test]
    fn a_jpeg_keeps_its_pixels_profile_and_orientation_and_loses_the_rest() {
        let plain = encoded(ImageFormat::Jpeg, 16);
        let exif = [EXIF_PREFIX, &exif(6)].concat();
        let body = &plain[2..plain.len() - 2]; // between SOI and EOI
        let upload = [
            &plain[..2],
            &segment(APP1, &exif),
            &segment(APP1, b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta>SECRET</x:xmpmeta>"),
            &segment(APP2, b"ICC_PROFILE\0\x01\x01profile bytes"),
            &segment(APP2, b"MPF\0SECRET"),
            &segment(0xED, b"Photoshop 3.0\0SECRET"),
            &segment(COM, b"SECRET comment"),
            body,
            &segment(COM, b"SECRET after the scan"),
            &[0xFF, EOI],
            b"SECRET motion photo video",
            &plain,
        ]
        .concat();
        let out = joined(stripped(Bytes::from(upload.clone()), ImageKind::Jpeg).unwrap());
        assert!(!contains(&out, SECRET), "{out:x?}");
        assert!(contains(&out, b"ICC_PROFILE\0\x01\x01profile bytes"));
        let (pixels, orientation) = decoded(&out, ImageFormat::Jpeg);
        assert_eq!(orientation, Orientation::Rotate90);
        assert_eq!(pixels, decoded(&plain, ImageFormat::Jpeg).0);
        assert_eq!(decoded(&upload, ImageFormat::Jpeg).1, Orientation::Rotate90, "the upload says the same");
        // Without metadata: the same bytes.
        assert_eq!(joined(stripped(Bytes::from(plain.clone()), ImageKind::Jpeg).unwrap()), plain);
    }

    #[test]
    fn a_jpeg_cut_short_is_not_read() {
        let plain = encoded(ImageFormat::Jpeg, 8);
        for cut in [plain.len() - 2, plain.len() / 2, 20, 3] {
            assert!(stripped(Bytes::from(plain[..cut].to_vec()), ImageKind::Jpeg).is_none(), "{cut}");
        }
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut c = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        c.extend_from_slice(kind);
        c.extend_from_slice(data);
        let mut crc = crc32fast::Hasher::new();
        crc.update(kind);
        crc.update(data);
        c.extend_from_slice(&crc.finalize().to_be_bytes());
        c
    }

    #[test]
    fn a_png_keeps_its_pixels_and_orientation_and_loses_text_and_exif() {
        let plain = encoded(ImageFormat::Png, 4);
        let ihdr_end = 8 + 25;
        let upload = [
            &plain[..ihdr_end],
            &png_chunk(b"eXIf", &exif(8)),
            &png_chunk(b"tEXt", b"Comment\0SECRET"),
            &png_chunk(b"iTXt", b"XML:com.adobe.xmp\0\0\0\0\0SECRET"),
            &png_chunk(b"tIME", b"\x07\xea\x0c\x02\x05\x00\x00"),
            &png_chunk(b"prVt", SECRET),
            &png_chunk(b"gAMA", &45455u32.to_be_bytes()),
            &plain[ihdr_end..],
            b"SECRET after IEND",
        ]
        .concat();
        let out = joined(stripped(Bytes::from(upload), ImageKind::Png).unwrap());
        assert!(!contains(&out, SECRET));
        assert!(!contains(&out, b"tIME"));
        assert!(contains(&out, b"gAMA"));
        let (pixels, orientation) = decoded(&out, ImageFormat::Png);
        assert_eq!(orientation, Orientation::Rotate270);
        assert_eq!(pixels, decoded(&plain, ImageFormat::Png).0);
        assert_eq!(joined(stripped(Bytes::from(plain.clone()), ImageKind::Png).unwrap()), plain);
        assert!(stripped(Bytes::from(plain[..plain.len() - 5].to_vec()), ImageKind::Png).is_none());
    }

    #[test]
    fn a_webp_keeps_its_pixels_and_orientation_and_loses_exif_and_xmp() {
        let plain = encoded(ImageFormat::WebP, 4);
        let mut webp = WebP::from_bytes(Bytes::from(plain.clone())).unwrap();
        webp.set_exif(Some(exif(3).into()));
        webp.chunks_mut().push(img_parts::riff::RiffChunk::new(
            webp::CHUNK_XMP,
            RiffContent::Data(Bytes::from_static(b"<x:xmpmeta>SECRET")),
        ));
        webp.chunks_mut()
            .push(img_parts::riff::RiffChunk::new(*b"prVt", RiffContent::Data(Bytes::from_static(SECRET))));
        if let RiffContent::Data(data) = webp.chunks_mut()[0].content_mut() {
            let mut header = data.to_vec();
            header[0] |= WEBP_XMP_FLAG;
            *data = header.into();
        }
        let upload = webp.encoder().bytes();
        assert!(contains(&upload, SECRET));
        let out = joined(stripped(upload, ImageKind::Webp).unwrap());
        assert!(!contains(&out, SECRET));
        let out_webp = WebP::from_bytes(Bytes::from(out.clone())).unwrap();
        let flags = out_webp.chunk_by_id(webp::CHUNK_VP8X).unwrap().content().data().unwrap()[0];
        assert_eq!(flags & WEBP_XMP_FLAG, 0);
        let (pixels, orientation) = decoded(&out, ImageFormat::WebP);
        assert_eq!(orientation, Orientation::Rotate180);
        assert_eq!(pixels, decoded(&plain, ImageFormat::WebP).0);
        assert_eq!(joined(stripped(Bytes::from(plain.clone()), ImageKind::Webp).unwrap()), plain);
    }

    #[test]
    fn an_image_of_too_many_parts_is_not_read() {
        let jpeg = encoded(ImageFormat::Jpeg, 8);
        // Restart intervals: kept, 6 bytes each.
        let dri = segment(0xDD, &[0, 0]);
        for (parts, expected) in [(MAX_PARTS / 2, true), (MAX_PARTS + 1, false)] {
            let many = [&jpeg[..2], &dri.repeat(parts), &jpeg[2..]].concat();
            assert_eq!(stripped(Bytes::from(many), ImageKind::Jpeg).is_some(), expected, "{parts} segments");
        }

        // Exactly MAX_PARTS chunks are read, one more is not: empty gamma
        // chunks (12 bytes) or private ones (8) added to the image's own.
        let png = encoded(ImageFormat::Png, 4);
        let webp = encoded(ImageFormat::WebP, 4);
        let png_own = Png::from_bytes(Bytes::from(png.clone())).unwrap().chunks().len();
        let webp_own = WebP::from_bytes(Bytes::from(webp.clone())).unwrap().chunks().len();
        for extra in [0, 1] {
            let parts = MAX_PARTS - png_own + extra;
            let many = [&png[..33], &png_chunk(b"gAMA", &[]).repeat(parts), &png[33..]].concat();
            assert_eq!(stripped(Bytes::from(many), ImageKind::Png).is_some(), extra == 0, "{parts} extra chunks");
            let mut many = WebP::from_bytes(Bytes::from(webp.clone())).unwrap();
            let empty = img_parts::riff::RiffChunk::new(*b"prVt", RiffContent::Data(Bytes::new()));
            many.chunks_mut().extend(std::iter::repeat_n(empty, MAX_PARTS - webp_own + extra));
            assert_eq!(stripped(many.encoder().bytes(), ImageKind::Webp).is_some(), extra == 0, "WebP, {extra}");
        }
        // Chunks after the image are not counted: they are dropped unread.
        let trailer = png_chunk(b"gAMA", &[]).repeat(MAX_PARTS + 1);
        let out = stripped(Bytes::from([&png[..], &trailer].concat()), ImageKind::Png).unwrap();
        assert_eq!(joined(out), png);
    }

    #[test]
    fn the_orientation_written_back_is_read_as_it_was() {
        assert_eq!(orientation_only(None), None);
        assert_eq!(orientation_only(Some(Orientation::NoTransforms)), None);
        for value in 2..=8 {
            let orientation = Orientation::from_exif(value).unwrap();
            let tiff = orientation_only(Some(orientation)).unwrap();
            assert_eq!(Orientation::from_exif_chunk(&tiff), Some(orientation));
        }
    }
}
