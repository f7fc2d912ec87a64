//! The daemon's side of `berth build`: its JSON message stream shown as the docker CLI
//! shows it off a terminal, and what happens once the stream ends.

use crate::cmd::build::fail;
use crate::stream::Sink;
use serde_json::Value;
use std::path::Path;

/// A failed build as the daemon reported it in the stream (`errorDetail`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildFailure {
    pub code: i32,
    pub message: String,
}

/// Shows the daemon's JSON messages as the docker CLI does on a non-terminal, keeping
/// the image ID from `aux`; with `-q` the text is held back (and shown only on failure).
#[derive(Debug, Default)]
pub struct BuildOutput {
    pub quiet: bool,
    pub image_id: Option<String>,
    pub held: Vec<u8>,
    pending: Vec<u8>,
}

impl BuildOutput {
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            ..Default::default()
        }
    }

    /// Feeds raw body bytes; messages may be split across chunks.
    pub fn feed(&mut self, data: &[u8], sink: &mut dyn Sink) -> Result<(), BuildFailure> {
        self.pending.extend_from_slice(data);
        let mut consumed = 0;
        let pending = std::mem::take(&mut self.pending);
        let mut it = serde_json::Deserializer::from_slice(&pending).into_iter::<Value>();
        let result = loop {
            match it.next() {
                Some(Ok(msg)) => {
                    consumed = it.byte_offset();
                    if let Err(e) = self.message(&msg, sink) {
                        break Err(e);
                    }
                }
                Some(Err(e)) if e.is_eof() => break Ok(()),
                Some(Err(e)) => {
                    break Err(BuildFailure {
                        code: 1,
                        message: format!("cannot decode build output: {e}"),
                    })
                }
                None => {
                    consumed = pending.len();
                    break Ok(());
                }
            }
        };
        self.pending = pending[consumed..].to_vec();
        result
    }

    fn emit(&mut self, text: &str, sink: &mut dyn Sink) {
        if self.quiet {
            self.held.extend_from_slice(text.as_bytes());
        } else {
            sink.out(text.as_bytes());
        }
    }

    fn message(&mut self, msg: &Value, sink: &mut dyn Sink) -> Result<(), BuildFailure> {
        let s = |k: &str| msg.get(k).and_then(Value::as_str).unwrap_or_default();
        if let Some(d) = msg.get("errorDetail").filter(|d| !d.is_null()) {
            let code = d.get("code").and_then(Value::as_i64).unwrap_or(0) as i32;
            let message = d
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or_else(|| s("error"))
                .to_string();
            return Err(BuildFailure {
                code: if code == 0 { 1 } else { code },
                message,
            });
        }
        if !s("error").is_empty() {
            return Err(BuildFailure {
                code: 1,
                message: s("error").to_string(),
            });
        }
        if let Some(aux) = msg.get("aux").filter(|a| !a.is_null()) {
            if let Some(id) = aux.get("ID").and_then(Value::as_str) {
                self.image_id = Some(id.to_string());
            }
            return Ok(());
        }
        // Progress bars are not drawn off a terminal.
        let progress = msg
            .get("progressDetail")
            .is_some_and(|p| p.get("current").is_some() || p.get("total").is_some());
        if progress && s("stream").is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        if !s("id").is_empty() {
            text.push_str(&format!("{}: ", s("id")));
        }
        if !s("from").is_empty() {
            text.push_str(&format!("(from {}) ", s("from")));
        }
        if !s("progress").is_empty() {
            text.push_str(&format!("{} {}", s("status"), s("progress")));
        } else if !s("stream").is_empty() {
            text.push_str(s("stream"));
        } else {
            text.push_str(&format!("{}\n", s("status")));
        }
        self.emit(&text, sink);
        Ok(())
    }

    /// End of the body: a message cut short is a failure too.
    pub fn finish(&mut self) -> Result<(), BuildFailure> {
        if self.pending.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        Err(BuildFailure {
            code: 1,
            message: "unexpected EOF".into(),
        })
    }
}

/// What follows the stream: the failure, or `-q`'s ID and `--iidfile`.
pub fn finish_build(
    out: BuildOutput,
    result: Result<(), BuildFailure>,
    iidfile: Option<&Path>,
    sink: &mut dyn Sink,
) -> anyhow::Result<i32> {
    if let Err(f) = result {
        if out.quiet {
            sink.err(&out.held);
        }
        sink.err(format!("{}\n", f.message).as_bytes());
        return Ok(f.code);
    }
    let id = out.image_id.clone().unwrap_or_default();
    if out.quiet {
        if id.is_empty() {
            sink.out(&out.held);
        } else {
            sink.out(format!("{id}\n").as_bytes());
        }
    }
    if let Some(f) = iidfile {
        if id.is_empty() {
            return Err(fail(format!(
                "Server did not provide an image ID. Cannot write {}",
                f.display()
            )));
        }
        std::fs::write(f, id.as_bytes())?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Buf {
        out: Vec<u8>,
        err: Vec<u8>,
    }

    impl Sink for Buf {
        fn out(&mut self, d: &[u8]) {
            self.out.extend_from_slice(d);
        }
        fn err(&mut self, d: &[u8]) {
            self.err.extend_from_slice(d);
        }
    }

    const STREAM: &str = concat!(
        "{\"stream\":\"Step 1/2 : FROM busybox\"}\r\n{\"stream\":\"\\n\"}\r\n",
        "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"abc\"}\r\n",
        "{\"status\":\"Downloading\",\"progressDetail\":{\"current\":1,\"total\":2},\"id\":\"abc\"}\r\n",
        "{\"stream\":\" ---\\u003e c5d0e22aaf7a\\n\"}\r\n",
        "{\"aux\":{\"ID\":\"sha256:c0b02c282abf\"}}\r\n",
        "{\"stream\":\"Successfully built c0b02c282abf\\n\"}\r\n"
    );

    #[test]
    fn stream_messages_split_anywhere() {
        for size in [1, 7, 4096] {
            let mut o = BuildOutput::new(false);
            let mut sink = Buf::default();
            for c in STREAM.as_bytes().chunks(size) {
                o.feed(c, &mut sink).unwrap();
            }
            o.finish().unwrap();
            assert_eq!(
                String::from_utf8_lossy(&sink.out),
                "Step 1/2 : FROM busybox\nabc: Pulling fs layer\n ---> c5d0e22aaf7a\n\
                 Successfully built c0b02c282abf\n"
            );
            assert_eq!(o.image_id.as_deref(), Some("sha256:c0b02c282abf"));
        }
    }

    #[test]
    fn errors_quiet_and_iidfile() {
        let dir = tempfile::tempdir().unwrap();
        let iid = dir.path().join("iid");
        let mut o = BuildOutput::new(true);
        let mut sink = Buf::default();
        o.feed(STREAM.as_bytes(), &mut sink).unwrap();
        assert!(sink.out.is_empty());
        assert_eq!(finish_build(o, Ok(()), Some(&iid), &mut sink).unwrap(), 0);
        assert_eq!(sink.out, b"sha256:c0b02c282abf\n");
        assert_eq!(std::fs::read(&iid).unwrap(), b"sha256:c0b02c282abf");

        let failing = concat!(
            "{\"stream\":\"Step 1/1 : RUN false\\n\"}\n",
            "{\"errorDetail\":{\"code\":2,\"message\":\"The command '/bin/sh -c false' returned a non-zero code: 2\"},",
            "\"error\":\"The command '/bin/sh -c false' returned a non-zero code: 2\"}\n"
        );
        for quiet in [false, true] {
            let mut o = BuildOutput::new(quiet);
            let mut sink = Buf::default();
            let r = o.feed(failing.as_bytes(), &mut sink);
            let code = finish_build(o, r, None, &mut sink).unwrap();
            assert_eq!(code, 2);
            let step = "Step 1/1 : RUN false\n";
            assert_eq!(
                String::from_utf8_lossy(&sink.out),
                if quiet { "" } else { step }
            );
            let msg = "The command '/bin/sh -c false' returned a non-zero code: 2\n";
            assert_eq!(
                String::from_utf8_lossy(&sink.err),
                if quiet {
                    format!("{step}{msg}")
                } else {
                    msg.to_string()
                }
            );
        }
        let mut o = BuildOutput::new(false);
        let r = o.feed(b"{\"error\":\"boom\"}", &mut Buf::default());
        assert_eq!(
            r,
            Err(BuildFailure {
                code: 1,
                message: "boom".into()
            })
        );
        let mut o = BuildOutput::new(false);
        o.feed(b"{\"stream\":\"x", &mut Buf::default()).unwrap();
        assert!(o.finish().is_err());
    }
}
