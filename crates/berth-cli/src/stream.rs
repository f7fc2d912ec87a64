//! Container stdio over an attach connection or a logs body: the 8-byte-header
//! multiplexed frames, the stdin pump with its half-close, and detach keys.

use crate::client::Upgraded;
use bytes::Bytes;
use std::io::{Read, Write};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Splits the multiplexed stream (`[stream, 0, 0, 0, len_be32] payload`) into frames.
#[derive(Debug, Default)]
pub struct Demux {
    buf: Vec<u8>,
}

impl Demux {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame as (stream byte, payload), if one is buffered.
    pub fn next_frame(&mut self) -> Option<(u8, Vec<u8>)> {
        if self.buf.len() < 8 {
            return None;
        }
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < 8 + len {
            return None;
        }
        let stream = self.buf[0];
        let payload = self.buf[8..8 + len].to_vec();
        self.buf.drain(..8 + len);
        Some((stream, payload))
    }
}

/// Where output goes: the process's stdout/stderr, or buffers in tests.
pub trait Sink {
    fn out(&mut self, data: &[u8]);
    fn err(&mut self, data: &[u8]);
}

pub struct StdSink;

impl Sink for StdSink {
    fn out(&mut self, data: &[u8]) {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(data);
        let _ = o.flush();
    }
    fn err(&mut self, data: &[u8]) {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(data);
        let _ = e.flush();
    }
}

/// Feeds raw bytes to the sink: verbatim for a TTY, else demultiplexed.
pub struct OutputDecoder {
    tty: bool,
    demux: Demux,
}

impl OutputDecoder {
    pub fn new(tty: bool) -> Self {
        Self {
            tty,
            demux: Demux::default(),
        }
    }

    pub fn feed(&mut self, data: &[u8], sink: &mut dyn Sink) {
        if self.tty {
            sink.out(data);
            return;
        }
        self.demux.push(data);
        while let Some((stream, payload)) = self.demux.next_frame() {
            match stream {
                2 => sink.err(&payload),
                _ => sink.out(&payload),
            }
        }
    }
}

/// docker's `term.ToBytes`: `ctrl-p,ctrl-q` → `[0x10, 0x11]`.
pub fn parse_detach_keys(keys: &str) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for key in keys.split(',') {
        let k = key.trim();
        if let Some(c) = k.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b @ b'a'..=b'z'] => b - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => anyhow::bail!("invalid detach keys ({keys}): unknown character: '{k}'"),
            };
            out.push(b);
        } else if k.len() == 1 {
            out.push(k.as_bytes()[0]);
        } else {
            anyhow::bail!("invalid detach keys ({keys}): unknown character: '{k}'");
        }
    }
    Ok(out)
}

/// docker's `EscapeProxy`: holds back a partial detach sequence, releases it on mismatch.
#[derive(Debug)]
pub struct DetachMatcher {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachMatcher {
    pub fn new(keys: Vec<u8>) -> Self {
        Self { keys, matched: 0 }
    }

    /// Returns the bytes to forward and whether the full sequence was typed.
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.keys.is_empty() {
                out.push(b);
                continue;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
            } else {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
                if b == self.keys[0] {
                    self.matched = 1;
                } else {
                    out.push(b);
                }
            }
        }
        (out, false)
    }
}

/// Reads our stdin on a plain thread: tokio's stdin would hold the runtime open at exit
/// while blocked in read(2).
pub fn stdin_channel() -> tokio::sync::mpsc::Receiver<Bytes> {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin();
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.blocking_send(Bytes::copy_from_slice(&buf[..n])).is_err() {
                        break;
                    }
                }
            }
        }
    });
    rx
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The daemon closed the output side: the container's streams ended.
    Ended,
    /// The user typed the detach keys.
    Detached,
}

/// Pumps an attach connection: stdin (if any) to the container with a half-close at EOF,
/// output to the sink until the daemon closes it.
pub async fn pump(
    conn: Upgraded,
    tty: bool,
    stdin: Option<tokio::sync::mpsc::Receiver<Bytes>>,
    detach_keys: Option<Vec<u8>>,
    sink: &mut dyn Sink,
) -> anyhow::Result<Outcome> {
    let (mut rd, mut wr) = tokio::io::split(conn);
    let (detach_tx, mut detach_rx) = tokio::sync::oneshot::channel::<()>();
    let input = async move {
        if let Some(mut rx) = stdin {
            let mut matcher = detach_keys.map(DetachMatcher::new);
            while let Some(chunk) = rx.recv().await {
                let (data, detached) = match matcher.as_mut() {
                    Some(m) => m.feed(&chunk),
                    None => (chunk.to_vec(), false),
                };
                if !data.is_empty() && wr.write_all(&data).await.is_err() {
                    return;
                }
                if detached {
                    let _ = detach_tx.send(());
                    return;
                }
            }
        }
        let _ = wr.shutdown().await;
        // Keep the write half alive until the output side finishes.
        std::future::pending::<()>().await;
    };
    let input = tokio::spawn(input);
    let mut decoder = OutputDecoder::new(tty);
    let mut buf = vec![0u8; 32 * 1024];
    let mut detach_live = true;
    let outcome = loop {
        tokio::select! {
            r = rd.read(&mut buf) => match r {
                Ok(0) => break Outcome::Ended,
                Ok(n) => decoder.feed(&buf[..n], sink),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break Outcome::Ended,
                Err(e) => { input.abort(); return Err(e.into()); }
            },
            r = &mut detach_rx, if detach_live => {
                if r.is_ok() { break Outcome::Detached; }
                detach_live = false;
            }
        }
    };
    input.abort();
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    pub struct Buf {
        pub out: Vec<u8>,
        pub err: Vec<u8>,
    }

    impl Sink for Buf {
        fn out(&mut self, d: &[u8]) {
            self.out.extend_from_slice(d);
        }
        fn err(&mut self, d: &[u8]) {
            self.err.extend_from_slice(d);
        }
    }

    #[test]
    fn demux_split_across_chunks() {
        let wire = b"\x01\x00\x00\x00\x00\x00\x00\x04out\n\x02\x00\x00\x00\x00\x00\x00\x04err\n";
        let mut d = OutputDecoder::new(false);
        let mut sink = Buf::default();
        for chunk in wire.chunks(3) {
            d.feed(chunk, &mut sink);
        }
        assert_eq!(sink.out, b"out\n");
        assert_eq!(sink.err, b"err\n");
    }

    #[test]
    fn tty_passthrough() {
        let mut d = OutputDecoder::new(true);
        let mut sink = Buf::default();
        d.feed(b"hi-tty\r\n", &mut sink);
        assert_eq!(sink.out, b"hi-tty\r\n");
    }

    #[test]
    fn demux_waits_for_whole_frame() {
        let mut d = Demux::default();
        d.push(b"\x01\x00\x00\x00\x00\x00\x00\x05ab");
        assert!(d.next_frame().is_none());
        d.push(b"cde");
        assert_eq!(d.next_frame(), Some((1, b"abcde".to_vec())));
        assert!(d.next_frame().is_none());
    }

    #[test]
    fn detach_keys() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), vec![16, 17]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), vec![b'a', 0]);
        assert!(parse_detach_keys("ctrl-").is_err());
        let mut m = DetachMatcher::new(vec![16, 17]);
        assert_eq!(m.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(m.feed(b"x"), (b"\x10x".to_vec(), false));
        assert_eq!(m.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(m.feed(b"\x11rest"), (Vec::new(), true));
    }
}
