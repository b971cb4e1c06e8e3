//! A client of `/realtime/`, the WebSocket of document events, speaking
//! the JSON protocol documented in `nuage-web/src/realtime.rs`.
//!
//! A task reads the socket as frames arrive and stamps each with the time
//! it came in, so a story can measure how long after a write its event
//! arrived even while the story itself was busy sending that write.

use futures_util::SinkExt;
use futures_util::stream::{SplitSink, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long a frame the story expects may take to come.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(5);

/// One JSON frame from the server, and when it arrived.
#[derive(Debug, Clone)]
pub struct Frame {
    pub at: Instant,
    pub json: Value,
}

impl Frame {
    pub fn event(&self) -> &str {
        self.json["event"].as_str().unwrap_or_default()
    }

    /// The id of the document an event is about.
    pub fn id(&self) -> &str {
        self.json["payload"]["id"].as_str().unwrap_or_default()
    }

    pub fn doc(&self) -> &Value {
        &self.json["payload"]["doc"]
    }
}

pub struct Realtime {
    /// Whose socket this is, in failure messages.
    pub name: String,
    out: SplitSink<WebSocketStream<TcpStream>, Message>,
    frames: mpsc::UnboundedReceiver<Frame>,
    reader: JoinHandle<()>,
}

impl Drop for Realtime {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

impl Realtime {
    /// Opens `ws://HOST/realtime/` over a connection to `addr`: `host`
    /// names the instance, `addr` the process that serves it.
    pub async fn connect(addr: SocketAddr, host: &str, name: &str) -> Realtime {
        Self::connect_with(addr, host, name, &[]).await
    }

    /// `connect`, with extra headers on the upgrade (a cookie, an Origin).
    pub async fn connect_with(
        addr: SocketAddr,
        host: &str,
        name: &str,
        headers: &[(&'static str, String)],
    ) -> Realtime {
        let url = format!("ws://{host}/realtime/");
        let mut request = url
            .as_str()
            .into_client_request()
            .unwrap_or_else(|e| panic!("bad WebSocket URL {url}: {e}"));
        for (k, v) in headers {
            request
                .headers_mut()
                .insert(*k, v.parse().expect("a header value"));
        }
        let open = async {
            let tcp = TcpStream::connect(addr).await?;
            tokio_tungstenite::client_async(request, tcp)
                .await
                .map_err(std::io::Error::other)
        };
        let (socket, response) = tokio::time::timeout(FRAME_TIMEOUT, open)
            .await
            .unwrap_or_else(|_| panic!("{name}: no WebSocket to {url} within {FRAME_TIMEOUT:?}"))
            .unwrap_or_else(|e| panic!("{name}: the WebSocket to {url} failed: {e}"));
        assert_eq!(
            response.status().as_u16(),
            101,
            "{name}: the upgrade must answer 101 Switching Protocols"
        );
        let (out, mut incoming) = socket.split();
        let (tx, frames) = mpsc::unbounded_channel();
        let who = name.to_owned();
        let reader = tokio::spawn(async move {
            while let Some(msg) = incoming.next().await {
                let at = Instant::now();
                match msg {
                    Ok(Message::Text(text)) => {
                        let json = serde_json::from_str(text.as_str()).unwrap_or_else(|e| {
                            panic!("{who}: a frame that is not JSON ({e}): {:?}", text.as_str())
                        });
                        if tx.send(Frame { at, json }).is_err() {
                            return;
                        }
                    }
                    Ok(Message::Close(_)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
        Realtime {
            name: name.to_owned(),
            out,
            frames,
            reader,
        }
    }

    pub async fn send(&mut self, command: Value) {
        let name = &self.name;
        tokio::time::timeout(
            FRAME_TIMEOUT,
            self.out.send(Message::text(command.to_string())),
        )
        .await
        .unwrap_or_else(|_| panic!("{name}: sending {command} took over {FRAME_TIMEOUT:?}"))
        .unwrap_or_else(|e| panic!("{name}: sending {command} failed: {e}"));
    }

    pub async fn auth(&mut self, token: &str) {
        self.send(json!({"method": "AUTH", "payload": token})).await;
    }

    /// Sends SUBSCRIBE for a doctype, or one document of it.
    pub async fn subscribe(&mut self, doctype: &str, id: Option<&str>) {
        let payload = match id {
            Some(id) => json!({"type": doctype, "id": id}),
            None => json!({"type": doctype}),
        };
        self.send(json!({"method": "SUBSCRIBE", "payload": payload}))
            .await;
    }

    /// Waits until the server has handled every command sent so far, and
    /// fails if it answered any of them.
    ///
    /// The protocol acknowledges nothing that succeeds, so a client cannot
    /// otherwise know that its SUBSCRIBE took effect. Commands are handled
    /// in order and an unknown one is answered with an error: that error
    /// marks the point where everything before it was handled.
    pub async fn settled(&mut self) {
        self.send(json!({"method": "ARE_WE_THERE_YET"})).await;
        let frame = self.next().await;
        let is_marker = frame.event() == "error"
            && frame.json["payload"]["status"] == "400"
            && frame.json["payload"]["detail"]
                .as_str()
                .is_some_and(|d| d.contains("ARE_WE_THERE_YET"));
        assert!(
            is_marker,
            "{}: an earlier command was answered, or an event came unasked: {}",
            self.name, frame.json
        );
    }

    /// AUTH then SUBSCRIBE, both accepted.
    pub async fn subscribed(&mut self, token: &str, doctype: &str, id: Option<&str>) {
        self.auth(token).await;
        self.subscribe(doctype, id).await;
        self.settled().await;
    }

    /// The next frame; fails if none comes within [`FRAME_TIMEOUT`].
    pub async fn next(&mut self) -> Frame {
        self.next_within(FRAME_TIMEOUT).await
    }

    pub async fn next_within(&mut self, within: Duration) -> Frame {
        match tokio::time::timeout(within, self.frames.recv()).await {
            Ok(Some(frame)) => frame,
            Ok(None) => panic!("{}: the server closed the WebSocket", self.name),
            Err(_) => panic!("{}: no frame within {within:?}", self.name),
        }
    }

    /// The next frame if one comes within `within`.
    pub async fn try_next(&mut self, within: Duration) -> Option<Frame> {
        match tokio::time::timeout(within, self.frames.recv()).await {
            Ok(Some(frame)) => Some(frame),
            Ok(None) => panic!("{}: the server closed the WebSocket", self.name),
            Err(_) => None,
        }
    }

    /// The next frame, which must be the event `event` about document `id`.
    pub async fn expect_event(&mut self, event: &str, id: &str) -> Frame {
        let frame = self.next().await;
        assert_eq!(
            (frame.event(), frame.id()),
            (event, id),
            "{}: expected {event} of {id}, got {}",
            self.name,
            frame.json
        );
        frame
    }

    /// The next frame, which must be an error of `status` (a string, as
    /// in JSON:API error objects).
    pub async fn expect_error(&mut self, status: &str) -> Value {
        let frame = self.next().await;
        assert_eq!(
            frame.event(),
            "error",
            "{}: expected an error {status}, got {}",
            self.name,
            frame.json
        );
        let payload = frame.json["payload"].clone();
        assert_eq!(
            payload["status"], status,
            "{}: wrong error status: {}",
            self.name, frame.json
        );
        for member in ["title", "detail"] {
            assert!(
                payload[member].as_str().is_some_and(|t| !t.is_empty()),
                "{}: an error frame must say what happened in `{member}`: {}",
                self.name,
                frame.json
            );
        }
        payload
    }

    /// Fails if any frame arrives within `d`.
    pub async fn expect_silence(&mut self, d: Duration) {
        if let Ok(Some(frame)) = tokio::time::timeout(d, self.frames.recv()).await {
            panic!(
                "{}: expected nothing for {d:?}, got {}",
                self.name, frame.json
            );
        }
    }
}
