//! The supervisor against a scripted connection, on tokio's paused clock: retries with backoff,
//! fatal errors, notices running exactly while the connection does, and a prompt stop.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::*;
use lull_queue::FIRST_BACKOFF;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("token refused")]
struct Refused;

/// One scripted answer.
#[derive(Clone, Copy, Debug)]
enum Step {
    Ok,
    Retry,
    /// Connected for two minutes, then lost.
    RetryAfterRunning,
    Fatal,
}

type Script = Arc<Mutex<Vec<Step>>>;

/// Identity checks and receive attempts answer from scripts (the last entry repeats); every
/// call is recorded with its time.
#[derive(Clone, Default)]
struct Scripted {
    identify: Script,
    receive: Script,
    log: Arc<Mutex<Vec<(String, Instant)>>>,
}

async fn next(script: &Script) -> Result<(), Attempt<Refused>> {
    let step = {
        let mut script = script.lock().unwrap();
        if script.len() > 1 {
            script.remove(0)
        } else {
            script.first().copied().unwrap_or(Step::Ok)
        }
    };
    match step {
        Step::Ok => Ok(()),
        Step::Retry => Err(Attempt::Retry("unreachable".into())),
        Step::RetryAfterRunning => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            Err(Attempt::Retry("connection lost".into()))
        }
        Step::Fatal => Err(Attempt::Fatal(Refused)),
    }
}

impl Scripted {
    fn note(&self, what: &str) {
        self.log.lock().unwrap().push((what.into(), Instant::now()));
    }

    fn calls(&self, what: &str) -> Vec<Instant> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _)| w == what)
            .map(|(_, at)| *at)
            .collect()
    }
}

/// The notices a scripted connection "delivers": noted when they start and stop.
impl NoticeDelivery for Scripted {
    async fn deliver_until(self, stop: CancellationToken) {
        self.note("notices started");
        stop.cancelled().await;
        self.note("notices stopped");
    }
}

impl Connection for Scripted {
    type Identity = ();
    type Fatal = Refused;
    type Notices = Scripted;

    fn platform(&self) -> &'static str {
        "test"
    }

    async fn identify(&self) -> Result<(), Attempt<Refused>> {
        self.note("identify");
        next(&self.identify).await
    }

    async fn prepare(&self, _: &()) {
        self.note("prepare");
    }

    fn notices(&self) -> Scripted {
        self.clone()
    }

    async fn receive(&self, _: &(), stop: &CancellationToken) -> Result<(), Attempt<Refused>> {
        self.note("receive");
        next(&self.receive).await?;
        stop.cancelled().await;
        self.note("receive stopped");
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn identity_and_receiving_are_retried_with_backoff_and_notices_stop_last() {
    let connection = Scripted::default();
    *connection.identify.lock().unwrap() = vec![Step::Retry, Step::Retry, Step::Ok];
    *connection.receive.lock().unwrap() = vec![Step::Retry, Step::Ok];
    let stop = CancellationToken::new();
    let running = tokio::spawn(supervise(connection.clone(), stop.clone()));
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let identify = connection.calls("identify");
    assert_eq!(identify.len(), 3);
    assert_eq!(identify[1] - identify[0], FIRST_BACKOFF);
    assert_eq!(
        identify[2] - identify[1],
        FIRST_BACKOFF * 2,
        "the wait doubles"
    );
    let receive = connection.calls("receive");
    assert_eq!(receive.len(), 2);
    assert_eq!(
        receive[1] - receive[0],
        FIRST_BACKOFF,
        "a new backoff after identifying"
    );
    assert_eq!(connection.calls("prepare").len(), 1);
    assert!(connection.calls("notices started")[0] >= start + FIRST_BACKOFF * 3);
    assert!(
        connection.calls("notices stopped").is_empty(),
        "notices run while connected"
    );

    stop.cancel();
    let ended = tokio::time::timeout(STOP_GRACE, running)
        .await
        .expect("stops promptly")
        .unwrap();
    assert_eq!(ended, Ok(()));
    let (received_until, notices_until) = (
        connection.calls("receive stopped")[0],
        connection.calls("notices stopped")[0],
    );
    let log = connection.log.lock().unwrap();
    let order: Vec<&str> = log.iter().map(|(w, _)| w.as_str()).collect();
    assert!(
        received_until <= notices_until && order.ends_with(&["receive stopped", "notices stopped"]),
        "{order:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_fatal_error_ends_it_and_a_stop_while_retrying_is_prompt() {
    let refused = Scripted::default();
    *refused.identify.lock().unwrap() = vec![Step::Retry, Step::Fatal];
    let ended = supervise(refused.clone(), CancellationToken::new()).await;
    assert_eq!(ended, Err(Refused));
    assert!(
        refused.calls("notices started").is_empty(),
        "nothing starts without an identity"
    );

    let unreachable = Scripted::default();
    *unreachable.identify.lock().unwrap() = vec![Step::Retry];
    let stop = CancellationToken::new();
    let running = tokio::spawn(supervise(unreachable.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(30)).await;
    let stopped_at = Instant::now();
    stop.cancel();
    assert_eq!(running.await.unwrap(), Ok(()));
    assert_eq!(
        Instant::now(),
        stopped_at,
        "no backoff wait is sat out after a stop"
    );
}

#[tokio::test(start_paused = true)]
async fn a_connection_that_lasted_starts_the_backoff_again() {
    let connection = Scripted::default();
    *connection.receive.lock().unwrap() = vec![
        Step::Retry,
        Step::Retry,
        Step::RetryAfterRunning,
        Step::Retry,
        Step::Ok,
    ];
    let stop = CancellationToken::new();
    let running = tokio::spawn(supervise(connection.clone(), stop.clone()));
    tokio::time::sleep(Duration::from_secs(600)).await;
    let receive = connection.calls("receive");
    assert_eq!(receive.len(), 5, "{receive:?}");
    let gaps: Vec<Duration> = receive.windows(2).map(|w| w[1] - w[0]).collect();
    let s = Duration::from_secs;
    assert_eq!(
        gaps,
        [s(1), s(2), s(120) + s(1), s(2)],
        "1 s again after the long connection"
    );
    stop.cancel();
    assert_eq!(running.await.unwrap(), Ok(()));
}

#[tokio::test(start_paused = true)]
async fn a_stop_during_preparation_is_prompt() {
    /// Registration that never answers.
    struct Stuck(Scripted);
    impl Connection for Stuck {
        type Identity = ();
        type Fatal = Refused;
        type Notices = Scripted;
        fn platform(&self) -> &'static str {
            "test"
        }
        async fn identify(&self) -> Result<(), Attempt<Refused>> {
            Ok(())
        }
        async fn prepare(&self, _: &()) {
            std::future::pending::<()>().await;
        }
        fn notices(&self) -> Scripted {
            self.0.clone()
        }
        async fn receive(&self, i: &(), stop: &CancellationToken) -> Result<(), Attempt<Refused>> {
            self.0.receive(i, stop).await
        }
    }
    let connection = Scripted::default();
    let stop = CancellationToken::new();
    let running = tokio::spawn(supervise(Stuck(connection.clone()), stop.clone()));
    tokio::time::sleep(Duration::from_secs(3600)).await;
    let stopped_at = Instant::now();
    stop.cancel();
    assert_eq!(running.await.unwrap(), Ok(()));
    assert_eq!(Instant::now(), stopped_at);
    assert!(connection.calls("receive").is_empty());
}
