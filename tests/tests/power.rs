//! `power` at every special value, against numpy: bases and exponents of ±0, ±1, ±inf,
//! NaN, halves and integers, as arrays of exponents (numpy's `pow`) and as scalar
//! exponents (where numpy takes fast paths: `x ** 0.5` is a square root, so
//! `(-inf) ** 0.5` is NaN and `(-0.0) ** 0.5` is -0.0), in float64, float32 and int64,
//! fused and unfused. Values must agree bit for bit (NaNs as NaNs).

use std::fmt::Write as _;

use tessera_tests::python::py_json;
use tessera_tests::tessera;

const SCALARS: [&str; 14] = ["0", "1", "2", "3", "-1", "-2", "0.5", "-0.5", "1.5", "2.0", "-inf", "inf", "nan", "True"];

fn cases() -> Vec<String> {
    let mut out = vec![
        "b[:, None] ** e".to_string(),
        "power(b32[:, None], e32)".to_string(),
        "e ** b[:, None]".to_string(),
        "i[:, None] ** k".to_string(),
        "power(b, b[::-1])".to_string(),
    ];
    for s in SCALARS {
        out.push(format!("b ** {s}"));
        out.push(format!("b32 ** {s}"));
        out.push(format!("{s} ** b"));
        if !s.contains('.') && !s.starts_with('-') && !s.contains("inf") && s != "nan" {
            out.push(format!("i ** {s}"));
            out.push(format!("{s} ** k"));
        }
    }
    out
}

#[test]
fn power_agrees_with_numpy_at_every_special_value() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path().display().to_string();
    py_json(&format!(
        "import numpy as np\n\
         b = np.array([-np.inf, -2.5, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 2.0, 2.5, np.inf, np.nan])\n\
         np.save('{d}/b.npy', b)\nnp.save('{d}/b32.npy', b.astype(np.float32))\n\
         np.save('{d}/e.npy', np.array([-np.inf, -2.0, -1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0, 1.5, np.inf, np.nan]))\n\
         np.save('{d}/e32.npy', np.load('{d}/e.npy').astype(np.float32))\n\
         np.save('{d}/i.npy', np.array([-3, -2, -1, 0, 1, 2, 7, 3037000500, -(2**62)]))\n\
         np.save('{d}/k.npy', np.array([0, 1, 2, 3, 63, 64, 5000000001]))\nprint(1)"
    ));
    let cases = cases();
    for fused in [true, false] {
        let mut src = String::new();
        for (name, chunks) in [("b", 5), ("b32", 7), ("e", 4), ("e32", 4), ("i", 4), ("k", 3)] {
            let _ = writeln!(src, "{name} = from_npy('{d}/{name}.npy', chunks={chunks})");
        }
        for (k, expr) in cases.iter().enumerate() {
            let _ = writeln!(src, "to_npy({expr}, '{d}/{}{k}.npy', overwrite=True)", if fused { "f" } else { "u" });
        }
        let mut args = vec!["run", &src];
        if !fused {
            args.insert(1, "--no-fuse");
        }
        let run = tessera(&args);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let report = py_json(&format!(
        r#"
import json, warnings
import numpy as np
warnings.simplefilter("ignore")
d = {d:?}
ns = {{n: np.load(f"{{d}}/{{n}}.npy") for n in ("b", "b32", "e", "e32", "i", "k")}}
ns.update(power=np.power, inf=np.inf, nan=np.nan)
failures = []
for k, expr in enumerate({cases:?}):
    want = np.asarray(eval(expr, ns))
    for tag in "fu":
        got = np.load(f"{{d}}/{{tag}}{{k}}.npy")
        same = got.dtype == want.dtype and got.shape == want.shape and (
            np.array_equal(got.view(np.uint8), want.view(np.uint8)) if want.dtype.kind in "biu"
            else bool(np.all((np.isnan(got) & np.isnan(want)) | ((got == want) & (np.signbit(got) == np.signbit(want))))))
        if not same:
            bad = [] if got.shape != want.shape else np.argwhere(~((np.isnan(got) & np.isnan(want)) | (got == want) & (np.signbit(got) == np.signbit(want)))).tolist()[:3]
            failures.append(f"{{expr}} [{{tag}}]: {{got.dtype}} {{got.ravel()[:4]}} vs numpy {{want.dtype}} {{want.ravel()[:4]}} at {{bad}}")
print(json.dumps(failures))
"#
    ));
    let failures = report.as_array().cloned().unwrap_or_default();
    for f in &failures {
        eprintln!("  {f}");
    }
    assert!(failures.is_empty(), "{} power results disagree with numpy (listed above)", failures.len());
}
