//! The `.npy` header: a magic string, a version, and a Python dict literal with
//! `descr`, `fortran_order` and `shape`. Parsed strictly, with its size checked
//! before anything is allocated.

use crate::StoredType;

/// The magic bytes every `.npy` file starts with.
pub(crate) const MAGIC: &[u8] = b"\x93NUMPY";
/// The largest header read (numpy's own `max_header_size` is 10000).
pub(crate) const MAX_HEADER: usize = 1 << 16;

/// What a header says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Header {
    pub dtype: StoredType,
    pub big_endian: bool,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Where the data starts.
    pub data_offset: u64,
}

/// The length of the preamble before the dict (magic, version, length) and the dict's
/// length, from the first bytes of a file.
pub(crate) fn preamble(start: &[u8]) -> Result<(usize, usize), String> {
    if start.len() < 10 || &start[..6] != MAGIC {
        return Err("not a .npy file (no NUMPY magic)".into());
    }
    match start[6] {
        1 => Ok((10, u16::from_le_bytes([start[8], start[9]]) as usize)),
        2 | 3 => {
            if start.len() < 12 {
                return Err("truncated .npy header".into());
            }
            Ok((12, u32::from_le_bytes([start[8], start[9], start[10], start[11]]) as usize))
        }
        v => Err(format!("unsupported .npy format version {v}")),
    }
}

/// Parses the dict of a header that starts after `preamble` bytes.
pub(crate) fn parse(dict: &[u8], preamble: usize) -> Result<Header, String> {
    let text = std::str::from_utf8(dict).map_err(|_| "the .npy header is not text".to_string())?;
    let mut p = Parser { s: text.as_bytes(), i: 0 };
    p.expect(b'{')?;
    let (mut descr, mut fortran, mut shape) = (None, None, None);
    loop {
        p.skip_ws();
        if p.eat(b'}') {
            break;
        }
        let key = p.string()?;
        p.expect(b':')?;
        match key.as_str() {
            "descr" => descr = Some(p.string()?),
            "fortran_order" => fortran = Some(p.boolean()?),
            "shape" => shape = Some(p.tuple()?),
            other => return Err(format!("unexpected key '{other}' in the .npy header")),
        }
        p.skip_ws();
        if !p.eat(b',') {
            p.expect(b'}')?;
            break;
        }
    }
    let descr = descr.ok_or("the .npy header has no descr")?;
    let (dtype, big_endian) = StoredType::from_numpy_str(&descr).ok_or_else(|| {
        format!(
            "the .npy file holds '{descr}' elements; tessera reads bool, int8-int64, uint8-uint64, float32 and float64"
        )
    })?;
    Ok(Header {
        dtype,
        big_endian,
        fortran_order: fortran.ok_or("the .npy header has no fortran_order")?,
        shape: shape.ok_or("the .npy header has no shape")?,
        data_offset: (preamble + dict.len()) as u64,
    })
}

/// The whole header of a C-order little-endian array, padded to 64 bytes.
pub(crate) fn encode(dtype: StoredType, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|n| n.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut dict = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {shape}, }}", dtype.npy_descr());
    let (version, preamble) = if dict.len() + 11 <= u16::MAX as usize { (1u8, 10) } else { (2u8, 12) };
    let total = (preamble + dict.len() + 1).div_ceil(64) * 64;
    while preamble + dict.len() + 1 < total {
        dict.push(' ');
    }
    dict.push('\n');
    let mut out = MAGIC.to_vec();
    out.extend_from_slice(&[version, 0]);
    if version == 1 {
        out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    } else {
        out.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(dict.as_bytes());
    out
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), String> {
        if self.eat(c) { Ok(()) } else { Err(format!("malformed .npy header: expected '{}'", c as char)) }
    }

    fn string(&mut self) -> Result<String, String> {
        self.skip_ws();
        let quote = match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err("malformed .npy header: expected a string".into()),
        };
        let start = self.i + 1;
        let end = self.s[start..]
            .iter()
            .position(|&c| c == quote)
            .map(|p| start + p)
            .ok_or("malformed .npy header: unterminated string")?;
        self.i = end + 1;
        Ok(String::from_utf8_lossy(&self.s[start..end]).into_owned())
    }

    fn boolean(&mut self) -> Result<bool, String> {
        self.skip_ws();
        for (word, value) in [("True", true), ("False", false)] {
            if self.s[self.i..].starts_with(word.as_bytes()) {
                self.i += word.len();
                return Ok(value);
            }
        }
        Err("malformed .npy header: expected True or False".into())
    }

    fn tuple(&mut self) -> Result<Vec<usize>, String> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims);
            }
            self.skip_ws();
            let start = self.i;
            while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
                self.i += 1;
            }
            let digits = std::str::from_utf8(&self.s[start..self.i]).unwrap_or_default();
            let n: usize = digits.parse().map_err(|_| "malformed .npy header: a bad dimension in shape".to_string())?;
            dims.push(n);
            if dims.len() > 64 {
                return Err("the .npy header's shape has more than 64 dimensions".into());
            }
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn headers_round_trip_and_align_to_64() {
        for shape in [vec![], vec![5], vec![3, 4, 1000000]] {
            let h = encode(StoredType::I16, &shape);
            assert_eq!(h.len() % 64, 0);
            let (pre, len) = preamble(&h).expect("magic");
            let parsed = parse(&h[pre..pre + len], pre).expect("parses");
            assert_eq!(parsed.shape, shape);
            assert_eq!(parsed.dtype, StoredType::I16);
            assert_eq!(parsed.data_offset, h.len() as u64);
        }
    }

    #[test]
    fn numpy_headers_parse() {
        let d = b"{'descr': '>f8', 'fortran_order': True, 'shape': (2, 3), }          \n";
        let h = parse(d, 10).expect("parses");
        assert!(h.big_endian && h.fortran_order);
        assert_eq!(h.shape, vec![2, 3]);
        let e = parse(b"{'descr': '<c16', 'fortran_order': False, 'shape': (2,), }", 10).expect_err("complex");
        assert!(e.contains("<c16"), "{e}");
    }

    proptest! {
        #[test]
        fn garbage_headers_are_errors_not_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = preamble(&bytes);
            let _ = parse(&bytes, 10);
        }

        #[test]
        fn mangled_headers_are_errors_not_panics(cut in 0usize..60, byte in any::<u8>(), at in 0usize..60) {
            let mut d = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }".to_vec();
            if at < d.len() { d[at] = byte; }
            d.truncate(cut.max(1));
            let _ = parse(&d, 10);
        }
    }
}
