//! A minimal PNG encoder: 8-bit RGB, no interlacing, filter type 0 on every row, one zlib
//! IDAT chunk (PNG specification, 2nd ed., W3C 2003).

use std::io::Write;

use flate2::write::ZlibEncoder;
use flate2::Compression;

/// The eight bytes every PNG file starts with.
pub(crate) const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1A, b'\n'];

/// Encodes `rgb` (row-major, 3 bytes per pixel, `width * height * 3` bytes) as a PNG file.
///
/// # Panics
/// If `rgb` has the wrong length; [`Image`](crate::plot::Image) guarantees it does not.
pub(crate) fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    let row = width as usize * 3;
    assert_eq!(rgb.len(), row * height as usize, "RGB buffer size");

    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    // Bit depth 8, colour type 2 (RGB), deflate compression, adaptive filtering method 0,
    // no interlace.
    ihdr.extend([8, 2, 0, 0, 0]);

    // Filter type 0 (None) keeps the encoder trivial; charts are mostly flat colour, which
    // deflate compresses well without filtering.
    let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
    for line in rgb.chunks_exact(row) {
        zlib.write_all(&[0])
            .and_then(|()| zlib.write_all(line))
            .expect("writing into a Vec cannot fail");
    }
    let idat = zlib.finish().expect("writing into a Vec cannot fail");

    let mut png = Vec::with_capacity(idat.len() + 64);
    png.extend(SIGNATURE);
    write_chunk(&mut png, b"IHDR", &ihdr);
    write_chunk(&mut png, b"IDAT", &idat);
    write_chunk(&mut png, b"IEND", &[]);
    png
}

/// Appends one chunk: length, type, data, and the CRC of type and data.
fn write_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    let len = u32::try_from(data.len()).expect("image sides are bounded so chunks fit in u32");
    png.extend(len.to_be_bytes());
    let start = png.len();
    png.extend(kind);
    png.extend(data);
    png.extend(crc32(&png[start..]).to_be_bytes());
}

/// The CRC-32 of ISO 3309 / ITU-T V.42 (reflected polynomial 0xEDB88320), as PNG uses.
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc = CRC_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

/// The CRC of every byte value, so the main loop handles a byte per step, not a bit.
const CRC_TABLE: [u32; 256] = {
    let mut table = [0u32; 256];
    let mut n = 0;
    while n < 256 {
        let mut c = n as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 == 1 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        table[n] = c;
        n += 1;
    }
    table
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_values() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        // The CRC of an empty IEND chunk, found in every PNG file.
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn a_one_pixel_image_has_the_expected_header() {
        let png = encode_rgb(1, 1, &[255, 0, 0]);
        assert_eq!(&png[..8], &SIGNATURE);
        assert_eq!(&png[8..16], &[0, 0, 0, 13, b'I', b'H', b'D', b'R']);
        assert_eq!(&png[16..29], &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]);
        assert_eq!(
            &png[png.len() - 12..],
            &[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82]
        );
    }
}
