//! Streaming endpoints answer at once: their headers come before any message (a client
//! waiting for `/events` or `logs -f` must not hang on a quiet container), each message is
//! flushed as it happens, and errors inside a 200 stream have Docker's
//! `{"errorDetail": …, "error": …}` shape.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::common::Env;

/// Send a request and read until the end of the headers (at most 3 s): the status line.
fn headers_of(env: &Env, method: &str, path: &str) -> (UnixStream, String) {
    let mut s = UnixStream::connect(&env.daemon.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n"
    )
    .expect("write");
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => panic!(
                "no headers from {path} in 3 s ({e}); got {:?}",
                String::from_utf8_lossy(&got)
            ),
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    (s, text.lines().next().unwrap_or_default().to_owned())
}

/// Read from the stream until `want` shows up (at most 5 s).
fn read_until(s: &mut UnixStream, want: &str) -> String {
    let end = Instant::now() + Duration::from_secs(5);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(want) {
        assert!(
            Instant::now() < end,
            "{want} never came: {}",
            String::from_utf8_lossy(&got)
        );
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn streams_answer_at_once_and_flush_each_message() {
    let env = Env::start("berth-compat-streams-", "{}");
    let id = env.ok(&["run", "-d", "--name", "quiet", "busybox", "sleep", "60"]);
    let id = id.trim();
    // Quiet streams: headers first, nothing else yet.
    let (mut events, status) = headers_of(&env, "GET", "/v1.51/events");
    assert!(status.contains("200"), "{status}");
    let (mut logs, status) = headers_of(
        &env,
        "GET",
        &format!("/v1.51/containers/{id}/logs?follow=1&stdout=1"),
    );
    assert!(status.contains("200"), "{status}");
    let (mut wait, status) = headers_of(&env, "POST", &format!("/v1.51/containers/{id}/wait"));
    assert!(status.contains("200"), "{status}");
    // Each message as it happens: an exec's event and output, then the exit.
    env.ok(&["exec", "quiet", "sh", "-c", "echo from-exec > /proc/1/fd/1"]);
    let ev = read_until(&mut events, "exec_start");
    assert!(ev.contains("\"Type\":\"container\""), "{ev}");
    read_until(&mut logs, "from-exec");
    env.ok(&["kill", "quiet"]);
    read_until(&mut wait, "\"StatusCode\":137");
    read_until(&mut events, "\"die\"");
    // An error inside a 200 stream: a load of something that is not an image archive.
    let mut s = UnixStream::connect(&env.daemon.socket).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let body = b"not an archive at all";
    write!(
        s,
        "POST /v1.51/images/load HTTP/1.1\r\nHost: docker\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .expect("write");
    s.write_all(body).expect("body");
    let answer = read_until(&mut s, "errorDetail");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let line = answer
        .lines()
        .find(|l| l.contains("errorDetail"))
        .expect("error line");
    let v: serde_json::Value = serde_json::from_str(line).expect("json");
    assert!(v["errorDetail"]["message"].is_string(), "{v}");
    assert_eq!(v["error"], v["errorDetail"]["message"], "{v}");
}
