//! Requests no HTTP client library would send (two `Host` lines, none at
//! all), written byte for byte on a TCP socket, and the answer read back.

use super::Reply;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const RAW_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends `head` (the request line and header lines, without the blank line
/// that ends them) to `addr` with `Connection: close`, and reads the whole
/// answer. `url` only names the request in failure messages.
pub async fn send_raw_http(addr: SocketAddr, url: &str, head: &str) -> Reply {
    let exchange = async {
        let mut tcp = TcpStream::connect(addr)
            .await
            .expect("connect to the server");
        let request = format!("{}\r\nConnection: close\r\n\r\n", head.trim_end());
        tcp.write_all(request.as_bytes())
            .await
            .expect("send the request");
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer).await.expect("read the answer");
        answer
    };
    let answer = tokio::time::timeout(RAW_TIMEOUT, exchange)
        .await
        .unwrap_or_else(|_| panic!("{head:?}: no answer within {RAW_TIMEOUT:?}"));
    let text = String::from_utf8(answer).expect("a UTF-8 answer");
    let (head_lines, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("an answer without a blank line after its head: {text:?}"));
    let mut lines = head_lines.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or_else(|| panic!("no status in {status_line:?}"));
    let mut headers = HeaderMap::new();
    for line in lines {
        let (name, value) = line
            .split_once(':')
            .unwrap_or_else(|| panic!("a header line without a colon: {line:?}"));
        headers.append(
            HeaderName::from_bytes(name.trim().as_bytes()).expect("a header name"),
            HeaderValue::from_str(value.trim()).expect("a header value"),
        );
    }
    let method = head.split(' ').next().unwrap_or("GET");
    Reply {
        method: Method::from_bytes(method.as_bytes()).expect("a method"),
        url: url.to_owned(),
        status,
        headers,
        body: body.to_owned(),
    }
}

/// How long a test waits for the answer to a raw request it is writing
/// itself.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

/// Everything the server sends on `from` until it closes the connection
/// (as it must after refusing a body it has not read).
pub async fn answer_until_closed(from: &mut (impl AsyncRead + Unpin)) -> String {
    let mut got = Vec::new();
    tokio::time::timeout(ANSWER_TIMEOUT, from.read_to_end(&mut got))
        .await
        .expect("the connection closes after the refusal")
        .expect("read the answer");
    String::from_utf8_lossy(&got).into_owned()
}

/// Reads from `from` until a whole answer has come: its head, and a body
/// of its `Content-Length`. For a request whose body is still being sent
/// (or never will be).
pub async fn read_answer(from: &mut (impl AsyncRead + Unpin)) -> String {
    let mut got = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(whole) = whole_answer(&got) {
                return whole;
            }
            let n = from.read(&mut buf).await.expect("read the answer");
            assert!(n > 0, "the server closed before answering: {got:?}");
            got.extend_from_slice(&buf[..n]);
        }
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, read).await {
        Ok(answer) => answer,
        Err(_) => panic!("no answer within {ANSWER_TIMEOUT:?}"),
    }
}

/// The answer in `got`, once its head and body are all there.
fn whole_answer(got: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(got);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    (body.len() >= length).then(|| text.into_owned())
}
