//! Compression sniffing: layers arrive as gzip, zstd or plain tar and media types lie,
//! so the magic bytes decide.

use std::io::{self, Chain, Cursor, Read, Write};

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
/// and inflates four times slower; level 2 stores such blocks. See [`LayerGzip`].
pub const GZIP_LEVEL: u32 = 2;

/// How much of a layer [`LayerGzip`] looks at before choosing a level.
const SAMPLE: usize = 256 * 1024;

/// A gzip writer for layers that first looks at the opening bytes: when they do not
/// compress (random data, media, archives inside the layer), the layer is stored in
/// gzip's stored blocks at memory speed instead of spending most of a push or commit in
/// a compressor that saves nothing. Output is ordinary gzip either way.
pub struct LayerGzip<W: io::Write> {
    state: GzState<W>,
}

enum GzState<W: io::Write> {
    Sampling(Vec<u8>, W),
    Writing(Box<flate2::write::GzEncoder<W>>),
    Done,
}

impl<W: io::Write> LayerGzip<W> {
    pub fn new(inner: W) -> Self {
        Self {
            state: GzState::Sampling(Vec::with_capacity(SAMPLE), inner),
        }
    }

    /// The level for data that starts with `sample`: 0 when a fast pass over it saves
    /// under 3%.
    pub fn level_for(sample: &[u8]) -> u32 {
        if sample.is_empty() {
            return GZIP_LEVEL;
        }
        let mut c = flate2::Compress::new(flate2::Compression::fast(), false);
        let mut out = Vec::with_capacity(sample.len() + 1024);
        if c.compress_vec(sample, &mut out, flate2::FlushCompress::Finish)
            .is_err()
        {
            return GZIP_LEVEL;
        }
        if out.len() as u64 * 100 > sample.len() as u64 * 97 {
            0
        } else {
            GZIP_LEVEL
        }
    }

    /// Chooses the level from what was sampled and starts compressing.
    fn start(&mut self) -> io::Result<&mut flate2::write::GzEncoder<W>> {
        if let GzState::Sampling(..) = self.state {
            let GzState::Sampling(sample, inner) =
                std::mem::replace(&mut self.state, GzState::Done)
            else {
                unreachable!()
            };
            let level = Self::level_for(&sample);
            let mut gz = flate2::write::GzEncoder::new(inner, flate2::Compression::new(level));
            gz.write_all(&sample)?;
            self.state = GzState::Writing(Box::new(gz));
        }
        match &mut self.state {
            GzState::Writing(gz) => Ok(gz),
            _ => Err(io::Error::other("gzip stream already finished")),
        }
    }

    /// Ends the gzip stream (its trailer) and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.start()?;
        match std::mem::replace(&mut self.state, GzState::Done) {
            GzState::Writing(gz) => gz.finish(),
            _ => unreachable!("started above"),
        }
    }
}

impl<W: io::Write> io::Write for LayerGzip<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if let GzState::Sampling(sample, _) = &mut self.state {
            if sample.len() < SAMPLE {
                let n = buf.len().min(SAMPLE - sample.len());
                sample.extend_from_slice(&buf[..n]);
                return Ok(n);
            }
        }
        self.start()?.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.state {
            GzState::Writing(gz) => gz.flush(),
            _ => Ok(()),
        }
    }
}

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

    fn layer_gzip(data: &[u8], pieces: usize) -> Vec<u8> {
        let mut gz = LayerGzip::new(Vec::new());
        for chunk in data.chunks((data.len() / pieces).max(1)) {
            gz.write_all(chunk).unwrap();
        }
        gz.finish().unwrap()
    }

    fn pseudo_random(n: usize) -> Vec<u8> {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect()
    }

    #[test]
    fn layer_gzip_stores_incompressible_data_and_compresses_the_rest() {
        let random = pseudo_random(3 * SAMPLE + 17);
        let text = b"usr/bin/hello world, a layer of text\n".repeat(40_000);
        assert_eq!(LayerGzip::<Vec<u8>>::level_for(&random[..SAMPLE]), 0);
        assert_eq!(LayerGzip::<Vec<u8>>::level_for(&text[..SAMPLE]), GZIP_LEVEL);
        let mut mixed = text[..SAMPLE / 2].to_vec();
        mixed.extend_from_slice(&random);
        for (data, max_ratio) in [
            (random.clone(), 1.01),
            (text.clone(), 0.1),
            (mixed, 1.01),
            (b"tiny".to_vec(), 10.0),
            (Vec::new(), f64::MAX),
        ] {
            for pieces in [1, 3, 1000] {
                let gz = layer_gzip(&data, pieces);
                assert!(
                    data.is_empty() || (gz.len() as f64) < data.len() as f64 * max_ratio,
                    "{} -> {}",
                    data.len(),
                    gz.len()
                );
                roundtrip(&data, gz, Compression::Gzip);
            }
        }
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
