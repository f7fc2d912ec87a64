//! The registry server's distribution API, driven over HTTP by reqwest.

mod server_common;

use reqwest::StatusCode;
use serde_json::{json, Value};
use server_common::*;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

#[tokio::test]
async fn base_answers_with_api_version() {
    let reg = plain().await;
    let r = reg.client.get(reg.at("/v2/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()["docker-distribution-api-version"],
        "registry/2.0"
    );
    assert_eq!(r.text().await.unwrap(), "{}");
}

#[tokio::test]
async fn monolithic_upload_head_get_and_range() {
    let reg = plain().await;
    let data: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
    let d = push_blob(&reg, "a/b/c", &data).await;
    let url = reg.at(&format!("/v2/a/b/c/blobs/{d}"));

    let r = reg.client.head(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-length"], "100000");
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());

    let r = reg.client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap(), data);

    let r = reg
        .client
        .get(&url)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/100000");
    assert_eq!(r.bytes().await.unwrap(), data[10..20]);

    let r = reg
        .client
        .get(&url)
        .header("range", "bytes=99990-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap(), data[99990..]);

    let r = reg
        .client
        .get(&url)
        .header("range", "bytes=200000-")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    // Other repositories do not see the blob.
    let r = reg
        .client
        .head(reg.at(&format!("/v2/other/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = reg
        .client
        .get(reg.at(&format!("/v2/other/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "BLOB_UNKNOWN");
}

#[tokio::test]
async fn chunked_upload_with_and_without_content_range() {
    let reg = plain().await;
    let r = reg
        .client
        .post(reg.at("/v2/x/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["range"], "0-0");
    assert!(r.headers().contains_key("docker-upload-uuid"));
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    let loc = reg.at(&loc);

    let r = reg
        .client
        .patch(&loc)
        .header("content-range", "0-4")
        .header("content-type", "application/octet-stream")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["range"], "0-4");

    // Out of order: must start at 5.
    let r = reg
        .client
        .patch(&loc)
        .header("content-range", "0-2")
        .body("xyz")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::RANGE_NOT_SATISFIABLE);

    let r = reg.client.patch(&loc).body(" world").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(r.headers()["range"], "0-10");

    let r = reg.client.get(&loc).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    assert_eq!(r.headers()["range"], "0-10");

    let d = digest(b"hello world!");
    let r = reg
        .client
        .put(format!("{loc}?digest={d}"))
        .body("!")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["location"], format!("/v2/x/blobs/{d}").as_str());
    let r = reg
        .client
        .get(reg.at(&format!("/v2/x/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.bytes().await.unwrap(), "hello world!");

    // The session is gone.
    let r = reg.client.get(&loc).send().await.unwrap();
    assert_eq!(error_code(r).await, "BLOB_UPLOAD_UNKNOWN");

    // Cancel.
    let r = reg
        .client
        .post(reg.at("/v2/x/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let loc = reg.at(r.headers()["location"].to_str().unwrap());
    assert_eq!(
        reg.client.delete(&loc).send().await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        reg.client.get(&loc).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    // A session belongs to its repository.
    let r = reg
        .client
        .post(reg.at("/v2/x/blobs/uploads/"))
        .send()
        .await
        .unwrap();
    let id = r.headers()["docker-upload-uuid"]
        .to_str()
        .unwrap()
        .to_string();
    let r = reg
        .client
        .get(reg.at(&format!("/v2/y/blobs/uploads/{id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn digest_mismatch_is_refused_and_nothing_kept() {
    let reg = plain().await;
    let wrong = digest(b"something else");
    let r = reg
        .client
        .post(reg.at(&format!("/v2/x/blobs/uploads/?digest={wrong}")))
        .body("data")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "DIGEST_INVALID");
    for d in [wrong, digest(b"data")] {
        let r = reg
            .client
            .head(reg.at(&format!("/v2/x/blobs/{d}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    assert_eq!(
        std::fs::read_dir(reg.root().join("uploads"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(reg.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

#[tokio::test]
async fn cross_repository_mount() {
    let reg = plain().await;
    let d = push_blob(&reg, "src/repo", b"layer").await;
    let r = reg
        .client
        .post(reg.at(&format!(
            "/v2/dst/repo/blobs/uploads/?mount={d}&from=src/repo"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    let r = reg
        .client
        .head(reg.at(&format!("/v2/dst/repo/blobs/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Not in `from`: a plain session starts instead.
    let r = reg
        .client
        .post(reg.at(&format!("/v2/dst2/blobs/uploads/?mount={d}&from=nowhere")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert!(r.headers().contains_key("location"));
    // Stored once.
    assert_eq!(
        std::fs::read_dir(reg.root().join("blobs/sha256"))
            .unwrap()
            .count(),
        1
    );
}

#[tokio::test]
async fn manifests_are_validated_and_served_as_pushed() {
    let reg = plain().await;
    let config = config_json(json!({}));
    let layer = b"layer-one".to_vec();
    push_blob(&reg, "img", &config).await;
    let m = manifest(&config, &[&layer]);

    // The layer is missing.
    let r = put_manifest(&reg, "img", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    push_blob(&reg, "img", &layer).await;

    let r = put_manifest(
        &reg,
        "img",
        "v1",
        "application/vnd.docker.distribution.manifest.v2+json",
        &m,
    )
    .await;
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    let r = put_manifest(&reg, "img", "v1", OCI_MANIFEST, b"{not json").await;
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    let big = vec![b' '; 5 << 20];
    let r = put_manifest(&reg, "img", "v1", OCI_MANIFEST, &big).await;
    assert_eq!(error_code(r).await, "MANIFEST_INVALID");
    let r = put_manifest(&reg, "img", &digest(b"x"), OCI_MANIFEST, &m).await;
    assert_eq!(error_code(r).await, "DIGEST_INVALID");

    let r = put_manifest(&reg, "img", "v1", OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let d = digest(&m);
    assert_eq!(r.headers()["docker-content-digest"], d.as_str());
    assert_eq!(
        r.headers()["location"],
        format!("/v2/img/manifests/{d}").as_str()
    );

    for reference in ["v1", d.as_str()] {
        let r = reg
            .client
            .get(reg.at(&format!("/v2/img/manifests/{reference}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-type"], OCI_MANIFEST);
        assert_eq!(r.headers()["docker-content-digest"], d.as_str());
        assert_eq!(r.bytes().await.unwrap(), m);
        let r = reg
            .client
            .head(reg.at(&format!("/v2/img/manifests/{reference}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()["content-length"], m.len().to_string().as_str());
    }
    let r = reg
        .client
        .get(reg.at("/v2/img/manifests/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(error_code(r).await, "MANIFEST_UNKNOWN");

    // Pushing by digest works too.
    let r = put_manifest(&reg, "img", &d, OCI_MANIFEST, &m).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // An index needs its manifests in the repository.
    let index = |digests: &[&str]| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": digests.iter().map(|d| json!({
                "mediaType": OCI_MANIFEST, "digest": d, "size": 1,
                "platform": {"os": "linux", "architecture": "amd64"}
            })).collect::<Vec<_>>(),
        }))
        .unwrap()
    };
    let r = put_manifest(&reg, "img", "multi", OCI_INDEX, &index(&[&digest(b"nope")])).await;
    assert_eq!(error_code(r).await, "MANIFEST_BLOB_UNKNOWN");
    let r = put_manifest(&reg, "img", "multi", OCI_INDEX, &index(&[&d])).await;
    assert_eq!(r.status(), StatusCode::CREATED);

    // Names are checked.
    let r = reg
        .client
        .get(reg.at("/v2/Bad/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "NAME_INVALID");
}

#[tokio::test]
async fn tags_and_catalog_paginate() {
    let reg = plain().await;
    let config = config_json(json!({}));
    for tag in ["t1", "t2", "t3", "t4", "t5"] {
        push_image(&reg, "ns/app", tag, &config, &[b"l"]).await;
    }
    for name in ["zeta", "alpha", "mid/dle"] {
        push_image(&reg, name, "latest", &config, &[]).await;
    }
    let mut seen = Vec::new();
    let mut next = Some("/v2/ns/app/tags/list?n=2".to_string());
    while let Some(path) = next.take() {
        let r = reg.client.get(reg.at(&path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        if let Some(link) = r.headers().get("link") {
            let l = link.to_str().unwrap();
            assert!(l.ends_with("; rel=\"next\""), "{l}");
            next = Some(l[1..l.find('>').unwrap()].to_string());
        }
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["name"], "ns/app");
        let page = v["tags"].as_array().unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|t| t.as_str().unwrap().to_string()));
    }
    assert_eq!(seen, ["t1", "t2", "t3", "t4", "t5"]);

    let r = reg
        .client
        .get(reg.at("/v2/ns/app/tags/list?n=2&last=t4"))
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("link").is_none());
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tags"], json!(["t5"]));

    let r = reg
        .client
        .get(reg.at("/v2/_catalog?n=2"))
        .send()
        .await
        .unwrap();
    let link = r.headers()["link"].to_str().unwrap().to_string();
    assert_eq!(link, "</v2/_catalog?n=2&last=mid%2Fdle>; rel=\"next\"");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["repositories"], json!(["alpha", "mid/dle"]));
    let r = reg
        .client
        .get(reg.at("/v2/_catalog?n=2&last=mid%2Fdle"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["repositories"], json!(["ns/app", "zeta"]));

    let r = reg
        .client
        .get(reg.at("/v2/unknown/tags/list"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(r).await, "NAME_UNKNOWN");
}

#[tokio::test]
async fn referrers_list_manifests_by_subject() {
    let reg = plain().await;
    let config = config_json(json!({}));
    let subject = push_image(&reg, "app", "v1", &config, &[b"layer"]).await;
    let empty = b"{}".to_vec();
    push_blob(&reg, "app", &empty).await;
    let artifact = |ty: &str| {
        serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ty,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": digest(&empty), "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1},
            "annotations": {"kind": ty},
        }))
        .unwrap()
    };
    let sig = artifact("application/vnd.example.sig");
    let sbom = artifact("application/vnd.example.sbom");
    for a in [&sig, &sbom] {
        let r = put_manifest(&reg, "app", &digest(a), OCI_MANIFEST, a).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        assert_eq!(r.headers()["oci-subject"], subject.as_str());
    }
    let r = reg
        .client
        .get(reg.at(&format!("/v2/app/referrers/{subject}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], OCI_INDEX);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["manifests"].as_array().unwrap().len(), 2);

    let r = reg
        .client
        .get(reg.at(&format!(
            "/v2/app/referrers/{subject}?artifactType=application/vnd.example.sbom"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["oci-filters-applied"], "artifactType");
    let v: Value = r.json().await.unwrap();
    let m = v["manifests"].as_array().unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0]["digest"], digest(&sbom).as_str());
    assert_eq!(m[0]["artifactType"], "application/vnd.example.sbom");
    assert_eq!(m[0]["annotations"]["kind"], "application/vnd.example.sbom");

    let r = reg
        .client
        .get(reg.at(&format!("/v2/app/referrers/{}", digest(b"z"))))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["manifests"], json!([]));
}

#[tokio::test]
async fn delete_manifests_tags_and_blobs() {
    let reg = plain().await;
    let config = config_json(json!({}));
    let d = push_image(&reg, "app", "v1", &config, &[b"layer"]).await;
    let m = manifest(&config, &[b"layer"]);
    put_manifest(&reg, "app", "v2", OCI_MANIFEST, &m).await;

    // Deleting a tag leaves the manifest.
    let r = reg
        .client
        .delete(reg.at("/v2/app/manifests/v2"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    assert_eq!(
        reg.client
            .get(reg.at("/v2/app/manifests/v2"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        reg.client
            .get(reg.at(&format!("/v2/app/manifests/{d}")))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );

    let r = reg
        .client
        .delete(reg.at(&format!("/v2/app/manifests/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    for reference in ["v1", d.as_str()] {
        let r = reg
            .client
            .get(reg.at(&format!("/v2/app/manifests/{reference}")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    let r = reg
        .client
        .get(reg.at("/v2/app/tags/list"))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["tags"], json!([]));
    let r = reg
        .client
        .delete(reg.at(&format!("/v2/app/manifests/{d}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    let l = digest(b"layer");
    let r = reg
        .client
        .delete(reg.at(&format!("/v2/app/blobs/{l}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = reg
        .client
        .head(reg.at(&format!("/v2/app/blobs/{l}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn garbage_collect_removes_only_unreferenced_blobs() {
    let reg = plain().await;
    let c1 = config_json(json!({"n": "1"}));
    let c2 = config_json(json!({"n": "2"}));
    let kept = push_image(&reg, "a", "v1", &c1, &[b"shared", b"only-a"]).await;
    let gone = push_image(&reg, "b", "v1", &c2, &[b"shared", b"only-b"]).await;
    // An untagged manifest still linked keeps its blobs.
    let c3 = config_json(json!({"n": "3"}));
    let untagged = push_image(&reg, "c", "tmp", &c3, &[b"only-c"]).await;
    reg.client
        .delete(reg.at("/v2/c/manifests/tmp"))
        .send()
        .await
        .unwrap();
    let orphan = push_blob(&reg, "a", b"orphan").await;
    let r = reg
        .client
        .delete(reg.at(&format!("/v2/b/manifests/{gone}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    let root = reg.root();
    let dry = berth_registry::server::garbage_collect(&root, true).unwrap();
    let mut expect = vec![orphan.clone(), gone.clone(), digest(&c2), digest(b"only-b")];
    expect.sort();
    let mut removed = dry.removed.clone();
    removed.sort();
    assert_eq!(removed, expect);
    assert!(root.join("blobs/sha256").join(&orphan[7..]).exists());

    let report = berth_registry::server::garbage_collect(&root, false).unwrap();
    assert_eq!(report.removed.len(), 4);
    assert_eq!(report.kept, 7);
    for d in &expect {
        assert!(!root.join("blobs/sha256").join(&d[7..]).exists(), "{d}");
    }
    for d in [
        kept.clone(),
        untagged,
        digest(b"shared"),
        digest(b"only-a"),
        digest(&c1),
        digest(b"only-c"),
    ] {
        assert!(root.join("blobs/sha256").join(&d[7..]).exists(), "{d}");
    }
    let r = reg
        .client
        .get(reg.at("/v2/a/manifests/v1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = reg
        .client
        .head(reg.at(&format!("/v2/a/blobs/{orphan}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn search_by_name_and_label() {
    let reg = plain().await;
    let c = config_json(
        json!({"org.opencontainers.image.description": "a tiny web server", "team": "blue"}),
    );
    push_image(&reg, "web/nginx-ish", "latest", &c, &[b"x"]).await;
    push_image(
        &reg,
        "tools/busybox",
        "1.0",
        &config_json(json!({})),
        &[b"y"],
    )
    .await;

    let search = |q: &str| {
        let url = reg.at(&format!("/v1/search?q={q}"));
        let client = reg.client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let v = search("busy").await;
    assert_eq!(v["num_results"], 1);
    assert_eq!(v["query"], "busy");
    assert_eq!(v["results"][0]["name"], "tools/busybox");
    assert_eq!(v["results"][0]["star_count"], 0);
    assert_eq!(v["results"][0]["is_official"], false);

    let v = search("web%20server").await;
    assert_eq!(v["num_results"], 1);
    assert_eq!(v["results"][0]["name"], "web/nginx-ish");
    assert_eq!(v["results"][0]["description"], "a tiny web server");
    let v = search("blue").await;
    assert_eq!(v["results"][0]["name"], "web/nginx-ish");
    assert_eq!(search("nothing-matches").await["num_results"], 0);

    let v: Value = reg
        .client
        .get(reg.at("/v1/search?q=&n=1&page=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["num_results"], 2);
    assert_eq!(v["results"].as_array().unwrap().len(), 1);
    assert_eq!(v["results"][0]["name"], "web/nginx-ish");
}

#[tokio::test]
async fn start_binds_a_free_port_and_reports_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let running = berth_registry::server::start(berth_registry::server::Config::new(dir.path()))
        .await
        .unwrap();
    assert!(running.url.starts_with("http://127.0.0.1:"));
    let r = reqwest::get(format!("{}/v2/", running.url)).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    let mut cfg = berth_registry::server::Config::new(dir.path());
    cfg.htpasswd = Some(dir.path().join("missing"));
    let err = berth_registry::server::start(cfg).await.unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}
