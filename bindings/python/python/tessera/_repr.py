"""What a notebook shows for an array: Dask's table (bytes, shape, count and type of
the array and of one chunk) beside an SVG drawing of its grid of chunks."""

import html
import math


def _bytes(n):
    for unit in ("B", "kiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.2f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024
    return f"{n:.2f} PiB"


def _grid_svg(chunks, size=120):
    """Lines at the chunk boundaries of the last two axes (one axis: a strip)."""
    if not chunks:
        return ""
    rows = chunks[-2] if len(chunks) >= 2 else (1,)
    cols = chunks[-1]
    height_total, width_total = max(sum(rows), 1), max(sum(cols), 1)
    scale = size / max(height_total, width_total)
    w = max(width_total * scale, 10 if len(chunks) == 1 else 1)
    h = max(height_total * scale, 10 if len(chunks) == 1 else 1)
    if len(chunks) == 1:
        h = 25
    lines = []
    # Dask draws at most 100 lines per axis; more blur into a grey fill.
    x = 0.0
    for i, c in enumerate((0,) + tuple(cols)):
        x += c * scale if i else 0
        if len(cols) <= 100 or i in (0, len(cols)):
            lines.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{h:.1f}" style="stroke-width:1" />')
    y = 0.0
    for i, r in enumerate((0,) + tuple(rows)):
        y += r * scale if i and len(chunks) >= 2 else 0
        if i and len(chunks) == 1:
            y = h
        if len(rows) <= 100 or i in (0, len(rows)):
            lines.append(f'<line x1="0" y1="{y:.1f}" x2="{w:.1f}" y2="{y:.1f}" style="stroke-width:1" />')
    fill = f'<polygon points="0,0 {w:.1f},0 {w:.1f},{h:.1f} 0,{h:.1f}" style="fill:#ECB172A0;stroke-width:0"/>'
    label_w = f'<text x="{w / 2:.1f}" y="{h + 18:.1f}" font-size="1.0rem" text-anchor="middle">{sum(cols)}</text>'
    label_h = ""
    if len(chunks) >= 2:
        label_h = (
            f'<text x="{w + 12:.1f}" y="{h / 2:.1f}" font-size="1.0rem" text-anchor="middle" '
            f'transform="rotate(-90,{w + 12:.1f},{h / 2:.1f})">{sum(rows)}</text>'
        )
    return (
        f'<svg width="{w + 40:.0f}" height="{h + 40:.0f}" style="stroke:rgb(0,0,0)">'
        + "".join(lines)
        + fill
        + label_w
        + label_h
        + "</svg>"
    )


def array_html(a):
    chunksize = a.chunksize
    chunk_bytes = math.prod(chunksize) * a.itemsize
    rows = [
        ("Bytes", _bytes(a.nbytes), _bytes(chunk_bytes)),
        ("Shape", a.shape, chunksize),
        ("Count", f"{a._h.tasks} Tasks", f"{a.npartitions} Chunks"),
        ("Type", str(a.dtype), "numpy.ndarray"),
    ]
    body = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td><td>{html.escape(str(c))}</td></tr>"
        for k, v, c in rows
    )
    table = (
        '<table><thead><tr><td></td><th>Array</th><th>Chunk</th></tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )
    return (
        '<table><tr><td>' + table + '</td><td>' + _grid_svg(a.chunks) + "</td></tr></table>"
    )
