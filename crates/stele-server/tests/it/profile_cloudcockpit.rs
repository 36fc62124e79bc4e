//! CloudCockpit profile (contract A.3): `GET /v1/AuditLogs`.

use crate::common;
use crate::jwt_keys;

use common::{spawn_app, Key, TestApp, OPERATOR};
use jwt_keys::{epoch, hs256, HS_SECRET};
use reqwest::{RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

const DOMAIN: &str = "portal.acme.io";
const CORRELATION: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
const RESELLER_A: &str = "aaaaaaaa-0000-4000-8000-00000000000a";
const RESELLER_B: &str = "bbbbbbbb-0000-4000-8000-00000000000b";

async fn patch(app: &TestApp, tenant: &str, body: Value) {
    let resp = app
        .http
        .patch(app.url(&format!("/v1/tenants/{tenant}")))
        .bearer_auth(OPERATOR)
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK, "{}", resp.text().await.unwrap_or_default());
}

/// Tenant `acme` (domain alias, HS256 key) and a write/read key.
async fn acme(app: &TestApp) -> Key {
    app.create_tenant("acme").await;
    patch(app, "acme", json!({"aliases": [DOMAIN], "jwt": {"alg": "HS256", "secret": HS_SECRET}})).await;
    app.create_key("acme", &["events:write", "events:read"]).await
}

fn csp() -> String {
    hs256(&json!({"role": "csp", "exp": epoch(600)}), HS_SECRET)
}

fn reseller(id: &str) -> String {
    hs256(&json!({"role": "reseller", "reseller_id": id, "exp": epoch(600)}), HS_SECRET)
}

fn request(app: &TestApp, query: &str, token: &str) -> RequestBuilder {
    request_to(app, query, token, DOMAIN)
}

fn request_to(app: &TestApp, query: &str, token: &str, domain: &str) -> RequestBuilder {
    app.http
        .get(app.url(&format!("/v1/AuditLogs{query}")))
        .header("X-Tenant", domain)
        .bearer_auth(token)
        .header("X-Correlation-Id", CORRELATION)
}

async fn page(app: &TestApp, query: &str, token: &str) -> Value {
    let resp = request(app, query, token).send().await.expect("sent");
    let status = resp.status();
    assert_eq!(resp.headers().get("x-correlation-id").and_then(|v| v.to_str().ok()), Some(CORRELATION));
    let text = resp.text().await.expect("body");
    assert_eq!(status, StatusCode::OK, "{query}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

/// Checks an `ErrorResponse` and returns it.
async fn error(resp: Response, status: StatusCode, property: Option<&str>) -> Value {
    assert_eq!(resp.status(), status);
    assert_eq!(resp.headers().get("x-correlation-id").and_then(|v| v.to_str().ok()), Some(CORRELATION));
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["statusCode"], status.as_u16(), "{body}");
    assert_eq!(body["correlationId"], CORRELATION, "{body}");
    assert!(body["type"].is_string() && body["description"].is_string(), "{body}");
    match property {
        Some(p) => {
            assert_eq!(body["errors"][0]["propertyName"], p, "{body}");
            assert!(body["errors"][0]["description"][0].is_string(), "{body}");
        }
        None => assert_eq!(body["errors"], Value::Null, "{body}"),
    }
    common::assert_no_internals(&body.to_string());
    body
}

fn order(time: &str, action: &str, status: &str, reseller: (&str, &str), customer: &str) -> Value {
    json!({
        "action": action, "time": time, "status": status, "origin": "user",
        "message": format!("{action} for {customer}"),
        "actor": {"id": "u1", "email": "ops@reseller.example"},
        "targets": [{"type": "Order", "id": "6f1c9a52-0000-4000-8000-000000000001"}, {"type": "Customer", "id": "c2"}],
        "context": {"reseller": reseller.0, "reseller_id": reseller.1, "customer": customer},
        "changes": {"before": {"Quantity": 1}, "after": {"Quantity": 5}},
        "correlation_id": "0b5e9c1a-0000-4000-8000-0000000000cc"
    })
}

fn ids(page: &Value) -> Vec<String> {
    page["items"].as_array().expect("items").iter().map(|i| i["id"].as_str().expect("id").to_owned()).collect()
}

fn id(receipt: &Value) -> String {
    common::id(receipt).to_owned()
}

/// Event ids the native API answers (operator, newest first) for a filter and range.
async fn native(app: &TestApp, filter: &str, from: &str) -> Vec<String> {
    let mut path = format!("/v1/events?limit=1000&from={from}");
    if !filter.is_empty() {
        path.push_str("&filter=");
        path.push_str(&filter.replace(' ', "%20").replace('"', "%22").replace('|', "%7C"));
    }
    let body: Value = app.op_get(&path, "acme").send().await.expect("sent").json().await.expect("JSON");
    body["events"].as_array().expect("events").iter().map(|e| common::id(e).to_owned()).collect()
}

#[tokio::test]
async fn seed_example_request_answers_the_documented_page() {
    let app = spawn_app().await;
    let key = acme(&app).await;
    let first = app
        .ingest_ok(
            &key.secret,
            &order("2024-05-04T09:42:00Z", "CreateOrder", "success", ("Reseller A Ltd", RESELLER_A), "Contoso"),
        )
        .await;
    let second = app
        .ingest_ok(
            &key.secret,
            &order("2024-05-05T10:00:00.5Z", "CreateCustomer", "warning", ("Reseller A Ltd", RESELLER_A), "Fabrikam"),
        )
        .await;
    app.ingest_ok(
        &key.secret,
        &order("2024-05-06T00:00:00Z", "CreateOrder", "failure", ("Reseller A Ltd", RESELLER_A), "Contoso"),
    )
    .await;
    app.ingest_ok(
        &key.secret,
        &order("2024-05-06T00:00:00Z", "DeleteOrder", "success", ("Reseller A Ltd", RESELLER_A), "Contoso"),
    )
    .await;
    app.ingest_ok(
        &key.secret,
        &order("2024-04-01T00:00:00Z", "CreateOrder", "success", ("Reseller A Ltd", RESELLER_A), "Contoso"),
    )
    .await;

    let body = page(
        &app,
        "?PageNumber=1&PageSize=25&StartDate=2024-04-04T00:00:00Z&Status=Succeded&Operations=CreateOrder|CreateCustomer",
        &csp(),
    )
    .await;
    assert_eq!(ids(&body), vec![id(&second), id(&first)], "newest first, only matches");
    assert_eq!(body["paginationParameters"], json!({"pageNumber": 1, "pageSize": 25}));
    assert_eq!(body["totalPages"], 1);
    assert_eq!(body["totalCount"], 2);
    assert_eq!(body["hasPreviousPage"], false);
    assert_eq!(body["hasNextPage"], false);
    assert_eq!(body["continuationToken"], Value::Null);
    assert_eq!(
        body["items"][1],
        json!({
            "id": id(&first),
            "customer": "Contoso",
            "reseller": "Reseller A Ltd",
            "timestamp": "2024-05-04T09:42:00+00:00",
            "operation": "CreateOrder",
            "status": {"name": "Succeded"},
            "user": "ops@reseller.example",
            "origin": {"name": "User"},
            "entityType": "Order",
            "entityId": "6f1c9a52-0000-4000-8000-000000000001",
            "oldValues": {"Quantity": 1},
            "newValues": {"Quantity": 5},
            "message": "CreateOrder for Contoso",
            "correlationId": "0b5e9c1a-0000-4000-8000-0000000000cc"
        })
    );
    assert_eq!(body["items"][0]["timestamp"], "2024-05-05T10:00:00.5+00:00");
    assert_eq!(body["items"][0]["status"], json!({"name": "Succeded"}), "warning counts as Succeded");
    let filter = "(action eq \"CreateOrder\" or action eq \"CreateCustomer\") and (status eq \"success\" or status eq \"warning\")";
    assert_eq!(ids(&body), native(&app, filter, "2024-04-04T00:00:00Z").await);
    app.shutdown().await;
}

#[tokio::test]
async fn sparse_events_map_to_nulls() {
    let app = spawn_app().await;
    let key = acme(&app).await;
    let now = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let t = now.format(&time::format_description::well_known::Rfc3339).expect("time");
    let bare = app
        .ingest_ok(&key.secret, &json!({"action": "Ping", "time": t, "status": "pending", "origin": "system"}))
        .await;
    let api =
        app.ingest_ok(&key.secret, &json!({"action": "Pong", "time": t, "status": "failure", "origin": "api"})).await;
    let none = app.ingest_ok(&key.secret, &json!({"action": "Pang", "time": t})).await;
    let body = page(&app, "?Operations=Ping|Pong|Pang", &csp()).await;
    let by_id = |wanted: &str| {
        body["items"].as_array().expect("items").iter().find(|i| i["id"] == wanted).cloned().expect("item")
    };
    let item = by_id(&id(&bare));
    for member in
        ["customer", "reseller", "user", "entityType", "entityId", "oldValues", "newValues", "message", "correlationId"]
    {
        assert_eq!(item[member], Value::Null, "{member}");
    }
    assert_eq!(item["status"], json!({"name": "Processing"}));
    assert_eq!(item["origin"], json!({"name": "System"}));
    assert_eq!(by_id(&id(&api))["status"], json!({"name": "Failed"}));
    assert_eq!(by_id(&id(&api))["origin"], json!({"name": "API"}));
    assert_eq!(by_id(&id(&none))["origin"], json!({"name": null}), "no origin recorded");
    app.shutdown().await;
}

#[tokio::test]
async fn each_parameter_and_its_default() {
    let app = spawn_app().await;
    let key = acme(&app).await;
    let ago = |hours: i64| {
        (time::OffsetDateTime::now_utc() - time::Duration::hours(hours))
            .format(&time::format_description::well_known::Rfc3339)
            .expect("time")
    };
    let a = ("Reseller Alpha", RESELLER_A);
    let b = ("Beta Partners", RESELLER_B);
    let e0 = id(&app.ingest_ok(&key.secret, &order(&ago(48), "CreateOrder", "success", a, "Contoso Ltd")).await);
    let e1 = id(&app.ingest_ok(&key.secret, &order(&ago(72), "CreateCustomer", "pending", b, "Fabrikam")).await);
    let e2 = id(&app.ingest_ok(&key.secret, &order(&ago(96), "DeleteOrder", "failure", a, "Fabrikam Inc")).await);
    let e3 = id(&app.ingest_ok(&key.secret, &order(&ago(120), "CreateOrder", "warning", b, "Contoso")).await);
    let _old = id(&app.ingest_ok(&key.secret, &order(&ago(45 * 24), "CreateOrder", "success", a, "Contoso")).await);
    let ops = "&Operations=CreateOrder|CreateCustomer|DeleteOrder";
    let cases: Vec<(String, Vec<&String>)> = vec![
        // StartDate defaults to a month ago, EndDate to now.
        (format!("?{ops}"), vec![&e0, &e1, &e2, &e3]),
        ("?Operations=CreateOrder".to_owned(), vec![&e0, &e3]),
        ("?Operations=createorder|DeleteOrder".to_owned(), vec![&e0, &e2, &e3]),
        (format!("?{ops}&Status=Processing"), vec![&e1]),
        (format!("?{ops}&Status=Succeded"), vec![&e0, &e3]),
        (format!("?{ops}&Status=failed"), vec![&e2]),
        (format!("?{ops}&Reseller=alpha"), vec![&e0, &e2]),
        (format!("?{ops}&Customer=fabrikam"), vec![&e1, &e2]),
        (format!("?{ops}&Customer=Contoso&Reseller=Beta"), vec![&e3]),
        (format!("?{ops}&resellerId={RESELLER_B}"), vec![&e1, &e3]),
        (format!("?{ops}&resellerid={}", RESELLER_B.to_uppercase()), vec![&e1, &e3]),
        (format!("?{ops}&StartDate={}&EndDate={}", ago(108), ago(60)), vec![&e1, &e2]),
        (format!("?{ops}&pagesize=1&pagenumber=3"), vec![&e2]),
    ];
    for (query, expected) in cases {
        let body = page(&app, &query, &csp()).await;
        assert_eq!(ids(&body), expected.into_iter().cloned().collect::<Vec<_>>(), "{query}");
    }
    let with_old = page(&app, &format!("?{ops}&StartDate={}", ago(60 * 24)), &csp()).await;
    assert_eq!(with_old["totalCount"], 5);

    // PageSize defaults to 25.
    let batch: Vec<Value> = (0..30).map(|_| order(&ago(24), "Bulk", "success", a, "Contoso")).collect();
    app.ingest_ok(&key.secret, &json!({"events": batch})).await;
    let body = page(&app, "?Operations=Bulk", &csp()).await;
    assert_eq!(body["items"].as_array().expect("items").len(), 25);
    assert_eq!(body["paginationParameters"], json!({"pageNumber": 1, "pageSize": 25}));
    assert_eq!(
        (body["totalCount"].clone(), body["totalPages"].clone(), body["hasNextPage"].clone()),
        (json!(30), json!(2), json!(true))
    );

    // A reseller sees only its own logs; it may name itself but nobody else.
    let own = page(&app, &format!("?{ops}"), &reseller(RESELLER_A)).await;
    assert_eq!(ids(&own), vec![e0.clone(), e2.clone()]);
    let named = page(&app, &format!("?{ops}&resellerId={RESELLER_A}"), &reseller(RESELLER_A)).await;
    assert_eq!(ids(&named), vec![e0, e2]);
    let resp = request(&app, &format!("?resellerId={RESELLER_B}"), &reseller(RESELLER_A)).send().await.expect("sent");
    error(resp, StatusCode::FORBIDDEN, None).await;
    app.shutdown().await;
}

#[tokio::test]
async fn continuation_tokens_and_page_numbers_walk_the_native_order() {
    let app = spawn_app().await;
    let key = acme(&app).await;
    let batch: Vec<Value> = (0..23)
        .map(|i| {
            order(&format!("2024-05-{:02}T00:00:00Z", 1 + i % 7), "CreateOrder", "success", ("R", RESELLER_A), "C")
        })
        .collect();
    app.ingest_ok(&key.secret, &json!({"events": batch})).await;
    let expected = native(&app, "action eq \"CreateOrder\"", "2024-04-01T00:00:00Z").await;
    assert_eq!(expected.len(), 23);
    let base = "?Operations=CreateOrder&StartDate=2024-04-01T00:00:00Z&PageSize=5";

    let mut walked = Vec::new();
    let mut query = base.to_owned();
    for n in 1..=5u64 {
        let body = page(&app, &query, &csp()).await;
        assert_eq!(body["paginationParameters"], json!({"pageNumber": n, "pageSize": 5}));
        assert_eq!((body["totalCount"].clone(), body["totalPages"].clone()), (json!(23), json!(5)));
        assert_eq!(body["hasPreviousPage"], n > 1);
        assert_eq!(body["hasNextPage"], n < 5);
        walked.extend(ids(&body));
        match body["continuationToken"].as_str() {
            Some(token) => query = format!("{base}&ContinuationToken={token}"),
            None => assert_eq!(n, 5, "only the last page has no token"),
        }
    }
    assert_eq!(walked, expected, "tokens walk every event once, in the native order");

    let mut numbered = Vec::new();
    for n in 1..=5 {
        numbered.extend(ids(&page(&app, &format!("{base}&PageNumber={n}"), &csp()).await));
    }
    assert_eq!(numbered, expected);
    let beyond = page(&app, &format!("{base}&PageNumber=6"), &csp()).await;
    assert_eq!((beyond["items"].clone(), beyond["hasNextPage"].clone()), (json!([]), json!(false)));
    assert_eq!(beyond["continuationToken"], Value::Null);
    app.shutdown().await;
}

#[tokio::test]
async fn page_size_2000_spans_store_pages() {
    let app = spawn_app().await;
    let key = acme(&app).await;
    for chunk in 0..3 {
        let batch: Vec<Value> = (0..700)
            .map(|i| {
                order(
                    &format!("2024-05-01T00:{:02}:{:02}Z", chunk * 10 + i / 60, i % 60),
                    "Bulk",
                    "success",
                    ("R", RESELLER_A),
                    "C",
                )
            })
            .collect();
        app.ingest_ok(&key.secret, &json!({"events": batch})).await;
    }
    let base = "?Operations=Bulk&StartDate=2024-04-01T00:00:00Z&PageSize=2000";
    let first = page(&app, base, &csp()).await;
    assert_eq!(first["items"].as_array().expect("items").len(), 2000);
    assert_eq!((first["totalCount"].clone(), first["totalPages"].clone()), (json!(2100), json!(2)));
    let token = first["continuationToken"].as_str().expect("token");
    let second = page(&app, &format!("{base}&ContinuationToken={token}"), &csp()).await;
    assert_eq!(second["items"].as_array().expect("items").len(), 100);
    assert_eq!(second["paginationParameters"]["pageNumber"], 2);
    let mut all = ids(&first);
    all.extend(ids(&second));
    assert_eq!(all, native_all(&app).await);
    app.shutdown().await;
}

async fn native_all(app: &TestApp) -> Vec<String> {
    app.all_events("acme")
        .await
        .into_iter()
        .filter(|e| e["action"] == "Bulk")
        .map(|e| common::id(&e).to_owned())
        .collect()
}

#[tokio::test]
async fn bad_parameters_are_error_responses_naming_them() {
    let app = spawn_app().await;
    acme(&app).await;
    let cases = [
        ("?PageSize=0", "PageSize"),
        ("?PageSize=2001", "PageSize"),
        ("?PageSize=ten", "PageSize"),
        ("?PageNumber=0", "PageNumber"),
        ("?PageNumber=-2", "PageNumber"),
        ("?StartDate=last-week", "StartDate"),
        ("?EndDate=2024-02-30", "EndDate"),
        ("?StartDate=2024-05-02&EndDate=2024-05-01", "StartDate"),
        ("?Status=Succeeded", "Status"),
        ("?resellerId=123", "resellerId"),
        ("?ContinuationToken=abc", "ContinuationToken"),
        ("?Operations=A|B|C|D|E|F|G|H|I|J|K|L|M|N|O|P|Q|R|S|T|U|V|W|X|Y|Z|a|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x|y|z|0|1|2|3|4|5|6|7|8|9|A1|B1|C1|D1|E1|F1|G1|H1|I1|J1|K1|L1|M1|N1|O1|P1|Q1|R1|S1|T1|U1|V1|W1|X1|Y1|Z1|a1|b1|c1|d1|e1|f1|g1|h1|i1|j1|k1|l1|m1|n1|o1|p1|q1|r1|s1|t1|u1|v1|w1|x1|y1|z1", "Operations"),
    ];
    for (query, property) in cases {
        let resp = request(&app, query, &csp()).send().await.expect("sent");
        let body = error(resp, StatusCode::BAD_REQUEST, Some(property)).await;
        assert_eq!(body["type"], "ValidationError");
    }
    // Without X-Tenant.
    let resp = app
        .http
        .get(app.url("/v1/AuditLogs"))
        .bearer_auth(csp())
        .header("X-Correlation-Id", CORRELATION)
        .send()
        .await
        .expect("sent");
    error(resp, StatusCode::BAD_REQUEST, Some("X-Tenant")).await;
    // Without X-Correlation-Id one is made up, and it is the same in header and body.
    let resp = app
        .http
        .get(app.url("/v1/AuditLogs?PageSize=0"))
        .header("X-Tenant", DOMAIN)
        .bearer_auth(csp())
        .send()
        .await
        .expect("sent");
    let header = resp.headers().get("x-correlation-id").and_then(|v| v.to_str().ok()).expect("header").to_owned();
    let body: Value = resp.json().await.expect("JSON");
    assert_eq!(body["correlationId"], header);
    app.shutdown().await;
}

#[tokio::test]
async fn tokens_are_verified_with_the_tenants_key() {
    let app = spawn_app().await;
    acme(&app).await;
    let unauthorized = |resp: Response| async move {
        assert_eq!(resp.headers().get("www-authenticate").and_then(|v| v.to_str().ok()), Some("Bearer"));
        error(resp, StatusCode::UNAUTHORIZED, None).await
    };
    let wrong_secret =
        hs256(&json!({"role": "csp", "exp": epoch(600)}), "another-secret-another-secret-another-secret");
    let expired = hs256(&json!({"role": "csp", "exp": epoch(-3600)}), HS_SECRET);
    let no_exp = hs256(&json!({"role": "csp"}), HS_SECRET);
    let (ed_private, _) = jwt_keys::ed25519();
    let other_alg = jwt_keys::eddsa(&json!({"role": "csp", "exp": epoch(600)}), &ed_private);
    for token in [wrong_secret, expired, no_exp, other_alg, "not.a.jwt".to_owned()] {
        unauthorized(request(&app, "", &token).send().await.expect("sent")).await;
    }
    let resp = app
        .http
        .get(app.url("/v1/AuditLogs"))
        .header("X-Tenant", DOMAIN)
        .header("X-Correlation-Id", CORRELATION)
        .send()
        .await
        .expect("sent");
    unauthorized(resp).await;
    let resp = request_to(&app, "", &csp(), "nobody.example.com").send().await.expect("sent");
    unauthorized(resp).await;
    for claims in [
        json!({"exp": epoch(600)}),
        json!({"role": "admin", "exp": epoch(600)}),
        json!({"role": "reseller", "exp": epoch(600)}),
    ] {
        let resp = request(&app, "", &hs256(&claims, HS_SECRET)).send().await.expect("sent");
        error(resp, StatusCode::FORBIDDEN, None).await;
    }
    // Domains match case-insensitively; roles may come as an array.
    let resp = request_to(&app, "", &hs256(&json!({"role": ["csp"], "exp": epoch(600)}), HS_SECRET), "Portal.ACME.io")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);

    // EdDSA and RS256 keys.
    let (ed_private, ed_public) = jwt_keys::ed25519();
    patch(&app, "acme", json!({"jwt": {"alg": "EdDSA", "public_key_pem": ed_public}})).await;
    page(&app, "", &jwt_keys::eddsa(&json!({"role": "csp", "exp": epoch(600)}), &ed_private)).await;
    unauthorized(request(&app, "", &csp()).send().await.expect("sent")).await;
    patch(&app, "acme", json!({"jwt": {"alg": "RS256", "public_key_pem": jwt_keys::RSA_PUBLIC_PEM}})).await;
    page(&app, "", &jwt_keys::rs256(&json!({"role": "csp", "exp": epoch(600)}))).await;
    // Removing the key stops every token.
    patch(&app, "acme", json!({"jwt": null})).await;
    unauthorized(
        request(&app, "", &jwt_keys::rs256(&json!({"role": "csp", "exp": epoch(600)}))).send().await.expect("sent"),
    )
    .await;
    app.shutdown().await;
}

#[tokio::test]
async fn nothing_crosses_tenants() {
    let app = spawn_app().await;
    let acme_key = acme(&app).await;
    app.create_tenant("globex").await;
    let globex_secret = "globex-secret-globex-secret-globex-secret";
    patch(&app, "globex", json!({"aliases": ["portal.globex.io"], "jwt": {"alg": "HS256", "secret": globex_secret}}))
        .await;
    let globex_key = app.create_key("globex", &["events:write", "events:read"]).await;
    let ours = app
        .ingest_ok(&acme_key.secret, &order("2024-05-02T00:00:00Z", "CreateOrder", "success", ("R", RESELLER_A), "C"))
        .await;
    app.ingest_ok(&globex_key.secret, &order("2024-05-02T00:00:00Z", "CreateOrder", "success", ("R", RESELLER_A), "C"))
        .await;
    let q = "?Operations=CreateOrder&StartDate=2024-05-01";

    // acme's token with globex's domain, and globex's token with acme's domain.
    let resp = request_to(&app, q, &csp(), "portal.globex.io").send().await.expect("sent");
    error(resp, StatusCode::UNAUTHORIZED, None).await;
    let globex_token = hs256(&json!({"role": "csp", "exp": epoch(600)}), globex_secret);
    error(request(&app, q, &globex_token).send().await.expect("sent"), StatusCode::UNAUTHORIZED, None).await;

    // A Stele key reads its own tenant only.
    error(request(&app, q, &globex_key.secret).send().await.expect("sent"), StatusCode::UNAUTHORIZED, None).await;
    let own = page(&app, q, &acme_key.secret).await;
    assert_eq!(ids(&own), vec![id(&ours)]);
    let writer = app.create_key("acme", &["events:write"]).await;
    error(request(&app, q, &writer.secret).send().await.expect("sent"), StatusCode::FORBIDDEN, None).await;

    // A key's view filter applies.
    let resp = app
        .post_json(
            "/v1/keys",
            OPERATOR,
            &json!({"tenant": "acme", "name": "b", "scopes": ["events:read"],
            "view_filter": format!("context.reseller_id eq \"{RESELLER_B}\"")}),
        )
        .send()
        .await
        .expect("sent");
    let viewer: Value = resp.json().await.expect("JSON");
    let theirs = app
        .ingest_ok(&acme_key.secret, &order("2024-05-03T00:00:00Z", "CreateOrder", "success", ("B", RESELLER_B), "C"))
        .await;
    let seen = page(&app, q, viewer["secret"].as_str().expect("secret")).await;
    assert_eq!(ids(&seen), vec![id(&theirs)]);
    assert_eq!(seen["totalCount"], 1);
    app.shutdown().await;
}

#[tokio::test]
async fn the_route_is_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc: Value = app.http.get(app.url("/openapi.json")).send().await.expect("sent").json().await.expect("JSON");
    let op = &doc["paths"]["/v1/AuditLogs"]["get"];
    assert!(op.is_object(), "missing");
    let names: Vec<&str> =
        op["parameters"].as_array().expect("params").iter().filter_map(|p| p["name"].as_str()).collect();
    for name in [
        "X-Tenant",
        "PageNumber",
        "PageSize",
        "StartDate",
        "EndDate",
        "Operations",
        "Status",
        "Reseller",
        "Customer",
        "resellerId",
        "ContinuationToken",
    ] {
        assert!(names.contains(&name), "{name} not documented: {names:?}");
    }
    app.shutdown().await;
}

/// A reseller claim is an access boundary: compared exactly, so reseller `r1` does not see
/// the events of `R1` (a search for "r1" would match both).
#[tokio::test]
async fn a_reseller_claim_matches_its_id_exactly() {
    let app = spawn_app().await;
    let key = acme(&app).await;
    let when = (time::OffsetDateTime::now_utc() - time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .expect("time");
    let lower = id(&app.ingest_ok(&key.secret, &order(&when, "CreateOrder", "success", ("Low", "r1"), "C")).await);
    app.ingest_ok(&key.secret, &order(&when, "CreateOrder", "success", ("High", "R1"), "C")).await;
    let own = page(&app, "?Operations=CreateOrder", &reseller("r1")).await;
    assert_eq!(ids(&own), vec![lower]);
    assert_eq!(own["totalCount"], 1);
    // Positive control: the CSP sees both, and the case-insensitive `Reseller` search finds both.
    assert_eq!(page(&app, "?Operations=CreateOrder", &csp()).await["totalCount"], 2);
    assert_eq!(page(&app, "?Operations=CreateOrder&Reseller=o", &reseller("R1")).await["totalCount"], 0);
    assert_eq!(page(&app, "?Operations=CreateOrder&Reseller=HIGH", &reseller("R1")).await["totalCount"], 1);
    app.shutdown().await;
}

#[tokio::test]
async fn nbf_is_checked_with_the_exp_leeway() {
    let app = spawn_app().await;
    acme(&app).await;
    // Not valid for another hour: refused (an hour is far beyond the 30 s leeway).
    let future = hs256(&json!({"role": "csp", "exp": epoch(7200), "nbf": epoch(3600)}), HS_SECRET);
    let body = error(request(&app, "", &future).send().await.expect("sent"), StatusCode::UNAUTHORIZED, None).await;
    assert!(body["description"].as_str().is_some_and(|d| d.contains("not valid yet")), "{body}");
    // Positive controls: nbf in the past, and nbf a few seconds ahead (within the leeway).
    page(&app, "", &hs256(&json!({"role": "csp", "exp": epoch(600), "nbf": epoch(-60)}), HS_SECRET)).await;
    page(&app, "", &hs256(&json!({"role": "csp", "exp": epoch(600), "nbf": epoch(5)}), HS_SECRET)).await;
    app.shutdown().await;
}

#[tokio::test]
async fn a_configured_issuer_and_audience_are_required() {
    let app = spawn_app().await;
    acme(&app).await;
    let claims = |extra: Value| {
        let mut c = json!({"role": "csp", "exp": epoch(600)});
        c.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
        hs256(&c, HS_SECRET)
    };
    // Without a configured issuer/audience any iss/aud is accepted (unchanged behaviour).
    page(&app, "", &claims(json!({"iss": "anyone", "aud": "anything"}))).await;
    let resp = app
        .http
        .patch(app.url("/v1/tenants/acme"))
        .bearer_auth(OPERATOR)
        .json(&json!({"jwt": {"alg": "HS256", "secret": HS_SECRET, "issuer": "https://idp.acme.io", "audience": "stele"}}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let updated: Value = resp.json().await.expect("JSON");
    assert_eq!(
        (updated["jwt"]["issuer"].as_str(), updated["jwt"]["audience"].as_str()),
        (Some("https://idp.acme.io"), Some("stele"))
    );
    for (token, why) in [
        (claims(json!({})), "the tenant requires one"),
        (claims(json!({"aud": "stele"})), "no iss claim"),
        (claims(json!({"iss": "https://idp.acme.io"})), "no aud claim"),
        (claims(json!({"iss": "https://evil.example", "aud": "stele"})), "iss claim is not"),
        (claims(json!({"iss": "https://idp.acme.io", "aud": "other"})), "aud claim does not"),
    ] {
        let body = error(request(&app, "", &token).send().await.expect("sent"), StatusCode::UNAUTHORIZED, None).await;
        assert!(body["description"].as_str().is_some_and(|d| d.contains(why)), "{why}: {body}");
    }
    // Positive controls: matching iss and aud (aud as a string or in an array).
    page(&app, "", &claims(json!({"iss": "https://idp.acme.io", "aud": "stele"}))).await;
    page(&app, "", &claims(json!({"iss": "https://idp.acme.io", "aud": ["other", "stele"]}))).await;
    // A bad issuer is refused at configuration, naming the field.
    let resp = app
        .http
        .patch(app.url("/v1/tenants/acme"))
        .bearer_auth(OPERATOR)
        .json(&json!({"jwt": {"alg": "HS256", "secret": HS_SECRET, "issuer": ""}}))
        .send()
        .await
        .expect("sent");
    let problem = common::assert_problem(resp, StatusCode::BAD_REQUEST, "invalid-body").await;
    assert!(common::detail(&problem).starts_with("jwt.issuer:"), "{problem}");
    app.shutdown().await;
}
