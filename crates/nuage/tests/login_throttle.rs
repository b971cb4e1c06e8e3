//! Someone guesses the owner's passphrase: after a few tries every attempt
//! waits, even the right one, and the owner gets in once the wait is over.

mod common;

use common::{PASSPHRASE, Server};
use reqwest::StatusCode;
use std::time::Duration;

scenarios!(
    a_guesser_is_slowed_down_and_the_owner_still_gets_in,
    a_burst_of_guesses_at_once_gets_no_more_tries,
);

async fn a_guesser_is_slowed_down_and_the_owner_still_gets_in(server: Server) {
    server.onboard_owner().await;
    let guesser = server.browser();
    let page = guesser.open("/auth/login").await;

    let mut retry_after = 0;
    for attempt in 1..=10 {
        let guess = format!("wrong guess number {attempt}");
        let reply = guesser.submit(&page, &[("passphrase", &guess)]).await;
        assert!(reply.set_cookie("nuage_session").is_none(), "{reply}");
        if attempt <= 5 {
            let reply = reply.expect_status(StatusCode::UNAUTHORIZED);
            assert!(reply.is_html(), "the login page shows the error: {reply}");
        } else {
            let reply = reply.expect_status(StatusCode::TOO_MANY_REQUESTS);
            retry_after = reply.retry_after();
            assert!(retry_after >= 1, "{reply}");
            // Five failures cost a short delay; a long one would also
            // keep this test waiting.
            assert!(retry_after <= 10, "attempt {attempt}: {reply}");
        }
    }

    // The owner arrives during the delay: refused too, or the delay would
    // tell a guesser when they got it right.
    let owner = server.browser();
    let reply = owner
        .login(PASSPHRASE)
        .await
        .expect_status(StatusCode::TOO_MANY_REQUESTS);
    assert!(reply.set_cookie("nuage_session").is_none(), "{reply}");
    let wait = reply.retry_after();
    assert!(
        (1..=retry_after).contains(&wait),
        "the delay only runs down: {reply}"
    );

    tokio::time::sleep(Duration::from_secs(wait)).await;
    owner.login_ok(PASSPHRASE).await;
    owner.instance_settings().await;
}

async fn a_burst_of_guesses_at_once_gets_no_more_tries(server: Server) {
    server.onboard_owner().await;
    // Twenty guesses sent at the same moment, each with its own form: only
    // the five free failures are tried; the rest wait like sequential ones.
    let mut tasks = Vec::new();
    for i in 0..20 {
        let guesser = server.browser();
        let page = guesser.open("/auth/login").await;
        tasks.push(tokio::spawn(async move {
            let guess = format!("parallel wrong guess {i}");
            guesser
                .submit(&page, &[("passphrase", &guess)])
                .await
                .status
        }));
    }
    let mut tried = 0;
    let mut throttled = 0;
    for t in tasks {
        match t.await.expect("guess task") {
            StatusCode::UNAUTHORIZED => tried += 1,
            StatusCode::TOO_MANY_REQUESTS => throttled += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(
        (tried, throttled),
        (5, 15),
        "a burst must not pass the throttle before failures are counted"
    );
}
