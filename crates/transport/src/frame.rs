//! Length-prefixed MessagePack frames.

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::{Result, TransportError};

/// The largest control frame accepted (chunk bytes travel on their own streams).
pub const MAX_FRAME_BYTES: usize = 16 << 20;

/// Appends `message` to `buffer` as a 4-byte big-endian length and its MessagePack
/// encoding. Senders batch several frames into one write this way.
pub fn encode_frame<T: Serialize>(buffer: &mut Vec<u8>, message: &T) -> Result<()> {
    let start = buffer.len();
    buffer.extend_from_slice(&[0; 4]);
    rmp_serde::encode::write_named(buffer, message).map_err(|e| TransportError::Malformed(e.to_string()))?;
    let len = buffer.len() - start - 4;
    if len > u32::MAX as usize {
        buffer.truncate(start);
        return Err(TransportError::FrameTooLarge { size: len as u64, limit: u32::MAX as usize });
    }
    buffer[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    Ok(())
}

/// Writes one frame (see [`encode_frame`]).
pub async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(out: &mut W, message: &T) -> Result<()> {
    let mut buffer = Vec::new();
    encode_frame(&mut buffer, message)?;
    out.write_all(&buffer).await.map_err(conn_err)
}

/// Writes every message waiting in `queue` (at least one, waiting for it) as one write.
/// Returns `Ok(false)` when the queue is closed.
pub async fn write_batch<W: AsyncWrite + Unpin, T: Serialize>(
    out: &mut W,
    queue: &mut tokio::sync::mpsc::UnboundedReceiver<T>,
) -> Result<bool> {
    let Some(first) = queue.recv().await else { return Ok(false) };
    let mut buffer = Vec::new();
    encode_frame(&mut buffer, &first)?;
    while buffer.len() < (1 << 20) {
        match queue.try_recv() {
            Ok(next) => encode_frame(&mut buffer, &next)?,
            Err(_) => break,
        }
    }
    out.write_all(&buffer).await.map_err(conn_err)?;
    Ok(true)
}

/// Reads one frame of at most `limit` bytes and decodes it. An oversized or malformed
/// frame is an error: the caller closes that connection.
pub async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(input: &mut R, limit: usize) -> Result<T> {
    let mut len = [0u8; 4];
    input.read_exact(&mut len).await.map_err(conn_err)?;
    let size = u32::from_be_bytes(len) as usize;
    if size > limit {
        return Err(TransportError::FrameTooLarge { size: size as u64, limit });
    }
    let mut body = vec![0u8; size];
    input.read_exact(&mut body).await.map_err(conn_err)?;
    rmp_serde::from_slice(&body).map_err(|e| TransportError::Malformed(e.to_string()))
}

fn conn_err(e: std::io::Error) -> TransportError {
    TransportError::Connection(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Msg {
        id: u64,
        name: String,
    }

    #[tokio::test]
    async fn frames_round_trip_and_limits_hold() {
        let mut buf = Vec::new();
        let msg = Msg { id: 7, name: "seven".into() };
        write_frame(&mut buf, &msg).await.expect("write");
        let got: Msg = read_frame(&mut buf.as_slice(), MAX_FRAME_BYTES).await.expect("read");
        assert_eq!(got, msg);
        let err = read_frame::<_, Msg>(&mut buf.as_slice(), 4).await.expect_err("over the limit");
        assert!(matches!(err, TransportError::FrameTooLarge { .. }));
        let mut garbage = 5u32.to_be_bytes().to_vec();
        garbage.extend_from_slice(&[0xc1, 0xff, 0x00, 0x13, 0x37]);
        let err = read_frame::<_, Msg>(&mut garbage.as_slice(), MAX_FRAME_BYTES).await.expect_err("garbage");
        assert!(matches!(err, TransportError::Malformed(_)));
    }
}
