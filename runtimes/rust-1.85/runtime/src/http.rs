//! A small HTTP/1.1 server connection: request heads parsed with `httparse`,
//! bodies by Content-Length or chunked, `Expect: 100-continue`, keep-alive and
//! pipelining. One thread serves one connection.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const MAX_HEAD: usize = 64 * 1024;
const MAX_HEADERS: usize = 256;
/// Waiting for the next request on a kept-alive connection.
const IDLE_TIMEOUT: Duration = Duration::from_secs(65);
/// Silence allowed while a request head or body is arriving.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Request {
    pub method: String,
    /// Request target as sent (origin form, e.g. `/a/b?c=d`).
    pub target: String,
    /// Header names lower-cased, in arrival order.
    pub headers: Vec<(String, String)>,
    pub body: BodyKind,
    pub expects_continue: bool,
    pub keep_alive: bool,
}

#[derive(Clone, Copy)]
pub enum BodyKind {
    Empty,
    Length(u64),
    Chunked,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }
}

pub enum HeadError {
    /// Connection closed or timed out between requests: just close.
    Closed,
    /// Malformed request: answer with this status, then close.
    Bad(u16),
}

pub enum BodyRead {
    Complete(Vec<u8>),
    /// More than `limit` bytes. `drained` tells whether the rest was read off
    /// the connection (so it can be reused).
    TooLarge { drained: bool },
}

pub struct Connection {
    stream: TcpStream,
    buf: Vec<u8>,
    pos: usize,
}

impl Connection {
    pub fn new(stream: TcpStream) -> Self {
        let _ = stream.set_nodelay(true);
        let _ = stream.set_write_timeout(Some(Duration::from_secs(300)));
        Connection { stream, buf: Vec::with_capacity(16 * 1024), pos: 0 }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }

    /// Reads more bytes into the buffer; Ok(0) at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }

    pub fn read_request(&mut self) -> Result<Request, HeadError> {
        let mut waited_idle = self.buffered().is_empty();
        let _ = self.stream.set_read_timeout(Some(if waited_idle { IDLE_TIMEOUT } else { TRANSFER_TIMEOUT }));
        loop {
            // Tolerate empty lines before a request line (RFC 9112 2.2).
            while self.buffered().starts_with(b"\r\n") || self.buffered().starts_with(b"\n") {
                let skip = if self.buffered()[0] == b'\r' { 2 } else { 1 };
                self.consume(skip);
            }
            if !self.buffered().is_empty() {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut parsed = httparse::Request::new(&mut headers);
                match parsed.parse(self.buffered()) {
                    Ok(httparse::Status::Complete(length)) => {
                        let request = build_request(&parsed)?;
                        self.consume(length);
                        return Ok(request);
                    }
                    Ok(httparse::Status::Partial) => {
                        if self.buffered().len() > MAX_HEAD {
                            return Err(HeadError::Bad(431));
                        }
                    }
                    Err(httparse::Error::TooManyHeaders) => return Err(HeadError::Bad(431)),
                    Err(_) => return Err(HeadError::Bad(400)),
                }
            }
            match self.fill() {
                Ok(0) => {
                    return Err(if self.buffered().is_empty() { HeadError::Closed } else { HeadError::Bad(400) })
                }
                Ok(_) => {
                    if waited_idle {
                        waited_idle = false;
                        let _ = self.stream.set_read_timeout(Some(TRANSFER_TIMEOUT));
                    }
                }
                Err(_) => return Err(HeadError::Closed),
            }
        }
    }

    pub fn send_continue(&mut self) -> io::Result<()> {
        self.stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
    }

    /// Reads the body, keeping at most `limit` bytes. A larger body is read
    /// and thrown away up to `drain_limit` bytes in total; past that the
    /// connection is left unread (and must be closed).
    pub fn read_body(&mut self, kind: BodyKind, limit: usize, drain_limit: u64) -> io::Result<BodyRead> {
        let _ = self.stream.set_read_timeout(Some(TRANSFER_TIMEOUT));
        match kind {
            BodyKind::Empty => Ok(BodyRead::Complete(Vec::new())),
            BodyKind::Length(length) => {
                if length > drain_limit {
                    return Ok(BodyRead::TooLarge { drained: false });
                }
                if length > limit as u64 {
                    self.skip(length)?;
                    return Ok(BodyRead::TooLarge { drained: true });
                }
                let mut body = Vec::with_capacity(length as usize);
                self.take_into(length, &mut body)?;
                Ok(BodyRead::Complete(body))
            }
            BodyKind::Chunked => self.read_chunked(limit, drain_limit),
        }
    }

    /// Moves exactly `length` bytes into `out` (or drops them when `out` is None).
    fn take(&mut self, mut length: u64, mut out: Option<&mut Vec<u8>>) -> io::Result<()> {
        while length > 0 {
            if self.buffered().is_empty() && self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let n = (self.buffered().len() as u64).min(length) as usize;
            if let Some(out) = out.as_deref_mut() {
                out.extend_from_slice(&self.buf[self.pos..self.pos + n]);
            }
            self.consume(n);
            length -= n as u64;
        }
        Ok(())
    }

    fn take_into(&mut self, length: u64, out: &mut Vec<u8>) -> io::Result<()> {
        self.take(length, Some(out))
    }

    fn skip(&mut self, length: u64) -> io::Result<()> {
        self.take(length, None)
    }

    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = self.buffered().iter().position(|&b| b == b'\n') {
                let line = String::from_utf8_lossy(&self.buffered()[..end]).trim_end_matches('\r').to_string();
                self.consume(end + 1);
                return Ok(line);
            }
            if self.buffered().len() > 8 * 1024 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "chunk line too long"));
            }
            if self.fill()? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    fn read_chunked(&mut self, limit: usize, drain_limit: u64) -> io::Result<BodyRead> {
        let mut body = Vec::new();
        let mut total: u64 = 0;
        let mut too_large = false;
        loop {
            let line = self.read_line()?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_text, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad chunk size"))?;
            if size == 0 {
                // Trailer fields, up to the empty line.
                while !self.read_line()?.is_empty() {}
                break;
            }
            total = total.saturating_add(size);
            if total > drain_limit {
                return Ok(BodyRead::TooLarge { drained: false });
            }
            if too_large || total > limit as u64 {
                too_large = true;
                body = Vec::new();
                self.skip(size)?;
            } else {
                self.take_into(size, &mut body)?;
            }
            if !self.read_line()?.is_empty() {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "bad chunk terminator"));
            }
        }
        Ok(if too_large { BodyRead::TooLarge { drained: true } } else { BodyRead::Complete(body) })
    }

    pub fn write_response(&mut self, response: &Response, head_only: bool, keep_alive: bool) -> io::Result<()> {
        let status = response.status;
        let mut head = format!("HTTP/1.1 {status} {}\r\n", reason_phrase(status));
        for (name, value) in &response.headers {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
        let bodiless = status == 204 || status == 304 || (100..200).contains(&status);
        if !bodiless {
            head.push_str(&format!("content-length: {}\r\n", response.body.len()));
        }
        head.push_str(&format!("date: {}\r\n", http_date(SystemTime::now())));
        head.push_str(if keep_alive { "connection: keep-alive\r\n\r\n" } else { "connection: close\r\n\r\n" });
        self.stream.write_all(head.as_bytes())?;
        if !bodiless && !head_only {
            self.stream.write_all(&response.body)?;
        }
        self.stream.flush()
    }

    pub fn shutdown(&self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
    }
}

pub struct Response {
    pub status: u16,
    /// Names already lower-cased and validated.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(status: u16, body: &str) -> Self {
        Response {
            status,
            headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
            body: body.as_bytes().to_vec(),
        }
    }
}

fn build_request(parsed: &httparse::Request) -> Result<Request, HeadError> {
    let method = parsed.method.ok_or(HeadError::Bad(400))?.to_string();
    let target = parsed.path.ok_or(HeadError::Bad(400))?.to_string();
    let http11 = parsed.version.unwrap_or(1) >= 1;
    let mut headers = Vec::with_capacity(parsed.headers.len());
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    let mut connection = String::new();
    let mut expects_continue = false;
    for header in parsed.headers.iter() {
        let name = header.name.to_ascii_lowercase();
        let value = String::from_utf8_lossy(header.value).trim().to_string();
        match name.as_str() {
            "content-length" => {
                let length = value.parse::<u64>().map_err(|_| HeadError::Bad(400))?;
                if content_length.is_some_and(|previous| previous != length) {
                    return Err(HeadError::Bad(400));
                }
                content_length = Some(length);
            }
            "transfer-encoding" => {
                let last = value.rsplit(',').next().unwrap_or("").trim().to_ascii_lowercase();
                if last != "chunked" {
                    return Err(HeadError::Bad(400));
                }
                chunked = true;
            }
            "connection" => connection = value.to_ascii_lowercase(),
            "expect" => expects_continue = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
        headers.push((name, value));
    }
    if chunked && content_length.is_some() {
        return Err(HeadError::Bad(400));
    }
    let body = if chunked {
        BodyKind::Chunked
    } else {
        match content_length {
            Some(0) | None => BodyKind::Empty,
            Some(length) => BodyKind::Length(length),
        }
    };
    let tokens: Vec<&str> = connection.split(',').map(str::trim).collect();
    let keep_alive = if http11 { !tokens.contains(&"close") } else { tokens.contains(&"keep-alive") };
    Ok(Request { method, target, headers, body, expects_continue: expects_continue && http11, keep_alive })
}

pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub fn is_valid_value(value: &str) -> bool {
    value.bytes().all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f))
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, (rem % 3600) / 60, rem % 60);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[days.rem_euclid(7) as usize],
        day,
        MONTHS[(month - 1) as usize],
        year,
        hour,
        minute,
        second
    )
}
