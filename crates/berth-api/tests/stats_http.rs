//! `GET /containers/{id}/stats` and `POST /containers/{id}/update` over a real unix
//! socket, against the fake backend (trace 31_events_stats for the framing).

mod support;

use serde_json::Value;
use support::start;

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn one_sample_without_stream() {
    let s = start().await;
    // The docker CLI's `stats --no-stream` request: one document with a length.
    let (h, body) = s
        .request("GET", "/v1.41/containers/c1/stats?stream=0", &[], b"")
        .await;
    assert_eq!(h.status, 200, "{}", h.raw);
    assert_eq!(h.header("Content-Type"), Some("application/json"));
    assert!(h.header("Content-Length").is_some(), "{}", h.raw);
    assert!(body.ends_with(b"}\n"));
    let v = json(&body);
    assert_eq!(v["name"], "/c1");
    assert_eq!(v["precpu_stats"]["cpu_usage"]["total_usage"], 1);
    assert!(v.get("networks").is_none());
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(|k| k.as_str()).collect();
    assert_eq!(keys.len(), 11, "{keys:?}");
    let (_, body) = s
        .request(
            "GET",
            "/containers/c1/stats?stream=false&one-shot=true",
            &[],
            b"",
        )
        .await;
    assert_eq!(json(&body)["preread"], "0001-01-01T00:00:00Z");
    // one-shot is an API 1.41 parameter.
    s.request(
        "GET",
        "/v1.40/containers/c1/stats?stream=0&one-shot=1",
        &[],
        b"",
    )
    .await;
    let calls = s.fake.calls();
    assert!(calls.contains(&"stats c1 stream=false one_shot=false".to_string()));
    assert!(calls.contains(&"stats c1 stream=false one_shot=true".to_string()));
    assert_eq!(
        calls
            .iter()
            .filter(|c| *c == "stats c1 stream=false one_shot=false")
            .count(),
        2
    );
    let (h, body) = s
        .request("GET", "/containers/nope/stats?stream=0", &[], b"")
        .await;
    assert_eq!(h.status, 404);
    assert_eq!(json(&body)["message"], "No such container: nope");
    s.shutdown().await;
}

#[tokio::test]
async fn streamed_samples_one_per_line() {
    let s = start().await;
    // `stream` defaults to true.
    let (h, body) = s.request("GET", "/containers/c1/stats", &[], b"").await;
    assert_eq!(h.status, 200, "{}", h.raw);
    assert_eq!(h.header("Transfer-Encoding"), Some("chunked"));
    let text = String::from_utf8(body).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| json(l.as_bytes())).collect();
    assert_eq!(lines.len(), 3, "{text}");
    for (i, l) in lines.iter().enumerate() {
        assert_eq!(l["cpu_stats"]["cpu_usage"]["total_usage"], i as u64 + 1);
    }
    assert_eq!(lines[2]["precpu_stats"]["cpu_usage"]["total_usage"], 2);
    assert!(s
        .fake
        .calls()
        .contains(&"stats c1 stream=true one_shot=false".to_string()));
    s.shutdown().await;
}

#[tokio::test]
async fn update_body_and_answers() {
    let s = start().await;
    let ct = [("Content-Type", "application/json")];
    let (h, body) = s
        .request(
            "POST",
            "/v1.41/containers/c1/update",
            &ct,
            br#"{"Memory":67108864,"PidsLimit":20,"RestartPolicy":{"Name":"always","MaximumRetryCount":0},"CpusetCpus":"","BlkioWeightDevice":null}"#,
        )
        .await;
    assert_eq!(h.status, 200, "{}", h.raw);
    assert_eq!(body, b"{\"Warnings\":null}\n");
    // PidsLimit is not an update field before API 1.40.
    s.request(
        "POST",
        "/v1.39/containers/c1/update",
        &ct,
        br#"{"PidsLimit":5}"#,
    )
    .await;
    let calls = s.fake.calls();
    assert!(
        calls.contains(&"update c1 memory=67108864 pids=Some(20) restart=always".to_string()),
        "{calls:?}"
    );
    assert!(calls.contains(&"update c1 memory=0 pids=None restart=".to_string()));
    let (h, body) = s
        .request("POST", "/containers/c1/update", &ct, br#"{"Memory":1024}"#)
        .await;
    assert_eq!(h.status, 400);
    assert_eq!(
        json(&body)["message"],
        "Minimum memory limit allowed is 6MB"
    );
    let (h, body) = s.request("POST", "/containers/c1/update", &ct, b"").await;
    assert_eq!(h.status, 400);
    assert_eq!(json(&body)["message"], "got EOF while reading request body");
    let (h, _) = s
        .request("POST", "/containers/c1/update", &ct, b"{\"Memory\":\"x\"}")
        .await;
    assert_eq!(h.status, 400);
    let (h, _) = s
        .request(
            "POST",
            "/containers/c1/update",
            &[("Content-Type", "text/plain")],
            b"{}",
        )
        .await;
    assert_eq!(h.status, 400);
    let (h, _) = s
        .request("POST", "/containers/nope/update", &ct, b"{}")
        .await;
    assert_eq!(h.status, 404);
    s.shutdown().await;
}
