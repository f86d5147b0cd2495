//! Full validation of a task graph that came from the network, before any task runs.
//!
//! A kernel indexes into the graph without checking: layers by id, expression nodes by
//! index, source arrays through view maps. A graph that a peer malformed (by accident
//! or on purpose) must therefore be refused here, with a message, and never reach a
//! kernel, where it would be an out-of-bounds panic. The rules are exactly what the
//! kernels rely on; lowering produces only graphs that pass (checked in debug builds).

use tessera_chunks::{Chunks, DType};

use crate::{FNode, FusedExpr, Kernel, LayerId, Leaf, ReduceStage, TaskGraph, ViewMap};

/// Checks every index and every bound a kernel will use.
pub(crate) fn validate(graph: &TaskGraph) -> Result<(), String> {
    for (id, layer) in graph.layers.iter().enumerate() {
        let fail = |what: String| format!("layer {id} ({}): {what}", layer.name);
        // A layer that makes array blocks has one task per block of its chunks.
        if let Some(chunks) = &layer.chunks
            && chunks.grid_shape() != layer.grid
        {
            return Err(fail("its grid is not its chunks' grid".into()));
        }
        let array_chunks = || layer.chunks.as_ref().ok_or_else(|| fail("it has no chunks".into()));
        match &layer.kernel {
            Kernel::Blockwise(expr) => {
                let chunks = array_chunks()?;
                check_expr(graph, id, expr, &chunks.shape()).map_err(fail)?;
            }
            Kernel::Reduce(r) => {
                let mut seen = vec![false; r.input_ndim];
                for &a in &r.axes {
                    match seen.get_mut(a) {
                        Some(s) if !*s => *s = true,
                        _ => return Err(fail(format!("reduces axis {a} of a {}-d input", r.input_ndim))),
                    }
                }
                if let ReduceStage::Partial { expr, input, pairing } = &r.stage {
                    if input.ndim() != r.input_ndim || layer.grid.len() != r.input_ndim {
                        return Err(fail("its input has the wrong number of dimensions".into()));
                    }
                    if let Some(map) = pairing {
                        let shape = input.shape();
                        let involution = map.is_permutation() && map.compose(map).is_identity();
                        if !involution || check_view(map, &shape, &shape).is_err() {
                            return Err(fail("its pairing is not an involution of its input".into()));
                        }
                    }
                    if layer.grid.iter().zip(input.grid_shape()).any(|(&g, n)| g > n) {
                        return Err(fail("its grid is larger than its input's".into()));
                    }
                    check_expr(graph, id, expr, &input.shape()).map_err(fail)?;
                }
            }
            Kernel::Scan(s) => {
                let chunks = array_chunks()?;
                if s.axis >= chunks.ndim() {
                    return Err(fail("a scan needs an axis of its chunks".into()));
                }
                check_expr(graph, id, &s.expr, &chunks.shape()).map_err(fail)?;
            }
            Kernel::Reshape(r) => {
                let chunks = array_chunks()?;
                check_reshape(r, chunks).map_err(fail)?;
                check_expr(graph, id, &r.expr, &r.input.shape()).map_err(fail)?;
            }
            Kernel::Quantile(q) => {
                let chunks = array_chunks()?;
                check_quantile(q, chunks).map_err(fail)?;
                check_expr(graph, id, &q.expr, &q.input.shape()).map_err(fail)?;
            }
            Kernel::Histogram(h) => {
                let chunks = array_chunks()?;
                let bins = h.edges.bins();
                let edges_ok = match &h.edges {
                    crate::BinEdges::Listed(e) => e.windows(2).all(|w| w[0] <= w[1]),
                    crate::BinEdges::Uniform { lo, hi, .. } => lo.is_finite() && hi.is_finite() && lo < hi,
                };
                let rows = h.input.num_blocks().max(1);
                if !edges_ok
                    || bins == 0
                    || bins > crate::MAX_BINS
                    || chunks.shape() != [rows, bins]
                    || chunks.grid_shape() != [rows, 1]
                {
                    return Err(fail("a histogram layer that does not match its input".into()));
                }
                check_expr(graph, id, &h.expr, &h.input.shape()).map_err(fail)?;
            }
            Kernel::BlockCount(k) => {
                let chunks = array_chunks()?;
                let blocks = k.input.num_blocks();
                if chunks.ndim() != 1 || chunks.axis(0) != vec![1; blocks].as_slice() || k.expr.dtype() != DType::Bool {
                    return Err(fail("a count layer that does not match its bool input".into()));
                }
                check_expr(graph, id, &k.expr, &k.input.shape()).map_err(fail)?;
            }
            Kernel::Compress(k) => {
                let chunks = array_chunks()?;
                check_compress(k, chunks, layer.dtype).map_err(fail)?;
                check_expr(graph, id, &k.expr, &k.input.shape()).map_err(fail)?;
            }
            Kernel::Gather(g) => {
                let chunks = array_chunks()?;
                check_gather(graph, id, g, &chunks.shape()).map_err(fail)?;
            }
            Kernel::MatMul(m) => {
                let chunks = array_chunks()?;
                if chunks.ndim() != 2 || m.inner.ndim() != 1 {
                    return Err(fail("a matrix product needs 2-D output and 1-D inner chunks".into()));
                }
                let (shape, inner) = (chunks.shape(), m.inner.shape()[0]);
                check_expr(graph, id, &m.a, &[shape[0], inner]).map_err(fail)?;
                check_expr(graph, id, &m.b, &[inner, shape[1]]).map_err(fail)?;
            }
            Kernel::Write(w) => {
                let t = &w.target;
                if w.region.shape() != t.shape
                    || w.region.grid_shape() != layer.grid
                    || t.chunk_shape.len() != t.shape.len()
                    || t.chunk_shape.contains(&0)
                {
                    return Err(fail("its region does not match its target".into()));
                }
                check_expr(graph, id, &w.expr, &t.shape).map_err(fail)?;
            }
            Kernel::Collect { counts } => {
                let chunks = array_chunks()?;
                if chunks.shape() != [counts.len(), 2] || layer.grid != [1, 1] {
                    return Err(fail("a write summary is one (targets, 2) block".into()));
                }
            }
        }
    }
    for (id, t) in graph.tasks.iter().enumerate() {
        let layer = graph.layers.get(t.layer).ok_or_else(|| format!("task {id} names a missing layer"))?;
        if t.block.len() != layer.grid.len() || t.block.iter().zip(&layer.grid).any(|(b, g)| b >= g) {
            return Err(format!("task {id} names a block outside its layer"));
        }
        if t.deps.iter().any(|&d| d >= id) {
            return Err(format!("task {id} depends on a later task"));
        }
    }
    if graph.tasks.is_empty() || graph.outputs.iter().any(|&o| o >= graph.tasks.len()) {
        return Err("the outputs are not tasks of the graph".into());
    }
    if graph.chunks.ndim() != graph.shape.len() || graph.chunks.shape() != graph.shape {
        return Err("the result's chunks do not match its shape".into());
    }
    if graph.more.iter().any(|r| r.chunks.shape() != r.shape) {
        return Err("a further result's chunks do not match its shape".into());
    }
    let blocks = graph.result_chunks().iter().try_fold(0usize, |n, c| n.checked_add(c.num_blocks()));
    if blocks != Some(graph.outputs.len()) {
        return Err("the outputs are not one per block of the results".into());
    }
    Ok(())
}

/// A reshape whose output has `chunks`: every output block maps to an input block of
/// as many elements.
fn check_reshape(r: &crate::ReshapeKernel, chunks: &Chunks) -> Result<(), String> {
    let (grid, input_grid) = (chunks.grid_shape(), r.input.grid_shape());
    let in_range = |axes: &[usize], n: usize| axes.iter().all(|&a| a < n);
    if r.groups.iter().any(|(i, o)| !in_range(i, input_grid.len()) || !in_range(o, grid.len())) {
        return Err("a reshape group names a missing axis".into());
    }
    if chunks.num_blocks() > crate::lower::MAX_TASKS {
        return Err("a reshape with more blocks than a graph may have".into());
    }
    for block in chunks.blocks() {
        let source = crate::reshape_source_block(&r.groups, &block, input_grid.len());
        if source.iter().zip(&input_grid).any(|(s, g)| s >= g) || r.input.block_len(&source) != chunks.block_len(&block)
        {
            return Err("a reshape block maps to no input block of its size".into());
        }
    }
    Ok(())
}

/// A quantile layer with output `chunks`: its axis whole in the input, its output the
/// input without the axis (led by one entry per quantile when listed).
fn check_quantile(q: &crate::QuantileKernel, chunks: &Chunks) -> Result<(), String> {
    let r = &q.ranking;
    let fail = || "a quantile layer that does not match its input".to_string();
    if r.axis >= q.input.ndim() || q.input.axis(r.axis).len() != 1 || r.qs.iter().any(|v| !(0.0..=1.0).contains(v)) {
        return Err(fail());
    }
    let mut expected: Vec<Vec<usize>> =
        (0..q.input.ndim()).filter(|&a| a != r.axis).map(|a| q.input.axis(a).to_vec()).collect();
    if r.listed {
        expected.insert(0, vec![r.qs.len()]);
    } else if r.qs.len() != 1 {
        return Err(fail());
    }
    if (0..chunks.ndim()).any(|a| chunks.axis(a) != expected[a].as_slice()) || chunks.ndim() != expected.len() {
        return Err(fail());
    }
    Ok(())
}

/// A compression: input in row strips, output 1-D with each block no longer than the
/// input block it selects from, sources increasing, a bool mask as the expression's
/// root and values of the layer's dtype at an earlier node.
fn check_compress(k: &crate::CompressKernel, chunks: &Chunks, dtype: DType) -> Result<(), String> {
    let fail = || "a compress layer that does not match its input".to_string();
    let values_dtype = k.expr.nodes.get(k.values).map(|(_, d)| *d);
    if !crate::array::is_strips(&k.input)
        || chunks.ndim() != 1
        || k.expr.dtype() != DType::Bool
        || k.values + 1 >= k.expr.nodes.len()
        || values_dtype != Some(dtype)
    {
        return Err(fail());
    }
    let outputs = chunks.axis(0);
    if outputs.len() != k.sources.len() || k.sources.windows(2).any(|w| w[0] >= w[1]) {
        return Err(fail());
    }
    for (&source, &len) in k.sources.iter().zip(outputs) {
        if source >= k.input.num_blocks() || len > k.input.block_len(&k.input.block_at(source)) {
            return Err(fail());
        }
    }
    Ok(())
}

/// A gather whose output has `shape`: parts of its dtype whose expressions stay inside
/// their shapes; runs read inside their parts and add up to the axis.
fn check_gather(graph: &TaskGraph, layer: LayerId, g: &crate::GatherKernel, shape: &[usize]) -> Result<(), String> {
    if g.axis >= shape.len() || g.runs.len() > crate::MAX_GATHER_RUNS {
        return Err("a gather needs an axis of its output and at most the runs allowed".into());
    }
    if g.lengths.len() != g.parts.len() {
        return Err("a gather with a length per part".into());
    }
    for (part, &len) in g.parts.iter().zip(&g.lengths) {
        let mut part_shape = shape.to_vec();
        part_shape[g.axis] = usize::try_from(len).map_err(|_| "a gather part too long")?;
        if part.dtype() != graph.layers[layer].dtype {
            return Err("a gather's part has another dtype".into());
        }
        check_expr(graph, layer, part, &part_shape)?;
    }
    let lengths = &g.lengths;
    let mut total = 0u64;
    for r in &g.runs {
        let n = *lengths.get(r.part).ok_or("a gather run names a missing part")?;
        let inside = match r.step {
            1 => r.start.checked_add(r.len).is_some_and(|end| end <= n),
            0 => r.start < n,
            -1 => r.start < n && r.len <= r.start + 1,
            _ => false,
        };
        if !inside {
            return Err("a gather run reads outside its part".into());
        }
        total = total.checked_add(r.len).ok_or("a gather's runs overflow")?;
    }
    if total != shape[g.axis] as u64 {
        return Err("a gather's runs do not cover its axis".into());
    }
    Ok(())
}

/// A fused expression evaluated over an array of `shape`, in layer `layer`: operands
/// come before their users, inputs are earlier layers with chunks, and every view
/// stays inside its source.
fn check_expr(graph: &TaskGraph, layer: LayerId, expr: &FusedExpr, shape: &[usize]) -> Result<(), String> {
    if expr.nodes.is_empty() {
        return Err("an empty expression".into());
    }
    for (i, (node, _)) in expr.nodes.iter().enumerate() {
        let operands: &[usize] = match node {
            FNode::Leaf(_) => &[],
            FNode::Unary(_, a) | FNode::Cast(a) => std::slice::from_ref(a),
            FNode::Binary(_, a, b) => &[*a, *b],
            FNode::Where(c, a, b) => &[*c, *a, *b],
        };
        if operands.iter().any(|&o| o >= i) {
            return Err(format!("expression node {i} reads a node that is not before it"));
        }
        match node {
            FNode::Leaf(Leaf::Gen { generator, view }) => check_view(view, shape, &generator.shape)
                .map_err(|e| format!("expression node {i} reads its generator {e}"))?,
            FNode::Leaf(Leaf::Stored { array, view }) => {
                let chunked =
                    array.chunk_shape.as_ref().is_none_or(|c| c.len() == array.shape.len() && !c.contains(&0));
                if !chunked {
                    return Err(format!("expression node {i} reads a stored array with bad chunks"));
                }
                check_view(view, shape, &array.shape)
                    .map_err(|e| format!("expression node {i} reads its stored array {e}"))?
            }
            FNode::Leaf(Leaf::Input { layer: source, view }) => {
                if *source >= layer {
                    return Err(format!("expression node {i} reads layer {source}, which is not before it"));
                }
                let chunks: &Chunks = graph.layers[*source]
                    .chunks
                    .as_ref()
                    .ok_or_else(|| format!("expression node {i} reads layer {source}, which has no blocks"))?;
                check_view(view, shape, &chunks.shape())
                    .map_err(|e| format!("expression node {i} reads layer {source} {e}"))?;
            }
            _ => {}
        }
    }
    Ok(())
}

/// A view from an array of `shape` into a source of `source` stays inside the source.
fn check_view(view: &ViewMap, shape: &[usize], source: &[usize]) -> Result<(), String> {
    if view.out_ndim != shape.len() || view.axes.len() != source.len() {
        return Err("through a view of the wrong dimensions".into());
    }
    if shape.contains(&0) {
        // An empty array reads nothing.
        return Ok(());
    }
    let outside = || Err("outside its bounds".to_string());
    for (axis, &len) in view.axes.iter().zip(source) {
        let len = len as i128;
        let (first, last) = match axis.out_axis {
            None => (axis.offset as i128, axis.offset as i128),
            Some(o) => {
                let Some(&n) = shape.get(o) else { return outside() };
                if n == 0 {
                    continue;
                }
                let first = axis.offset as i128;
                (first, first + axis.step as i128 * (n as i128 - 1))
            }
        };
        if first.min(last) < 0 || first.max(last) >= len {
            return outside();
        }
    }
    Ok(())
}
