//! The syslog sink against listeners in the test (octet-counted frames over TCP and over
//! TLS with a CA made here) and against a real rsyslogd (imtcp with octet-counted framing,
//! omfile into a temp dir).

use std::sync::Arc;
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{json, Value};
use stele_streams::{parse, sink, Batch, FailureKind, Kind, ParseOptions, Sink, SinkContext};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpListener;

use crate::common::{batch, eventually, external, free_port, Reaped};

fn build(body: Value) -> Box<dyn Sink> {
    let Value::Object(fields) = body else { panic!("object") };
    let (destination, secrets) = parse(Kind::Syslog, &fields, ParseOptions::default()).expect("parse");
    let ctx = SinkContext { timeout: Duration::from_secs(5), ..SinkContext::default() };
    sink(&destination, &secrets, &ctx).expect("sink")
}

/// Reads RFC 6587 octet-counted frames until `n` arrived.
async fn frames(stream: &mut (impl AsyncRead + Unpin), n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        let mut len = Vec::new();
        loop {
            let b = stream.read_u8().await.expect("frame length");
            if b == b' ' {
                break;
            }
            assert!(b.is_ascii_digit(), "octet count, got {b}");
            len.push(b);
        }
        let len: usize = std::str::from_utf8(&len).expect("ascii").parse().expect("count");
        let mut msg = vec![0; len];
        stream.read_exact(&mut msg).await.expect("frame");
        out.push(String::from_utf8(msg).expect("utf-8"));
    }
    out
}

/// Checks one message against its item: header fields and the stored JSON as MSG.
fn check_message(message: &str, b: &Batch, i: usize) {
    let item = &b.items[i];
    let pri = if item.seq % 2 == 1 { 13 * 8 + 5 } else { 13 * 8 + 4 };
    let header = format!("<{pri}>1 {} acme stele - user.login ", item.time.replace(".250Z", ".25Z"));
    assert!(message.starts_with(&header), "{message:?} should start with {header:?}");
    let id = format!("0190f2a1-7c3e-7000-8000-{:012}", item.seq);
    let sd = format!("[stele@32473 seq=\"{}\" id=\"{id}\" tenant=\"acme\"] ", item.seq);
    assert!(message.contains(&sd), "{message}");
    assert!(message.ends_with(&format!("] {}", item.json)), "{message}");
}

#[tokio::test]
async fn frames_arrive_octet_counted_and_the_connection_is_reopened() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let s = build(json!({"host": "127.0.0.1", "port": port}));

    let b1 = batch("acme", 1..=3);
    s.deliver(&b1).await.expect("first batch");
    let (mut conn, _) = listener.accept().await.expect("accept");
    let got = frames(&mut conn, 3).await;
    for (i, m) in got.iter().enumerate() {
        check_message(m, &b1, i);
    }
    // The connection is kept: the next batch comes on it.
    let b2 = batch("acme", 4..=4);
    s.deliver(&b2).await.expect("second batch");
    check_message(&frames(&mut conn, 1).await[0], &b2, 0);
    // The receiver restarts: the sink notices the closed connection and opens a new one.
    drop(conn);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let b3 = batch("acme", 5..=6);
    s.deliver(&b3).await.expect("third batch");
    let (mut conn, _) =
        tokio::time::timeout(Duration::from_secs(5), listener.accept()).await.expect("reconnect").expect("accept");
    let got = frames(&mut conn, 2).await;
    check_message(&got[0], &b3, 0);
    check_message(&got[1], &b3, 1);
}

#[tokio::test]
async fn nothing_listening_is_connection_refused() {
    let s = build(json!({"host": "127.0.0.1", "port": free_port()}));
    let err = s.deliver(&batch("acme", 1..=1)).await.expect_err("refused");
    assert_eq!((err.kind, err.detail.as_str()), (FailureKind::ConnectionRefused, "connection refused"));
}

#[tokio::test]
async fn a_tls_server_that_never_answers_times_out() {
    // Accepts the connection and never says a word: the handshake waits.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let held = tokio::spawn(async move { listener.accept().await.map(|(conn, _)| conn) });
    let Value::Object(fields) = json!({"host": "127.0.0.1", "port": port, "tls": true}) else { panic!("object") };
    let (destination, secrets) = parse(Kind::Syslog, &fields, ParseOptions::default()).expect("parse");
    let ctx = SinkContext { timeout: Duration::from_millis(300), ..SinkContext::default() };
    let s = sink(&destination, &secrets, &ctx).expect("sink");
    let started = std::time::Instant::now();
    let err = s.deliver(&batch("acme", 1..=1)).await.expect_err("times out");
    assert_eq!((err.kind, err.detail.as_str()), (FailureKind::Timeout, "timed out after 300 ms"));
    assert!(started.elapsed() < Duration::from_secs(3));
    drop(held);
}

/// A CA and a certificate for `localhost` signed by it: (CA PEM, server chain, server key).
fn ca_and_server() -> (String, Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let ca_key = KeyPair::generate().expect("key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "Stele test CA");
    let ca = ca_params.self_signed(&ca_key).expect("ca");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["localhost".to_string()])
        .expect("params")
        .signed_by(&key, &ca, &ca_key)
        .expect("cert");
    (ca.pem(), vec![cert.der().clone()], PrivateKeyDer::Pkcs8(key.serialize_der().into()))
}

#[tokio::test]
async fn tls_syslog_trusts_the_given_ca_only() {
    let (ca_pem, chain, key) = ca_and_server();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        let mut received = Vec::new();
        // First the trusted client, then the one with another CA (its handshake fails).
        for _ in 0..2 {
            let (tcp, _) = listener.accept().await.expect("accept");
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                received.extend(frames(&mut tls, 2).await);
            }
        }
        received
    });

    let b = batch("acme", 7..=8);
    let trusted = build(json!({"host": "localhost", "port": port, "tls": true, "ca_pem": ca_pem}));
    trusted.deliver(&b).await.expect("delivered over TLS");

    let (other_ca, _, _) = ca_and_server();
    let untrusted = build(json!({"host": "localhost", "port": port, "tls": true, "ca_pem": other_ca}));
    let err = untrusted.deliver(&b).await.expect_err("unknown CA");
    assert_eq!((err.kind, err.detail.as_str()), (FailureKind::Tls, "TLS handshake failed"));

    let received = tokio::time::timeout(Duration::from_secs(5), server).await.expect("server done").expect("join");
    assert_eq!(received.len(), 2);
    check_message(&received[0], &b, 0);
    check_message(&received[1], &b, 1);
}

#[tokio::test]
async fn rsyslog_writes_each_event_it_receives() {
    let Some(rsyslogd) = external("STELE_TEST_RSYSLOGD", "rsyslogd (Debian package rsyslog)") else { return };
    let dir = tempfile::tempdir().expect("tempdir");
    let work = dir.path().join("work");
    std::fs::create_dir(&work).expect("work dir");
    let out = dir.path().join("out.log");
    let port = free_port();
    let conf = format!(
        r#"global(workDirectory="{work}")
module(load="imtcp")
input(type="imtcp" address="127.0.0.1" port="{port}" supportOctetCountedFraming="on")
template(name="stele" type="string" string="%hostname% %app-name% %msgid% %structured-data% %msg%\n")
action(type="omfile" file="{out}" template="stele")
"#,
        work = work.display(),
        out = out.display(),
    );
    let conf_path = dir.path().join("rsyslog.conf");
    std::fs::write(&conf_path, conf).expect("conf");
    let child = std::process::Command::new(&rsyslogd)
        .arg("-n")
        .arg("-f")
        .arg(&conf_path)
        .arg("-i")
        .arg(dir.path().join("rsyslogd.pid"))
        .spawn()
        .expect("start rsyslogd");
    let _rsyslogd = Reaped(child);
    eventually(Duration::from_secs(15), "rsyslogd to listen", || async move {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok().map(|_| ())
    })
    .await;

    let b = batch("acme", 1..=4);
    let s = build(json!({"host": "127.0.0.1", "port": port}));
    s.deliver(&b).await.expect("delivered to rsyslog");
    let lines = eventually(Duration::from_secs(15), "rsyslog to write 4 lines", || {
        let out = out.clone();
        async move {
            let text = std::fs::read_to_string(&out).ok()?;
            let lines: Vec<String> = text.lines().map(str::to_owned).collect();
            (lines.len() >= 4).then_some(lines)
        }
    })
    .await;
    assert_eq!(lines.len(), 4, "{lines:#?}");
    for (line, item) in lines.iter().zip(&b.items) {
        let prefix = format!("acme stele user.login [stele@32473 seq=\"{}\" ", item.seq);
        assert!(line.starts_with(&prefix), "{line:?} should start with {prefix:?}");
        let (_, msg) = line.split_once("\"] ").expect("structured data, then the message");
        assert_eq!(msg, item.json, "rsyslog's MSG is the stored event JSON");
        eprintln!("rsyslog wrote: {}", &line[..line.len().min(120)]);
    }
}
