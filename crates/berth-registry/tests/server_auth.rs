//! Access control of the registry server: htpasswd basic auth, the token flow with scopes,
//! anonymous read, read-only users, and TLS.

mod server_common;

use reqwest::StatusCode;
use serde_json::{json, Value};
use server_common::*;

fn write_htpasswd(dir: &std::path::Path) -> std::path::PathBuf {
    // `htpasswd -B` writes `$2y$`; bcrypt treats it like `$2b$`.
    let mut text = String::new();
    for (u, p) in [("alice", "secret"), ("reader", "pw")] {
        let h = bcrypt::hash(p, 4).unwrap().replacen("$2b$", "$2y$", 1);
        text.push_str(&format!("{u}:{h}\n"));
    }
    let path = dir.join("htpasswd");
    std::fs::write(&path, text).unwrap();
    path
}

async fn with_auth(anonymous_read: bool) -> Reg {
    start(|cfg, dir| {
        cfg.htpasswd = Some(write_htpasswd(dir));
        cfg.anonymous_read = anonymous_read;
        cfg.read_only_users = vec!["reader".into()];
    })
    .await
}

async fn token(reg: &Reg, user: Option<(&str, &str)>, scope: &str) -> reqwest::Response {
    let mut req = reg
        .client
        .get(reg.at("/token"))
        .query(&[("service", "berth-registry"), ("scope", scope)]);
    if let Some((u, p)) = user {
        req = req.basic_auth(u, Some(p));
    }
    req.send().await.unwrap()
}

async fn token_str(reg: &Reg, user: Option<(&str, &str)>, scope: &str) -> String {
    let r = token(reg, user, scope).await;
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token"], v["access_token"]);
    v["token"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn base_challenges_and_accepts_basic() {
    let reg = with_auth(false).await;
    let r = reg.client.get(reg.at("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let port = reg.url.rsplit(':').next().unwrap().to_string();
    assert_eq!(
        r.headers()["www-authenticate"],
        format!(r#"Bearer realm="http://127.0.0.1:{port}/token",service="berth-registry""#)
            .as_str()
    );
    assert_eq!(error_code(r).await, "UNAUTHORIZED");

    let r = reg
        .client
        .get(reg.at("/v2/"))
        .basic_auth("alice", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg
        .client
        .get(reg.at("/v2/"))
        .basic_auth("alice", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // Basic auth works for the whole API, not only the ping.
    let d = digest(b"blob");
    let r = reg
        .client
        .post(reg.at(&format!("/v2/x/blobs/uploads/?digest={d}")))
        .basic_auth("alice", Some("secret"))
        .body("blob")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // A challenge for a repository names the scope the request needs.
    let r = reg
        .client
        .post(reg.at("/v2/a/b/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let c = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(c.ends_with(r#"scope="repository:a/b:pull,push""#), "{c}");
}

#[tokio::test]
async fn token_flow_with_scopes() {
    let reg = with_auth(false).await;
    let r = token(&reg, None, "repository:app:pull").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let r = token(&reg, Some(("alice", "nope")), "repository:app:pull").await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    let push = token_str(&reg, Some(("alice", "secret")), "repository:app:pull,push").await;
    let r = reg
        .client
        .get(reg.at("/v2/"))
        .bearer_auth(&push)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let d = digest(b"layer");
    let r = reg
        .client
        .post(reg.at(&format!("/v2/app/blobs/uploads/?digest={d}")))
        .bearer_auth(&push)
        .body("layer")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // A pull-only token reads but cannot push; the challenge asks for the missing scope.
    let pull = token_str(&reg, Some(("alice", "secret")), "repository:app:pull").await;
    let r = reg
        .client
        .get(reg.at(&format!("/v2/app/blobs/{d}")))
        .bearer_auth(&pull)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg
        .client
        .post(reg.at("/v2/app/blobs/uploads/"))
        .bearer_auth(&pull)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let c = r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        c.contains(r#"scope="repository:app:pull,push""#) && c.contains("insufficient_scope"),
        "{c}"
    );
    assert_eq!(error_code(r).await, "UNAUTHORIZED");

    // The token is for `app` only.
    let r = reg
        .client
        .get(reg.at(&format!("/v2/other/blobs/{d}")))
        .bearer_auth(&push)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Forged or foreign tokens are refused.
    let forged = format!("{}x", &push[..push.len() - 1]);
    let r = reg
        .client
        .get(reg.at("/v2/"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // The OAuth2 password grant gives the same.
    let r = reg
        .client
        .post(reg.at("/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "alice"),
            ("password", "secret"),
            ("scope", "repository:app:pull"),
            ("service", "berth-registry"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    let t = v["access_token"].as_str().unwrap();
    let r = reg
        .client
        .head(reg.at(&format!("/v2/app/blobs/{d}")))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn read_only_users_and_anonymous_read() {
    let reg = with_auth(true).await;
    let config = config_json(json!({}));
    let alice = token_str(&reg, Some(("alice", "secret")), "repository:app:pull,push").await;
    for blob in [&config[..], b"l"] {
        let r = reg
            .client
            .post(reg.at(&format!("/v2/app/blobs/uploads/?digest={}", digest(blob))))
            .bearer_auth(&alice)
            .body(blob.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
    }
    let m = manifest(&config, &[b"l"]);
    let r = reg
        .client
        .put(reg.at("/v2/app/manifests/v1"))
        .bearer_auth(&alice)
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(m.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);

    // Anonymous pulls pass; anonymous pushes do not.
    let r = reg
        .client
        .get(reg.at("/v2/app/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), m);
    let r = reg
        .client
        .post(reg.at("/v2/app/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // Anonymous tokens carry pull only.
    let anon = token_str(&reg, None, "repository:app:pull,push").await;
    let r = reg
        .client
        .get(reg.at("/v2/app/manifests/v1"))
        .bearer_auth(&anon)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg
        .client
        .post(reg.at("/v2/app/blobs/uploads/"))
        .bearer_auth(&anon)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    // A read-only user is denied writes.
    let r = reg
        .client
        .post(reg.at("/v2/app/blobs/uploads/"))
        .basic_auth("reader", Some("pw"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(error_code(r).await, "DENIED");
    let t = token_str(&reg, Some(("reader", "pw")), "repository:app:pull,push").await;
    let r = reg
        .client
        .delete(reg.at("/v2/app/manifests/v1"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = reg
        .client
        .get(reg.at("/v2/app/tags/list"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn search_needs_read_access() {
    let reg = with_auth(false).await;
    let r = reg
        .client
        .get(reg.at("/v1/search?q=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["num_results"], 0);
}

#[tokio::test]
async fn tls_with_a_self_signed_certificate() {
    let ck =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()]).unwrap();
    let cert_pem = ck.cert.pem();
    let reg = start(|cfg, dir| {
        std::fs::write(dir.join("cert.pem"), &cert_pem).unwrap();
        std::fs::write(dir.join("key.pem"), ck.key_pair.serialize_pem()).unwrap();
        cfg.tls_cert = Some(dir.join("cert.pem"));
        cfg.tls_key = Some(dir.join("key.pem"));
        cfg.htpasswd = Some(write_htpasswd(dir));
    })
    .await;
    assert!(reg.url.starts_with("https://"));
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = client.get(reg.at("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let c = r.headers()["www-authenticate"].to_str().unwrap();
    assert!(c.starts_with(r#"Bearer realm="https://127.0.0.1:"#), "{c}");
    let r = client
        .get(reg.at("/v2/"))
        .basic_auth("alice", Some("secret"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    // Plain HTTP on the TLS port gets nowhere.
    let plain = reg.url.replace("https://", "http://");
    let over_http = reqwest::get(format!("{plain}/v2/")).await;
    assert!(!over_http.is_ok_and(|r| r.status().is_success()));
}
