//! Refuses a WebSocket frame that is too large as soon as its header
//! arrives. actix-http's frame parser checks a frame's length only once the
//! whole frame is in, buffering all of it first: a client could declare a
//! 1 GiB frame and make the server hold whatever it sends. This wrapper reads
//! the frame headers as the bytes pass (RFC 6455 §5.2) and ends the stream
//! with [`PayloadError::Overflow`] at the first frame that declares more
//! than the limit; the socket then closes with 1009.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::FromRequest;
use actix_web::dev::Payload;
use actix_web::error::PayloadError;
use actix_web::web::{self, Bytes};
use futures_util::Stream;

/// `body` with every frame held to at most `max` payload bytes.
pub fn limit_frames(
    req: &actix_web::HttpRequest,
    body: web::Payload,
    max: usize,
) -> Result<web::Payload, actix_web::Error> {
    let limited: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(FrameLimit { inner: body, scan: Scan::new(max as u64) });
    web::Payload::from_request(req, &mut Payload::from(limited)).into_inner()
}

/// Whether `e`, as the message stream reports it, is this wrapper's refusal.
pub fn is_refusal(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<PayloadError>())
        .is_some_and(|p| matches!(p, PayloadError::Overflow))
}

struct FrameLimit {
    inner: web::Payload,
    scan: Scan,
}

impl Stream for FrameLimit {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.scan.refused {
            return Poll::Ready(None);
        }
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) if !this.scan.feed(&bytes) => Poll::Ready(Some(Err(PayloadError::Overflow))),
            other => other,
        }
    }
}

/// Where the reader is in the byte stream: inside a header (its first
/// bytes so far), or inside a payload (how much of it is left).
#[derive(Debug)]
struct Scan {
    max: u64,
    header: [u8; 14],
    have: usize,
    payload_left: u64,
    refused: bool,
}

impl Scan {
    fn new(max: u64) -> Self {
        Self { max, header: [0; 14], have: 0, payload_left: 0, refused: false }
    }

    /// Reads `bytes`; false once a frame declares more than `max`.
    fn feed(&mut self, mut bytes: &[u8]) -> bool {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = usize::try_from(self.payload_left).unwrap_or(usize::MAX).min(bytes.len());
                bytes = &bytes[skip..];
                self.payload_left -= skip as u64;
                continue;
            }
            let (byte, rest) = (bytes[0], &bytes[1..]);
            bytes = rest;
            self.header[self.have] = byte;
            self.have += 1;
            let Some((header_len, payload_len)) = self.header_so_far() else { continue };
            if payload_len > self.max {
                self.refused = true;
                return false;
            }
            if self.have == header_len {
                (self.have, self.payload_left) = (0, payload_len);
            }
        }
        true
    }

    /// The header's length and the payload length it declares, once the
    /// bytes that declare them are in.
    fn header_so_far(&self) -> Option<(usize, u64)> {
        let second = *self.header[..self.have].get(1)?;
        let (extended, mask) = (
            match second & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            },
            if second & 0x80 != 0 { 4 } else { 0 },
        );
        if self.have < 2 + extended {
            return None;
        }
        let length = match extended {
            0 => u64::from(second & 0x7f),
            _ => self.header[2..2 + extended].iter().fold(0, |n, b| (n << 8) | u64::from(*b)),
        };
        Some((2 + extended + mask, length))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked text frame header declaring `len` bytes.
    fn header(len: u64) -> Vec<u8> {
        let mut h = vec![0x81];
        match len {
            0..=125 => h.push(0x80 | len as u8),
            126..=0xffff => {
                h.push(0x80 | 126);
                h.extend_from_slice(&(len as u16).to_be_bytes());
            }
            _ => {
                h.push(0x80 | 127);
                h.extend_from_slice(&len.to_be_bytes());
            }
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    fn frame(len: usize) -> Vec<u8> {
        [header(len as u64), vec![b'a'; len]].concat()
    }

    #[test]
    fn frames_up_to_the_limit_pass_in_any_split() {
        let stream: Vec<u8> = [frame(0), frame(125), frame(126), frame(16 * 1024), frame(3)].concat();
        for chunk in [1, 2, 7, 100, 4096, stream.len()] {
            let mut scan = Scan::new(16 * 1024);
            assert!(stream.chunks(chunk).all(|c| scan.feed(c)), "chunks of {chunk}");
            assert_eq!((scan.have, scan.payload_left), (0, 0), "ends between frames, chunks of {chunk}");
        }
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_at_its_header() {
        for declared in [16 * 1024 + 1, 1 << 30, u64::MAX >> 1] {
            let mut scan = Scan::new(16 * 1024);
            assert!(scan.feed(&frame(10)));
            let big = header(declared);
            // Refused with the length bytes, before the mask or any payload.
            let length_end = if declared > 0xffff { 10 } else { 4 };
            assert!(scan.feed(&big[..length_end - 1]), "{declared}: not yet");
            assert!(!scan.feed(&big[length_end - 1..length_end]), "{declared}");
        }
    }
}
