//! A node between the pool and a simulated node, for node faults: it
//! forwards each HTTP request as it is, or is down (every connection
//! closed), or fails the next `getblocktemplate` calls as bitcoind does
//! when it cannot serve one (HTTP 500, JSON-RPC error -9).

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;

use parking_lot::Mutex;

#[derive(Default)]
struct State {
    down: bool,
    fail_templates: u32,
    failed_templates: u32,
    open: Vec<TcpStream>,
}

pub struct NodeProxy {
    /// Where the pool connects (`host:port`).
    pub addr: String,
    state: Arc<Mutex<State>>,
}

impl NodeProxy {
    pub fn start(upstream: &str) -> NodeProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State::default()));
        let (s, upstream) = (state.clone(), upstream.to_string());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let mut st = s.lock();
                if st.down {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                st.open.push(client.try_clone().unwrap());
                drop(st);
                let (s, upstream) = (s.clone(), upstream.clone());
                std::thread::spawn(move || serve(client, &upstream, &s));
            }
        });
        NodeProxy { addr, state }
    }

    /// Down: every open connection is closed, new ones at once. Up again:
    /// requests are forwarded.
    pub fn set_down(&self, down: bool) {
        let mut st = self.state.lock();
        st.down = down;
        if down {
            for c in st.open.drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }

    /// Fail the next `n` `getblocktemplate` calls.
    pub fn fail_templates(&self, n: u32) {
        self.state.lock().fail_templates = n;
    }

    /// How many `getblocktemplate` calls were failed so far.
    pub fn failed_templates(&self) -> u32 {
        self.state.lock().failed_templates
    }
}

/// One HTTP message: the head (through the blank line) and the body.
fn read_message(r: &mut impl BufRead) -> Option<(String, Vec<u8>)> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    r.read_exact(&mut body).ok()?;
    Some((head, body))
}

fn serve(client: TcpStream, upstream: &str, state: &Mutex<State>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut writer = client;
    while let Some((head, body)) = read_message(&mut reader) {
        if state.lock().down {
            return;
        }
        let reply = if fail_this(&body, state) {
            let body = r#"{"result":null,"error":{"code":-9,"message":"Bitcoin Core is not connected!"},"id":1}"#;
            let head = format!(
                "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            (head, body.as_bytes().to_vec())
        } else {
            let Ok(mut up) = TcpStream::connect(upstream) else {
                return;
            };
            if up.write_all(head.as_bytes()).is_err() || up.write_all(&body).is_err() {
                return;
            }
            let Some(reply) = read_message(&mut BufReader::new(up)) else {
                return;
            };
            reply
        };
        if writer.write_all(reply.0.as_bytes()).is_err() || writer.write_all(&reply.1).is_err() {
            return;
        }
    }
}

fn fail_this(body: &[u8], state: &Mutex<State>) -> bool {
    let mut st = state.lock();
    let gbt = String::from_utf8_lossy(body).contains("\"getblocktemplate\"");
    if gbt && st.fail_templates > 0 {
        st.fail_templates -= 1;
        st.failed_templates += 1;
        return true;
    }
    false
}
