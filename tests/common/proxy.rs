//! A pausable loopback TCP proxy, to take the emulator away and bring it back (DESIGN.md
//! section 10: a restarted moto comes back empty, so outages are simulated here). While
//! paused it accepts and drops every connection, and cuts the ones in flight. It can also lose
//! answers: the request goes through, and the connection is cut as the response comes back.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct Proxy {
    pub endpoint: String,
    paused: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<TcpStream>>>,
    /// How many of the next connections lose their response.
    lose: Arc<AtomicUsize>,
}

/// Reads the server's first bytes, then cuts both ends: the request was served, and the
/// client never hears the answer.
fn swallow(mut from: TcpStream, to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    let _ = from.read(&mut buf);
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Proxy {
    /// Forwards a free loopback port to `upstream` (`http://127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> Proxy {
        let target = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let paused = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let lose = Arc::new(AtomicUsize::new(0));
        let (p, o, l) = (paused.clone(), open.clone(), lose.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                if p.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&target) else {
                    continue;
                };
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    o.lock().unwrap().extend([c, s]);
                }
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                let lost = l
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                std::thread::spawn(move || pipe(client, server));
                if lost {
                    std::thread::spawn(move || swallow(s2, c2));
                } else {
                    std::thread::spawn(move || pipe(s2, c2));
                }
            }
        });
        Proxy {
            endpoint,
            paused,
            open,
            lose,
        }
    }

    /// The next `n` connections get no response: each request arrives, and its answer is cut.
    pub fn lose_responses(&self, n: usize) {
        self.lose.store(n, Ordering::SeqCst);
    }

    /// The emulator becomes unreachable: new connections are dropped, open ones cut.
    pub fn pause(&self) {
        self.paused.store(true, Ordering::SeqCst);
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn resume(&self) {
        self.paused.store(false, Ordering::SeqCst);
    }
}
