//! The Flex Interactions lifecycle through the emulator's request handler: Interactions
//! webhooks, an Interaction with its channel, parking, invites, Flex's Leave, and the events
//! each step queues.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, Request, header};
use base64::Engine as _;
use serde_json::{Value, json};

use super::{ChannelStatus, CustomerKind, OutgoingEvent, SeededConversation, TwilioEmulator};
use crate::sid::Sid;
use crate::webhook;

struct Flex {
    twilio: TwilioEmulator,
    conversation: SeededConversation,
}

impl Flex {
    async fn start() -> Self {
        let twilio = TwilioEmulator::start().await.unwrap();
        let conversation = twilio.create_conversation(CustomerKind::Whatsapp {
            address: "+15550001111".into(),
        });
        Self {
            twilio,
            conversation,
        }
    }

    /// Sends one request through the emulator's handler; the answer's status and JSON body.
    async fn call(&self, method: Method, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let credentials = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.twilio.account_sid(),
            self.twilio.auth_token()
        ));
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::AUTHORIZATION, format!("Basic {credentials}"))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(axum::body::Body::from(body))
            .unwrap();
        let response = super::routes::handle(State(Arc::clone(&self.twilio.shared)), request).await;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }

    fn webhooks_path(&self) -> String {
        format!(
            "/v1/Instances/{}/InteractionWebhooks",
            self.twilio.flex_instance_sid()
        )
    }

    async fn register(&self, kind: &str, url: &str, events: &[&str]) -> Value {
        let mut form = vec![
            ("Type", kind),
            ("WebhookUrl", url),
            ("WebhookMethod", "POST"),
        ];
        form.extend(events.iter().map(|e| ("WebhookEvents", *e)));
        let (status, body) = self.call(Method::POST, &self.webhooks_path(), &form).await;
        assert_eq!(status, 201, "{body}");
        body
    }

    fn channel_json(&self) -> String {
        json!({
            "type": "whatsapp",
            "initiated_by": "customer",
            "properties": { "media_channel_sid": self.conversation.conversation.as_str() },
        })
        .to_string()
    }

    /// Creates an Interaction for the conversation; its SID and its channel's.
    async fn interaction(&self, ttid: Option<&str>) -> (Sid, Sid) {
        let channel = self.channel_json();
        let routing = routing_json();
        let mut form = vec![("Channel", channel.as_str()), ("Routing", routing.as_str())];
        form.extend(ttid.map(|t| ("WebhookTtid", t)));
        let (status, body) = self.call(Method::POST, "/v1/Interactions", &form).await;
        assert_eq!(status, 201, "{body}");
        let sid = Sid::parse("KD", body["sid"].as_str().unwrap()).unwrap();
        let channel = Sid::parse("UO", body["channel"]["sid"].as_str().unwrap()).unwrap();
        (sid, channel)
    }
}

fn routing_json() -> String {
    json!({
        "properties": {
            "workspace_sid": Sid::random("WS"),
            "workflow_sid": Sid::random("WW"),
            "task_channel_unique_name": "chat",
            "attributes": { "from": "bot" },
        }
    })
    .to_string()
}

/// Who got which event, as `(url, EventType)`.
fn deliveries(events: &[OutgoingEvent]) -> Vec<(String, String)> {
    events
        .iter()
        .map(|e| {
            (
                e.url.clone(),
                e.param("EventType").unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

fn pair(url: &str, event: &str) -> (String, String) {
    (url.to_owned(), event.to_owned())
}

const OWN: &str = "https://bot.example.com/interactions";
const GLOBAL: &str = "https://ops.example.com/all";

#[tokio::test]
async fn interaction_webhooks_register_list_fetch_and_delete() {
    let flex = Flex::start().await;
    let path = flex.webhooks_path();
    let created = flex
        .register(
            "interaction",
            OWN,
            &["onParticipantLeft", "onChannelStatusUpdated"],
        )
        .await;
    let ttid = created["ttid"].as_str().unwrap().to_owned();
    assert!(ttid.starts_with("flex_interactionwebhook_"));
    assert_eq!(created["type"], "interaction");
    assert_eq!(created["account_sid"], flex.twilio.account_sid().as_str());
    assert_eq!(
        created["instance_sid"],
        flex.twilio.flex_instance_sid().as_str()
    );
    assert_eq!(created["webhook_url"], OWN);
    assert_eq!(created["webhook_method"], "POST");
    assert_eq!(
        created["webhook_events"],
        json!(["onParticipantLeft", "onChannelStatusUpdated"])
    );
    assert!(
        created["url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("{path}/{ttid}"))
    );
    // Type defaults to global, as the docs' table says.
    let (status, global) = flex
        .call(
            Method::POST,
            &path,
            &[
                ("WebhookUrl", GLOBAL),
                ("WebhookMethod", "get"),
                ("WebhookEvents", "onInteractionCreated"),
                ("FriendlyName", "ops"),
            ],
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(global["type"], "global");
    assert_eq!(global["webhook_method"], "GET");
    assert_eq!(global["friendly_name"], "ops");

    let (status, page) = flex.call(Method::GET, &path, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(page["meta"]["key"], "data");
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    let (_, only) = flex
        .call(Method::GET, &format!("{path}?type=interaction"), &[])
        .await;
    assert_eq!(only["data"].as_array().unwrap().len(), 1);
    assert_eq!(only["data"][0]["ttid"], ttid.as_str());

    let (status, fetched) = flex.call(Method::GET, &format!("{path}/{ttid}"), &[]).await;
    assert_eq!((status, &fetched["ttid"]), (200, &json!(ttid)));
    let (status, updated) = flex
        .call(
            Method::POST,
            &format!("{path}/{ttid}"),
            &[("WebhookEvents", "onParticipantJoined")],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(updated["webhook_events"], json!(["onParticipantJoined"]));
    assert_eq!(updated["webhook_url"], OWN);

    let (status, _) = flex
        .call(Method::DELETE, &format!("{path}/{ttid}"), &[])
        .await;
    assert_eq!(status, 204);
    let (status, _) = flex.call(Method::GET, &format!("{path}/{ttid}"), &[]).await;
    assert_eq!(status, 404);
    assert_eq!(flex.twilio.interaction_webhooks().len(), 1);
}

#[tokio::test]
async fn interaction_webhooks_refuse_what_twilio_would() {
    let flex = Flex::start().await;
    let path = flex.webhooks_path();
    let good = [
        ("Type", "interaction"),
        ("WebhookUrl", OWN),
        ("WebhookMethod", "POST"),
        ("WebhookEvents", "onParticipantLeft"),
    ];
    let without = |name: &str| -> Vec<(&str, &str)> {
        good.iter().copied().filter(|(k, _)| *k != name).collect()
    };
    let with = |name: &'static str, value: &'static str| -> Vec<(&'static str, &'static str)> {
        let mut form: Vec<(&str, &str)> =
            good.iter().copied().filter(|(k, _)| *k != name).collect();
        form.push((name, value));
        form
    };
    let cases: Vec<Vec<(&str, &str)>> = vec![
        without("WebhookUrl"),
        without("WebhookMethod"),
        without("WebhookEvents"),
        with("Type", "conversation"),
        with("WebhookUrl", "ftp://example.com/x"),
        with("WebhookMethod", "PUT"),
        with("WebhookEvents", "onMessageAdded"),
        // The docs' table names, which its examples do not use.
        [good.as_slice(), &[("Filters", "onParticipantLeft")]].concat(),
        [good.as_slice(), &[("Method", "POST")]].concat(),
        [good.as_slice(), &[("Type", "global")]].concat(),
    ];
    for form in cases {
        let (status, body) = flex.call(Method::POST, &path, &form).await;
        assert_eq!(status, 400, "{form:?} -> {body}");
        assert_eq!(body["code"], 20001);
    }
    let elsewhere = format!("/v1/Instances/{}/InteractionWebhooks", Sid::random("GO"));
    assert_eq!(flex.call(Method::POST, &elsewhere, &good).await.0, 404);
    assert_eq!(flex.call(Method::GET, &elsewhere, &[]).await.0, 404);
    assert_eq!(
        flex.call(
            Method::GET,
            &format!("{path}/flex_interactionwebhook_x"),
            &[]
        )
        .await
        .0,
        404
    );
    assert_eq!(
        flex.call(Method::GET, &format!("{path}?type=x"), &[])
            .await
            .0,
        400
    );
    assert!(flex.twilio.interaction_webhooks().is_empty());
    // Every request is recorded with its answer.
    assert!(flex.twilio.requests().iter().all(|r| r.status >= 400));
}

#[tokio::test]
async fn webhook_ttid_must_name_an_interaction_webhook() {
    let flex = Flex::start().await;
    let global = flex
        .register("global", GLOBAL, &["onInteractionCreated"])
        .await;
    let channel = flex.channel_json();
    let routing = routing_json();
    for ttid in [
        "flex_interactionwebhook_unknown",
        global["ttid"].as_str().unwrap(),
    ] {
        let form = [
            ("Channel", channel.as_str()),
            ("Routing", routing.as_str()),
            ("WebhookTtid", ttid),
        ];
        let (status, body) = flex.call(Method::POST, "/v1/Interactions", &form).await;
        assert_eq!(status, 400, "{body}");
    }
    assert!(flex.twilio.interactions().is_empty());
    assert!(flex.twilio.take_events().is_empty());
}

#[tokio::test]
async fn an_interaction_stores_its_channel_and_customer() {
    let flex = Flex::start().await;
    let own = flex
        .register("interaction", OWN, &["onInteractionCreated"])
        .await;
    let ttid = own["ttid"].as_str().unwrap();
    let (interaction, channel) = flex.interaction(Some(ttid)).await;
    let [recorded] = flex.twilio.interactions().try_into().unwrap();
    assert_eq!(recorded.channel_sid, channel);
    assert_eq!(recorded.webhook_ttid.as_deref(), Some(ttid));
    assert_eq!(
        flex.twilio.channel_status(&interaction),
        Some(ChannelStatus::Active)
    );

    let channel_path = format!("/v1/Interactions/{interaction}/Channels/{channel}");
    let (status, body) = flex.call(Method::GET, &channel_path, &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body["sid"], channel.as_str());
    assert_eq!(body["interaction_sid"], interaction.as_str());
    assert_eq!(body["type"], "whatsapp");
    assert_eq!(body["status"], "active");

    let (status, page) = flex
        .call(Method::GET, &format!("{channel_path}/Participants"), &[])
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["meta"]["key"], "participants");
    let [customer] = page["participants"]
        .as_array()
        .unwrap()
        .clone()
        .try_into()
        .unwrap();
    assert_eq!(customer["type"], "customer");
    assert!(customer["sid"].as_str().unwrap().starts_with("UT"));
    assert_eq!(customer["channel_sid"], channel.as_str());

    let (other, other_channel) = flex.interaction(None).await;
    for path in [
        format!("/v1/Interactions/{interaction}/Channels/{other_channel}"),
        format!("/v1/Interactions/{other}/Channels/{channel}/Participants"),
        format!("/v1/Interactions/{}/Channels/{channel}", Sid::random("KD")),
        format!(
            "/v1/Interactions/{interaction}/Channels/{}",
            Sid::random("UO")
        ),
    ] {
        assert_eq!(flex.call(Method::GET, &path, &[]).await.0, 404, "{path}");
    }
}

#[tokio::test]
async fn events_go_to_subscribed_webhooks_only_and_verify() {
    let flex = Flex::start().await;
    let own = flex
        .register(
            "interaction",
            OWN,
            &["onInteractionCreated", "onParticipantLeft"],
        )
        .await;
    flex.register("global", GLOBAL, &["onChannelCreated", "onParticipantLeft"])
        .await;
    let other = flex
        .register(
            "interaction",
            "https://other.example.com/x",
            &["onInteractionCreated"],
        )
        .await;
    let (interaction, channel) = flex.interaction(own["ttid"].as_str()).await;
    let events = flex.twilio.take_events();
    assert_eq!(
        deliveries(&events),
        vec![
            pair(OWN, "onInteractionCreated"),
            pair(GLOBAL, "onChannelCreated")
        ]
    );
    let created = &events[1];
    let names: Vec<&str> = created.params.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "EventType",
            "AccountSid",
            "InstanceSid",
            "InteractionSid",
            "ChannelSid",
            "MediaChannelSid",
            "MediaChannelType"
        ]
    );
    assert_eq!(
        created.param("InstanceSid"),
        Some(flex.twilio.flex_instance_sid().as_str())
    );
    assert_eq!(created.param("ChannelSid"), Some(channel.as_str()));
    assert_eq!(
        created.param("MediaChannelSid"),
        Some(flex.conversation.conversation.as_str())
    );
    for event in &events {
        assert_eq!(event.method, "POST");
        assert_eq!(
            event.signature,
            webhook::signature(&flex.twilio.auth_token(), &event.url, &event.params)
        );
        assert_ne!(
            event.signature,
            webhook::signature("not-the-token", &event.url, &event.params)
        );
    }
    // The other interaction webhook hears nothing of this Interaction.
    assert!(events.iter().all(|e| e.url != other["webhook_url"]));

    // A deleted webhook hears nothing more.
    let (status, _) = flex
        .call(
            Method::DELETE,
            &format!("{}/{}", flex.webhooks_path(), own["ttid"].as_str().unwrap()),
            &[],
        )
        .await;
    assert_eq!(status, 204);
    flex.twilio.agent_joins(&interaction).unwrap();
    flex.twilio.agent_leaves(&interaction).unwrap();
    assert_eq!(
        deliveries(&flex.twilio.take_events()),
        vec![pair(GLOBAL, "onParticipantLeft")]
    );
}

#[tokio::test]
async fn get_webhooks_are_signed_over_the_url_with_its_query() {
    let flex = Flex::start().await;
    let (status, own) = flex
        .call(
            Method::POST,
            &flex.webhooks_path(),
            &[
                ("Type", "interaction"),
                ("WebhookUrl", "https://bot.example.com/flex?stage=prod"),
                ("WebhookMethod", "GET"),
                ("WebhookEvents", "onInteractionCreated"),
            ],
        )
        .await;
    assert_eq!(status, 201);
    flex.interaction(own["ttid"].as_str()).await;
    let [event] = flex.twilio.take_events().try_into().unwrap();
    let url = event.request_url();
    assert!(
        url.starts_with("https://bot.example.com/flex?stage=prod&EventType=onInteractionCreated&")
    );
    assert_eq!(
        event.signature,
        webhook::signature(&flex.twilio.auth_token(), &url, &[])
    );
    let envelope = event.envelope().unwrap();
    assert_eq!(
        envelope["headers"]["X-Twilio-Signature"],
        event.signature.as_str()
    );
    assert_eq!(envelope["query"]["EventType"], "onInteractionCreated");
}

#[tokio::test]
async fn parking_removes_the_agent_and_tells_the_interaction() {
    let flex = Flex::start().await;
    let own = flex
        .register(
            "interaction",
            OWN,
            &[
                "onParticipantJoined",
                "onParticipantLeft",
                "onChannelStatusUpdated",
            ],
        )
        .await;
    let (interaction, channel) = flex.interaction(own["ttid"].as_str()).await;
    flex.twilio.take_events();
    let agent = flex.twilio.agent_joins(&interaction).unwrap();
    // One task was waiting; a second worker has nothing to accept.
    assert_eq!(flex.twilio.agent_joins(&interaction), None);
    let [joined] = flex.twilio.take_events().try_into().unwrap();
    assert_eq!(joined.param("EventType"), Some("onParticipantJoined"));
    assert_eq!(joined.param("ParticipantSid"), Some(agent.as_str()));
    assert_eq!(joined.param("ParticipantType"), Some("agent"));
    assert!(joined.param("TaskSid").unwrap().starts_with("WT"));
    assert_eq!(joined.param("InstanceSid"), None);

    let base = format!("/v1/Interactions/{interaction}/Channels/{channel}/Participants");
    let (_, page) = flex.call(Method::GET, &base, &[]).await;
    let listed = &page["participants"][1];
    assert_eq!(listed["type"], "agent");
    assert_eq!(
        listed["routing_properties"]["task_sid"],
        joined.param("TaskSid").unwrap()
    );

    let agent_path = format!("{base}/{agent}");
    for form in [
        vec![("Status", "gone")],
        vec![],
        vec![("Status", "closed"), ("Extra", "1")],
    ] {
        assert_eq!(
            flex.call(Method::POST, &agent_path, &form).await.0,
            400,
            "{form:?}"
        );
    }
    assert_eq!(
        flex.call(
            Method::POST,
            &format!("{base}/{}", Sid::random("UT")),
            &[("Status", "closed")]
        )
        .await
        .0,
        404
    );
    let (status, body) = flex
        .call(Method::POST, &agent_path, &[("Status", "closed")])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sid"], agent.as_str());
    let participants = flex.twilio.interaction_participants(&interaction);
    assert_eq!(participants.len(), 1);
    assert_eq!(participants[0].kind, "customer");
    // Parking leaves the channel active.
    assert_eq!(
        flex.twilio.channel_status(&interaction),
        Some(ChannelStatus::Active)
    );
    let [left] = flex.twilio.take_events().try_into().unwrap();
    assert_eq!(left.url, OWN);
    assert_eq!(left.param("EventType"), Some("onParticipantLeft"));
    assert_eq!(left.param("ParticipantSid"), Some(agent.as_str()));
    assert_eq!(left.param("ParticipantType"), Some("agent"));
    assert_eq!(left.param("MediaChannelType"), Some("whatsapp"));
    assert_eq!(
        left.signature,
        webhook::signature(&flex.twilio.auth_token(), OWN, &left.params)
    );
}

#[tokio::test]
async fn invites_make_a_task_and_need_an_open_channel() {
    let flex = Flex::start().await;
    let (interaction, channel) = flex.interaction(None).await;
    flex.twilio.agent_joins(&interaction).unwrap();
    flex.twilio.agent_leaves(&interaction).unwrap();
    let path = format!("/v1/Interactions/{interaction}/Channels/{channel}/Invites");
    let bad = [
        json!({}),
        json!({ "properties": { "workflow_sid": Sid::random("WW") } }),
        json!({ "properties": { "workspace_sid": Sid::random("WW") } }),
        json!({ "properties": { "workspace_sid": Sid::random("WS"), "attributes": "{}" } }),
        json!({ "properties": { "workspace_sid": Sid::random("WS"), "worker_sid": "WKx" } }),
        json!({ "properties": { "workspace_sid": Sid::random("WS"), "queue_sid": Sid::random("WW") } }),
    ];
    for routing in bad {
        let form = [("Routing", routing.to_string())];
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(
            flex.call(Method::POST, &path, &form).await.0,
            400,
            "{routing}"
        );
    }
    assert_eq!(
        flex.call(Method::POST, &path, &[("Routing", "not json")])
            .await
            .0,
        400
    );
    assert_eq!(flex.call(Method::POST, &path, &[]).await.0, 400);
    assert_eq!(flex.twilio.agent_joins(&interaction), None);

    let routing = json!({
        "properties": {
            "workspace_sid": Sid::random("WS"),
            "workflow_sid": Sid::random("WW"),
            "task_channel_unique_name": "chat",
            "attributes": { "customerName": "Ann" },
            "worker_sid": Sid::random("WK"),
            "queue_sid": Sid::random("WQ"),
        }
    });
    let (status, body) = flex
        .call(Method::POST, &path, &[("Routing", &routing.to_string())])
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(body["sid"].as_str().unwrap().starts_with("KG"));
    assert_eq!(body["channel_sid"], channel.as_str());
    let [invite] = flex.twilio.invites().try_into().unwrap();
    assert_eq!(invite.routing, routing);
    assert_eq!(body["routing"]["properties"]["sid"], invite.task.as_str());
    let agent = flex.twilio.agent_joins(&interaction).unwrap();
    assert_eq!(
        flex.twilio.channel_status(&interaction),
        Some(ChannelStatus::Active)
    );
    let participants = flex.twilio.interaction_participants(&interaction);
    assert_eq!(participants[1].sid, agent);
    assert_eq!(participants[1].task.as_ref(), Some(&invite.task));

    // Closed: no more invites or updates.
    let channel_path = format!("/v1/Interactions/{interaction}/Channels/{channel}");
    let (status, _) = flex
        .call(Method::POST, &channel_path, &[("Status", "closed")])
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        flex.twilio
            .conversation_state(&flex.conversation.conversation)
            .as_deref(),
        Some("closed")
    );
    let (status, body) = flex
        .call(Method::POST, &path, &[("Routing", &routing.to_string())])
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(flex.twilio.invites().len(), 1);
    let inactive = [
        ("Status", "inactive"),
        ("Routing", r#"{"status":"closed"}"#),
    ];
    assert_eq!(
        flex.call(Method::POST, &channel_path, &inactive).await.0,
        400
    );
    assert!(!flex.twilio.pause_channel(&interaction));
    assert_eq!(flex.twilio.agent_leaves(&interaction), None);
}

#[tokio::test]
async fn channel_updates_and_flex_actions_report_their_status() {
    let flex = Flex::start().await;
    let own = flex
        .register(
            "interaction",
            OWN,
            &["onChannelStatusUpdated", "onParticipantLeft"],
        )
        .await;
    let (interaction, channel) = flex.interaction(own["ttid"].as_str()).await;
    let path = format!("/v1/Interactions/{interaction}/Channels/{channel}");
    for form in [
        vec![("Status", "inactive")],
        vec![("Status", "pause"), ("Routing", r#"{"status":"closed"}"#)],
        vec![("Status", "inactive"), ("Routing", r#"{"status":"done"}"#)],
        vec![("Routing", r#"{"status":"closed"}"#)],
    ] {
        assert_eq!(
            flex.call(Method::POST, &path, &form).await.0,
            400,
            "{form:?}"
        );
    }
    let (status, body) = flex
        .call(
            Method::POST,
            &path,
            &[
                ("Status", "inactive"),
                ("Routing", r#"{"status":"wrapup"}"#),
            ],
        )
        .await;
    assert_eq!((status, &body["status"]), (200, &json!("inactive")));
    let [updated] = flex.twilio.take_events().try_into().unwrap();
    assert_eq!(updated.param("EventType"), Some("onChannelStatusUpdated"));
    assert_eq!(updated.param("ChannelStatus"), Some("inactive"));

    // Flex's Leave: the agent leaves, then the channel turns inactive.
    flex.twilio.agent_joins(&interaction);
    assert_eq!(flex.twilio.agent_joins(&interaction), None);
    flex.twilio.take_events();
    let (interaction, _) = flex.interaction(own["ttid"].as_str()).await;
    let agent = flex.twilio.agent_joins(&interaction).unwrap();
    flex.twilio.take_events();
    assert_eq!(flex.twilio.agent_leaves(&interaction), Some(agent.clone()));
    let events = flex.twilio.take_events();
    assert_eq!(
        events
            .iter()
            .map(|e| (
                e.param("EventType").unwrap(),
                e.param("ParticipantType")
                    .or(e.param("ChannelStatus"))
                    .unwrap()
            ))
            .collect::<Vec<_>>(),
        [
            ("onParticipantLeft", "agent"),
            ("onChannelStatusUpdated", "inactive")
        ]
    );
    assert_eq!(
        flex.twilio.channel_status(&interaction),
        Some(ChannelStatus::Inactive)
    );
    assert_eq!(flex.twilio.agent_leaves(&interaction), None);

    assert!(flex.twilio.pause_channel(&interaction));
    assert_eq!(
        flex.twilio.channel_status(&interaction),
        Some(ChannelStatus::Pause)
    );
    assert!(flex.twilio.transfer_channel(&interaction));
    assert_eq!(
        flex.twilio.channel_status(&interaction),
        Some(ChannelStatus::Transfer)
    );
    let statuses: Vec<String> = flex
        .twilio
        .take_events()
        .iter()
        .map(|e| e.param("ChannelStatus").unwrap().to_owned())
        .collect();
    assert_eq!(statuses, ["pause", "transfer"]);
    assert_eq!(flex.twilio.channel_status(&Sid::random("KD")), None);
    assert!(!flex.twilio.pause_channel(&Sid::random("KD")));
}
