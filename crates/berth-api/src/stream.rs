//! Docker's stream framing for container output, shared by attach and logs.

use crate::backend::OutputStream;
use berth_model::api::StdStream;
use bytes::{BufMut, Bytes, BytesMut};
use futures_util::StreamExt;

/// Media type of attach output (and of the 101 that starts it).
pub(crate) const RAW_STREAM: &str = "application/vnd.docker.raw-stream";

/// One frame of the multiplexed format: `[stream, 0, 0, 0, len as big-endian u32]` then
/// the payload, which is how a client without a TTY tells stdout from stderr. Payloads
/// over 4 GiB are split so the length always fits.
pub(crate) fn frame(stream: StdStream, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(payload.len() + 8);
    for chunk in payload.chunks(u32::MAX as usize) {
        out.put_u8(stream as u8);
        out.put_bytes(0, 3);
        out.put_u32(chunk.len() as u32);
        out.put_slice(chunk);
    }
    out.freeze()
}

/// Output as the bytes to put on the wire: raw with a TTY (there is only one stream),
/// multiplexed frames otherwise. Empty chunks are dropped since an empty frame or an empty
/// HTTP chunk would be misread as the end of the stream by some clients.
pub(crate) fn encode(
    output: OutputStream,
    tty: bool,
) -> impl futures_util::Stream<Item = Bytes> + Send {
    output.filter_map(move |(stream, data)| async move {
        if data.is_empty() {
            None
        } else if tty {
            Some(data)
        } else {
            Some(frame(stream, &data))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_header() {
        assert_eq!(
            &frame(StdStream::Stdout, b"hello-stdin\n")[..],
            b"\x01\x00\x00\x00\x00\x00\x00\x0chello-stdin\n"
        );
        assert_eq!(&frame(StdStream::Stderr, b"")[..], b"");
        assert_eq!(
            &frame(StdStream::Stderr, b"x")[..],
            b"\x02\x00\x00\x00\x00\x00\x00\x01x"
        );
    }
}
