use serde_json::json;

use super::*;

fn body(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => panic!("test bodies are objects"),
    }
}

const SECRET: &str = "whsec-0123456789abcdef";

fn ok(kind: Kind, v: Value) -> (Destination, Secrets) {
    parse(kind, &body(v), ParseOptions::default()).expect("parses")
}

#[test]
fn refused_settings_name_their_field() {
    let long = format!("https://example.com/{}", "a".repeat(2100));
    #[rustfmt::skip]
    let cases: Vec<(Kind, Value, &str, &str)> = vec![
        (Kind::Webhook, json!({"url": "https://h/x", "secret": SECRET, "sekret": 1}), "sekret", "unknown field"),
        (Kind::Webhook, json!({"secret": SECRET}), "url", "is required"),
        (Kind::Webhook, json!({"url": "http://h/x", "secret": SECRET}), "url", "must use https"),
        (Kind::Webhook, json!({"url": "ftp://h/x", "secret": SECRET}), "url", "http or https"),
        (Kind::Webhook, json!({"url": "https://user:pw@h/x", "secret": SECRET}), "url", "user name or password"),
        (Kind::Webhook, json!({"url": "https://h/x#frag", "secret": SECRET}), "url", "fragment"),
        (Kind::Webhook, json!({"url": "/relative", "secret": SECRET}), "url", "absolute URL"),
        (Kind::Webhook, json!({"url": long, "secret": SECRET}), "url", "at most 2048"),
        (Kind::Webhook, json!({"url": 5, "secret": SECRET}), "url", "must be a string"),
        (Kind::Webhook, json!({"url": "https://h/x", "secret": "short"}), "secret", "at least 16"),
        (Kind::Webhook, json!({"url": "https://h/x"}), "secret", "is required"),
        (Kind::SplunkHec, json!({"url": "https://s:8088"}), "token", "is required"),
        (Kind::SplunkHec, json!({"url": "https://s:8088?x=1", "token": "t"}), "url", "query"),
        (Kind::SplunkHec, json!({"url": "https://s", "token": "t", "index": ""}), "index", "must not be empty"),
        (Kind::SplunkHec, json!({"url": "https://s", "token": "t", "sourcetype": "x".repeat(257)}), "sourcetype", "at most 256"),
        (Kind::SplunkHec, json!({"url": "https://s", "token": "t", "source": "a\nb"}), "source", "control"),
        (Kind::SplunkHec, json!({"url": "https://s", "token": "two words"}), "token", "printable ASCII"),
        (Kind::Datadog, json!({}), "api_key", "is required"),
        (Kind::Datadog, json!({"api_key": "k", "ddtags": ["a"]}), "ddtags", "must be a string"),
        (Kind::Syslog, json!({}), "host", "is required"),
        (Kind::Syslog, json!({"host": "bad host"}), "host", "host name or an IP"),
        (Kind::Syslog, json!({"host": "h", "port": 0}), "port", "from 1 to 65535"),
        (Kind::Syslog, json!({"host": "h", "port": "514"}), "port", "integer"),
        (Kind::Syslog, json!({"host": "h", "facility": 24}), "facility", "from 0 to 23"),
        (Kind::Syslog, json!({"host": "h", "tls": "yes"}), "tls", "true or false"),
        (Kind::Syslog, json!({"host": "h", "app_name": "a b"}), "app_name", "printable ASCII"),
        (Kind::Syslog, json!({"host": "h", "app_name": "a".repeat(49)}), "app_name", "at most 48"),
        (Kind::Syslog, json!({"host": "h", "ca_pem": "x"}), "ca_pem", "only used with"),
        (Kind::Syslog, json!({"host": "h", "tls": true, "ca_pem": "not a pem"}), "ca_pem", "certificate"),
        (Kind::S3, json!({"bucket": "b-1", "access_key_id": "a", "secret_access_key": "s"}), "endpoint", "is required"),
        (Kind::S3, json!({"endpoint": "https://s3", "bucket": "B", "access_key_id": "a", "secret_access_key": "s"}), "bucket", "3 to 63"),
        (Kind::S3, json!({"endpoint": "https://s3", "bucket": "bkt", "access_key_id": "a"}), "secret_access_key", "is required"),
        (Kind::S3, json!({"endpoint": "https://s3", "bucket": "bkt", "access_key_id": "a", "secret_access_key": "s", "max_events": 0}), "max_events", "from 1 to 100000"),
        (Kind::S3, json!({"endpoint": "https://s3", "bucket": "bkt", "access_key_id": "a", "secret_access_key": "s", "max_seconds": 86401}), "max_seconds", "from 1 to 86400"),
        (Kind::S3, json!({"endpoint": "https://s3", "bucket": "bkt", "access_key_id": "a", "secret_access_key": "s", "prefix": "/x"}), "prefix", "start with '/'"),
        (Kind::S3, json!({"endpoint": "https://s3", "bucket": "bkt", "access_key_id": "a", "secret_access_key": "s", "region": "US"}), "region", "a-z"),
    ];
    for (kind, value, field, message) in cases {
        let err =
            parse(kind, &body(value.clone()), ParseOptions::default()).expect_err(&format!("{kind} {value} refused"));
        assert_eq!(err.field, field, "{kind} {value}: {err}");
        assert!(err.message.contains(message), "{kind} {value}: {err}");
        assert_eq!(err.to_string(), format!("{}: {}", err.field, err.message));
    }
}

#[test]
fn http_is_allowed_only_when_the_caller_says_so() {
    let v = body(json!({"url": "http://127.0.0.1:9/hook", "secret": SECRET}));
    assert!(parse(Kind::Webhook, &v, ParseOptions::default()).is_err());
    assert!(parse(Kind::Webhook, &v, ParseOptions { allow_http: true }).is_ok());
}

#[test]
fn defaults_fill_the_optional_settings() {
    let (d, _) = ok(Kind::SplunkHec, json!({"url": "https://splunk:8088", "token": "t"}));
    assert_eq!(
        d,
        Destination::SplunkHec(SplunkHec {
            url: "https://splunk:8088/".into(),
            index: None,
            source: "stele".into(),
            sourcetype: "stele:audit".into(),
            host: None,
        })
    );
    let (d, _) = ok(Kind::Datadog, json!({"api_key": "k"}));
    assert_eq!(
        d,
        Destination::Datadog(Datadog {
            url: "https://http-intake.logs.datadoghq.com/".into(),
            service: "stele".into(),
            ddsource: "stele".into(),
            ddtags: None,
        })
    );
    let (d, s) = ok(Kind::Syslog, json!({"host": "logs.example.com"}));
    assert_eq!(s, Secrets::Syslog);
    let Destination::Syslog(d) = d else { panic!("syslog") };
    assert_eq!((d.port, d.tls, d.app_name.as_str(), d.facility), (514, false, "stele", 13));
    let (d, _) = ok(Kind::Syslog, json!({"host": "10.0.0.1", "tls": true}));
    let Destination::Syslog(d) = d else { panic!("syslog") };
    assert_eq!(d.port, 6514);
    let (d, _) = ok(
        Kind::S3,
        json!({"endpoint": "https://s3.example.com", "bucket": "bkt", "access_key_id": "a", "secret_access_key": "s"}),
    );
    assert_eq!(
        d,
        Destination::S3(S3 {
            endpoint: "https://s3.example.com/".into(),
            bucket: "bkt".into(),
            prefix: String::new(),
            region: "us-east-1".into(),
            path_style: false,
            max_events: 10_000,
            max_seconds: 60,
        })
    );
}

#[test]
fn endpoints_accept_the_base_or_the_full_path() {
    let suffix = "/services/collector/event";
    for given in ["https://s:8088", "https://s:8088/", "https://s:8088/services/collector/event"] {
        let url = check_url("url", given, ParseOptions::default(), true).expect("url");
        assert_eq!(endpoint(&url, suffix).as_str(), "https://s:8088/services/collector/event");
    }
    let url = check_url("url", "https://proxy/splunk/", ParseOptions::default(), true).expect("url");
    assert_eq!(endpoint(&url, suffix).as_str(), "https://proxy/splunk/services/collector/event");
}

#[test]
fn secrets_never_show_in_debug() {
    let secrets = [
        ok(Kind::Webhook, json!({"url": "https://h/x", "secret": SECRET})).1,
        ok(Kind::SplunkHec, json!({"url": "https://h", "token": "hec-token-value"})).1,
        ok(Kind::Datadog, json!({"api_key": "dd-api-key-value"})).1,
        ok(Kind::S3, json!({"endpoint": "https://s3", "bucket": "bkt", "access_key_id": "AKIAVALUE", "secret_access_key": "s3-secret-value"})).1,
    ];
    for s in &secrets {
        let debug = format!("{s:?} {s:#?}");
        for needle in [SECRET, "hec-token-value", "dd-api-key-value", "AKIAVALUE", "s3-secret-value"] {
            assert!(!debug.contains(needle), "{debug}");
        }
        assert!(debug.contains("<redacted>"), "{debug}");
    }
    // Positive control: the sealed JSON does carry the secret.
    assert!(serde_json::to_string(&secrets[0]).expect("json").contains(SECRET));
}

#[test]
fn stored_forms_round_trip() {
    for (kind, v) in [
        (Kind::Webhook, json!({"url": "https://h/x", "secret": SECRET})),
        (Kind::SplunkHec, json!({"url": "https://h", "token": "t", "index": "main", "host": "h1"})),
        (Kind::Datadog, json!({"api_key": "k", "ddtags": "env:prod"})),
        (Kind::Syslog, json!({"host": "h", "facility": 4})),
        (Kind::S3, json!({"endpoint": "https://s3", "bucket": "bkt", "access_key_id": "a", "secret_access_key": "s"})),
    ] {
        let (d, s) = ok(kind, v);
        let stored = serde_json::to_value(&d).expect("json");
        assert_eq!(stored["kind"], kind.as_str());
        assert_eq!(serde_json::from_value::<Destination>(stored).expect("back"), d);
        let sealed = serde_json::to_string(&s).expect("json");
        assert_eq!(serde_json::from_str::<Secrets>(&sealed).expect("back"), s);
        assert_eq!(d.kind(), kind);
        // The named secrets are exactly what is sealed, and none of it is in the destination.
        let mut sealed_names: Vec<String> = match serde_json::to_value(&s).expect("json") {
            Value::Object(m) => m.keys().filter(|k| *k != "kind").cloned().collect(),
            other => panic!("sealed secrets are an object: {other}"),
        };
        sealed_names.sort();
        let mut named: Vec<&str> = kind.secret_names().to_vec();
        named.sort();
        assert_eq!(sealed_names, named, "{kind}");
        for name in named {
            assert!(stored_has_no(&d, name), "{kind}: {name} in the destination");
        }
    }
}

fn stored_has_no(d: &Destination, name: &str) -> bool {
    serde_json::to_value(d).expect("json").get(name).is_none()
}

#[test]
fn kinds_parse_from_their_names() {
    for k in Kind::ALL {
        assert_eq!(k.as_str().parse::<Kind>(), Ok(k));
        assert_eq!(serde_json::to_value(k).expect("json"), json!(k.as_str()));
    }
    assert_eq!("splunk".parse::<Kind>().map_err(|e| e.field), Err("kind".into()));
}
