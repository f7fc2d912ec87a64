//! Our terminal when a container has a TTY: raw mode for the duration of the attach
//! (restored on drop, so every return path restores it) and size propagation.

use crate::client::{query, seg, Client};
use std::io::IsTerminal;

/// Puts stdin in raw mode; the previous settings come back when this is dropped.
pub struct RawGuard {
    saved: nix::sys::termios::Termios,
}

impl RawGuard {
    /// `None` when stdin is not a terminal (piped input keeps its cooked semantics).
    pub fn new() -> Option<Self> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return None;
        }
        let saved = tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        // Keep output post-processing so our own messages still get CR-LF.
        raw.output_flags = saved.output_flags;
        tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(Self { saved })
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(
            std::io::stdin(),
            nix::sys::termios::SetArg::TCSANOW,
            &self.saved,
        );
    }
}

/// `(rows, cols)` of the terminal on stdout, as docker measures it.
pub fn size() -> Option<(u16, u16)> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    let ws = rustix::termios::tcgetwinsize(&out).ok()?;
    Some((ws.ws_row, ws.ws_col))
}

pub async fn resize(client: &Client, path_prefix: &str, id: &str) -> anyhow::Result<()> {
    if let Some((h, w)) = size() {
        let q = query(&[("h", h.to_string()), ("w", w.to_string())]);
        client
            .post(&format!("/{path_prefix}/{}/resize{q}", seg(id)))
            .await?;
    }
    Ok(())
}

/// Sends the current size now and again on every SIGWINCH until the task is aborted.
pub fn monitor_size(client: Client, id: String) -> tokio::task::JoinHandle<()> {
    monitor_size_at(client, "containers", id)
}

/// [`monitor_size`] for any resizable object: `containers` or `exec`.
pub fn monitor_size_at(
    client: Client,
    path_prefix: &'static str,
    id: String,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let _ = resize(&client, path_prefix, &id).await;
        let Ok(mut winch) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
        else {
            return;
        };
        while winch.recv().await.is_some() {
            let _ = resize(&client, path_prefix, &id).await;
        }
    })
}
