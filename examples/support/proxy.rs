//! A loopback HTTP/1.1 proxy in front of the AWS emulator, for the benchmark and the
//! reliability tests (included by path from `examples/bench` and `tests/it`; one copy).
//!
//! Every request waits `delay` before it is forwarded (a fixed per-exchange latency, as
//! a far-away AWS region adds), is counted (service, action, read or write), and may be
//! replaced by an injected fault: HTTP 500, 503 `SlowDown`, 400 `Throttling`, a
//! connection reset, or a timeout (forwarded, then the answer is held back until the
//! client gives up). Faults are drawn from a seeded generator, so a run is repeatable
//! up to the order in which concurrent requests arrive. Apart from those, a service may
//! be throttled by load, as AWS throttles: `FaultPlan::throttle_above` answers every
//! request that arrives while more than that many of its service's requests are in
//! flight with the service's throttling error (400 `Throttling` for IAM and STS, 503
//! `SlowDown` for S3), after the same delay.
//!
//! It binds 127.0.0.1 only and connects only to the upstream it is given, which callers
//! check is loopback too. With no upstream it answers every request with a 500: a
//! counting listener for "this must make no AWS call".

#![allow(dead_code)] // each includer uses a part of it

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// An AWS service, told apart by the SigV4 credential scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// S3 (and unsigned requests, which moto routes to S3).
    S3,
    /// IAM.
    Iam,
    /// STS.
    Sts,
}

/// One kind of injected failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Fault {
    /// HTTP 500 with the service's XML error (`InternalError` / `ServiceFailure`).
    Http500,
    /// HTTP 503 `SlowDown` (S3's XML shape; IAM/STS get their `ErrorResponse` shape).
    SlowDown503,
    /// HTTP 400 `Throttling` (IAM's `ErrorResponse` shape; S3 gets its `Error` shape).
    Throttling400,
    /// The connection is reset before the request is forwarded.
    Reset,
    /// The request *is* forwarded (the change happens upstream), then the answer is
    /// held for `FaultPlan::hold` and the connection dropped: a lost response.
    Timeout,
    /// HTTP 403 `AccessDenied`: not retried by the SDK (missing permissions).
    AccessDenied403,
}

impl Fault {
    /// Every kind, for "a mix of everything".
    pub const ALL: [Fault; 5] = [
        Fault::Http500,
        Fault::SlowDown503,
        Fault::Throttling400,
        Fault::Reset,
        Fault::Timeout,
    ];
}

/// Which requests fail, and how.
#[derive(Clone, Debug)]
pub struct FaultPlan {
    /// Seed of the generator.
    pub seed: u64,
    /// Share of (eligible) requests that fail, 0.0..=1.0.
    pub rate: f64,
    /// The kinds drawn from, uniformly.
    pub kinds: Vec<Fault>,
    /// Only requests to this service are eligible (all when `None`).
    pub only: Option<Service>,
    /// How long a `Timeout` holds the answer back.
    pub hold: Duration,
    /// Only requests whose start line contains this are eligible (all when `None`), e.g.
    /// `"/bucket/key?x-id=PutObject"` to lose the answer to one object's writes.
    pub matching: Option<String>,
    /// At most this many faults in all (unlimited when `None`).
    pub limit: Option<usize>,
    /// Throttle a request that arrives while more than this many requests to its
    /// service are in flight (itself included: `Some(2)` lets two run at once).
    pub throttle_above: Option<usize>,
}

impl FaultPlan {
    /// No faults.
    pub fn none() -> FaultPlan {
        FaultPlan {
            seed: 0,
            rate: 0.0,
            kinds: Vec::new(),
            only: None,
            hold: Duration::ZERO,
            matching: None,
            limit: None,
            throttle_above: None,
        }
    }
}

impl Stats {
    fn answered(&self, action: String, arrived: std::time::Instant, upstream: Duration) {
        self.exchanges.lock().unwrap().push(Exchange {
            action,
            arrived,
            answered: std::time::Instant::now(),
            upstream,
        });
    }
}

/// One answered exchange, for telling where a run's time went.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// `Service:Action`.
    pub action: String,
    /// When the request had arrived whole.
    pub arrived: std::time::Instant,
    /// When its answer had been written back.
    pub answered: std::time::Instant,
    /// The upstream's part of it (zero for an injected answer).
    pub upstream: Duration,
}

/// What the proxy saw. Every HTTP exchange counts, retries included.
#[derive(Debug, Default)]
pub struct Stats {
    /// Requests received.
    pub requests: AtomicUsize,
    /// Requests whose action reads (Get/List/Head, HTTP GET/HEAD).
    pub reads: AtomicUsize,
    /// All other requests.
    pub writes: AtomicUsize,
    /// Requests answered with an injected fault.
    pub faults: AtomicUsize,
    /// Requests by `Service:Action`.
    pub actions: Mutex<BTreeMap<String, usize>>,
    /// Injected faults by kind.
    pub fault_kinds: Mutex<BTreeMap<String, usize>>,
    /// Total microseconds spent waiting for the upstream's answers (its service time).
    pub upstream_micros: AtomicU64,
    /// Every request as `Service region start-line` (the region of its SigV4 scope, `-`
    /// for unsigned requests), in arrival order.
    pub log: Mutex<Vec<String>>,
    /// Client connections accepted and not yet done: a request whose client has gone is
    /// still read from the socket and forwarded after its delay, so a connection is done
    /// only once every request it carried has been dealt with.
    pub in_flight: AtomicUsize,
    /// Requests in flight per service (S3, IAM, STS), from arrival to answer.
    pub busy: [AtomicUsize; 3],
    /// Every exchange answered, in the order answered: when, and how long upstream took.
    pub exchanges: Mutex<Vec<Exchange>>,
    /// Whether to keep each request's bytes in `recorded` ([`Proxy::record_requests`]).
    pub recording: std::sync::atomic::AtomicBool,
    /// The requests received while `recording`, as received.
    pub recorded: Mutex<Vec<Vec<u8>>>,
    /// Requests answered as throttled because their service was busy.
    pub throttled: AtomicUsize,
    /// Every request's service and how many of its service's requests were in flight
    /// when it arrived (itself included), in arrival order.
    pub arrivals: Mutex<Vec<(Service, usize)>>,
}

/// Counts one request as in flight for its service until it is dropped.
struct Busy<'a>(&'a AtomicUsize);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts one client connection as open until it is dropped, however it ends.
struct InFlight<'a>(&'a AtomicUsize);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A snapshot of `Stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Requests received.
    pub requests: usize,
    /// Read requests.
    pub reads: usize,
    /// Write requests.
    pub writes: usize,
    /// Injected faults.
    pub faults: usize,
    /// Total time spent waiting for the upstream's answers.
    pub upstream: Duration,
    /// Requests throttled because their service was busy (`FaultPlan::throttle_above`).
    pub throttled: usize,
}

/// A running proxy; it stops when dropped.
pub struct Proxy {
    addr: SocketAddr,
    stats: Arc<Stats>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether `url`'s host is loopback; the proxy never talks to anything else.
pub fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"))
        .unwrap_or(url);
    let host = rest.split([':', '/']).next().unwrap_or("");
    matches!(host, "127.0.0.1" | "localhost")
}

/// `http://127.0.0.1:PORT` → the socket address (loopback only).
pub fn upstream_addr(url: &str) -> SocketAddr {
    assert!(is_loopback_url(url), "refusing non-loopback upstream {url}");
    let rest = url.trim_start_matches("http://").trim_end_matches('/');
    let port: u16 = rest
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"));
    SocketAddr::from(([127, 0, 0, 1], port))
}

impl Proxy {
    /// Starts a proxy on a free 127.0.0.1 port (call from inside a tokio runtime).
    pub async fn start(upstream: Option<SocketAddr>, delay: Duration, faults: FaultPlan) -> Proxy {
        if let Some(u) = upstream {
            assert!(u.ip().is_loopback(), "refusing non-loopback upstream {u}");
        }
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let addr = listener.local_addr().unwrap();
        let stats = Arc::new(Stats::default());
        let shared = Arc::new(Shared {
            upstream,
            delay,
            faults,
            rng: AtomicU64::new(0),
            stats: Arc::clone(&stats),
        });
        shared
            .rng
            .store(shared.faults.seed ^ 0x9E37_79B9_7F4A_7C15, Ordering::SeqCst);
        let task = tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    continue;
                };
                let shared = Arc::clone(&shared);
                shared.stats.in_flight.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let stats = Arc::clone(&shared.stats);
                    let _open = InFlight(&stats.in_flight);
                    let _ = serve(client, shared).await;
                });
            }
        });
        Proxy { addr, stats, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Counts so far.
    pub fn counts(&self) -> Counts {
        Counts {
            requests: self.stats.requests.load(Ordering::SeqCst),
            reads: self.stats.reads.load(Ordering::SeqCst),
            writes: self.stats.writes.load(Ordering::SeqCst),
            faults: self.stats.faults.load(Ordering::SeqCst),
            upstream: Duration::from_micros(self.stats.upstream_micros.load(Ordering::SeqCst)),
            throttled: self.stats.throttled.load(Ordering::SeqCst),
        }
    }

    /// Every request's service and its service's requests in flight at its arrival.
    pub fn arrivals(&self) -> Vec<(Service, usize)> {
        self.stats.arrivals.lock().unwrap().clone()
    }

    /// Requests by `Service:Action`.
    pub fn actions(&self) -> BTreeMap<String, usize> {
        self.stats.actions.lock().unwrap().clone()
    }

    /// Injected faults by kind.
    pub fn fault_kinds(&self) -> BTreeMap<String, usize> {
        self.stats.fault_kinds.lock().unwrap().clone()
    }

    /// Starts (or stops) keeping the bytes of every request received, for
    /// [`Proxy::replay`].
    pub fn record_requests(&self, on: bool) {
        self.stats.recording.store(on, Ordering::SeqCst);
    }

    /// The requests kept since recording started, taken (the record is emptied).
    pub fn take_recorded(&self) -> Vec<Vec<u8>> {
        std::mem::take(&mut *self.stats.recorded.lock().unwrap())
    }

    /// Sends `requests` (whole HTTP requests, as recorded) through this proxy with a
    /// minimal client: `parallelism` at once, each on a connection of its own (the
    /// emulator closes every connection after its answer), in order, none waiting for
    /// any other. The wall time is the least any client could take for exactly these
    /// calls at this parallelism, through this proxy and upstream. Only for reads:
    /// replaying a write does it again.
    pub async fn replay(&self, requests: Vec<Vec<u8>>, parallelism: usize) -> io::Result<Duration> {
        let queue = Arc::new(Mutex::new(std::collections::VecDeque::from(requests)));
        let started = std::time::Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..parallelism.max(1) {
            let (queue, addr) = (Arc::clone(&queue), self.addr);
            workers.spawn(async move {
                loop {
                    let Some(request) = queue.lock().unwrap().pop_front() else {
                        return io::Result::Ok(());
                    };
                    let method = String::from_utf8_lossy(&request)
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let stream = TcpStream::connect(addr).await?;
                    stream.set_nodelay(true)?;
                    let (read, mut write) = stream.into_split();
                    write.write_all(&request).await?;
                    read_message(&mut BufReader::new(read), true, &method)
                        .await?
                        .ok_or_else(|| io::Error::other("the proxy closed without an answer"))?;
                }
            });
        }
        while let Some(done) = workers.join_next().await {
            done.map_err(io::Error::other)??;
        }
        Ok(started.elapsed())
    }

    /// Every exchange answered so far, in the order answered.
    pub fn exchanges(&self) -> Vec<Exchange> {
        self.stats.exchanges.lock().unwrap().clone()
    }

    /// Every request so far as `Service region start-line`.
    pub fn log(&self) -> Vec<String> {
        self.stats.log.lock().unwrap().clone()
    }

    /// Waits until every client connection is done, for a client that has exited: the
    /// requests of a process that was killed (or exited on a second signal) are still
    /// forwarded after their delay, and a test that goes on at once races with them
    /// (a late CreateBucket lands after the next run's refresh). Idle must hold twice,
    /// 50 ms apart, so a connection the kernel accepted just before is counted too.
    /// Panics after `timeout`.
    pub async fn wait_idle(&self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut idle_checks = 0;
        while idle_checks < 2 {
            let open = self.stats.in_flight.load(Ordering::SeqCst);
            assert!(
                tokio::time::Instant::now() < deadline,
                "the proxy still has {open} connection(s) open after {timeout:?}"
            );
            idle_checks = if open == 0 { idle_checks + 1 } else { 0 };
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct Shared {
    upstream: Option<SocketAddr>,
    delay: Duration,
    faults: FaultPlan,
    rng: AtomicU64,
    stats: Arc<Stats>,
}

impl Shared {
    /// splitmix64 step: a seeded, lock-free stream of numbers.
    fn next(&self) -> u64 {
        let mut z = self
            .rng
            .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::SeqCst)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn draw(&self, service: Service, start: &str) -> Option<Fault> {
        let f = &self.faults;
        if f.rate <= 0.0 || f.kinds.is_empty() || f.only.is_some_and(|s| s != service) {
            return None;
        }
        if f.matching
            .as_ref()
            .is_some_and(|m| !start.contains(m.as_str()))
        {
            return None;
        }
        if f.limit
            .is_some_and(|n| self.stats.faults.load(Ordering::SeqCst) >= n)
        {
            return None;
        }
        let roll = (self.next() >> 11) as f64 / (1u64 << 53) as f64;
        if roll >= f.rate {
            return None;
        }
        Some(f.kinds[(self.next() % f.kinds.len() as u64) as usize])
    }
}

/// One HTTP message as read off the wire: the head (start line + headers) and the raw
/// body bytes exactly as framed (chunked bodies keep their framing).
struct Message {
    head: Vec<u8>,
    start: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Message {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = self.head.clone();
        out.extend_from_slice(&self.body);
        out
    }
}

/// Reads a head; `None` on a clean end of stream before the first byte.
async fn read_head<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
) -> io::Result<Option<(Vec<u8>, String, Vec<(String, String)>)>> {
    let mut head = Vec::new();
    let mut start = String::new();
    let mut headers = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).await?;
        if n == 0 {
            if head.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof in head"));
        }
        head.extend_from_slice(&line);
        if head.len() > 1 << 20 {
            return Err(io::Error::other("head too large"));
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\r', '\n']);
        if start.is_empty() {
            start = text.to_string();
            continue;
        }
        if text.is_empty() {
            return Ok(Some((head, start, headers)));
        }
        if let Some((k, v)) = text.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// Reads a chunked body, keeping its framing (and trailers) byte for byte.
async fn read_chunked<R: AsyncRead + Unpin>(r: &mut BufReader<R>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        r.read_until(b'\n', &mut line).await?;
        body.extend_from_slice(&line);
        let size_text = String::from_utf8_lossy(&line);
        let size_text = size_text.trim().split(';').next().unwrap_or("").to_string();
        let size = usize::from_str_radix(&size_text, 16)
            .map_err(|_| io::Error::other(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers until the empty line.
            loop {
                let mut t = Vec::new();
                let n = r.read_until(b'\n', &mut t).await?;
                body.extend_from_slice(&t);
                if n == 0 || t == b"\r\n" || t == b"\n" {
                    return Ok(body);
                }
            }
        }
        let mut chunk = vec![0; size + 2];
        r.read_exact(&mut chunk).await?;
        body.extend_from_slice(&chunk);
    }
}

/// Reads one message. `no_body` for responses to HEAD and 1xx/204/304.
async fn read_message<R: AsyncRead + Unpin>(
    r: &mut BufReader<R>,
    is_response: bool,
    request_method: &str,
) -> io::Result<Option<Message>> {
    let Some((head, start, headers)) = read_head(r).await? else {
        return Ok(None);
    };
    let mut m = Message {
        head,
        start,
        headers,
        body: Vec::new(),
    };
    let status: u16 = if is_response {
        m.start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    } else {
        0
    };
    let no_body = is_response
        && (request_method == "HEAD" || status / 100 == 1 || status == 204 || status == 304);
    if no_body {
        return Ok(Some(m));
    }
    if m.header("transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        m.body = read_chunked(r).await?;
    } else if let Some(len) = m.header("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| io::Error::other("bad content-length"))?;
        m.body = vec![0; len];
        r.read_exact(&mut m.body).await?;
    } else if is_response {
        // No framing: the body runs to the end of the connection.
        r.read_to_end(&mut m.body).await?;
    }
    Ok(Some(m))
}

/// The region of a request's SigV4 credential scope (`-` when unsigned).
fn region_of(request: &Message) -> String {
    let auth = request.header("authorization").unwrap_or("");
    auth.split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').nth(2))
        .unwrap_or("-")
        .to_string()
}

fn service_of(request: &Message) -> Service {
    let auth = request.header("authorization").unwrap_or("");
    if auth.contains("/iam/aws4_request") {
        Service::Iam
    } else if auth.contains("/sts/aws4_request") {
        Service::Sts
    } else {
        Service::S3
    }
}

/// The operation, as far as the wire tells: IAM/STS `Action=`, S3 method and sub-resource.
fn action_of(request: &Message, service: Service) -> (String, bool) {
    let method = request.start.split_whitespace().next().unwrap_or("");
    if service != Service::S3 {
        let body = String::from_utf8_lossy(&request.body);
        let action = body
            .split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .unwrap_or("Unknown")
            .to_string();
        let read = ["Get", "List", "Head"]
            .iter()
            .any(|p| action.starts_with(p));
        return (action, read);
    }
    let target = request.start.split_whitespace().nth(1).unwrap_or("");
    let query = target.split_once('?').map_or("", |(_, q)| q);
    let sub = query
        .split('&')
        .map(|kv| kv.split('=').next().unwrap_or(""))
        .find(|k| {
            [
                "tagging",
                "policy",
                "publicAccessBlock",
                "location",
                "delete",
                "list-type",
            ]
            .contains(k)
        })
        .unwrap_or("");
    let read = method == "GET" || method == "HEAD";
    (
        format!("{method}{}{sub}", if sub.is_empty() { "" } else { "?" }),
        read,
    )
}

fn fault_response(fault: Fault, service: Service) -> Vec<u8> {
    let (status, code, message) = match fault {
        Fault::Http500 => (
            "500 Internal Server Error",
            if service == Service::S3 {
                "InternalError"
            } else {
                "ServiceFailure"
            },
            "injected internal error",
        ),
        Fault::SlowDown503 => (
            "503 Slow Down",
            if service == Service::S3 {
                "SlowDown"
            } else {
                "ServiceUnavailable"
            },
            "Please reduce your request rate.",
        ),
        Fault::Throttling400 => ("400 Bad Request", "Throttling", "Rate exceeded"),
        Fault::AccessDenied403 => (
            "403 Forbidden",
            "AccessDenied",
            "injected: not authorized to perform this action",
        ),
        Fault::Reset | Fault::Timeout => unreachable!("not an HTTP answer"),
    };
    let body = if service == Service::S3 {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>injected</RequestId></Error>"
        )
    } else {
        format!(
            "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>injected</RequestId></ErrorResponse>"
        )
    };
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

async fn serve(client: TcpStream, shared: Arc<Shared>) -> io::Result<()> {
    client.set_nodelay(true)?;
    let (client_read, mut client_write) = client.into_split();
    let mut client_read = BufReader::new(client_read);
    let mut upstream: Option<(
        BufReader<tokio::net::tcp::OwnedReadHalf>,
        tokio::net::tcp::OwnedWriteHalf,
    )> = None;
    loop {
        let Some(request) = read_message(&mut client_read, false, "").await? else {
            return Ok(());
        };
        let arrived = std::time::Instant::now();
        let stats = &shared.stats;
        if stats.recording.load(Ordering::SeqCst) {
            stats.recorded.lock().unwrap().push(request.bytes());
        }
        let service = service_of(&request);
        let (action, read) = action_of(&request, service);
        let name = format!("{service:?}:{action}");
        let busy = &stats.busy[service as usize];
        let in_flight = busy.fetch_add(1, Ordering::SeqCst) + 1;
        let _busy = Busy(busy);
        stats.arrivals.lock().unwrap().push((service, in_flight));
        let throttle = shared.faults.throttle_above.is_some_and(|n| in_flight > n);
        stats.requests.fetch_add(1, Ordering::SeqCst);
        if read {
            stats.reads.fetch_add(1, Ordering::SeqCst);
        } else {
            stats.writes.fetch_add(1, Ordering::SeqCst);
        }
        *stats
            .actions
            .lock()
            .unwrap()
            .entry(name.clone())
            .or_default() += 1;
        if !shared.delay.is_zero() {
            tokio::time::sleep(shared.delay).await;
        }
        stats.log.lock().unwrap().push(format!(
            "{service:?} {} {}",
            region_of(&request),
            request.start
        ));
        if throttle {
            stats.throttled.fetch_add(1, Ordering::SeqCst);
            let answer = if service == Service::S3 {
                Fault::SlowDown503
            } else {
                Fault::Throttling400
            };
            client_write
                .write_all(&fault_response(answer, service))
                .await?;
            stats.answered(name, arrived, Duration::ZERO);
            continue;
        }
        let fault = shared.draw(service, &request.start);
        if let Some(f) = fault {
            stats.faults.fetch_add(1, Ordering::SeqCst);
            *stats
                .fault_kinds
                .lock()
                .unwrap()
                .entry(format!("{f:?}"))
                .or_default() += 1;
        }
        match fault {
            Some(Fault::Reset) => {
                let client = client_read.into_inner().reunite(client_write).ok();
                if let Some(c) = client {
                    let _ = c.set_zero_linger();
                }
                return Ok(());
            }
            Some(
                f @ (Fault::Http500
                | Fault::SlowDown503
                | Fault::Throttling400
                | Fault::AccessDenied403),
            ) => {
                client_write.write_all(&fault_response(f, service)).await?;
                stats.answered(name, arrived, Duration::ZERO);
                continue;
            }
            Some(Fault::Timeout) | None => {}
        }
        let Some(addr) = shared.upstream else {
            client_write
                .write_all(&fault_response(Fault::Http500, service))
                .await?;
            continue;
        };
        let method = request
            .start
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_string();
        // A kept-alive upstream connection may have closed under us: one fresh retry.
        let mut response = None;
        let asked = std::time::Instant::now();
        for _ in 0..2 {
            if upstream.is_none() {
                let s = TcpStream::connect(addr).await?;
                s.set_nodelay(true)?;
                let (r, w) = s.into_split();
                upstream = Some((BufReader::new(r), w));
            }
            let (up_read, up_write) = upstream.as_mut().unwrap();
            let got = match up_write.write_all(&request.bytes()).await {
                Ok(()) => read_message(up_read, true, &method).await,
                Err(e) => Err(e),
            };
            match got {
                Ok(Some(m)) => {
                    response = Some(m);
                    break;
                }
                Ok(None) | Err(_) => upstream = None,
            }
        }
        let Some(response) = response else {
            return Err(io::Error::other("upstream closed the connection"));
        };
        let upstream_took = asked.elapsed();
        stats
            .upstream_micros
            .fetch_add(upstream_took.as_micros() as u64, Ordering::SeqCst);
        if response
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            upstream = None;
        }
        if fault == Some(Fault::Timeout) {
            // The change happened upstream; the client never hears about it.
            tokio::time::sleep(shared.faults.hold).await;
            return Ok(());
        }
        client_write.write_all(&response.bytes()).await?;
        stats.answered(name, arrived, upstream_took);
        if response.header("content-length").is_none()
            && !response
                .header("transfer-encoding")
                .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
            && !response.body.is_empty()
        {
            // Close-delimited body: the client learns the end from our close.
            return Ok(());
        }
    }
}
