use super::*;

#[test]
fn prefix_ends_and_gateway_numbers() {
    assert_eq!(prefix_end("a/b/"), b"a/b0");
    assert_eq!(prefix_end(""), [0]);
    assert_eq!(number(&json!("42")), 42);
    assert_eq!(number(&json!(7)), 7);
    assert_eq!(number(&json!(null)), 0);
    assert_eq!(number(&json!("x")), 0);
    let reply = json!({ "kvs": [
        { "key": b64(b"p/1"), "value": b64(b"v"), "create_revision": "5", "lease": "9" },
        { "key": "not base64!", "value": "" },
        { "key": b64(b"p/2") },
    ]});
    let kvs = kvs(&reply);
    assert_eq!(kvs.len(), 2);
    assert_eq!(kvs[0].key, "p/1");
    assert_eq!((kvs[0].create_revision, kvs[0].lease), (5, 9));
    assert!(kvs[1].value.is_empty());
}

#[test]
fn keep_alive_answers() {
    let alive = json!({ "result": { "header": {}, "ID": "7", "TTL": "10" } });
    assert!(lease_alive(&alive).unwrap());
    // etcd 3.4 omits a TTL of 0: the lease is gone.
    let gone = json!({ "result": { "header": {}, "ID": "7" } });
    assert!(!lease_alive(&gone).unwrap());
    // A stream error is an error, not an expiry.
    let error = json!({ "error": { "grpc_code": 14, "message": "leader changed" } });
    assert!(lease_alive(&error).is_err());
}
