//! The conversation state and the turn queue adapters: one conformance suite run against the
//! in-memory twin and against DynamoDB (moto), so both keep the same promises; the SQS FIFO
//! adapter through the real SDK.

use std::collections::BTreeMap;

use aws_sdk_sqs::types::MessageSystemAttributeName;
use flexlex::adapters::dynamodb::DynamoStore;
use flexlex::adapters::in_memory::InMemoryStore;
use flexlex::adapters::sqs::SqsTurnQueue;
use flexlex::domain::bot::{Button, Card, Intent, IntentState};
use flexlex::domain::cards::rich_card;
use flexlex::domain::conversation::{
    BusyTurn, Claim, Lease, Memory, Progress, Snapshot, Status, TurnKey,
};
use flexlex::domain::ids::{ContentSid, ConversationSid, InteractionSid, LocaleId, MessageSid};
use flexlex::domain::job::{Handover, HandoverJob, Job, MessageJob, Route};
use flexlex::domain::ledger::Ledger;
use flexlex::domain::message::MessageAdded;
use flexlex::domain::plan::{Action, Plan, Reason};
use flexlex::ports::content::ContentCache;
use flexlex::ports::queue::TurnQueue;
use flexlex::ports::store::{ConversationStore, StoreError};

use crate::moto::{fifo_queue, moto, state_table};

fn sid<T: std::str::FromStr>(prefix: &str) -> T
where
    T::Err: std::fmt::Debug,
{
    format!("{prefix}{:032x}", rand::random::<u128>())
        .parse()
        .unwrap()
}

/// A claim at `secs` by a delivery whose lease runs half a second.
fn at(secs: u64) -> Lease {
    Lease {
        now_ms: secs * 1_000,
        until_ms: secs * 1_000 + 500,
    }
}

fn answered() -> Progress {
    Progress::Answered {
        plan: Plan {
            messages: vec!["Hello!".into(), "What would you like?".into()],
            action: Action::Handoff(Reason::Intent("Agent".into())),
        },
        turn: None,
        late: false,
    }
}

/// A job's own turn, keyed by its SID alone.
fn own(key: &MessageSid) -> TurnKey<'_> {
    TurnKey::own(key, None)
}

/// The conversation as a turn of `key` leaves it: `ledger` with the key remembered.
fn left(ledger: &mut Ledger, key: &MessageSid, memory: &Memory, status: Status) -> Snapshot {
    ledger.remember(key);
    Snapshot {
        memory: memory.clone(),
        ledger: ledger.clone(),
        status,
    }
}

/// Every promise the turn relies on, in the order a conversation meets them.
async fn conformance(store: &dyn ConversationStore) {
    let conversation: ConversationSid = sid("CH");
    let (first, second, third): (MessageSid, MessageSid, MessageSid) =
        (sid("IM"), sid("IM"), sid("IM"));

    // A message never seen is fresh, with empty memory.
    let mut ledger = Ledger::default();
    let Claim::Fresh { state } = store
        .claim(&conversation, own(&first), at(1_000))
        .await
        .unwrap()
    else {
        panic!("a new message is fresh")
    };
    let memory = state.memory.clone();
    assert_eq!((memory.turns, memory.last_index), (0, None));
    assert_eq!((&state.ledger, state.status), (&ledger, Status::Bot));

    // Delivered again while the first delivery's lease runs: not run beside it.
    let within = Lease {
        now_ms: 1_000_200,
        until_ms: 1_000_900,
    };
    assert_eq!(
        store
            .claim(&conversation, own(&first), within)
            .await
            .unwrap(),
        Claim::Busy {
            until_ms: 1_000_500,
            turn: BusyTurn::ThisMessage
        }
    );

    // Claimed again after that lease ended, before anything was recorded: the turn resumes
    // from the claim.
    assert_eq!(
        store
            .claim(&conversation, own(&first), at(1_001))
            .await
            .unwrap(),
        Claim::Resume {
            state: state.clone(),
            progress: Box::new(Progress::Claimed)
        }
    );

    // The answer recorded: a redelivery resumes with the same plan, not a new bot call.
    store
        .record(&conversation, &first, &answered(), None, 1_002)
        .await
        .unwrap();
    let Claim::Resume { progress, .. } = store
        .claim(&conversation, own(&first), at(1_003))
        .await
        .unwrap()
    else {
        panic!("a recorded turn resumes")
    };
    assert_eq!(*progress, answered());

    // Finished: the message is a duplicate for good, and the memory is kept.
    let mut kept = Memory {
        turns: 1,
        last_index: Some(4),
        started_at: 1_000,
        updated_at: 1_004,
        timers: flexlex::domain::timers::TimersState::Set,
        ..Memory::default()
    };
    kept.dialog.slots.insert(
        "OrderFlowers".to_owned(),
        BTreeMap::from([("FlowerType".to_owned(), "tulips".to_owned())]),
    );
    kept.dialog.fallback_streak = 1;
    store
        .finish(
            &conversation,
            own(&first),
            &left(&mut ledger, &first, &kept, Status::Bot),
            1_004,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .claim(&conversation, own(&first), at(1_005))
            .await
            .unwrap(),
        Claim::Duplicate
    );
    assert!(matches!(
        store
            .finish(
                &conversation,
                own(&first),
                &left(&mut ledger, &first, &kept, Status::Bot),
                1_006
            )
            .await,
        Err(StoreError::Conflict {
            operation: "finish",
            ..
        })
    ));

    // The next message sees the memory.
    let Claim::Fresh { state } = store
        .claim(&conversation, own(&second), at(1_007))
        .await
        .unwrap()
    else {
        panic!("the next message is fresh")
    };
    assert_eq!((&state.memory, &state.ledger), (&kept, &ledger));

    // A handoff decided: the status changes at once; other messages are not answered, but
    // the handing-off turn itself resumes with its Interaction.
    let interaction: InteractionSid = sid("KD");
    let handing_off = Progress::HandingOff {
        plan: Plan {
            messages: Vec::new(),
            action: Action::Handoff(Reason::Intent("Agent".into())),
        },
        turn: None,
        late: false,
        interaction: Some(interaction),
        channel: None,
    };
    store
        .record(
            &conversation,
            &second,
            &handing_off,
            Some(Status::HandedOff),
            1_008,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .claim(&conversation, own(&third), at(1_009))
            .await
            .unwrap(),
        Claim::HandedOff
    );
    let Claim::Resume { progress, .. } = store
        .claim(&conversation, own(&second), at(1_010))
        .await
        .unwrap()
    else {
        panic!("the handing-off turn resumes")
    };
    assert_eq!(*progress, handing_off);
    store
        .finish(
            &conversation,
            own(&second),
            &left(&mut ledger, &second, &kept, Status::HandedOff),
            1_011,
        )
        .await
        .unwrap();
    assert_eq!(
        store
            .claim(&conversation, own(&second), at(1_012))
            .await
            .unwrap(),
        Claim::Duplicate
    );
    assert_eq!(
        store
            .claim(&conversation, own(&third), at(1_013))
            .await
            .unwrap(),
        Claim::HandedOff
    );

    // A closed conversation answers nothing new.
    let other: ConversationSid = sid("CH");
    let (last, after): (MessageSid, MessageSid) = (sid("IM"), sid("IM"));
    store.claim(&other, own(&last), at(2_000)).await.unwrap();
    store
        .finish(
            &other,
            own(&last),
            &left(
                &mut Ledger::default(),
                &last,
                &Memory::default(),
                Status::Closed,
            ),
            2_001,
        )
        .await
        .unwrap();
    assert_eq!(
        store.claim(&other, own(&after), at(2_002)).await.unwrap(),
        Claim::Closed
    );

    // One turn of a conversation at a time, whatever the queue delivers.
    let busy: ConversationSid = sid("CH");
    let (a, b, c): (MessageSid, MessageSid, MessageSid) = (sid("IM"), sid("IM"), sid("IM"));
    assert!(matches!(
        store.claim(&busy, own(&a), at(3_000)).await.unwrap(),
        Claim::Fresh { .. }
    ));
    // A later message while that turn's lease runs: sent back until it ends.
    let during = Lease {
        now_ms: 3_000_200,
        until_ms: 3_000_900,
    };
    assert_eq!(
        store.claim(&busy, own(&b), during).await.unwrap(),
        Claim::Busy {
            until_ms: 3_000_500,
            turn: BusyTurn::AnotherMessage
        }
    );
    // That delivery died: once its lease has ended, the conversation goes on, and the dead
    // turn waits in its turn for the one now running.
    assert!(matches!(
        store.claim(&busy, own(&b), at(3_001)).await.unwrap(),
        Claim::Fresh { .. }
    ));
    let redelivered = Lease {
        now_ms: 3_001_100,
        until_ms: 3_001_900,
    };
    assert_eq!(
        store.claim(&busy, own(&a), redelivered).await.unwrap(),
        Claim::Busy {
            until_ms: 3_001_500,
            turn: BusyTurn::AnotherMessage
        }
    );
    store
        .finish(
            &busy,
            own(&b),
            &left(&mut Ledger::default(), &b, &Memory::default(), Status::Bot),
            3_002,
        )
        .await
        .unwrap();
    assert_eq!(
        store.claim(&busy, own(&a), at(3_003)).await.unwrap(),
        Claim::Resume {
            state: left(&mut Ledger::default(), &b, &Memory::default(), Status::Bot),
            progress: Box::new(Progress::Claimed)
        }
    );
    // A failed turn gives the conversation back at once.
    store.release(&busy, own(&a), at(3_003)).await.unwrap();
    let right_after = Lease {
        now_ms: 3_003_100,
        until_ms: 3_003_900,
    };
    assert!(matches!(
        store.claim(&busy, own(&c), right_after).await.unwrap(),
        Claim::Fresh { .. }
    ));

    // Twilio's order: a message is handled when its Index is accounted for, at or below the
    // mark or above it, however far behind the window of recent keys.
    let ordered: ConversationSid = sid("CH");
    let (m3, m5, m6, m7): (MessageSid, MessageSid, MessageSid, MessageSid) =
        (sid("IM"), sid("IM"), sid("IM"), sid("IM"));
    store
        .claim(&ordered, TurnKey::own(&m6, Some(6)), at(4_000))
        .await
        .unwrap();
    let mut ledger = Ledger::default();
    ledger.account_through(4);
    ledger.account(6);
    ledger.account(7);
    store
        .finish(
            &ordered,
            TurnKey::own(&m6, Some(6)),
            &Snapshot {
                ledger: ledger.clone(),
                ..Snapshot::default()
            },
            4_001,
        )
        .await
        .unwrap();
    for (key, index) in [(&m3, 3), (&m3, 4), (&m7, 7)] {
        assert_eq!(
            store
                .claim(&ordered, TurnKey::own(key, Some(index)), at(4_002))
                .await
                .unwrap(),
            Claim::Duplicate,
            "{index}"
        );
    }
    // Index 5 is the gap: the job that found it (7's, say, redelivered as m7 at Index 8)
    // holds the conversation, and runs 5's turn under its hold; nobody else gets in.
    let finder = TurnKey::own(&m7, Some(8));
    let Claim::Fresh { state } = store.claim(&ordered, finder, at(4_003)).await.unwrap() else {
        panic!("the finder's turn is fresh")
    };
    assert_eq!(state.ledger, ledger);
    let nested = TurnKey {
        key: &m5,
        index: Some(5),
        holder: &m7,
        from_agent: false,
    };
    assert!(matches!(
        store.claim(&ordered, nested, at(4_003)).await.unwrap(),
        Claim::Fresh { .. }
    ));
    assert!(matches!(
        store
            .claim(&ordered, TurnKey::own(&m5, Some(5)), at(4_003))
            .await
            .unwrap(),
        Claim::Busy {
            turn: BusyTurn::ThisMessage,
            ..
        }
    ));
    ledger.account(5);
    store
        .finish(
            &ordered,
            nested,
            &Snapshot {
                ledger: ledger.clone(),
                ..Snapshot::default()
            },
            4_004,
        )
        .await
        .unwrap();
    assert_eq!(ledger.accounted, Some(7));
    // The finder still holds the conversation after the nested turn finished.
    let during = Lease {
        now_ms: 4_003_100,
        until_ms: 4_003_900,
    };
    let (m9,): (MessageSid,) = (sid("IM"),);
    assert!(matches!(
        store
            .claim(&ordered, TurnKey::own(&m9, Some(9)), during)
            .await
            .unwrap(),
        Claim::Busy { .. }
    ));
    // A failed finder lets go of it at once.
    store.release(&ordered, finder, at(4_003)).await.unwrap();
    assert!(matches!(
        store
            .claim(&ordered, TurnKey::own(&m9, Some(9)), during)
            .await
            .unwrap(),
        Claim::Fresh { .. }
    ));

    // Recording for a message that is not in flight is refused.
    let stray: MessageSid = sid("IM");
    assert!(matches!(
        store.record(&other, &stray, &answered(), None, 2_003).await,
        Err(StoreError::Conflict {
            operation: "record",
            ..
        })
    ));
}

/// The template cache both stores offer: empty until a card is stored; the first SID stored
/// for a card stays (a second instance that created the same card meanwhile changes nothing).
async fn content_cache_conformance(cache: &dyn ContentCache) {
    let card = |title: &str| {
        rich_card(
            &Card {
                title: title.into(),
                buttons: vec![Button {
                    text: "Roses".into(),
                    value: "roses".into(),
                }],
                ..Card::default()
            },
            &LocaleId::parse("en_US").unwrap(),
        )
        .unwrap()
        .key
    };
    let (key, other) = (card("Pick"), card("Choose"));
    let (first, second): (ContentSid, ContentSid) = (sid("HX"), sid("HX"));
    assert_eq!(cache.get(&key).await.unwrap(), None);
    cache.put(&key, &first).await.unwrap();
    assert_eq!(cache.get(&key).await.unwrap(), Some(first.clone()));
    cache.put(&key, &second).await.unwrap();
    assert_eq!(cache.get(&key).await.unwrap(), Some(first));
    assert_eq!(cache.get(&other).await.unwrap(), None);
}

#[tokio::test]
async fn the_in_memory_store_keeps_the_promises() {
    let store = InMemoryStore::new();
    conformance(&store).await;
    content_cache_conformance(&store).await;
    assert!(!store.durable());
}

#[tokio::test]
async fn the_dynamodb_store_keeps_the_promises() {
    let Some(moto) = moto("the_dynamodb_store_keeps_the_promises").await else {
        return;
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk);
    let table = state_table(&dynamodb).await;
    let store = DynamoStore::new(dynamodb.clone(), table.clone());
    conformance(&store).await;
    content_cache_conformance(&store).await;
    assert!(store.durable());
    // A template's item is apart from every conversation's, as the table documents.
    let items = dynamodb.scan().table_name(&table).send().await.unwrap();
    let templates: Vec<_> = items
        .items()
        .iter()
        .filter(|item| {
            item["pk"]
                .as_s()
                .unwrap()
                .starts_with("content#flexlex-card-v1-")
        })
        .map(|item| {
            let mut names: Vec<&str> = item.keys().map(String::as_str).collect();
            names.sort_unstable();
            names
        })
        .collect();
    assert_eq!(templates, [["pk", "sid"]]);
}

#[tokio::test]
async fn the_dynamodb_item_is_what_the_table_documents() {
    let Some(moto) = moto("the_dynamodb_item_is_what_the_table_documents").await else {
        return;
    };
    let dynamodb = aws_sdk_dynamodb::Client::new(&moto.sdk);
    let table = state_table(&dynamodb).await;
    let store = DynamoStore::new(dynamodb.clone(), table.clone());
    let conversation: ConversationSid = sid("CH");
    let message: MessageSid = sid("IM");
    let item = || async {
        dynamodb
            .get_item()
            .table_name(&table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(conversation.to_string()),
            )
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    };
    store
        .claim(&conversation, own(&message), at(1_000))
        .await
        .unwrap();
    // The claimed turn holds the conversation until its lease ends.
    let claimed = item().await;
    assert_eq!(claimed["holder"].as_s().unwrap(), message.as_str());
    assert_eq!(claimed["held_until"].as_n().unwrap(), "1000500");
    assert_eq!(claimed[&format!("l_{message}")].as_n().unwrap(), "1000500");
    let mut memory = Memory::default();
    memory.dialog.observe(
        &flexlex::domain::bot::BotTurn {
            intent: Some(Intent {
                name: "OrderFlowers".into(),
                state: IntentState::InProgress,
                confirmation: None,
                slots: BTreeMap::from([
                    ("FlowerType".to_owned(), Some("roses".to_owned())),
                    ("PickupDate".to_owned(), None),
                ]),
            }),
            ..Default::default()
        },
        &flexlex::domain::escalation_rules::EscalationRules::default(),
    );
    store
        .finish(
            &conversation,
            TurnKey::own(&message, Some(0)),
            &Snapshot {
                memory: memory.clone(),
                ledger: Ledger {
                    accounted: Some(0),
                    ahead: [2, 3].into(),
                    recent: vec![message.clone()],
                },
                status: Status::Bot,
            },
            1_001,
        )
        .await
        .unwrap();
    let item = item().await;
    assert_eq!(item["status"].as_s().unwrap(), "bot");
    assert_eq!(item["accounted"].as_n().unwrap(), "0");
    let mut ahead = item["ahead"].as_ns().unwrap().clone();
    ahead.sort();
    assert_eq!(ahead, ["2", "3"]);
    assert_eq!(
        item["recent"].as_l().unwrap(),
        &vec![aws_sdk_dynamodb::types::AttributeValue::S(
            message.to_string()
        )]
    );
    assert!(!item.contains_key("handled"));
    assert_eq!(
        item["expires_at"].as_n().unwrap(),
        &(1_001 + flexlex::domain::conversation::RETENTION_SECS).to_string()
    );
    let stored: Memory = serde_json::from_str(item["memory"].as_s().unwrap()).unwrap();
    assert_eq!(stored, memory);
    assert_eq!(
        stored.dialog.slots["OrderFlowers"],
        BTreeMap::from([("FlowerType".to_owned(), "roses".to_owned())])
    );
    // The finished turn's progress and lease are gone, and the conversation is free.
    assert!(
        !item
            .keys()
            .any(|k| k.starts_with("t_") || k.starts_with("l_") || k.starts_with("held")),
        "{item:?}"
    );
    assert!(!item.contains_key("holder"));
}

fn turn_for(conversation: &ConversationSid, message: &MessageSid, index: u64) -> Job {
    Job::Message(MessageJob {
        message: MessageAdded {
            account: sid("AC"),
            conversation: conversation.clone(),
            message: message.clone(),
            author: "+15551234567".into(),
            body: "hello".into(),
            participant: None,
            webhook: None,
            source: Some("SMS".into()),
            client_identity: None,
            media: Vec::new(),
            index: Some(index),
            attributes: serde_json::json!({}),
        },
        route: Route::Unroutable("test".into()),
        request_id: "req".into(),
    })
}

#[tokio::test]
async fn the_sqs_queue_groups_by_conversation_and_deduplicates_by_message() {
    let Some(moto) = moto("the_sqs_queue_groups_by_conversation_and_deduplicates_by_message").await
    else {
        return;
    };
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk);
    let (url, _) = fifo_queue(&sqs, 30, 5).await;
    let queue = SqsTurnQueue::new(sqs.clone(), url.clone());
    let conversation: ConversationSid = sid("CH");
    let message: MessageSid = sid("IM");
    let turn = turn_for(&conversation, &message, 7);
    for _ in 0..2 {
        queue.enqueue(&turn).await.unwrap();
    }
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1, "the second send is a duplicate");
    let attributes = received[0].attributes.as_ref().unwrap();
    assert_eq!(
        attributes[&MessageSystemAttributeName::MessageGroupId],
        conversation.as_str()
    );
    assert_eq!(
        attributes[&MessageSystemAttributeName::MessageDeduplicationId],
        message.as_str()
    );
    let body = Job::from_body(received[0].body().unwrap()).unwrap();
    assert_eq!(body, turn);
}

#[tokio::test]
async fn a_handover_is_deduplicated_by_its_swap_key_not_by_its_first_turn() {
    let Some(moto) = moto("a_handover_is_deduplicated_by_its_swap_key_not_by_its_first_turn").await
    else {
        return;
    };
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk);
    let (url, _) = fifo_queue(&sqs, 30, 5).await;
    let queue = SqsTurnQueue::new(sqs.clone(), url.clone());
    let conversation: ConversationSid = sid("CH");
    let message: MessageSid = sid("IM");
    let swap: MessageSid = sid("IM");
    let Job::Message(first) = turn_for(&conversation, &message, 7) else {
        unreachable!("turn_for makes a message job")
    };
    let handover = Job::Handover(HandoverJob {
        turn: first,
        handover: Handover {
            webhook_url: "https://example.test/webhook?BotId=FLWRSDEMO1&BotAliasId=TSTALIASID"
                .into(),
            swap_key: swap.clone(),
            first_turn: true,
        },
    });
    // The customer's message itself, queued by its own webhook, is not taken for the handover.
    queue
        .enqueue(&turn_for(&conversation, &message, 7))
        .await
        .unwrap();
    queue.enqueue(&handover).await.unwrap();
    let received = sqs
        .receive_message()
        .queue_url(&url)
        .max_number_of_messages(10)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let dedup: Vec<&str> = received
        .iter()
        .map(|m| {
            m.attributes.as_ref().unwrap()[&MessageSystemAttributeName::MessageDeduplicationId]
                .as_str()
        })
        .collect();
    assert_eq!(dedup, [message.as_str(), swap.as_str()]);
    assert_eq!(
        Job::from_body(received[1].body().unwrap()).unwrap(),
        handover
    );
}

#[tokio::test]
async fn a_refusing_queue_is_a_permanent_queue_error() {
    let Some(moto) = moto("a_refusing_queue_is_a_permanent_queue_error").await else {
        return;
    };
    let sqs = aws_sdk_sqs::Client::new(&moto.sdk);
    let missing = format!("{}/123456789012/no-such-queue.fifo", moto.endpoint);
    let queue = SqsTurnQueue::new(sqs, missing);
    let error = queue
        .enqueue(&turn_for(&sid("CH"), &sid("IM"), 1))
        .await
        .unwrap_err();
    assert!(!error.is_transient(), "{error}");
}
