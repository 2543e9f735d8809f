//! `--zmq-pub`: a ZeroMQ publisher of `hashblock`, as bitcoind's
//! `-zmqpubhashblock`: ZMTP 3.0 with the NULL mechanism, one three-part
//! message per new tip (topic, the block hash in display order, a
//! little-endian sequence number). Subscriptions are read as ZMTP 3.0
//! messages (`0x01` + topic prefix) and as 3.1 SUBSCRIBE commands.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use tbg_pool::node::zmq::{check_greeting, frame, greeting, parse_command, parse_frame, ready};

use crate::node::Node;

/// A connected subscriber: where to write and the topics it asked for.
struct Subscriber {
    stream: TcpStream,
    topics: Arc<Mutex<Vec<Vec<u8>>>>,
}

type Subscribers = Arc<Mutex<Vec<Subscriber>>>;

/// Accept subscribers on `listener` and publish every new tip of `node`.
pub fn spawn(node: &Arc<Node>, listener: TcpListener) {
    let subscribers: Subscribers = Arc::default();
    let subs = subscribers.clone();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let subs = subs.clone();
            thread::spawn(move || serve(stream, &subs));
        }
    });
    let node = node.clone();
    thread::spawn(move || publish_tips(&node, &subscribers));
}

fn publish_tips(node: &Node, subscribers: &Subscribers) {
    let mut seen = node.lock().chain.tip().hash;
    let mut seq = 0u32;
    loop {
        node.wait_for_new_tip(&seen, Duration::from_secs(3600));
        let tip = node.lock().chain.tip().hash;
        if tip == seen {
            continue;
        }
        seen = tip;
        let mut display = tip;
        display.reverse();
        let mut message = frame(1, b"hashblock");
        message.extend_from_slice(&frame(1, &display));
        message.extend_from_slice(&frame(0, &seq.to_le_bytes()));
        seq = seq.wrapping_add(1);
        let mut subs = subscribers.lock().unwrap_or_else(PoisonError::into_inner);
        subs.retain_mut(|s| {
            let wants = s
                .topics
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .any(|t| b"hashblock".starts_with(t));
            !wants || s.stream.write_all(&message).is_ok()
        });
    }
}

/// Handshake with one subscriber, then read its subscriptions until it
/// goes away.
fn serve(mut stream: TcpStream, subscribers: &Subscribers) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(5)));
    let mut peer = [0u8; 64];
    if stream.write_all(&greeting()).is_err()
        || stream.read_exact(&mut peer).is_err()
        || check_greeting(&peer).is_err()
        || stream.write_all(&ready(b"PUB")).is_err()
    {
        return;
    }
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let topics: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    subscribers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Subscriber {
            stream: writer,
            topics: topics.clone(),
        });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        while let Ok(Some((f, used))) = parse_frame(&buf) {
            buf.drain(..used);
            let topic = if f.command {
                match parse_command(&f.body) {
                    Ok((b"SUBSCRIBE", _)) => Some(f.body[10..].to_vec()),
                    _ => None,
                }
            } else if f.body.first() == Some(&1) {
                Some(f.body[1..].to_vec())
            } else {
                None
            };
            if let Some(t) = topic {
                topics
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(t);
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) if buf.len() + n <= 1 << 16 => buf.extend_from_slice(&chunk[..n]),
            Ok(_) => return, // a subscriber flooding us
        }
    }
}
