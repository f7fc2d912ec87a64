//! The shim's control protocol.
//!
//! One connection per request: the client writes one JSON [`Request`] line, the shim
//! answers with one JSON [`Response`] line. `wait` is answered when the container has
//! exited (and was deleted). After a successful `attach` reply the connection carries
//! output frames shim → client, each `[stream: u8][len: u32 BE][payload]` (stream 1 =
//! stdout, 2 = stderr, as Docker's multiplexed format), until the shim closes it once the
//! output is drained; client → shim bytes are the container's stdin, and the client's
//! write shutdown is stdin EOF.
//!
//! `exec` answers with the process's pid once it runs; the connection then carries its
//! output frames (1 = stdout, 2 = stderr), client → shim bytes are its stdin (write
//! shutdown = EOF), and a last frame with stream [`EXIT_STREAM`] and a 4-byte BE exit
//! code precedes the shim closing the connection.

use std::path::PathBuf;

use berth_model::ErrorKind;
use serde::{Deserialize, Serialize};

use super::{ExecSpec, ExitStatus};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    State,
    Start,
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    Resize {
        height: u16,
        width: u16,
    },
    Kill {
        signal: i32,
        all: bool,
    },
    Wait,
    Exec {
        spec: ExecSpec,
    },
    ExecResize {
        exec_id: String,
        height: u16,
        width: u16,
    },
    Pause,
    Resume,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Response {
    pub ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// `created`, `running` or `stopped`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state_dir: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
}

impl Response {
    pub fn ok() -> Self {
        Self {
            ok: true,
            ..Default::default()
        }
    }

    pub fn err(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            ok: false,
            error: Some(message.into()),
            kind: Some(kind),
            ..Default::default()
        }
    }

    pub fn line(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_else(|_| b"{\"ok\":false}".to_vec());
        v.push(b'\n');
        v
    }
}

pub const FRAME_HEADER: usize = 5;
/// The stream byte of an exec session's final frame: its payload is the exit code.
pub const EXIT_STREAM: u8 = 3;

pub fn frame_header(stream: u8, len: usize) -> [u8; FRAME_HEADER] {
    let l = (len as u32).to_be_bytes();
    [stream, l[0], l[1], l[2], l[3]]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_wire_format() {
        let r = Request::Attach {
            stdin: true,
            stdout: true,
            stderr: false,
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(
            s,
            r#"{"op":"attach","stdin":true,"stdout":true,"stderr":false}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"wait"}"#).unwrap(),
            Request::Wait
        );
        let resp = Response::err(ErrorKind::Conflict, "container x is not running");
        let back: Response = serde_json::from_slice(&resp.line()).unwrap();
        assert_eq!(back, resp);
        assert_eq!(frame_header(2, 258), [2, 0, 0, 1, 2]);
    }
}
