//! Frames exchanged between the server and a worker over a Unix socket.
//!
//! A frame is: kind (1 byte), meta length (u32 LE), body length (u64 LE),
//! the meta bytes (a JSON object) and the body bytes (request or response body).

use std::io::{self, Read, Write};

/// server -> worker: run one execution (meta: request fields, body: request body).
pub const EXEC: u8 = 1;
/// server -> worker: the execution timed out; flush its logs and say so.
pub const ABORT: u8 = 2;
/// worker -> server: the function returned or panicked (meta: status, headers, panic).
pub const RESULT: u8 = 3;
/// worker -> server: logs of the aborted execution are flushed.
pub const ABORTED: u8 = 4;

const MAX_META: u32 = 64 * 1024 * 1024;

pub struct Frame {
    pub kind: u8,
    pub meta: Vec<u8>,
    pub body: Vec<u8>,
}

pub fn write_frame(out: &mut impl Write, kind: u8, meta: &[u8], body: &[u8]) -> io::Result<()> {
    let mut header = [0u8; 13];
    header[0] = kind;
    header[1..5].copy_from_slice(&(meta.len() as u32).to_le_bytes());
    header[5..13].copy_from_slice(&(body.len() as u64).to_le_bytes());
    out.write_all(&header)?;
    out.write_all(meta)?;
    out.write_all(body)?;
    out.flush()
}

/// Reads one frame. `Ok(None)` means the peer closed the socket between frames.
pub fn read_frame(input: &mut impl Read) -> io::Result<Option<Frame>> {
    let mut header = [0u8; 13];
    let mut filled = 0;
    while filled < header.len() {
        match input.read(&mut header[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    let meta_len = u32::from_le_bytes(header[1..5].try_into().unwrap());
    let body_len = u64::from_le_bytes(header[5..13].try_into().unwrap());
    if meta_len > MAX_META || body_len > usize::MAX as u64 {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "oversized frame"));
    }
    let mut meta = vec![0u8; meta_len as usize];
    input.read_exact(&mut meta)?;
    let mut body = vec![0u8; body_len as usize];
    input.read_exact(&mut body)?;
    Ok(Some(Frame { kind: header[0], meta, body }))
}
