//! Pause, unpause, rename and top over a real unix socket (trace 28_lifecycle).

mod support;

use serde_json::Value;
use support::start;

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn pause_and_unpause() {
    let s = start().await;
    let (h, body) = s
        .request("POST", "/v1.41/containers/c1/pause", &[], b"")
        .await;
    assert_eq!(h.status, 204, "{}", h.raw);
    assert!(body.is_empty());
    assert_eq!(h.header("Api-Version"), Some("1.41"));
    // Pausing twice: the backend's conflict.
    let (h, body) = s.request("POST", "/containers/c1/pause", &[], b"").await;
    assert_eq!(h.status, 409);
    assert_eq!(json(&body)["message"], "Container c1 is already paused");
    let (h, _) = s
        .request("POST", "/v1.41/containers/c1/unpause", &[], b"")
        .await;
    assert_eq!(h.status, 204);
    let (h, body) = s.request("POST", "/containers/c1/unpause", &[], b"").await;
    assert_eq!(h.status, 409);
    assert_eq!(json(&body)["message"], "Container c1 is not paused");
    for verb in ["pause", "unpause"] {
        let (h, body) = s
            .request("POST", &format!("/containers/nope/{verb}"), &[], b"")
            .await;
        assert_eq!(h.status, 404);
        assert_eq!(json(&body)["message"], "No such container: nope");
    }
    let calls = s.fake.calls();
    assert!(calls.contains(&"pause c1".to_string()));
    assert!(calls.contains(&"unpause c1".to_string()));
    s.shutdown().await;
}

#[tokio::test]
async fn rename() {
    let s = start().await;
    let (h, body) = s
        .request(
            "POST",
            "/v1.41/containers/c1/rename?name=new%2Dname",
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 204, "{}", h.raw);
    assert!(body.is_empty());
    assert!(s.fake.calls().contains(&"rename c1 new-name".to_string()));
    for q in ["", "?name=", "?other=x"] {
        let (h, body) = s
            .request("POST", &format!("/containers/c1/rename{q}"), &[], b"")
            .await;
        assert_eq!(h.status, 400, "{q}");
        assert_eq!(
            json(&body)["message"],
            "Neither old nor new names may be empty"
        );
    }
    let (h, _) = s
        .request("POST", "/containers/nope/rename?name=x", &[], b"")
        .await;
    assert_eq!(h.status, 404);
    let (h, body) = s
        .request("POST", "/containers/c1/rename?name=echo", &[], b"")
        .await;
    assert_eq!(h.status, 409);
    assert!(json(&body)["message"]
        .as_str()
        .unwrap()
        .contains("is already in use"));
    s.shutdown().await;
}

#[tokio::test]
async fn top() {
    let s = start().await;
    let (h, body) = s.request("GET", "/v1.41/containers/c1/top", &[], b"").await;
    assert_eq!(h.status, 200, "{}", h.raw);
    assert_eq!(h.header("Content-Type"), Some("application/json"));
    // Processes before Titles, as dockerd writes it.
    assert_eq!(
        String::from_utf8_lossy(&body),
        "{\"Processes\":[[\"root\",\"4242\",\"4241\",\"0\",\"10:43\",\"?\",\"00:00:00\",\
         \"sleep 300\"]],\"Titles\":[\"UID\",\"PID\",\"PPID\",\"C\",\"STIME\",\"TTY\",\"TIME\",\
         \"CMD\"]}\n"
    );
    let (h, body) = s
        .request("GET", "/containers/c1/top?ps_args=aux", &[], b"")
        .await;
    assert_eq!(h.status, 200);
    assert_eq!(json(&body)["Titles"][1], "COMMAND");
    let (h, _) = s
        .request("GET", "/containers/c1/top?ps_args=", &[], b"")
        .await;
    assert_eq!(h.status, 200);
    let calls = s.fake.calls();
    assert!(calls.contains(&"top c1 None".to_string()));
    assert!(calls.contains(&"top c1 Some(\"aux\")".to_string()));
    let (h, body) = s.request("GET", "/containers/stopped/top", &[], b"").await;
    assert_eq!(h.status, 409);
    assert_eq!(json(&body)["message"], "Container stopped is not running");
    let (h, _) = s.request("GET", "/containers/nope/top", &[], b"").await;
    assert_eq!(h.status, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn container_prune() {
    let s = start().await;
    let (h, body) = s.request("POST", "/v1.41/containers/prune", &[], b"").await;
    assert_eq!(h.status, 200, "{}", h.raw);
    assert_eq!(h.header("Content-Type"), Some("application/json"));
    assert_eq!(
        json(&body),
        serde_json::json!({"ContainersDeleted": ["stopped"], "SpaceReclaimed": 12})
    );
    // The filters reach the backend decoded; nothing deleted is `null`, as dockerd's.
    let (h, body) = s
        .request(
            "POST",
            "/containers/prune?filters=%7B%22label%22%3A%7B%22app%3Dweb%22%3Atrue%7D%7D",
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 200, "{}", h.raw);
    let v = json(&body);
    assert!(v["ContainersDeleted"].is_null(), "{v}");
    assert_eq!(v["SpaceReclaimed"], 0);
    let calls = s.fake.calls();
    assert!(
        calls.contains(&"prune containers {\"label\": [\"app=web\"]}".to_string()),
        "{calls:?}"
    );
    // A filter the backend does not accept, and filters that are not JSON: 400s.
    let (h, body) = s
        .request(
            "POST",
            "/containers/prune?filters=%7B%22status%22%3A%5B%22exited%22%5D%7D",
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 400, "{}", h.raw);
    assert_eq!(json(&body)["message"], "invalid filter 'status'");
    let (h, _) = s
        .request("POST", "/containers/prune?filters=nope", &[], b"")
        .await;
    assert_eq!(h.status, 400, "{}", h.raw);
    // Only POST.
    let (h, _) = s.request("GET", "/containers/prune", &[], b"").await;
    assert_ne!(h.status, 200);
    s.shutdown().await;
}
