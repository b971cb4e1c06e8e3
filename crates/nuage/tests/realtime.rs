//! Alice's notes app keeps a WebSocket open on `/realtime/` and hears about
//! every note she writes elsewhere, as it happens and in the order it
//! happened; apps without the right scope, without a token, or on someone
//! else's cloud hear nothing of it. With two server processes on one
//! PostgreSQL database, a write on either reaches subscribers of both.

mod common;

use base64::Engine as _;
use common::{Couch, Engine, OTHER_HOST, Server};
use serde_json::{Value, json};
use std::time::Duration;
use tokio::time::Instant;

scenarios!(
    a_subscriber_hears_each_write_as_it_happens_and_in_order,
    apps_without_the_scope_or_a_token_hear_nothing,
    a_subscriber_to_one_note_hears_only_that_note,
    another_cloud_never_hears_alices_notes,
    a_page_of_another_origin_cannot_ride_the_owners_session,
);

const NOTES: &str = "com.example.notes";
/// How soon after the write's answer its event must have arrived.
const PROMPT: Duration = Duration::from_millis(100);
/// How long to listen before concluding nothing will come.
const QUIET: Duration = Duration::from_millis(300);

/// Alice, writing through `/data` as her other devices do.
async fn alice(server: &Server) -> Couch {
    server.couch(&format!("{NOTES}:ALL")).await
}

/// Writes a note and returns its new revision and when the answer came.
async fn write(alice: &Couch, id: &str, doc: Value) -> (String, Instant) {
    let rev = alice.save(NOTES, id, &doc).await;
    (rev, Instant::now())
}

/// The event `frame` arrived at most [`PROMPT`] after the write answered
/// at `answered` (an event may even arrive before the answer).
fn prompt(frame: &common::Frame, answered: Instant, what: &str) {
    let latency = frame.at.saturating_duration_since(answered);
    assert!(
        latency <= PROMPT,
        "{what}: the event came {latency:?} after the write's answer, over {PROMPT:?}"
    );
}

async fn a_subscriber_hears_each_write_as_it_happens_and_in_order(server: Server) {
    let alice = alice(&server).await;
    let token = server.cli_token(&format!("{NOTES}:GET"), None).await;
    let mut app = server.realtime("the notes app").await;
    app.subscribed(&token, NOTES, None).await;

    // Created, with the document as written.
    let (rev, answered) = write(&alice, "groceries", json!({"items": ["eggs"]})).await;
    let created = app.expect_event("CREATED", "groceries").await;
    prompt(&created, answered, "CREATED");
    assert_eq!(
        created.json,
        json!({"event": "CREATED", "payload": {"type": NOTES, "id": "groceries",
            "doc": {"_id": "groceries", "_rev": rev, "items": ["eggs"]}}})
    );

    // Updated.
    let (rev2, answered) = write(
        &alice,
        "groceries",
        json!({"_rev": rev, "items": ["eggs", "milk"]}),
    )
    .await;
    let updated = app.expect_event("UPDATED", "groceries").await;
    prompt(&updated, answered, "UPDATED");
    assert_eq!(
        updated.doc(),
        &json!({"_id": "groceries", "_rev": rev2, "items": ["eggs", "milk"]})
    );

    // Deleted.
    let gone = alice.remove(NOTES, "groceries", &rev2).await;
    let answered = Instant::now();
    let deleted = app.expect_event("DELETED", "groceries").await;
    prompt(&deleted, answered, "DELETED");
    assert_eq!(deleted.doc()["_rev"], gone);
    assert_eq!(deleted.doc()["_deleted"], true);

    // Twenty notes in a row arrive in the order they were committed.
    let ids: Vec<String> = (0..20).map(|i| format!("note-{i:02}")).collect();
    let mut slowest = Duration::ZERO;
    for id in &ids {
        let (_, answered) = write(&alice, id, json!({"n": id})).await;
        let frame = app.expect_event("CREATED", id).await;
        slowest = slowest.max(frame.at.saturating_duration_since(answered));
    }
    assert!(
        slowest <= PROMPT,
        "the slowest of 20 events came {slowest:?} after its write"
    );
    // Written one after another without waiting for their events, then
    // twenty in one batch: heard in exactly that order.
    let mut written = Vec::new();
    for i in 0..20 {
        let id = format!("quick-{i:02}");
        alice.save(NOTES, &id, &json!({"i": i})).await;
        written.push(id);
    }
    let batch: Vec<Value> = (0..20)
        .map(|i| json!({"_id": format!("batch-{i:02}")}))
        .collect();
    alice
        .post(
            &format!("/data/{NOTES}/_bulk_docs"),
            &json!({"docs": batch}),
        )
        .await
        .expect_status(reqwest::StatusCode::CREATED);
    written.extend((0..20).map(|i| format!("batch-{i:02}")));
    let mut heard = Vec::new();
    while heard.len() < written.len() {
        let frame = app.next().await;
        assert_eq!(frame.event(), "CREATED", "{}", frame.json);
        heard.push(frame.id().to_owned());
    }
    assert_eq!(heard, written, "events come in commit order");

    // Attachments come as stubs, never with where their content is kept.
    let data = base64::engine::general_purpose::STANDARD.encode("hello");
    write(
        &alice,
        "letter",
        json!({"_attachments": {"a.txt": {"content_type": "text/plain", "data": data}}}),
    )
    .await;
    let letter = app.expect_event("CREATED", "letter").await;
    assert!(
        !letter.json.to_string().contains("nuage_blob"),
        "{}",
        letter.json
    );
    assert_eq!(
        letter.doc()["_attachments"]["a.txt"]["length"],
        5,
        "{}",
        letter.json
    );
    app.expect_silence(QUIET).await;
}

async fn apps_without_the_scope_or_a_token_hear_nothing(server: Server) {
    let alice = alice(&server).await;
    let other_scope = server.cli_token("com.example.other:GET", None).await;
    let notes_reader = server.cli_token(&format!("{NOTES}:GET"), None).await;

    // An app for another doctype is refused, and told what it lacks.
    let mut other = server.realtime("the other app").await;
    other.auth(&other_scope).await;
    other.subscribe(NOTES, None).await;
    let refused = other.expect_error("403").await;
    assert!(
        refused["detail"]
            .as_str()
            .unwrap()
            .contains(&format!("{NOTES}:GET")),
        "{refused}"
    );
    other.settled().await;

    // An app that never said who it is.
    let mut anonymous = server.realtime("an anonymous page").await;
    anonymous.subscribe(NOTES, None).await;
    anonymous.expect_error("401").await;
    anonymous.settled().await;

    // A token that is not one.
    let mut forger = server.realtime("a forger").await;
    forger.auth("nct_not-a-real-token-at-all-0000000000").await;
    forger.expect_error("401").await;
    forger.subscribe(NOTES, None).await;
    forger.expect_error("401").await;

    // An app limited to some notes hears only those.
    let limited_token = server.cli_token(&format!("{NOTES}:GET:shared"), None).await;
    let mut limited = server.realtime("the limited app").await;
    limited.subscribed(&limited_token, NOTES, None).await;

    // A reader that may, to show the writes did happen.
    let mut reader = server.realtime("the notes app").await;
    reader.subscribed(&notes_reader, NOTES, None).await;

    let (private, _) = write(&alice, "private", json!({"text": "mine"})).await;
    let (rev, _) = write(&alice, "shared", json!({"text": "ours"})).await;
    alice.remove(NOTES, "private", &private).await;
    reader.expect_event("CREATED", "private").await;
    reader.expect_event("CREATED", "shared").await;
    reader.expect_event("DELETED", "private").await;
    let shared = limited.expect_event("CREATED", "shared").await;
    assert_eq!(shared.doc()["_rev"], rev);

    other.expect_silence(QUIET).await;
    anonymous.expect_silence(Duration::ZERO).await;
    forger.expect_silence(Duration::ZERO).await;
    limited.expect_silence(Duration::ZERO).await;
}

async fn a_subscriber_to_one_note_hears_only_that_note(server: Server) {
    let alice = alice(&server).await;
    let token = server.cli_token(&format!("{NOTES}:GET"), None).await;
    let mut app = server.realtime("the note's window").await;
    app.subscribed(&token, NOTES, Some("todo")).await;

    let (todo, _) = write(&alice, "todo", json!({"done": false})).await;
    write(&alice, "other", json!({"done": false})).await;
    let (todo2, answered) = write(&alice, "todo", json!({"_rev": todo, "done": true})).await;
    write(&alice, "another", json!({})).await;

    assert_eq!(
        app.expect_event("CREATED", "todo").await.doc()["_rev"],
        todo
    );
    let updated = app.expect_event("UPDATED", "todo").await;
    prompt(&updated, answered, "UPDATED");
    assert_eq!(updated.doc()["_rev"], todo2);
    app.expect_silence(QUIET).await;

    // Unsubscribed, it hears nothing more.
    app.send(json!({"method": "UNSUBSCRIBE", "payload": {"type": NOTES, "id": "todo"}}))
        .await;
    app.settled().await;
    alice.remove(NOTES, "todo", &todo2).await;
    app.expect_silence(QUIET).await;
}

async fn another_cloud_never_hears_alices_notes(server: Server) {
    server.add_instance(OTHER_HOST).await;
    let alice = alice(&server).await;
    let bobs_token = server
        .cli_token_on(OTHER_HOST, &format!("{NOTES}:ALL"), None)
        .await;
    let alices_token = server.cli_token(&format!("{NOTES}:GET"), None).await;

    let mut bobs_app = server.realtime_on(OTHER_HOST, "Bob's app").await;
    bobs_app.subscribed(&bobs_token, NOTES, None).await;
    let mut alices_app = server.realtime("Alice's app").await;
    alices_app.subscribed(&alices_token, NOTES, None).await;
    // Alice's token means nothing on Bob's cloud.
    let mut stolen = server.realtime_on(OTHER_HOST, "a stolen token").await;
    stolen.auth(&alices_token).await;
    stolen.expect_error("401").await;

    write(&alice, "diary", json!({"text": "dear diary"})).await;
    alices_app.expect_event("CREATED", "diary").await;
    bobs_app.expect_silence(QUIET).await;

    // Bob's own write, same doctype and id, reaches only Bob.
    let bob = server.couch_on(OTHER_HOST, &bobs_token);
    bob.save(NOTES, "diary", &json!({"text": "bob's"})).await;
    let frame = bobs_app.expect_event("CREATED", "diary").await;
    assert_eq!(frame.doc()["text"], "bob's");
    alices_app.expect_silence(QUIET).await;
    stolen.expect_silence(Duration::ZERO).await;
}

/// Two `nuage serve` processes on one PostgreSQL database, as behind a load
/// balancer: a write on either reaches a subscriber on the other.
#[tokio::test]
async fn postgres_a_write_on_one_server_reaches_subscribers_of_the_other() {
    let server = Server::start(Engine::Postgres).await;
    let sibling = server.start_sibling().await;
    let token = server.cli_token(&format!("{NOTES}:ALL"), None).await;
    let on_first = server.couch_with(&token);
    let on_sibling = sibling.couch(&token);
    let mut app_on_first = server.realtime("an app on the first server").await;
    app_on_first.subscribed(&token, NOTES, None).await;
    let mut app_on_sibling = sibling.realtime("an app on the sibling").await;
    app_on_sibling.subscribed(&token, NOTES, None).await;
    let cross = Duration::from_secs(1);

    // The sibling listens for PostgreSQL notifications from a task it
    // starts as it begins serving, and says nothing once it is listening:
    // write until one event gets through before timing anything, then let
    // any late warm-up events drain.
    let mut relayed = false;
    for attempt in 0..20 {
        let id = format!("warm-up-{attempt}");
        on_first.save(NOTES, &id, &json!({})).await;
        app_on_first.expect_event("CREATED", &id).await;
        if let Some(frame) = app_on_sibling.try_next(Duration::from_millis(250)).await {
            assert_eq!(frame.event(), "CREATED", "{}", frame.json);
            relayed = true;
            break;
        }
    }
    assert!(
        relayed,
        "the sibling never relayed a write of the first server; its output:\n{}",
        sibling.log()
    );
    while let Some(frame) = app_on_sibling.try_next(QUIET).await {
        assert!(frame.id().starts_with("warm-up-"), "{}", frame.json);
    }

    // First → sibling.
    let rev = on_first.save(NOTES, "from-first", &json!({"n": 1})).await;
    let answered = Instant::now();
    let frame = app_on_sibling.next_within(cross).await;
    assert_eq!(
        (frame.event(), frame.id()),
        ("CREATED", "from-first"),
        "{}",
        frame.json
    );
    assert_eq!(frame.doc()["_rev"], rev);
    let latency = frame.at.saturating_duration_since(answered);
    assert!(latency <= cross, "first → sibling took {latency:?}");
    app_on_first.expect_event("CREATED", "from-first").await;

    // Sibling → first.
    let rev = on_sibling
        .save(NOTES, "from-sibling", &json!({"n": 2}))
        .await;
    let answered = Instant::now();
    let frame = app_on_first.next_within(cross).await;
    assert_eq!(
        (frame.event(), frame.id()),
        ("CREATED", "from-sibling"),
        "{}",
        frame.json
    );
    assert_eq!(frame.doc()["_rev"], rev);
    let latency = frame.at.saturating_duration_since(answered);
    assert!(latency <= cross, "sibling → first took {latency:?}");
    app_on_sibling.expect_event("CREATED", "from-sibling").await;

    // Each event once, on each side.
    app_on_first.expect_silence(QUIET).await;
    app_on_sibling.expect_silence(Duration::ZERO).await;
}

async fn a_page_of_another_origin_cannot_ride_the_owners_session(server: Server) {
    let alice = server.onboard_owner().await;
    let cookie = format!(
        "nuage_session={}",
        alice.session().expect("Alice's session")
    );
    let own = format!("http://{}", server.domain);
    let port = server.addr.port();

    // A page on a sibling subdomain opens a socket: the browser sends
    // Alice's cookie (same site), but not from her instance's origin.
    let mut evil = common::Realtime::connect_with(
        server.addr,
        &server.domain,
        "evil page",
        &[
            ("cookie", cookie.clone()),
            ("origin", format!("http://evil.localhost:{port}")),
        ],
    )
    .await;
    evil.subscribe("com.example.notes", None).await;
    evil.expect_error("401").await;

    // Her own pages may.
    let mut mine = common::Realtime::connect_with(
        server.addr,
        &server.domain,
        "her page",
        &[("cookie", cookie), ("origin", own)],
    )
    .await;
    mine.subscribe("com.example.notes", None).await;
    mine.settled().await;
    let couch = server.couch("com.example.notes:ALL").await;
    couch
        .save(
            "com.example.notes",
            "n1",
            &serde_json::json!({"text": "hi"}),
        )
        .await;
    mine.expect_event("CREATED", "n1").await;
    evil.expect_silence(Duration::from_millis(300)).await;
}
