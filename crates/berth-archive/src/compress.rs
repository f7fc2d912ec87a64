//! Compression sniffing: layers arrive as gzip, zstd or plain tar and media types lie,
//! so the magic bytes decide.

use std::io::{self, Chain, Cursor, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// The input with its sniffed bytes put back in front.
pub type Peeked<R> = Chain<Cursor<Vec<u8>>, R>;

/// The gzip level of the layers Berth compresses (commit, import, push). Not level 1:
/// zlib-rs's level 1 never falls back to stored blocks, so incompressible data grows by 5%
/// and inflates four times slower; level 2 stores such blocks and costs little more.
pub const GZIP_LEVEL: u32 = 2;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// Peeks at the first bytes of `reader` and returns the compression with a reader that
/// still yields every byte (the peeked ones first).
pub fn detect<R: Read>(mut reader: R) -> io::Result<(Compression, Peeked<R>)> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match reader.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    let head = &head[..n];
    let kind = if head.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else if head.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else {
        Compression::None
    };
    Ok((kind, Cursor::new(head.to_vec()).chain(reader)))
}

/// A reader of the uncompressed tar whatever the input's compression.
pub fn decompress<'a, R: Read + 'a>(reader: R) -> io::Result<Box<dyn Read + 'a>> {
    let (kind, reader) = detect(reader)?;
    Ok(match kind {
        Compression::None => Box::new(reader),
        // Multi-member: concatenated gzip streams are one valid gzip file.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(reader)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn roundtrip(data: &[u8], compressed: Vec<u8>, want: Compression) {
        let (kind, _) = detect(&compressed[..]).unwrap();
        assert_eq!(kind, want);
        let mut out = Vec::new();
        decompress(&compressed[..])
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn sniffs_all_three() {
        let data = b"hello tar world".repeat(100);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&data).unwrap();
        roundtrip(&data, gz.finish().unwrap(), Compression::Gzip);
        roundtrip(
            &data,
            zstd::encode_all(&data[..], 1).unwrap(),
            Compression::Zstd,
        );
        roundtrip(&data, data.clone(), Compression::None);
        roundtrip(b"x", b"x".to_vec(), Compression::None);
        roundtrip(b"", Vec::new(), Compression::None);
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&b"abc".repeat(1000)).unwrap();
        let gz = gz.finish().unwrap();
        let mut out = Vec::new();
        assert!(decompress(&gz[..gz.len() - 6])
            .unwrap()
            .read_to_end(&mut out)
            .is_err());
    }
}
