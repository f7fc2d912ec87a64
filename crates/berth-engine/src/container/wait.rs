//! `wait?condition=not-running|next-exit|removed`.

use crate::Engine;
use berth_model::api::WaitResponse;
use berth_model::{Error, Result};
use futures_util::future::BoxFuture;
use futures_util::FutureExt;

impl Engine {
    /// Checks the container now; the future resolves when the condition holds.
    pub async fn wait(
        &self,
        id_or_name: &str,
        condition: &str,
    ) -> Result<BoxFuture<'static, WaitResponse>> {
        let c = self.get(id_or_name)?;
        let mut rx = c.events.subscribe();
        let now = rx.borrow().clone();
        let response = |code: i64| WaitResponse {
            error: None,
            status_code: code,
        };
        Ok(match condition {
            "" | "not-running" => async move {
                match rx.wait_for(|e| !e.running).await {
                    Ok(e) => response(e.exit_code),
                    Err(_) => response(now.exit_code),
                }
            }
            .boxed(),
            "next-exit" => async move {
                let code = match rx.wait_for(|e| e.exits > now.exits).await {
                    Ok(e) => e.exit_code,
                    Err(_) => now.exit_code,
                };
                response(code)
            }
            .boxed(),
            "removed" => async move {
                // The sender is dropped with the container, which is also "removed".
                let code = match rx.wait_for(|e| e.removed).await {
                    Ok(e) => e.exit_code,
                    Err(_) => now.exit_code,
                };
                response(code)
            }
            .boxed(),
            other => return Err(Error::invalid(format!("invalid condition: \"{other}\""))),
        })
    }
}
