//! `GET /events` over a real unix socket (trace 31_events_stats), and `docker events`.

mod support;

use berth_model::api::EventMessage;
use serde_json::Value;
use std::process::Output;
use support::fake::event;
use support::start;

const ID: &str = "cc4b0ab8a7d4d13a44f04d76a0614b46a7e772ccb5f43fc6ee5d4621e260f375";
const CREATE_NS: i64 = 1_795_949_037_274_027_302;
const START_NS: i64 = 1_795_949_037_554_964_513;

fn canned() -> Vec<EventMessage> {
    vec![
        event("create", ID, "research-trace-ev", CREATE_NS),
        event("start", ID, "research-trace-ev", START_NS),
    ]
}

fn json(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
}

#[tokio::test]
async fn headers_first_then_one_line_per_live_event() {
    let s = start().await;
    let mut c = s.connect().await;
    c.send_request(
        "GET",
        "/v1.41/events?filters=%7B%22container%22%3A%7B%22research-trace-ev%22%3Atrue%7D%7D&since=1795949029",
        &[],
        b"",
    )
    .await;
    // Nothing has happened yet: the head must still arrive at once.
    let h = c.read_head().await;
    assert_eq!(h.status, 200, "{}", h.raw);
    assert_eq!(h.header("content-type"), Some("application/json"));
    assert_eq!(h.header("transfer-encoding"), Some("chunked"));
    assert_eq!(h.header("api-version"), Some("1.41"));
    {
        let opts = s.fake.events_opts.lock().unwrap();
        assert_eq!(opts[0].since, Some(1_795_949_029_000_000_000));
        assert_eq!(opts[0].until, None);
        assert_eq!(
            opts[0].filters.get("container"),
            Some(&vec!["research-trace-ev".to_string()])
        );
    }
    for ev in canned() {
        s.fake.publish(ev.clone());
        let chunk = c.read_chunk().await.expect("an event chunk");
        assert!(chunk.ends_with(b"\n"));
        assert_eq!(chunk.iter().filter(|b| **b == b'\n').count(), 1);
        let got: EventMessage = serde_json::from_slice(&chunk).unwrap();
        assert_eq!(got, ev);
    }
    // The exact bytes of the trace's first event.
    s.fake.publish(canned()[0].clone());
    let chunk = c.read_chunk().await.unwrap();
    assert_eq!(
        String::from_utf8(chunk).unwrap(),
        format!(
            "{{\"status\":\"create\",\"id\":\"{ID}\",\"from\":\"busybox\",\"Type\":\"container\",\
             \"Action\":\"create\",\"Actor\":{{\"ID\":\"{ID}\",\"Attributes\":{{\"image\":\"busybox\",\
             \"name\":\"research-trace-ev\"}}}},\"scope\":\"local\",\"time\":1795949037,\
             \"timeNano\":1795949037274027302}}\n"
        )
    );
    // A client that went away is noticed at the next write, which releases the
    // subscription (hyper runs with half-close allowed, so it does not watch reads).
    drop(c);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while s.fake.subscriber_count() > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "stream not released"
        );
        s.fake.publish(canned()[1].clone());
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    s.shutdown().await;
}

#[tokio::test]
async fn past_events_within_since_until_then_end() {
    let s = start().await;
    *s.fake.past_events.lock().unwrap() = canned();
    // Both events, the stream ending since `until` is past.
    let (h, body) = s
        .request("GET", "/events?since=0&until=1795949040", &[], b"")
        .await;
    assert_eq!(h.status, 200, "{}", h.raw);
    let lines: Vec<Value> = body
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(json)
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["Action"], "create");
    assert_eq!(lines[1]["Action"], "start");
    // Fractional nanoseconds: only the start event is after create.
    let (h, body) = s
        .request(
            "GET",
            "/v1.41/events?since=1795949037.274027303&until=1795949040.5",
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 200);
    assert_eq!(json(body.trim_ascii_end())["Action"], "start");
    // RFC3339 bounds.
    let (h, body) = s
        .request(
            "GET",
            "/events?since=2026-11-29T10:43:57Z&until=2026-11-29T10:43:57.3Z",
            &[],
            b"",
        )
        .await;
    assert_eq!(h.status, 200);
    assert_eq!(json(body.trim_ascii_end())["Action"], "create");
    let opts = s.fake.events_opts.lock().unwrap().clone();
    assert_eq!(opts[1].since, Some(1_795_949_037_274_027_303));
    assert_eq!(opts[1].until, Some(1_795_949_040_500_000_000));
    assert_eq!(opts[2].since, Some(1_795_949_037_000_000_000));
    assert_eq!(opts[2].until, Some(1_795_949_037_300_000_000));
    s.shutdown().await;
}

#[tokio::test]
async fn until_in_the_future_ends_the_stream() {
    let s = start().await;
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 1.0;
    let (h, body) = s
        .request("GET", &format!("/events?until={until:.3}"), &[], b"")
        .await;
    assert_eq!(h.status, 200);
    assert!(body.is_empty());
    s.shutdown().await;
}

#[tokio::test]
async fn bad_parameters_are_400() {
    let s = start().await;
    for uri in [
        "/v1.41/events?filters=%7Bnot-json",
        "/v1.41/events?since=abc",
        "/v1.41/events?until=1.x",
        "/v1.41/events?since=20&until=10",
    ] {
        let (h, body) = s.request("GET", uri, &[], b"").await;
        assert_eq!(h.status, 400, "{uri}: {}", String::from_utf8_lossy(&body));
        assert_eq!(h.header("content-type"), Some("application/json"));
        assert!(json(&body)["message"].is_string());
    }
    let (_, body) = s
        .request("GET", "/events?since=20&until=10", &[], b"")
        .await;
    assert_eq!(
        json(&body)["message"],
        "`since` time (20) cannot be after `until` time (10)"
    );
    // None of them reached the backend.
    assert!(s.fake.events_opts.lock().unwrap().is_empty());
    s.shutdown().await;
}

async fn docker(
    sock: &std::path::Path,
    config_dir: &std::path::Path,
    args: &[&str],
) -> Option<Output> {
    let out = tokio::process::Command::new("docker")
        .args(args)
        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
        .env("DOCKER_CONFIG", config_dir)
        .env("TZ", "UTC")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .output()
        .await;
    match out {
        Ok(o) => Some(o),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => panic!("running docker: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn docker_events_prints_past_events() {
    let s = start().await;
    *s.fake.past_events.lock().unwrap() = canned();
    let cfg = s.dir.join("docker-config");
    std::fs::create_dir_all(&cfg).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let args = [
        "events",
        "--since",
        "0",
        "--until",
        &now,
        "--filter",
        "container=research-trace-ev",
    ];
    let Some(out) = docker(&s.sock, &cfg, &args).await else {
        eprintln!("docker CLI not installed; skipping");
        return;
    };
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        format!(
            "2026-11-29T10:43:57.274027302Z container create {ID} (image=busybox, name=research-trace-ev)\n\
             2026-11-29T10:43:57.554964513Z container start {ID} (image=busybox, name=research-trace-ev)\n"
        )
    );
    let opts = s.fake.events_opts.lock().unwrap().clone();
    assert_eq!(opts[0].since, Some(0));
    assert_eq!(
        opts[0].filters.get("container"),
        Some(&vec!["research-trace-ev".to_string()])
    );
    s.shutdown().await;
}
