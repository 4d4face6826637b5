//! `locus data fetch` and `locus data verify` against small HTTP/1.1 servers that the tests
//! run on 127.0.0.1: good files, a mirror serving corrupt files, a transfer that breaks off
//! and is resumed with a Range request, a dead mirror, and every mirror bad. The files are
//! small stand-ins whose SHA-256 sums reach the command through its test-only
//! `--checksums` flag; the built-in sums are checked on the real MNIST files at the end.

use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use locus_testing::shared_data::shared_data_dir;
use sha2::{Digest, Sha256};

mod common;
use common::scratch;

const NAMES: [&str; 4] = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
];

/// Stand-ins for the four files: pseudo-random bytes of the sizes' order of magnitude.
fn stand_ins() -> Vec<(String, Vec<u8>)> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    [40_000, 600, 8_000, 300]
        .into_iter()
        .zip(NAMES)
        .map(|(len, name)| {
            let bytes = (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    (state >> 56) as u8
                })
                .collect();
            (name.to_string(), bytes)
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes the stand-ins' sums in `sha256sum`'s format and returns the file.
fn checksums_file(dir: &Path, files: &[(String, Vec<u8>)]) -> PathBuf {
    let path = dir.join("SHA256SUMS");
    let text: String = files
        .iter()
        .map(|(name, bytes)| format!("{}  {name}\n", sha256_hex(bytes)))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// How a test server departs from a good one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    None,
    /// Every file served with one byte changed.
    Corrupt,
    /// A response to a request without Range announces the whole file, sends half of it
    /// and closes the connection; Range requests are answered in full.
    BreakOffHalfway,
    /// Range headers ignored: every answer is the whole file with status 200.
    NoRange,
}

/// One request a server received.
#[derive(Debug, Clone)]
struct Request {
    path: String,
    range: Option<String>,
}

/// An HTTP/1.1 server on 127.0.0.1 serving `files` at `/<name>`, with Range support, one
/// connection at a time (`Connection: close`). It stops when dropped, and by itself after
/// 30 s.
struct Server {
    base: String,
    log: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(files: &[(String, Vec<u8>)], fault: Fault) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let files = files.to_vec();
        let thread = {
            let (log, stop) = (log.clone(), stop.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((stream, _)) => serve(stream, &files, fault, &log),
                        Err(e) if e.kind() == ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        Self {
            base,
            log,
            stop,
            thread: Some(thread),
        }
    }

    fn requests(&self) -> Vec<Request> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, files: &[(String, Vec<u8>)], fault: Fault, log: &Mutex<Vec<Request>>) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut range = None;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((key, value)) = line.split_once(':') {
            if key.eq_ignore_ascii_case("range") {
                range = Some(value.trim().to_string());
            }
        }
    }
    let path = request_line
        .split_whitespace()
        .nth(1)
        .unwrap_or("")
        .to_string();
    log.lock().unwrap().push(Request {
        path: path.clone(),
        range: range.clone(),
    });
    let mut out = stream;
    let name = path.trim_start_matches('/');
    let Some((_, bytes)) = files.iter().find(|(n, _)| n == name) else {
        let _ = out
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        return;
    };
    let mut body = bytes.clone();
    if fault == Fault::Corrupt {
        let middle = body.len() / 2;
        body[middle] ^= 0xff;
    }
    let len = body.len();
    let start = range
        .as_deref()
        .filter(|_| fault != Fault::NoRange)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .map(|s| s.parse::<usize>().unwrap());
    let response = match start {
        Some(s) if s >= len => {
            format!("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").into_bytes()
        }
        Some(s) => {
            let mut r = format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {s}-{}/{len}\r\nConnection: close\r\n\r\n",
                len - s,
                len - 1
            )
            .into_bytes();
            r.extend_from_slice(&body[s..]);
            r
        }
        None => {
            let sent = if fault == Fault::BreakOffHalfway { len / 2 } else { len };
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nContent-Type: application/gzip\r\nConnection: close\r\n\r\n"
            )
            .into_bytes();
            r.extend_from_slice(&body[..sent]);
            r
        }
    };
    let _ = out.write_all(&response);
    let _ = out.flush();
}

/// The base URL of a port on which nothing listens.
fn dead_mirror() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/")
}

/// Runs `locus` with `args`, without `LOCUS_DATA` and without proxy settings from the
/// environment (the servers are on this machine).
fn locus(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_locus"));
    command.args(args).env_remove("LOCUS_DATA");
    for proxy in ["ALL_PROXY", "HTTP_PROXY", "HTTPS_PROXY"] {
        command.env_remove(proxy).env_remove(proxy.to_lowercase());
    }
    command.output().expect("the locus binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `locus data <verb> mnist --dir DIR --checksums SUMS [--mirror URL]...`.
fn data(verb: &str, dir: &Path, sums: &Path, mirrors: &[&str]) -> Output {
    let (dir, sums) = (dir.to_str().unwrap(), sums.to_str().unwrap());
    let mut args = vec!["data", verb, "mnist", "--dir", dir, "--checksums", sums];
    for m in mirrors {
        args.extend(["--mirror", m]);
    }
    locus(&args)
}

/// A scratch directory with the stand-ins' checksums file beside an empty data directory.
fn setup(name: &str) -> (Vec<(String, Vec<u8>)>, PathBuf, PathBuf) {
    let root = scratch(name);
    let files = stand_ins();
    let sums = checksums_file(&root, &files);
    let dir = root.join("mnist");
    (files, dir, sums)
}

fn assert_all_in_place(dir: &Path, files: &[(String, Vec<u8>)]) {
    for (name, bytes) in files {
        let got = std::fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(&got == bytes, "{name} differs from what was served");
        assert!(
            !dir.join(format!("{name}.part")).exists(),
            "{name}.part left behind"
        );
    }
}

fn assert_ok(o: &Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed\nstdout: {}\nstderr: {}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

#[test]
fn good_files_are_fetched_verified_and_then_skipped() {
    let (files, dir, sums) = setup("fetch-good");
    let server = Server::start(&files, Fault::None);
    let o = data("fetch", &dir, &sums, &[&server.base]);
    assert_ok(&o, "fetch");
    assert_all_in_place(&dir, &files);
    let out = text(&o.stdout);
    assert!(
        out.contains(&format!(
            "locus train --dataset mnist --data-dir {}",
            dir.display()
        )),
        "{out}"
    );
    assert_eq!(server.requests().len(), 4);

    let o = data("verify", &dir, &sums, &[]);
    assert_ok(&o, "verify");
    let out = text(&o.stdout);
    for name in NAMES {
        assert!(
            out.lines().any(|l| l.contains(name) && l.contains("ok")),
            "{name}: {out}"
        );
    }

    let o = data("fetch", &dir, &sums, &[&server.base]);
    assert_ok(&o, "second fetch");
    assert_eq!(
        server.requests().len(),
        4,
        "a second fetch downloaded again"
    );
    assert_eq!(text(&o.stdout).matches("skipped").count(), 4);
}

#[test]
fn verify_fails_naming_missing_and_wrong_files() {
    let (files, dir, sums) = setup("verify-bad");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in &files[..2] {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
    std::fs::write(dir.join(NAMES[2]), b"something else").unwrap();
    let o = data("verify", &dir, &sums, &[]);
    assert!(!o.status.success());
    let out = text(&o.stdout);
    let line = |name: &str| out.lines().find(|l| l.contains(name)).unwrap().to_string();
    assert!(
        line(NAMES[0]).contains("ok") && line(NAMES[1]).contains("ok"),
        "{out}"
    );
    assert!(line(NAMES[2]).contains("WRONG"), "{out}");
    assert!(line(NAMES[3]).contains("MISSING"), "{out}");
    let err = text(&o.stderr);
    assert!(
        err.contains("2 of the 4 files") && err.contains("locus data fetch"),
        "{err}"
    );
}

#[test]
fn a_wrong_checksum_on_the_first_mirror_falls_back_to_the_second() {
    let (files, dir, sums) = setup("fetch-corrupt-first");
    let (bad, good) = (
        Server::start(&files, Fault::Corrupt),
        Server::start(&files, Fault::None),
    );
    let o = data("fetch", &dir, &sums, &[&bad.base, &good.base]);
    assert_ok(&o, "fetch");
    assert_all_in_place(&dir, &files);
    let err = text(&o.stderr);
    for name in NAMES {
        let reported = format!("{}{name}: the file's SHA-256 is", bad.base);
        assert!(err.contains(&reported), "{reported:?} not in: {err}");
    }
    assert_eq!((bad.requests().len(), good.requests().len()), (4, 4));
}

#[test]
fn a_broken_transfer_is_resumed_with_a_range_request() {
    let (files, dir, sums) = setup("fetch-resume");
    let server = Server::start(&files, Fault::BreakOffHalfway);
    let o = data("fetch", &dir, &sums, &[&server.base]);
    assert!(!o.status.success(), "a half transfer cannot succeed");
    let err = text(&o.stderr);
    assert!(err.contains("broke off"), "{err}");
    for (name, bytes) in &files {
        assert!(
            !dir.join(name).exists(),
            "{name} in place after a broken transfer"
        );
        let part = std::fs::read(dir.join(format!("{name}.part"))).unwrap();
        assert_eq!(part, bytes[..bytes.len() / 2], "{name}.part");
    }

    let o = data("fetch", &dir, &sums, &[&server.base]);
    assert_ok(&o, "the resumed fetch");
    assert_all_in_place(&dir, &files);
    let resumed = &server.requests()[4..];
    for ((name, bytes), request) in files.iter().zip(resumed) {
        assert_eq!(request.path, format!("/{name}"));
        assert_eq!(
            request.range.as_deref(),
            Some(format!("bytes={}-", bytes.len() / 2).as_str()),
            "{name}"
        );
    }
    assert_eq!(text(&o.stdout).matches("going on after").count(), 4);
}

#[test]
fn a_mirror_without_range_support_gives_the_whole_file_again() {
    let (files, dir, sums) = setup("fetch-no-range");
    let breaking = Server::start(&files, Fault::BreakOffHalfway);
    let o = data("fetch", &dir, &sums, &[&breaking.base]);
    assert!(!o.status.success());
    let plain = Server::start(&files, Fault::NoRange);
    let o = data("fetch", &dir, &sums, &[&plain.base]);
    assert_ok(&o, "fetch from a mirror without Range support");
    assert_all_in_place(&dir, &files);
    assert!(plain.requests().iter().all(|r| r.range.is_some()));
    assert!(!text(&o.stdout).contains("going on after"));
}

#[test]
fn a_corrupt_unfinished_download_is_started_again_not_blamed_on_the_mirror() {
    let (files, dir, sums) = setup("fetch-bad-part");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in &files {
        std::fs::write(dir.join(format!("{name}.part")), vec![0u8; bytes.len() / 3]).unwrap();
    }
    let server = Server::start(&files, Fault::None);
    let o = data("fetch", &dir, &sums, &[&server.base]);
    assert_ok(&o, "fetch");
    assert_all_in_place(&dir, &files);
    let requests = server.requests();
    assert_eq!(requests.len(), 8, "{requests:?}");
    for pair in requests.chunks(2) {
        assert!(
            pair[0].range.is_some() && pair[1].range.is_none(),
            "{pair:?}"
        );
        assert_eq!(pair[0].path, pair[1].path);
    }
}

#[test]
fn a_decompressed_file_the_loader_would_read_instead_fails_the_fetch() {
    let (files, dir, sums) = setup("fetch-shadowed");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("t10k-labels-idx1-ubyte"), b"stale").unwrap();
    let server = Server::start(&files, Fault::None);
    let o = data("fetch", &dir, &sums, &[&server.base]);
    assert!(!o.status.success());
    assert_all_in_place(&dir, &files);
    let err = text(&o.stderr);
    assert!(
        err.contains("t10k-labels-idx1-ubyte UNCHECKED") && err.contains("remove them"),
        "{err}"
    );
}

#[test]
fn a_dead_mirror_falls_back_to_a_good_one() {
    let (files, dir, sums) = setup("fetch-dead-first");
    let good = Server::start(&files, Fault::None);
    let dead = dead_mirror();
    let o = data("fetch", &dir, &sums, &[&dead, &good.base]);
    assert_ok(&o, "fetch");
    assert_all_in_place(&dir, &files);
    let err = text(&o.stderr);
    assert_eq!(err.matches(dead.as_str()).count(), 4, "{err}");
}

#[test]
fn every_mirror_bad_fails_naming_files_and_mirrors_and_leaves_nothing() {
    let (files, dir, sums) = setup("fetch-all-bad");
    let corrupt = Server::start(&files, Fault::Corrupt);
    let dead = dead_mirror();
    let o = data("fetch", &dir, &sums, &[&dead, &corrupt.base]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(err.contains("4 of the 4 files"), "{err}");
    for name in NAMES {
        for mirror in [&dead, &corrupt.base] {
            let url = format!("{mirror}{name}");
            assert!(err.contains(&url), "{url} not in: {err}");
        }
    }
    let left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_mirror_must_be_an_http_url() {
    let o = locus(&["data", "fetch", "mnist", "--mirror", "ftp://example/mnist"]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("--mirror") && err.contains("ftp://example/mnist"),
        "{err}"
    );
}

/// The built-in checksums, on the real files: the shared copy is recompressed (its .gz
/// bytes are not the published ones), so this also shows a recompressed copy passing by
/// the SHA-256 of its data.
#[test]
fn verify_accepts_the_real_mnist_files() {
    let Some(dir) = shared_data_dir("mnist") else {
        return;
    };
    let o = locus(&["data", "verify", "mnist", "--dir", dir.to_str().unwrap()]);
    assert_ok(&o, "verify on the shared MNIST");
    assert_eq!(
        text(&o.stdout).matches(" ok: ").count(),
        4,
        "{}",
        text(&o.stdout)
    );
}
