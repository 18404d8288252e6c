//! Proves the request mapping template with the engine API Gateway runs: `vtl/request.vtl` is
//! rendered by Apache Velocity 1.7 (Debian's `velocity` package, through
//! `tests/vtl/RenderVtl.java`) for Twilio-shaped requests full of awkward characters, and each
//! rendering must be JSON that the Lambda's envelope parser reads back byte for byte, with a
//! Twilio signature (computed here, independently) that the signature module accepts.
//!
//! Needs `java` and the Velocity jars. Without them the tests say "skipped" and pass, unless the
//! `CI` environment variable is set, where they fail.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use flexlex::domain::secret::Secret;
use flexlex::intake::envelope::Envelope;
use flexlex::intake::form::FormParams;
use flexlex::intake::signature::{self, TokenSlot, Verdict, Verifier};
use flexlex_emulators::samples::{self, SampleConversation};
use hmac::{Hmac, Mac};
use sha1::Sha1;

const TOKEN: &str = "vtl-test-auth-token-0123456789ab";
const OLD_TOKEN: &str = "vtl-test-previous-token-ba98765";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ---------------------------------------------------------------------------------------------
// Locating the tools

struct Tools {
    java: String,
    classpath: String,
}

fn jar(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default))
}

/// The JVM and jars, or why they are missing.
fn tools() -> Result<Tools, String> {
    let java = std::env::var("JAVA").unwrap_or_else(|_| "java".to_string());
    let runs = Command::new(&java)
        .arg("-version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !runs {
        return Err(format!("`{java} -version` does not run"));
    }
    let jars = [
        jar("VELOCITY_JAR", "/usr/share/java/velocity.jar"),
        jar("COMMONS_LANG_JAR", "/usr/share/java/commons-lang.jar"),
        jar(
            "COMMONS_COLLECTIONS_JAR",
            "/usr/share/java/commons-collections3.jar",
        ),
    ];
    if let Some(missing) = jars.iter().find(|j| !j.is_file()) {
        return Err(format!("{} is missing", missing.display()));
    }
    let classpath = jars
        .iter()
        .map(|j| j.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    Ok(Tools { java, classpath })
}

/// `Some(tools)`, or `None` after printing why the test is skipped; panics under CI.
fn tools_or_skip() -> Option<&'static Tools> {
    static TOOLS: OnceLock<Result<Tools, String>> = OnceLock::new();
    match TOOLS.get_or_init(tools) {
        Ok(t) => Some(t),
        Err(why) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!(
                "VTL proof cannot run under CI: {why} (apt-get install -y velocity default-jre-headless)"
            )
        }
        Err(why) => {
            println!(
                "skipped: install velocity (apt-get install -y velocity) and a JRE to run the VTL proof: {why}"
            );
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Requests and their renderings

/// One request as API Gateway would see it.
#[derive(Clone, Debug)]
struct Request {
    id: String,
    body: String,
    headers: Vec<(String, String)>,
    /// In the order API Gateway's map hands them to the template.
    query: Vec<(String, String)>,
    /// The URL Twilio signed (its query in the order the webhook was configured).
    signed_url: String,
    domain_name: String,
    path: String,
    request_id: String,
    stage: String,
    source_ip: String,
    request_time_epoch: u64,
}

fn form_body(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// Twilio's algorithm, written out here so the test does not trust the code under test:
/// URL + every (name, value) sorted by name then value, HMAC-SHA1, base64.
fn twilio_signature(token: &str, url: &str, body: &str) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    pairs.sort();
    let mut data = url.to_string();
    for (k, v) in pairs {
        data.push_str(&k);
        data.push_str(&v);
    }
    let mut mac = Hmac::<Sha1>::new_from_slice(token.as_bytes()).expect("any key length");
    mac.update(data.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

fn on_message_added(body_text: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = [
        ("AccountSid", "AC0123456789abcdef0123456789abcdef"),
        (
            "Attributes",
            r#"{"note":"it's \"quoted\"","path":"C:\\temp","emoji":"😀"}"#,
        ),
        ("Author", "whatsapp:+15551234567"),
        ("Body", body_text),
        ("ConversationSid", "CH0123456789abcdef0123456789abcdef"),
        ("DateCreated", "2026-11-01T10:20:30.123Z"),
        ("EventType", "onMessageAdded"),
        ("Index", "7"),
        ("MessageSid", "IM0123456789abcdef0123456789abcdef"),
        ("ParticipantSid", "MB0123456789abcdef0123456789abcdef"),
        ("RetryCount", "0"),
        ("Source", "WHATSAPP"),
        ("WebhookSid", "WH0123456789abcdef0123456789abcdef"),
        ("WebhookType", "webhook"),
        ("ChatServiceSid", "IS0123456789abcdef0123456789abcdef"),
        ("ClientIdentity", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    pairs.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    pairs
}

struct Shape<'a> {
    id: &'a str,
    pairs: Vec<(String, String)>,
    /// Query as configured in the webhook URL (signed order).
    signed_query: &'a [(&'a str, &'a str)],
    /// Query order as API Gateway's map presents it.
    map_order: &'a [usize],
    extra_headers: &'a [(&'a str, &'a str)],
    token: &'a str,
}

fn build(shape: Shape<'_>) -> Request {
    let domain_name = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com".to_string();
    let path = "/prod/webhook".to_string();
    let refs: Vec<(&str, &str)> = shape
        .pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let body = form_body(&refs);
    let qs = shape
        .signed_query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let signed_url = format!("https://{domain_name}{path}?{qs}");
    let sig = twilio_signature(shape.token, &signed_url, &body);
    let mut headers = vec![
        ("Accept".to_string(), "*/*".to_string()),
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded; charset=UTF-8".to_string(),
        ),
        ("Host".to_string(), domain_name.clone()),
        (
            "I-Twilio-Idempotency-Token".to_string(),
            "0f0e0d0c-0b0a-0908-0706-050403020100".to_string(),
        ),
        ("User-Agent".to_string(), "TwilioProxy/1.1".to_string()),
        ("X-Forwarded-For".to_string(), "198.51.100.7".to_string()),
        ("X-Home-Region".to_string(), "us1".to_string()),
        ("X-Twilio-Signature".to_string(), sig),
    ];
    headers.extend(
        shape
            .extra_headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    let query = shape
        .map_order
        .iter()
        .map(|&i| {
            (
                shape.signed_query[i].0.to_string(),
                shape.signed_query[i].1.to_string(),
            )
        })
        .collect();
    Request {
        id: shape.id.to_string(),
        body,
        headers,
        query,
        signed_url,
        domain_name,
        path,
        request_id: format!("c0ffee00-0000-4000-8000-{:012}", shape.id.len()),
        stage: "prod".to_string(),
        source_ip: "198.51.100.7".to_string(),
        request_time_epoch: 1_793_526_030_123,
    }
}

const BOT: [(&str, &str); 2] = [("BotId", "FLWRSDEMO1"), ("BotAliasId", "TSTALIASID")];
const BOT_LOCALE: [(&str, &str); 3] = [
    ("LocaleId", "en_US"),
    ("BotId", "FLWRSDEMO1"),
    ("BotAliasId", "TSTALIASID"),
];

fn requests() -> Vec<Request> {
    let tricky = [
        ("plain", "I would like to order some flowers".to_string()),
        ("quotes", r#"she said "roses" and 'tulips'"#.to_string()),
        (
            "backslashes",
            r#"C:\new\table \\ \' \" \u0041 end\"#.to_string(),
        ),
        (
            "controls",
            "line1\nline2\r\nTab\there\u{0}\u{1}\u{1f}\u{7f}\u{85}\u{2028}\u{2029}".to_string(),
        ),
        (
            "url-chars",
            "a+b=c&d=e%20f %zz %% + & = ? # / ;".to_string(),
        ),
        (
            "html",
            "</script><script>alert('x')</script> <!-- -->".to_string(),
        ),
        ("unicode", "héllo wörld ✓ 漢字 😀 𝄞 👩‍👩‍👧 \u{feff}".to_string()),
        ("empty", String::new()),
        (
            "huge",
            "🌷 tulips & roses \"x\" \\ ".repeat(200 * 1024 / 28),
        ),
        (
            "json-like",
            r#"{"v":"1","body":"x"},"headers":{}"#.to_string(),
        ),
    ];
    let mut out = Vec::new();
    for (id, text) in &tricky {
        out.push(build(Shape {
            id,
            pairs: on_message_added(text, &[]),
            signed_query: &BOT,
            map_order: &[1, 0],
            extra_headers: &[],
            token: TOKEN,
        }));
    }
    out.push(build(Shape {
        id: "repeated-keys",
        pairs: on_message_added(
            "media",
            &[("Media", "ME1"), ("Media", "ME0"), ("Media", "ME2")],
        ),
        signed_query: &BOT_LOCALE,
        map_order: &[1, 2, 0],
        extra_headers: &[],
        token: TOKEN,
    }));
    out.push(build(Shape {
        id: "odd-headers",
        pairs: on_message_added("hi", &[]),
        signed_query: &BOT_LOCALE,
        map_order: &[0, 1, 2],
        extra_headers: &[
            ("X-Quote", r#"he said "hi" and 'bye'"#),
            ("X-Backslash", r#"a\b\\c\'d\"#),
            ("X-Unicode", "naïve café ✓ 😀 𝄞"),
            ("X-Json", r#"{"a":[1,"2"]}</script>"#),
            ("X-Empty", ""),
        ],
        token: TOKEN,
    }));
    out.push(build(Shape {
        id: "previous-token",
        pairs: on_message_added("signed during rotation", &[]),
        signed_query: &BOT,
        map_order: &[0, 1],
        extra_headers: &[],
        token: OLD_TOKEN,
    }));
    // Some encoders write spaces as %20 and leave `*` alone; the raw bytes must survive as sent.
    let mut pct = build(Shape {
        id: "percent-twenty",
        pairs: on_message_added("x", &[]),
        signed_query: &BOT,
        map_order: &[0, 1],
        extra_headers: &[],
        token: TOKEN,
    });
    pct.body = pct.body.replace("Body=x", "Body=two%20words%2A*%2b") + "&Extra=%E2%9C%93";
    let sig = twilio_signature(TOKEN, &pct.signed_url, &pct.body);
    for (k, v) in &mut pct.headers {
        if k == "X-Twilio-Signature" {
            *v = sig.clone();
        }
    }
    out.push(pct);
    out
}

fn case_records(reqs: &[Request]) -> String {
    let b = |s: &str| B64.encode(s.as_bytes());
    let mut out = String::new();
    for r in reqs {
        out.push_str(&format!("case {}\nbody {}\n", r.id, b(&r.body)));
        for (k, v) in &r.headers {
            out.push_str(&format!("header {} {}\n", b(k), b(v)));
        }
        for (k, v) in &r.query {
            out.push_str(&format!("query {} {}\n", b(k), b(v)));
        }
        for (k, v) in [
            ("domainName", r.domain_name.as_str()),
            ("path", &r.path),
            ("requestId", &r.request_id),
            ("stage", &r.stage),
            ("sourceIp", &r.source_ip),
            ("requestTimeEpoch", &r.request_time_epoch.to_string()),
        ] {
            out.push_str(&format!("context {k} {}\n", b(v)));
        }
        out.push_str("end\n");
    }
    out
}

/// Renders `template` once per request in one JVM; returns the renderings in request order.
fn render(tools: &Tools, template: &Path, reqs: &[Request]) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases = dir.path().join("cases");
    std::fs::write(&cases, case_records(reqs)).expect("write cases");
    let out = Command::new(&tools.java)
        .arg("-cp")
        .arg(&tools.classpath)
        .arg(root().join("tests/vtl/RenderVtl.java"))
        .arg(template)
        .arg(&cases)
        .output()
        .expect("run java");
    let stdout = String::from_utf8(out.stdout).expect("harness prints UTF-8");
    assert!(
        out.status.success(),
        "harness failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), reqs.len(), "one rendering per case");
    lines
        .iter()
        .zip(reqs)
        .map(|(line, r)| {
            let (id, enc) = line.split_once(' ').expect("`ID BASE64`");
            assert_eq!(id, r.id);
            String::from_utf8(B64.decode(enc).expect("base64")).expect("UTF-8 rendering")
        })
        .collect()
}

fn rendered() -> Option<&'static [(Request, String)]> {
    static RENDERED: OnceLock<Vec<(Request, String)>> = OnceLock::new();
    let tools = tools_or_skip()?;
    Some(RENDERED.get_or_init(|| {
        let reqs = requests();
        let out = render(tools, &root().join("vtl/request.vtl"), &reqs);
        reqs.into_iter().zip(out).collect()
    }))
}

// ---------------------------------------------------------------------------------------------
// The proofs

#[test]
fn renderings_are_json_envelopes_carrying_the_request_exactly() {
    let Some(all) = rendered() else { return };
    for (req, text) in all {
        let v: serde_json::Value = serde_json::from_str(text)
            .unwrap_or_else(|e| panic!("{}: not JSON ({e}):\n{text}", req.id));
        let obj = v.as_object().expect("object");
        let s = |k: &str| {
            obj.get(k)
                .and_then(|x| x.as_str())
                .unwrap_or_else(|| panic!("{}: {k} must be a string", req.id))
        };
        assert_eq!(s("v"), "1");
        assert_eq!(
            B64.decode(s("body")).expect("base64 body"),
            req.body.as_bytes(),
            "{}: body bytes",
            req.id
        );
        assert_eq!(s("domainName"), req.domain_name);
        assert_eq!(s("path"), req.path);
        assert_eq!(s("requestId"), req.request_id);
        assert_eq!(s("stage"), req.stage);
        assert_eq!(s("sourceIp"), req.source_ip);
        assert_eq!(s("requestTimeEpoch"), req.request_time_epoch.to_string());
        let map = |k: &str| -> BTreeMap<String, String> {
            obj.get(k)
                .and_then(|x| x.as_object())
                .unwrap_or_else(|| panic!("{}: {k} must be an object", req.id))
                .iter()
                .map(|(k, v)| (k.clone(), v.as_str().expect("string values").to_string()))
                .collect()
        };
        assert_eq!(
            map("headers"),
            req.headers.iter().cloned().collect(),
            "{}: headers",
            req.id
        );
        assert_eq!(
            map("query"),
            req.query.iter().cloned().collect(),
            "{}: query",
            req.id
        );
        let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        assert_eq!(
            keys.len(),
            10,
            "{}: exactly the contract's fields: {keys:?}",
            req.id
        );
    }
}

#[test]
fn huge_body_survives() {
    let Some(all) = rendered() else { return };
    let (req, text) = all.iter().find(|(r, _)| r.id == "huge").expect("huge case");
    assert!(req.body.len() > 200 * 1024, "{}", req.body.len());
    assert!(
        text.len() > req.body.len(),
        "base64 of the whole body is in the rendering"
    );
}

#[test]
fn envelope_parser_reads_every_rendering() {
    let Some(all) = rendered() else { return };
    for (req, text) in all {
        let env =
            Envelope::from_json(text.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", req.id));
        assert_eq!(env.body, req.body.as_bytes(), "{}: body", req.id);
        for (k, v) in &req.headers {
            assert_eq!(
                env.headers.get(k),
                Some(v.as_str()),
                "{}: header {k}",
                req.id
            );
            assert_eq!(
                env.headers.get(&k.to_ascii_lowercase()),
                Some(v.as_str()),
                "{}: header names are case-insensitive",
                req.id
            );
        }
        assert_eq!(
            env.query,
            req.query.iter().cloned().collect::<BTreeMap<_, _>>(),
            "{}: query",
            req.id
        );
        assert_eq!(env.domain_name, req.domain_name);
        assert_eq!(env.path, req.path);
        assert_eq!(env.request_id, req.request_id);
    }
}

#[test]
fn twilio_signature_validates_through_the_rendered_envelope() {
    let Some(all) = rendered() else { return };
    let verifier = Verifier::new(Secret::new(TOKEN), Some(Secret::new(OLD_TOKEN)));
    for (req, text) in all {
        let env =
            Envelope::from_json(text.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", req.id));
        let params = FormParams::parse(&env.body).unwrap_or_else(|e| panic!("{}: {e}", req.id));
        let urls = signature::candidate_urls(None, &env.domain_name, &env.path, &env.query);
        assert!(
            urls.contains(&req.signed_url),
            "{}: {} not among {urls:?}",
            req.id,
            req.signed_url
        );
        let verdict = verifier.verify(env.header(signature::HEADER), &urls, &params);
        let want_slot = if req.id == "previous-token" {
            TokenSlot::Previous
        } else {
            TokenSlot::Primary
        };
        assert!(
            matches!(&verdict, Verdict::Valid { token, .. } if *token == want_slot),
            "{}: {verdict:?}",
            req.id
        );
        // Independent cross-check: the signature module agrees with the algorithm written here.
        let token = if want_slot == TokenSlot::Previous {
            OLD_TOKEN
        } else {
            TOKEN
        };
        assert_eq!(
            signature::sign(token, &req.signed_url, &params),
            twilio_signature(token, &req.signed_url, &req.body)
        );
    }
}

#[test]
fn tampered_body_is_rejected() {
    let Some(all) = rendered() else { return };
    let verifier = Verifier::new(Secret::new(TOKEN), None);
    let (req, text) = all
        .iter()
        .find(|(r, _)| r.id == "quotes")
        .expect("quotes case");
    let env = Envelope::from_json(text.as_bytes()).expect("envelope");
    let tampered = String::from_utf8(env.body.clone())
        .expect("ascii form")
        .replace("roses", "lilies");
    assert_ne!(tampered.as_bytes(), req.body.as_bytes());
    let params = FormParams::parse(tampered.as_bytes()).expect("form");
    let urls = signature::candidate_urls(None, &env.domain_name, &env.path, &env.query);
    let verdict = verifier.verify(env.header(signature::HEADER), &urls, &params);
    assert!(matches!(verdict, Verdict::Mismatch { .. }), "{verdict:?}");
}

#[test]
fn response_template_renders_nothing() {
    let Some(tools) = tools_or_skip() else { return };
    let reqs = requests().into_iter().take(1).collect::<Vec<_>>();
    let out = render(tools, &root().join("vtl/response.vtl"), &reqs);
    assert_eq!(out, [""], "Twilio gets an empty 200");
}

/// `events/` holds renderings a developer can feed to `cargo lambda invoke --data-file`; they are
/// produced by the same template, so they cannot drift from what API Gateway sends.
/// `FLEXLEX_BLESS=1 cargo test --test it vtl::` rewrites them.
#[test]
fn sample_events_are_current_renderings() {
    let Some(tools) = tools_or_skip() else { return };
    let samples = sample_requests();
    let out = render(tools, &root().join("vtl/request.vtl"), &samples);
    let bless = std::env::var_os("FLEXLEX_BLESS").is_some();
    for (req, text) in samples.iter().zip(out) {
        let path = root().join("events").join(format!("{}.json", req.id));
        if bless {
            std::fs::write(&path, &text).expect("write event");
            continue;
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == text,
            "{} is stale; run FLEXLEX_BLESS=1 cargo test --test it vtl::",
            path.display()
        );
    }
}

/// The local sample token: `events/` are signed with it (`TWILIO_AUTH_TOKEN` for local runs).
const SAMPLE_TOKEN: &str = samples::AUTH_TOKEN;

fn sample_requests() -> Vec<Request> {
    let in_conversation =
        |id: &str, conversation: &SampleConversation, author: &str, text: &str| {
            let mut pairs = on_message_added(text, &[]);
            for (k, v) in &mut pairs {
                match k.as_str() {
                    "Author" => *v = author.to_string(),
                    "Attributes" => *v = "{}".to_string(),
                    "ConversationSid" => *v = conversation.conversation.to_string(),
                    "MessageSid" => *v = conversation.message.to_string(),
                    "ParticipantSid" => *v = conversation.participant.to_string(),
                    "WebhookSid" => *v = conversation.webhook.to_string(),
                    _ => {}
                }
            }
            let mut r = build(Shape {
                id,
                pairs,
                signed_query: &BOT,
                map_order: &[0, 1],
                extra_headers: &[],
                token: SAMPLE_TOKEN,
            });
            r.request_id = "c0ffee00-0000-4000-8000-000000000001".to_string();
            r
        };
    let sample =
        |id: &str, author: &str, text: &str| in_conversation(id, &samples::ORDER, author, text);
    let customer = samples::ORDER.author();
    let mut forged = sample(
        "forged-signature",
        &customer,
        "I would like to order some flowers",
    );
    for (k, v) in &mut forged.headers {
        if k == "X-Twilio-Signature" {
            *v = "AAAAAAAAAAAAAAAAAAAAAAAAAAA=".to_string();
        }
    }
    vec![
        sample(
            "order-flowers",
            &customer,
            "I would like to order some flowers",
        ),
        in_conversation(
            "ask-for-agent",
            &samples::AGENT,
            &samples::AGENT.author(),
            "talk to a person",
        ),
        sample(
            "bot-echo",
            "Lex",
            "What type of flowers would you like to order?",
        ),
        forged,
    ]
}

#[test]
fn signatures_here_match_twilios_published_vector() {
    // twilio.md §3.1 worked example, so the independent algorithm above is itself checked.
    let body = form_body(&[
        ("Digits", "1234"),
        ("To", "+18005551212"),
        ("From", "+14158675310"),
        ("Caller", "+14158675310"),
        ("CallSid", "CA1234567890ABCDE"),
    ]);
    assert_eq!(
        twilio_signature("12345", "https://example.com/myapp.php?foo=1&bar=2", &body),
        "L/OH5YylLD5NRKLltdqwSvS0BnU="
    );
}

/// JSON bodies (Studio's *Make HTTP Request* with *Application/JSON*): the same request
/// template renders them, the envelope keeps the bytes, and intake checks `bodySHA256` and the
/// URL-only signature, with the auth token (SHA-1) or a shared key (SHA-256, signed by the
/// emulators' RustCrypto signer, not the product's aws-lc-rs code).
#[test]
fn json_bodies_render_and_validate_with_either_scheme() {
    use flexlex::intake::signature::{Algorithm, Scheme, SharedKey};
    use flexlex::intake::signed;
    use flexlex::outcome::{Outcome, Rejected};
    use flexlex_emulators::webhook::{Signer, url_with_body_hash};

    let Some(tools) = tools_or_skip() else { return };
    let texts = [
        ("json-plain", "I want roses".to_string()),
        (
            "json-tricky",
            r#"she said "roses" \ 'tulips' </script> é 😀 𝄞 \u0041"#.to_string(),
        ),
        (
            "json-controls",
            "line1\nline2\r\n\ttab \u{2028}".to_string(),
        ),
    ];
    let domain_name = "a1b2c3d4e5.execute-api.us-east-1.amazonaws.com".to_string();
    let path = "/prod/webhook".to_string();
    let base = format!("https://{domain_name}{path}?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID");
    let mut reqs = Vec::new();
    for (i, (id, text)) in texts.iter().enumerate() {
        let body = serde_json::json!({
            "EventType": "onStudioHandover",
            "AccountSid": "AC0123456789abcdef0123456789abcdef",
            "ConversationSid": "CH0123456789abcdef0123456789abcdef",
            "Body": text,
        })
        .to_string();
        let signed_url = url_with_body_hash(&base, body.as_bytes());
        let signer = if i % 2 == 0 {
            Signer::AuthToken(TOKEN)
        } else {
            Signer::SharedKey {
                key_id: "KScurrent",
                secret: "vtl-shared-key-secret",
                algorithm: "HMAC_SHA256",
            }
        };
        let mut headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Host".to_string(), domain_name.clone()),
            (
                "X-Twilio-Signature".to_string(),
                signer.sign(&signed_url, &[]),
            ),
        ];
        if let Some(settings) = signer.settings_header() {
            headers.push(("X-Twilio-Webhooks-Signature-Settings".to_string(), settings));
        }
        let hash = signed_url
            .rsplit_once("bodySHA256=")
            .expect("hash")
            .1
            .to_string();
        reqs.push(Request {
            id: id.to_string(),
            body,
            headers,
            // API Gateway's map order, not the signed one.
            query: vec![
                ("bodySHA256".into(), hash),
                ("BotAliasId".into(), "TSTALIASID".into()),
                ("BotId".into(), "FLWRSDEMO1".into()),
            ],
            signed_url,
            domain_name: domain_name.clone(),
            path: path.clone(),
            request_id: format!("c0ffee00-0000-4000-8000-00000000000{i}"),
            stage: "prod".into(),
            source_ip: "198.51.100.7".into(),
            request_time_epoch: 1_793_526_030_123,
        });
    }
    let out = render(tools, &root().join("vtl/request.vtl"), &reqs);
    let verifier = Verifier::new(Secret::new(TOKEN), None).with_shared_keys(
        Some(SharedKey {
            id: Some("KScurrent".into()),
            secret: Secret::new("vtl-shared-key-secret"),
        }),
        None,
    );
    for (i, (req, text)) in reqs.iter().zip(out).enumerate() {
        let env =
            Envelope::from_json(text.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", req.id));
        assert_eq!(env.body, req.body.as_bytes(), "{}: raw bytes kept", req.id);
        let urls = signature::candidate_urls(None, &env.domain_name, &env.path, &env.query);
        assert!(urls.contains(&req.signed_url), "{}", req.id);
        let signed = signed::authenticate(&verifier, &env, &urls)
            .unwrap_or_else(|e| panic!("{}: {e:?}", req.id));
        assert_eq!(signed.url, req.signed_url);
        assert_eq!(signed.params.get("Body"), Some(texts[i].1.as_str()));
        let want = if i % 2 == 0 {
            Scheme::AuthToken(TokenSlot::Primary)
        } else {
            Scheme::SharedKey {
                slot: TokenSlot::Primary,
                algorithm: Algorithm::HmacSha256,
            }
        };
        assert_eq!(signed.scheme, want, "{}", req.id);
        // One byte of the rendered body changed: the hash no longer matches.
        let mut tampered = env.clone();
        tampered.body = String::from_utf8(env.body.clone())
            .expect("utf-8")
            .replace("onStudioHandover", "onStudioHandovex")
            .into_bytes();
        assert!(
            matches!(
                signed::authenticate(&verifier, &tampered, &urls),
                Err(Outcome::Rejected(Rejected::SignatureScheme {
                    code: "body_hash_mismatch",
                    ..
                }))
            ),
            "{}",
            req.id
        );
    }
}
