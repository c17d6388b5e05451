//! RFC 6455 framing: the client frame header (with the checks gorilla makes, so the close codes match gobus),
//! in-place unmasking, and the server's unmasked text frame header.

pub const OP_CONT: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Largest control frame payload.
pub const MAX_CONTROL: usize = 125;

/// A client frame's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub fin: bool,
    pub op: u8,
    /// Payload length.
    pub len: u64,
    /// Header length, masking key included.
    pub hl: usize,
    pub mask: [u8; 4],
}

/// Why a header is refused: a protocol error (close 1002, with gorilla's reason text).
pub type Bad = &'static str;

/// Parses the header at the start of b: Ok(None) when more bytes are needed.
#[inline]
pub fn header(b: &[u8]) -> Result<Option<Header>, Bad> {
    if b.len() < 2 {
        return Ok(None);
    }
    let fin = b[0] & 0x80 != 0;
    let op = b[0] & 0x0f;
    let mut len = (b[1] & 0x7f) as u64;
    let mut hl = 2;
    if len == 126 {
        if b.len() < 4 {
            return Ok(None);
        }
        len = u16::from_be_bytes([b[2], b[3]]) as u64;
        hl = 4;
    } else if len == 127 {
        if b.len() < 10 {
            return Ok(None);
        }
        len = u64::from_be_bytes(b[2..10].try_into().unwrap());
        hl = 10;
    }
    let control = op >= 0x8;
    if b[0] & 0x70 != 0 {
        return Err("unexpected reserved bits");
    }
    if b[1] & 0x80 == 0 {
        return Err("incorrect mask flag");
    }
    if !matches!(op, OP_CONT | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG) {
        return Err("unknown opcode");
    }
    // The 7-bit field, not the decoded length: a control frame's length in the 16- or 64-bit form is over 125 or not
    // minimally encoded (RFC 6455 section 5.2); gorilla and gobus netpoll refuse both.
    if control && (!fin || (b[1] & 0x7f) as usize > MAX_CONTROL) {
        return Err("control frame length > 125 or not final");
    }
    if b.len() < hl + 4 {
        return Ok(None);
    }
    let mask = [b[hl], b[hl + 1], b[hl + 2], b[hl + 3]];
    Ok(Some(Header { fin, op, len, hl: hl + 4, mask }))
}

/// XORs p with the masking key, eight bytes at a time.
#[inline]
pub fn unmask(p: &mut [u8], mask: [u8; 4]) {
    let m = u32::from_ne_bytes(mask) as u64;
    let m8 = m | m << 32;
    let mut chunks = p.chunks_exact_mut(8);
    for c in &mut chunks {
        let x = u64::from_ne_bytes((&*c).try_into().unwrap()) ^ m8;
        c.copy_from_slice(&x.to_ne_bytes());
    }
    for (k, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[k & 3];
    }
}

/// Appends the header of one final, unmasked frame of opcode op with a payload of len bytes.
#[inline]
pub fn append_header(out: &mut Vec<u8>, op: u8, len: usize) {
    let b0 = 0x80 | op;
    if len < 126 {
        out.extend_from_slice(&[b0, len as u8]);
    } else if len <= 0xFFFF {
        out.extend_from_slice(&[b0, 126, (len >> 8) as u8, len as u8]);
    } else {
        out.extend_from_slice(&[b0, 127]);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
}

/// Close codes a peer may send (RFC 6455 section 7.4), as gorilla checks them.
pub fn valid_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014) || (3000..=4999).contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client_frame(op: u8, fin: bool, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut out = Vec::new();
        append_header(&mut out, op, payload.len());
        if !fin {
            out[0] &= 0x7f;
        }
        out[1] |= 0x80;
        out.extend_from_slice(&mask);
        let mut p = payload.to_vec();
        unmask(&mut p, mask);
        out.extend_from_slice(&p);
        out
    }

    #[test]
    fn round_trip_every_length_class() {
        for n in [0usize, 5, 125, 126, 1000, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
            let mut f = client_frame(OP_TEXT, true, &payload, [1, 2, 3, 4]);
            for cut in [0, 1, f.len() - payload.len() - 1] {
                assert_eq!(header(&f[..cut]), Ok(None), "n={n} cut={cut}");
            }
            let h = header(&f).unwrap().unwrap();
            assert_eq!((h.fin, h.op, h.len as usize, h.hl), (true, OP_TEXT, n, f.len() - n));
            let p = &mut f[h.hl..];
            unmask(p, h.mask);
            assert_eq!(p, &payload[..]);
        }
    }

    #[test]
    fn protocol_errors() {
        let f = client_frame(OP_TEXT, true, b"x", [0; 4]);
        let mut unmasked = f.clone();
        unmasked[1] &= 0x7f;
        assert!(header(&unmasked).is_err());
        let mut rsv = f.clone();
        rsv[0] |= 0x40;
        assert!(header(&rsv).is_err());
        let mut op = f.clone();
        op[0] = 0x83;
        assert!(header(&op).is_err());
        assert!(header(&client_frame(OP_PING, false, b"", [0; 4])).is_err());
        assert!(header(&client_frame(OP_PING, true, &[0; 126], [0; 4])).is_err());
        // A ping of length 0 in the 16- and 64-bit forms.
        assert!(header(&[0x89, 0x80 | 126, 0, 0, 1, 2, 3, 4]).is_err());
        assert!(header(&[0x89, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]).is_err());
        assert!(valid_close_code(1000) && valid_close_code(4999) && !valid_close_code(1005) && !valid_close_code(1004));
    }
}
