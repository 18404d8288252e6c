//! The Twilio emulator's address configurations and conversation-scoped webhooks over HTTP:
//! the shapes, enums, required parameters and refusals `connect`, `doctor` and the Studio
//! handover rely on.

use flexlex_emulators::twilio::{CustomerKind, TwilioEmulator};
use serde_json::{Value, json};

const NUMBER: &str = "+15017122661";
const FLOW: &str = "FW0123456789abcdef0123456789abcdef";
const SERVICE: &str = "IS0123456789abcdef0123456789abcdef";

struct Api {
    twilio: TwilioEmulator,
    http: reqwest::Client,
    user: String,
    password: String,
}

impl Api {
    async fn start() -> Self {
        let twilio = TwilioEmulator::start().await.unwrap();
        let (sid, secret) = twilio.add_api_key();
        Self {
            http: flexlex::adapters::http::client(Default::default()).unwrap(),
            twilio,
            user: sid.to_string(),
            password: secret,
        }
    }

    async fn send(&self, method: &str, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let url = format!("{}{path}", self.twilio.base_url());
        let mut request = self
            .http
            .request(method.parse().unwrap(), url)
            .basic_auth(&self.user, Some(&self.password));
        if method == "POST" {
            request = request.form(form);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, body)
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        self.send("POST", path, form).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send("GET", path, &[]).await
    }
}

fn error(status: u16, code: u32, message: &str) -> Value {
    json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    })
}

#[tokio::test]
async fn address_configurations_are_created_fetched_updated_listed_and_deleted() {
    let api = Api::start().await;
    api.twilio.own_number(NUMBER);
    let (status, created) = api
        .post(
            "/v1/Configuration/Addresses",
            &[
                ("Type", "sms"),
                ("Address", NUMBER),
                ("FriendlyName", "bot"),
                ("AddressCountry", "ca"),
                ("AutoCreation.Enabled", "true"),
                ("AutoCreation.Type", "webhook"),
                ("AutoCreation.ConversationServiceSid", SERVICE),
                (
                    "AutoCreation.WebhookUrl",
                    "https://example.com/webhook?BotId=A",
                ),
                ("AutoCreation.WebhookMethod", "post"),
                ("AutoCreation.WebhookFilters", "onParticipantAdded"),
                ("AutoCreation.WebhookFilters", "onMessageAdded"),
            ],
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let sid = created["sid"].as_str().unwrap().to_owned();
    let base = api.twilio.base_url();
    assert_eq!(
        created,
        json!({
            "account_sid": api.twilio.account_sid().to_string(),
            "sid": sid,
            "address": NUMBER,
            "type": "sms",
            "friendly_name": "bot",
            "address_country": "CA",
            "auto_creation": {
                "enabled": true,
                "type": "webhook",
                "conversation_service_sid": SERVICE,
                "webhook_url": "https://example.com/webhook?BotId=A",
                "webhook_method": "POST",
                "webhook_filters": ["onParticipantAdded", "onMessageAdded"],
            },
            "date_created": created["date_created"],
            "date_updated": created["date_updated"],
            "url": format!("{base}/v1/Configuration/Addresses/{sid}"),
        })
    );
    assert!(sid.starts_with("IG") && sid.len() == 34);

    // The SID or the address itself names the resource.
    let (status, fetched) = api.get("/v1/Configuration/Addresses/%2B15017122661").await;
    assert_eq!((status, &fetched), (200, &created));

    // Type and Address cannot change; a studio integration needs its flow.
    let path = format!("/v1/Configuration/Addresses/{sid}");
    let (status, body) = api.post(&path, &[("Type", "whatsapp")]).await;
    assert_eq!(
        (status, body),
        (400, error(400, 20001, "Unknown parameter: Type"))
    );
    let (status, body) = api.post(&path, &[("AutoCreation.Type", "studio")]).await;
    assert_eq!(
        (status, body),
        (
            400,
            error(
                400,
                20001,
                "AutoCreation.StudioFlowSid is required when AutoCreation.Type is studio"
            )
        )
    );
    let (status, updated) = api
        .post(
            &path,
            &[
                ("AutoCreation.Type", "studio"),
                ("AutoCreation.StudioFlowSid", FLOW),
                ("AutoCreation.StudioRetryCount", "3"),
            ],
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        updated["auto_creation"],
        json!({
            "enabled": true,
            "type": "studio",
            "conversation_service_sid": SERVICE,
            "studio_flow_sid": FLOW,
            "studio_retry_count": 3,
        })
    );

    // Paging: 50 at most, next_page_url until the last page; Type filters.
    api.twilio.own_number("+15017122662");
    let (status, _) = api
        .post(
            "/v1/Configuration/Addresses",
            &[("Type", "whAtsAPP"), ("Address", "whatsapp:+15017122662")],
        )
        .await;
    assert_eq!(status, 201);
    let (status, page) = api.get("/v1/Configuration/Addresses?PageSize=1").await;
    assert_eq!(status, 200);
    assert_eq!(page["address_configurations"][0]["sid"], sid.as_str());
    assert_eq!(
        page["meta"],
        json!({
            "page": 0,
            "page_size": 1,
            "first_page_url": format!("{base}/v1/Configuration/Addresses?PageSize=1&Page=0"),
            "previous_page_url": null,
            "url": format!("{base}/v1/Configuration/Addresses?PageSize=1&Page=0"),
            "next_page_url": format!("{base}/v1/Configuration/Addresses?PageSize=1&Page=1&PageToken=PT1"),
            "key": "address_configurations",
        })
    );
    let (_, last) = api
        .get("/v1/Configuration/Addresses?PageSize=1&Page=1&PageToken=PT1")
        .await;
    assert_eq!(last["address_configurations"][0]["type"], "whAtsAPP");
    assert_eq!(
        last["address_configurations"][0]["auto_creation"],
        json!({"enabled": false, "type": "default"})
    );
    assert_eq!(last["meta"]["next_page_url"], Value::Null);
    let (_, filtered) = api.get("/v1/Configuration/Addresses?Type=whatsapp").await;
    assert_eq!(
        filtered["address_configurations"].as_array().unwrap().len(),
        1
    );
    let (status, body) = api.get("/v1/Configuration/Addresses?PageSize=51").await;
    assert_eq!(
        (status, body),
        (400, error(400, 20001, "PageSize must be between 1 and 50"))
    );
    let (status, body) = api.get("/v1/Configuration/Addresses?Limit=5").await;
    assert_eq!(
        (status, body),
        (400, error(400, 20001, "Unknown query parameter Limit"))
    );

    // Delete, then it is gone.
    let (status, body) = api.send("DELETE", &path, &[]).await;
    assert_eq!((status, body), (204, Value::Null));
    let (status, body) = api.get(&path).await;
    assert_eq!(
        (status, body),
        (
            404,
            error(
                404,
                20404,
                &format!("The requested resource /Configuration/Addresses/{sid} was not found")
            )
        )
    );
}

#[tokio::test]
async fn address_configurations_are_refused_as_twilio_would() {
    let api = Api::start().await;
    api.twilio.own_number(NUMBER);
    let create = "/v1/Configuration/Addresses";
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("Address", NUMBER)],
            "Missing required parameter Type in the post body",
        ),
        (
            vec![("Type", "sms")],
            "Missing required parameter Address in the post body",
        ),
        (
            vec![("Type", "web"), ("Address", NUMBER)],
            "Invalid Type `web`: must be one of sms, whatsapp, messenger, gbm, email, rcs, apple, chat",
        ),
        (
            vec![("Type", "sms"), ("Address", "+15550009999")],
            "Address +15550009999 is not a phone number or sender of this account",
        ),
        (
            vec![("Type", "sms"), ("Address", "5017122661")],
            "Address 5017122661 is not a phone number in E.164 format",
        ),
        (
            vec![("Type", "whatsapp"), ("Address", NUMBER)],
            "Address +15017122661 is not a WhatsApp address: expected whatsapp:+<number>",
        ),
        (
            vec![
                ("Type", "sms"),
                ("Address", NUMBER),
                ("AutoCreation.Type", "webhook"),
            ],
            "AutoCreation.WebhookUrl is required when AutoCreation.Type is webhook",
        ),
        (
            vec![
                ("Type", "sms"),
                ("Address", NUMBER),
                ("AutoCreation.WebhookFilters", "onMessageSent"),
            ],
            "Invalid AutoCreation.WebhookFilters value `onMessageSent`: must be one of onMessageAdded, onMessageUpdated, onMessageRemoved, onConversationUpdated, onConversationStateUpdated, onConversationRemoved, onParticipantAdded, onParticipantUpdated, onParticipantRemoved, onDeliveryUpdated",
        ),
        (
            vec![
                ("Type", "sms"),
                ("Address", NUMBER),
                ("AutoCreation.WebhookMethod", "PUT"),
            ],
            "Invalid AutoCreation.WebhookMethod `PUT`: must be one of get, post",
        ),
        (
            vec![
                ("Type", "sms"),
                ("Address", NUMBER),
                ("AutoCreation.Enabled", "yes"),
            ],
            "AutoCreation.Enabled must be a boolean (true or false)",
        ),
        (
            vec![
                ("Type", "sms"),
                ("Address", NUMBER),
                ("AutoCreation.ConversationServiceSid", "IS123"),
            ],
            "AutoCreation.ConversationServiceSid: `IS123` is not a valid IS SID",
        ),
        (
            vec![("Type", "sms"), ("Type", "sms"), ("Address", NUMBER)],
            "Parameter Type was given more than once",
        ),
    ];
    for (form, message) in cases {
        let (got, body) = api.post(create, &form).await;
        assert_eq!((got, body), (400, error(400, 20001, message)), "{form:?}");
    }
    assert!(api.twilio.address_configurations().is_empty());

    let (status, created) = api
        .post(create, &[("Type", "sms"), ("Address", NUMBER)])
        .await;
    assert_eq!(status, 201);
    let (status, body) = api
        .post(create, &[("Type", "sms"), ("Address", NUMBER)])
        .await;
    assert_eq!(
        (status, body),
        (
            409,
            error(
                409,
                20001,
                &format!(
                    "An address configuration for {NUMBER} already exists ({})",
                    created["sid"].as_str().unwrap()
                )
            )
        )
    );

    // Bad credentials: 401 with Twilio's challenge.
    let response = api
        .http
        .get(format!("{}{create}", api.twilio.base_url()))
        .basic_auth(&api.user, Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["www-authenticate"],
        "Basic realm=\"Twilio API\""
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        error(401, 20003, "Authenticate")
    );
}

#[tokio::test]
async fn studio_webhooks_can_be_listed_replaced_by_the_bots_and_are_bounded() {
    let api = Api::start().await;
    let seeded = api.twilio.create_studio_conversation(
        CustomerKind::Sms {
            address: "+15558675310".into(),
        },
        FLOW,
    );
    let conversation = seeded.conversation.to_string();
    let list = format!("/v1/Conversations/{conversation}/Webhooks");
    let base = api.twilio.base_url();

    let (status, page) = api.get(&list).await;
    assert_eq!(status, 200);
    assert_eq!(
        page,
        json!({
            "meta": {
                "page": 0,
                "page_size": 5,
                "first_page_url": format!("{base}{list}?PageSize=5&Page=0"),
                "previous_page_url": null,
                "url": format!("{base}{list}?PageSize=5&Page=0"),
                "next_page_url": null,
                "key": "webhooks",
            },
            "webhooks": [{
                "account_sid": api.twilio.account_sid().to_string(),
                "conversation_sid": conversation,
                "sid": seeded.webhook.to_string(),
                "target": "studio",
                "configuration": { "flow_sid": FLOW },
                "date_created": page["webhooks"][0]["date_created"],
                "date_updated": page["webhooks"][0]["date_updated"],
                "url": format!("{base}{list}/{}", seeded.webhook),
            }],
        })
    );

    // Replace the flow by the bot: delete the studio webhook, add the bot's with ReplayAfter.
    let (status, _) = api
        .send("DELETE", &format!("{list}/{}", seeded.webhook), &[])
        .await;
    assert_eq!(status, 204);
    let (status, created) = api
        .post(
            &list,
            &[
                ("Target", "webhook"),
                (
                    "Configuration.Url",
                    "https://example.com/webhook?BotId=ABCDEFGHIJ",
                ),
                ("Configuration.Method", "POST"),
                ("Configuration.Filters", "onMessageAdded"),
                ("Configuration.ReplayAfter", "0"),
            ],
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["target"], "webhook");
    assert_eq!(
        created["configuration"],
        json!({
            "url": "https://example.com/webhook?BotId=ABCDEFGHIJ",
            "method": "post",
            "filters": ["onMessageAdded"],
            "replay_after": 0,
        })
    );
    let webhooks = api.twilio.scoped_webhooks(&seeded.conversation);
    assert_eq!(webhooks.len(), 1);
    assert_eq!(webhooks[0].sid.as_str(), created["sid"].as_str().unwrap());
    let (status, fetched) = api
        .get(&format!("{list}/{}", created["sid"].as_str().unwrap()))
        .await;
    assert_eq!((status, &fetched), (200, &created));

    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("Configuration.Url", "https://x.example")],
            "Missing required parameter Target in the post body",
        ),
        (
            vec![("Target", "flow")],
            "Invalid Target `flow`: must be one of webhook, trigger, studio",
        ),
        (
            vec![("Target", "studio")],
            "Configuration.FlowSid is required when Target is studio",
        ),
        (
            vec![
                ("Target", "studio"),
                ("Configuration.FlowSid", FLOW),
                ("Configuration.Url", "https://x.example"),
            ],
            "Configuration.Url is not used when Target is studio",
        ),
        (
            vec![
                ("Target", "webhook"),
                ("Configuration.FlowSid", FLOW),
                ("Configuration.Url", "https://x.example"),
            ],
            "Configuration.FlowSid is only used when Target is studio",
        ),
        (
            vec![("Target", "webhook")],
            "Configuration.Url is required when Target is webhook",
        ),
        (
            vec![("Target", "studio"), ("Configuration.FlowSid", "FW1")],
            "Configuration.FlowSid: `FW1` is not a valid FW SID",
        ),
        (
            vec![
                ("Target", "studio"),
                ("Configuration.FlowSid", FLOW),
                ("Configuration.ReplayAfter", "-1"),
            ],
            "Configuration.ReplayAfter must be a non-negative integer",
        ),
    ];
    for (form, message) in cases {
        let (status, body) = api.post(&list, &form).await;
        assert_eq!(
            (status, body),
            (400, error(400, 20001, message)),
            "{form:?}"
        );
    }

    // Five at most.
    for _ in 0..4 {
        let (status, _) = api
            .post(
                &list,
                &[("Target", "studio"), ("Configuration.FlowSid", FLOW)],
            )
            .await;
        assert_eq!(status, 201);
    }
    let (status, body) = api
        .post(
            &list,
            &[("Target", "studio"), ("Configuration.FlowSid", FLOW)],
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            error(
                400,
                20001,
                &format!(
                    "Conversation {conversation} already has 5 scoped webhooks, the most it can have"
                )
            )
        )
    );
    let (status, body) = api.get(&format!("{list}?PageSize=6")).await;
    assert_eq!(
        (status, body),
        (400, error(400, 20001, "PageSize must be between 1 and 5"))
    );

    // A closed conversation takes no new webhook; an unknown one is 404.
    let (status, _) = api
        .post(
            &format!("/v1/Conversations/{conversation}"),
            &[("State", "closed")],
        )
        .await;
    assert_eq!(status, 200);
    let (_, first) = api.get(&list).await;
    let first = first["webhooks"][0]["sid"].as_str().unwrap().to_owned();
    api.send("DELETE", &format!("{list}/{first}"), &[]).await;
    let (status, body) = api
        .post(
            &list,
            &[("Target", "studio"), ("Configuration.FlowSid", FLOW)],
        )
        .await;
    assert_eq!(
        (status, body),
        (
            400,
            error(
                400,
                50377,
                "Can't update conversation as it's in final closed state"
            )
        )
    );
    let (status, _) = api
        .get("/v1/Conversations/CH00000000000000000000000000000000/Webhooks")
        .await;
    assert_eq!(status, 404);
}
