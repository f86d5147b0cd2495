//! Which blocks of a grid a contiguous range of one axis touches.

/// The part of one source block that a range covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AxisPiece {
    /// Grid index of the source block along the axis.
    pub block: usize,
    /// First covered element, relative to the block's start.
    pub start_in_block: usize,
    /// Where this piece starts, relative to the range's start.
    pub start_in_range: usize,
    /// Number of covered elements.
    pub len: usize,
}

/// The pieces of the blocks (described by their `offsets`, the axis length last) that
/// cover `[start, start + len)`, in increasing order.
pub fn axis_overlaps(offsets: &[usize], start: usize, len: usize) -> Vec<AxisPiece> {
    let mut pieces = Vec::new();
    if len == 0 || offsets.len() < 2 {
        return pieces;
    }
    let end = start + len;
    let mut block = match offsets.binary_search(&start) {
        Ok(i) => i,
        Err(i) => i - 1,
    };
    let mut pos = start;
    while pos < end && block + 1 < offsets.len() {
        let block_end = offsets[block + 1];
        if block_end > pos {
            let piece_end = block_end.min(end);
            pieces.push(AxisPiece {
                block,
                start_in_block: pos - offsets[block],
                start_in_range: pos - start,
                len: piece_end - pos,
            });
            pos = piece_end;
        }
        block += 1;
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_ranges_across_blocks() {
        let offs = [0, 4, 8, 10];
        let p = axis_overlaps(&offs, 3, 6);
        assert_eq!(p.len(), 3);
        assert_eq!((p[0].block, p[0].start_in_block, p[0].len), (0, 3, 1));
        assert_eq!((p[1].block, p[1].start_in_range, p[1].len), (1, 1, 4));
        assert_eq!((p[2].block, p[2].len), (2, 1));
        assert_eq!(axis_overlaps(&offs, 4, 4).len(), 1);
        assert!(axis_overlaps(&offs, 4, 0).is_empty());
    }
}
