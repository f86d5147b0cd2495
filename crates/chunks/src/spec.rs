//! Chunk specifications as users write them, and their normalization into a grid.

use crate::grid::regular;
use crate::{ChunkError, Chunks, DType, parse_bytes};

/// Dask's default target size for one `auto` chunk: 128 MiB.
pub const DEFAULT_CHUNK_BYTES: u64 = 128 << 20;

/// The byte target for `auto` chunks: `TESSERA_CHUNK_SIZE` if set and valid, else 128 MiB.
pub fn chunk_byte_target() -> Result<u64, ChunkError> {
    match std::env::var("TESSERA_CHUNK_SIZE") {
        Ok(text) if !text.trim().is_empty() => parse_bytes(&text),
        _ => Ok(DEFAULT_CHUNK_BYTES),
    }
}

/// How one axis is to be chunked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AxisChunks {
    /// Chosen by the `auto` rule under the byte target.
    Auto,
    /// One chunk spanning the whole axis (`-1`).
    Whole,
    /// Blocks of this length, the last one possibly shorter.
    Size(usize),
    /// These exact lengths, which must add up to the axis length.
    Explicit(Vec<usize>),
}

/// A chunk specification for a whole array.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChunkSpec {
    /// `"auto"`: every axis chosen under the default byte target.
    Auto,
    /// `"64MiB"`: every axis chosen under this byte target.
    Bytes(u64),
    /// One rule for every axis (`1000`, `-1`).
    Uniform(AxisChunks),
    /// One rule per axis (`(1000, -1)`).
    PerAxis(Vec<AxisChunks>),
}

impl ChunkSpec {
    /// Parses the text form used on the command line: `1000`, `-1`, `auto`, `64MiB`,
    /// `(1000, 2000)`, `(auto, -1)`, `((500, 500), 1000)`.
    pub fn parse(text: &str) -> Result<ChunkSpec, ChunkError> {
        let bad = || ChunkError::BadSpec(text.to_string());
        let t = text.trim().trim_matches(|c| c == '"' || c == '\'');
        if t.starts_with('(') || t.starts_with('[') {
            let inner = strip_brackets(t).ok_or_else(bad)?;
            let items = split_top_level(inner).ok_or_else(bad)?;
            let axes = items.iter().map(|item| parse_axis(item)).collect::<Result<Vec<_>, _>>()?;
            if axes.is_empty() {
                return Err(bad());
            }
            return Ok(ChunkSpec::PerAxis(axes));
        }
        if t.eq_ignore_ascii_case("auto") {
            return Ok(ChunkSpec::Auto);
        }
        if let Ok(n) = t.parse::<i64>() {
            return Ok(ChunkSpec::Uniform(axis_from_int(n)?));
        }
        parse_bytes(t).map(ChunkSpec::Bytes).map_err(|_| ChunkError::BadSpec(text.to_string()))
    }

    /// Resolves the specification against a shape and dtype into a chunk grid.
    /// `auto_bytes` is the byte target used by `auto` axes (see [`chunk_byte_target`]).
    pub fn resolve(&self, shape: &[usize], dtype: DType, auto_bytes: u64) -> Result<Chunks, ChunkError> {
        let ndim = shape.len();
        let (axes, limit) = match self {
            ChunkSpec::Auto => (vec![AxisChunks::Auto; ndim], auto_bytes),
            ChunkSpec::Bytes(b) => (vec![AxisChunks::Auto; ndim], *b),
            ChunkSpec::Uniform(a) => (vec![a.clone(); ndim], auto_bytes),
            ChunkSpec::PerAxis(axes) => {
                if axes.len() != ndim {
                    return Err(ChunkError::WrongRank { given: format!("{self}"), got: axes.len(), ndim });
                }
                (axes.clone(), auto_bytes)
            }
        };
        // Every axis's block length (or explicit lengths) first, as numbers: the grid is
        // allocated only once its block count is known to be within the limits.
        let mut plan: Vec<Option<AxisPlan>> = Vec::with_capacity(ndim);
        for (axis, (spec, &len)) in axes.iter().zip(shape).enumerate() {
            plan.push(match spec {
                AxisChunks::Auto => None,
                AxisChunks::Whole => Some(AxisPlan::Regular(len.max(1))),
                AxisChunks::Size(n) => Some(AxisPlan::Regular((*n).min(len.max(1)))),
                AxisChunks::Explicit(v) => {
                    let sum = v.iter().try_fold(0usize, |acc, &x| acc.checked_add(x)).unwrap_or(usize::MAX);
                    if sum != len || v.contains(&0) && len > 0 {
                        return Err(ChunkError::ChunksDoNotCover { axis, sum, len });
                    }
                    Some(AxisPlan::Explicit(v))
                }
            });
        }
        auto_fill(&mut plan, shape, dtype.itemsize() as f64, limit as f64);
        let counts = plan.iter().zip(shape).map(|(p, &len)| match p {
            Some(AxisPlan::Regular(size)) => (len, *size, len.div_ceil(*size).max(1)),
            Some(AxisPlan::Explicit(v)) => (len, v.iter().copied().max().unwrap_or(0), v.len()),
            None => (len, len, 1),
        });
        crate::grid::check_block_counts(shape, counts)?;
        Ok(Chunks::from_lengths(
            plan.into_iter()
                .zip(shape)
                .map(|(p, &len)| match p {
                    Some(AxisPlan::Regular(size)) => regular(len, size),
                    Some(AxisPlan::Explicit(v)) => v.to_vec(),
                    None => regular(len, len.max(1)),
                })
                .collect(),
        ))
    }
}

/// One axis's chunking before the grid is built.
enum AxisPlan<'a> {
    /// Blocks of this length, the last one possibly shorter.
    Regular(usize),
    /// These lengths.
    Explicit(&'a [usize]),
}

impl AxisPlan<'_> {
    fn largest(&self) -> usize {
        match self {
            AxisPlan::Regular(n) => *n,
            AxisPlan::Explicit(v) => v.iter().copied().max().unwrap_or(1),
        }
    }
}

impl std::fmt::Display for ChunkSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        fn axis(a: &AxisChunks) -> String {
            match a {
                AxisChunks::Auto => "auto".into(),
                AxisChunks::Whole => "-1".into(),
                AxisChunks::Size(n) => n.to_string(),
                AxisChunks::Explicit(v) => {
                    let parts: Vec<String> = v.iter().map(|x| x.to_string()).collect();
                    format!("({})", parts.join(", "))
                }
            }
        }
        match self {
            ChunkSpec::Auto => f.write_str("auto"),
            ChunkSpec::Bytes(b) => write!(f, "{}", crate::format_bytes(*b)),
            ChunkSpec::Uniform(a) => f.write_str(&axis(a)),
            ChunkSpec::PerAxis(axes) => {
                let parts: Vec<String> = axes.iter().map(axis).collect();
                write!(f, "({})", parts.join(", "))
            }
        }
    }
}

/// Maps an integer chunk length (`-1` meaning the whole axis) to an axis rule.
pub(crate) fn axis_from_int(n: i64) -> Result<AxisChunks, ChunkError> {
    match n {
        -1 => Ok(AxisChunks::Whole),
        n if n > 0 => Ok(AxisChunks::Size(n as usize)),
        n => Err(ChunkError::BadChunkLength(n)),
    }
}

fn parse_axis(item: &str) -> Result<AxisChunks, ChunkError> {
    let t = item.trim().trim_matches(|c| c == '"' || c == '\'');
    if t.eq_ignore_ascii_case("auto") {
        return Ok(AxisChunks::Auto);
    }
    if t.starts_with('(') || t.starts_with('[') {
        let bad = || ChunkError::BadSpec(item.to_string());
        let inner = strip_brackets(t).ok_or_else(bad)?;
        let parts = split_top_level(inner).ok_or_else(bad)?;
        let lengths = parts
            .iter()
            .map(|p| match p.trim().parse::<i64>() {
                Ok(n) if n > 0 => Ok(n as usize),
                Ok(n) => Err(ChunkError::BadChunkLength(n)),
                Err(_) => Err(bad()),
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(AxisChunks::Explicit(lengths));
    }
    let n = t.parse::<i64>().map_err(|_| ChunkError::BadSpec(item.to_string()))?;
    axis_from_int(n)
}

fn strip_brackets(t: &str) -> Option<&str> {
    let t = t.trim();
    let open = t.chars().next()?;
    let close = if open == '(' { ')' } else { ']' };
    t.strip_prefix(open)?.strip_suffix(close)
}

/// Splits on commas that are not inside brackets; a trailing comma is allowed.
fn split_top_level(text: &str) -> Option<Vec<&str>> {
    let mut depth = 0i32;
    let mut items = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            ',' if depth == 0 => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if depth != 0 {
        return None;
    }
    let last = &text[start..];
    if !last.trim().is_empty() {
        items.push(last);
    }
    if items.iter().any(|s| s.trim().is_empty()) {
        return None;
    }
    Some(items)
}

/// Dask's `auto_chunks` without previous chunks: spread the element budget evenly over
/// the auto axes; axes shorter than their share take their full length and the budget
/// is spread again over the rest. Only lengths are chosen here, nothing is allocated.
fn auto_fill(plan: &mut [Option<AxisPlan<'_>>], shape: &[usize], itemsize: f64, limit: f64) {
    loop {
        let autos: Vec<usize> = (0..shape.len()).filter(|&i| plan[i].is_none()).collect();
        if autos.is_empty() {
            return;
        }
        let largest_block: f64 = plan.iter().flatten().map(|p| p.largest().max(1) as f64).product();
        let elements = (limit / itemsize / largest_block).max(1.0);
        let mut size = elements.powf(1.0 / autos.len() as f64);
        // Undo powf's rounding so that 2^24 elements over 3 axes give 256, not 255.
        let rounded = size.round();
        if rounded.powi(autos.len() as i32) <= elements * (1.0 + 1e-12) {
            size = size.max(rounded);
        }
        let small: Vec<usize> = autos.iter().copied().filter(|&i| (shape[i] as f64) < size).collect();
        if small.is_empty() {
            for i in autos {
                plan[i] = Some(AxisPlan::Regular((size as usize).max(1)));
            }
            return;
        }
        for i in small {
            plan[i] = Some(AxisPlan::Regular(shape[i].max(1)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(spec: &str, shape: &[usize]) -> Vec<Vec<usize>> {
        let chunks = ChunkSpec::parse(spec)
            .and_then(|s| s.resolve(shape, DType::Float64, DEFAULT_CHUNK_BYTES))
            .expect("valid spec");
        (0..shape.len()).map(|a| chunks.axis(a).to_vec()).collect()
    }

    #[test]
    fn auto_matches_dask() {
        // dask: da.ones((20000, 20000)).chunksize == (4096, 4096)
        let c = resolve("auto", &[20000, 20000]);
        assert_eq!(c[0][0], 4096);
        assert_eq!(c[0].len(), 5);
        assert_eq!(c[0][4], 20000 - 4 * 4096);
        // dask: da.ones((200000,)).chunks == ((200000,),) since it fits in 128 MiB
        assert_eq!(resolve("auto", &[200000]), vec![vec![200000]]);
        // a short axis takes its full length, the budget goes to the other one
        let c = resolve("auto", &[10, 100_000_000]);
        assert_eq!(c[0], vec![10]);
        assert_eq!(c[1][0], 1_677_721);
        // 3-D: 2^24 elements -> 256 per axis
        assert_eq!(resolve("auto", &[1000, 1000, 1000])[0][0], 256);
    }

    #[test]
    fn byte_targets_and_mixed_axes() {
        assert_eq!(resolve("8MiB", &[20000, 20000])[0][0], 1024);
        let c = resolve("(auto, -1)", &[100_000, 1000]);
        assert_eq!(c[1], vec![1000]);
        assert_eq!(c[0][0], 16777);
    }

    #[test]
    fn explicit_and_uneven() {
        assert_eq!(resolve("3", &[10]), vec![vec![3, 3, 3, 1]]);
        assert_eq!(resolve("((4, 6), -1)", &[10, 5]), vec![vec![4, 6], vec![5]]);
        assert_eq!(resolve("100", &[10]), vec![vec![10]]);
        assert_eq!(resolve("5", &[0]), vec![vec![0]]);
    }

    #[test]
    fn bad_specs_are_errors() {
        assert_eq!(ChunkSpec::parse("0"), Err(ChunkError::BadChunkLength(0)));
        assert_eq!(ChunkSpec::parse("-2"), Err(ChunkError::BadChunkLength(-2)));
        assert!(ChunkSpec::parse("(10,").is_err());
        assert!(ChunkSpec::parse("12XB").is_err());
        assert!(ChunkSpec::parse("()").is_err());
        let wrong_rank =
            ChunkSpec::parse("(10, 10)").expect("parses").resolve(&[5], DType::Float64, DEFAULT_CHUNK_BYTES);
        assert!(matches!(wrong_rank, Err(ChunkError::WrongRank { .. })));
        let not_cover =
            ChunkSpec::parse("((3, 3),)").expect("parses").resolve(&[5], DType::Float64, DEFAULT_CHUNK_BYTES);
        assert!(matches!(not_cover, Err(ChunkError::ChunksDoNotCover { .. })));
    }
}
