//! The request on its way up: its head, then its body in the framing the head announced.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use http_body::Body;
use tokio::io::AsyncWrite;
use tokio::net::TcpStream;

use super::Error;
use crate::body::LimitedBody;

/// One request being written: the head first, then the body frames as the client sends them.
#[derive(Debug)]
pub(super) struct Upload {
    /// The encoded head, kept whole for a re-send, and how much of it is written. A `Vec`:
    /// made into `Bytes` with room to spare, it would take an allocation of its own.
    pub(super) head: Vec<u8>,
    pub(super) head_sent: usize,
    /// Body bytes encoded and not yet written, in order; the first may be partly written.
    pub(super) queue: Vec<Bytes>,
    pub(super) written: usize,
    pub(super) body: LimitedBody,
    pub(super) chunked: bool,
    /// With a Content-Length framing, the bytes still due.
    pub(super) due: Option<u64>,
    /// The body has given its last frame; what is left is in `queue`.
    pub(super) ended: bool,
    /// A body frame was taken: the request can no longer be sent again.
    pub(super) started: bool,
    /// Some of the request reached the socket.
    pub(super) wrote: bool,
}

impl Upload {
    /// Whether all of the request, head and body, has been written.
    pub(super) fn is_done(&self) -> bool {
        self.ended && self.queue.is_empty() && self.head_sent == self.head.len()
    }

    /// Writes the request until it is all written, or the body or the socket has to wait.
    pub(super) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        io: &mut TcpStream,
    ) -> Poll<Result<(), Error>> {
        loop {
            while self.head_sent < self.head.len() || !self.queue.is_empty() {
                let mut slices = [IoSlice::new(&[]); 4];
                let mut n = 0;
                if self.head_sent < self.head.len() {
                    slices[0] = IoSlice::new(&self.head[self.head_sent..]);
                    n = 1;
                }
                for (i, b) in self.queue.iter().enumerate().take(slices.len() - n) {
                    slices[n] = IoSlice::new(if i == 0 { &b[self.written..] } else { b });
                    n += 1;
                }
                let mut done = ready!(Pin::new(&mut *io).poll_write_vectored(cx, &slices[..n]))?;
                if done == 0 {
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
                }
                self.wrote = true;
                let head_left = self.head.len() - self.head_sent;
                let from_head = done.min(head_left);
                self.head_sent += from_head;
                done -= from_head;
                while done > 0 {
                    let left = self.queue[0].len() - self.written;
                    if done < left {
                        self.written += done;
                        break;
                    }
                    done -= left;
                    self.queue.remove(0);
                    self.written = 0;
                }
            }
            if self.ended {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                None => {
                    if self.due.is_some_and(|n| n > 0) {
                        return Poll::Ready(Err(Error::BodyLength));
                    }
                    self.ended = true;
                    if self.chunked {
                        self.queue.push(Bytes::from_static(b"0\r\n\r\n"));
                    }
                }
                Some(Err(e)) => return Poll::Ready(Err(Error::RequestBody(e))),
                Some(Ok(frame)) => {
                    // An empty frame takes nothing away: the request can still be sent again.
                    self.started |= frame.data_ref().is_none_or(|d| !d.is_empty());
                    match frame.into_data() {
                        Ok(data) if data.is_empty() => {}
                        Ok(data) if self.chunked => {
                            self.queue
                                .push(Bytes::from(format!("{:x}\r\n", data.len())));
                            self.queue.push(data);
                            self.queue.push(Bytes::from_static(b"\r\n"));
                        }
                        Ok(data) => {
                            let len = data.len() as u64;
                            match &mut self.due {
                                Some(due) if len > *due => {
                                    return Poll::Ready(Err(Error::BodyLength));
                                }
                                Some(due) => *due -= len,
                                None => {}
                            }
                            self.queue.push(data);
                        }
                        Err(frame) => {
                            // Trailers (already through the header policy, see `LimitedBody`)
                            // end the body; with a length framing they cannot be sent.
                            if let (Ok(trailers), true) = (frame.into_trailers(), self.chunked) {
                                let mut t = b"0\r\n".to_vec();
                                encode_fields(&mut t, &trailers, [None, None]);
                                t.extend_from_slice(b"\r\n");
                                self.queue.push(Bytes::from(t));
                                self.ended = true;
                                self.chunked = false;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Writes `headers` as HTTP/1.1 field lines, all but those named in `skip`.
pub(super) fn encode_fields(
    out: &mut Vec<u8>,
    headers: &HeaderMap,
    skip: [Option<&HeaderName>; 2],
) {
    for (name, value) in headers {
        if skip[0] == Some(name) || skip[1] == Some(name) {
            continue;
        }
        encode_field(out, name, value);
    }
}

/// Writes one HTTP/1.1 field line.
pub(super) fn encode_field(out: &mut Vec<u8>, name: &HeaderName, value: &HeaderValue) {
    out.extend_from_slice(name.as_str().as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}
