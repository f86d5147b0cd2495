//! Every reduction over every generator, dtype and chunking, fused and unfused, against
//! numpy.
//!
//! The generated corpus (`numpy.rs`) draws its operands from stored arrays, so it never
//! reduced the constant tiles that fused generators (`ones`, `full`, `zeros + 1`)
//! produce; integer sums and products over them once counted one column per block.
//! This grid closes that hole: each reduction (with `axis=` none, 0, 1 and a tuple with
//! `keepdims=True`) of each generator — the constants, `eye`, `tri`, `arange`,
//! tessera's own `random`/`normal`/`integers` and a stored array with NaNs — in every
//! dtype is computed by tessera under several chunkings, fused and unfused (all the
//! writes of one chunking in one run), and by numpy evaluating the same text; dtypes,
//! shapes and values must agree as in the corpus (integers, bools, minima, maxima and
//! positions exactly; float sums and products within numpy's own rounding).

use std::fmt::Write as _;

use tessera_tests::python::py_json;
use tessera_tests::tessera;

const DTYPES: [&str; 4] = ["float64", "float32", "int64", "bool"];

/// Generators over a (7, 5) array: the text tessera evaluates (`{D}` is the dtype,
/// `{C}` the chunking's `, chunks=...`) and, where numpy cannot evaluate the same text
/// (tessera's counter-based random streams), the name of the array tessera wrote for
/// numpy to load.
const GENERATORS: [(&str, Option<&str>); 10] = [
    ("ones((7, 5), dtype='{D}'{C})", None),
    ("zeros((7, 5), dtype='{D}'{C})", None),
    ("full((7, 5), 2, dtype='{D}'{C})", None),
    ("(zeros((7, 5), dtype='{D}'{C}) + 1)", None),
    ("full((8, 6), 3, dtype='{D}'{C})[:0:-1, 1:]", None),
    ("eye(7, 5, k=1, dtype='{D}'{C})", None),
    ("tri(7, 5, dtype='{D}'{C})", None),
    ("arange(35, dtype='{D}', chunks=6).reshape(7, 5)", None),
    ("s_{D}", None),
    ("{R}", Some("r_{D}")),
];

/// tessera's random generators per dtype (numpy's are other algorithms).
fn random_of(dtype: &str) -> &'static str {
    match dtype {
        "float64" => "normal(size=(7, 5), seed=5{C})",
        "float32" => "random((7, 5), seed=5, dtype='float32'{C})",
        "int64" => "integers(-9, 10, size=(7, 5), seed=5{C})",
        _ => "(random((7, 5), seed=5{C}) < 0.5)",
    }
}

const REDUCTIONS: [&str; 21] = [
    "sum",
    "mean",
    "min",
    "max",
    "prod",
    "std",
    "var",
    "any",
    "all",
    "argmin",
    "argmax",
    "count_nonzero",
    "nansum",
    "nanprod",
    "nanmin",
    "nanmax",
    "nanmean",
    "nanvar",
    "nanstd",
    "cumsum",
    "cumprod",
];

const AXES: [&str; 4] = ["", ", axis=0", ", axis=1", ", axis=(0, 1), keepdims=True"];

/// Chunkings of the (7, 5) arrays: one block, rows, and uneven blocks both ways.
const CHUNKINGS: [&str; 4] = ["(7, 5)", "(3, 2)", "(1, 5)", "(2, 3)"];

/// One case: what tessera evaluates (`{C}` stands for the chunks) and what numpy
/// evaluates.
struct Case {
    tessera: String,
    numpy: String,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for dtype in DTYPES {
        for (generator, stored) in GENERATORS {
            let g = generator.replace("{R}", random_of(dtype)).replace("{D}", dtype);
            let n = stored.map_or_else(|| g.replace("{C}", "").replace(", chunks=6", ""), |s| s.replace("{D}", dtype));
            for f in REDUCTIONS {
                for axis in AXES {
                    let one_axis = matches!(f, "argmin" | "argmax" | "cumsum" | "cumprod");
                    if one_axis && axis.contains('(') {
                        continue;
                    }
                    out.push(Case { tessera: format!("{f}({g}{axis})"), numpy: format!("{f}({n}{axis})") });
                    if matches!(f, "var" | "std" | "nanvar") && axis.is_empty() {
                        out.push(Case { tessera: format!("{f}({g}, ddof=1)"), numpy: format!("{f}({n}, ddof=1)") });
                    }
                }
            }
        }
    }
    out
}

#[test]
fn every_reduction_of_every_generator_dtype_and_chunking_agrees_with_numpy() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let d = dir.path().display().to_string();
    // The stored inputs (numpy's, with NaNs in the floats) and tessera's random arrays.
    py_json(&format!(
        "import numpy as np\nr = np.random.default_rng(3)\nx = np.where(r.random((7, 5)) < 0.15, np.nan, (r.random((7, 5)) - 0.4) * 5)\n\
         np.save('{d}/s_float64.npy', x)\nnp.save('{d}/s_float32.npy', x.astype(np.float32))\n\
         np.save('{d}/s_int64.npy', r.integers(-6, 7, (7, 5)))\nnp.save('{d}/s_bool.npy', r.random((7, 5)) < 0.6)\nprint(1)\n"
    ));
    let mut writes = String::new();
    for dtype in DTYPES {
        let _ = writeln!(writes, "to_npy({}, '{d}/r_{dtype}.npy')", random_of(dtype).replace("{C}", ""));
    }
    let made = tessera(&["run", &writes]);
    assert_eq!(made.code, 0, "tessera's random inputs: {}", made.stderr);

    // numpy first: the cases it refuses are left out of tessera's runs (the corpus
    // checks refusals one by one).
    let cases = cases();
    let numpy_texts: Vec<&str> = cases.iter().map(|c| c.numpy.as_str()).collect();
    std::fs::write(dir.path().join("cases.json"), serde_json::to_string(&numpy_texts).expect("json"))
        .expect("the cases can be written");
    let accepted = py_json(&numpy_script(&d));
    let accepted: Vec<usize> =
        accepted.as_array().expect("a list").iter().filter_map(|k| k.as_u64()).map(|k| k as usize).collect();
    assert!(accepted.len() > cases.len() * 3 / 4, "numpy accepted only {} of {}", accepted.len(), cases.len());

    let mut failures: Vec<String> = Vec::new();
    let mut runs = Vec::new();
    for (c, chunks) in CHUNKINGS.iter().enumerate() {
        for fused in [true, false] {
            let tag = format!("c{c}{}", if fused { "f" } else { "u" });
            let mut todo = accepted.clone();
            std::fs::create_dir(dir.path().join(&tag)).expect("a folder per run");
            // A case tessera refuses stops its run (exit 2, naming its line): it is a
            // failure of its own, and the run goes on without it.
            let mut done = false;
            for _ in 0..20 {
                let mut src = String::new();
                for dtype in DTYPES {
                    let _ = writeln!(src, "s_{dtype} = from_npy('{d}/s_{dtype}.npy', chunks={chunks})");
                }
                let first_case_line = DTYPES.len() + 1;
                for &k in &todo {
                    let expr = cases[k].tessera.replace("{C}", &format!(", chunks={chunks}"));
                    let _ = writeln!(src, "to_npy({expr}, '{d}/{tag}/{k}.npy', overwrite=True)");
                }
                // Too long for one argument: read from a file.
                let file = dir.path().join(format!("{tag}.tsr"));
                std::fs::write(&file, &src).expect("the source can be written");
                let file = file.display().to_string();
                let mut args = vec!["run", "--file", &file];
                if !fused {
                    args.insert(1, "--no-fuse");
                }
                let run = tessera(&args);
                if run.code == 0 {
                    done = true;
                    break;
                }
                assert_eq!(run.code, 2, "{tag}: exit {} (a crash?)\n{}", run.code, run.stderr);
                let line =
                    line_of(&run.stderr).unwrap_or_else(|| panic!("{tag}: an error without a line: {}", run.stderr));
                let at = line.checked_sub(first_case_line).filter(|&i| i < todo.len());
                let at = at.unwrap_or_else(|| panic!("{tag}: refused outside the cases: {}", run.stderr));
                let expr = cases[todo[at]].tessera.replace("{C}", &format!(", chunks={chunks}"));
                failures.push(format!("{expr} [fused {fused}]: refused: {}", run.stderr.trim()));
                todo.remove(at);
            }
            if done {
                runs.push(serde_json::json!({"tag": tag, "cases": todo}));
            } else {
                failures.push(format!("[{chunks}, fused {fused}]: more than 20 cases refused; the rest not compared"));
            }
        }
    }
    std::fs::write(dir.path().join("runs.json"), serde_json::to_string(&runs).expect("json")).expect("written");
    let report = py_json(&compare_script(&d));
    let compared = report["compared"].as_u64().unwrap_or(0);
    for f in report["failures"].as_array().into_iter().flatten() {
        failures.push(f.as_str().unwrap_or_default().to_string());
    }
    eprintln!("reduction grid: {} cases, {compared} results compared, {} disagreements", cases.len(), failures.len());
    for f in failures.iter().take(40) {
        eprintln!("  {f}");
    }
    assert!(failures.is_empty(), "{} results disagree with numpy (the first 40 listed above)", failures.len());
    assert!(compared as usize >= accepted.len() * CHUNKINGS.len() * 2, "only {compared} results compared");
}

/// The line an error names (`error: line N, column M: ...`).
fn line_of(stderr: &str) -> Option<usize> {
    let rest = &stderr[stderr.find("line ")? + 5..];
    rest[..rest.find(',')?].trim().parse().ok()
}

/// numpy's namespace over the inputs, shared by both scripts.
fn namespace(d: &str) -> String {
    format!(
        r#"
import json, warnings
import numpy as np
warnings.simplefilter("ignore")
np.seterr(all="ignore")
d = {d:?}
ns = {{}}
for f in dir(np):
    if not f.startswith("_"):
        ns[f] = getattr(np, f)
ns["min"], ns["max"], ns["sum"], ns["any"], ns["all"] = np.min, np.max, np.sum, np.any, np.all
for t in {DTYPES:?}:
    ns[f"s_{{t}}"] = np.load(f"{{d}}/s_{{t}}.npy")
    ns[f"r_{{t}}"] = np.load(f"{{d}}/r_{{t}}.npy")
cases = json.load(open(f"{{d}}/cases.json"))
"#
    )
}

/// Prints the positions of the cases numpy evaluates without raising.
fn numpy_script(d: &str) -> String {
    let mut s = namespace(d);
    s.push_str(
        r#"
ok = []
for k, expr in enumerate(cases):
    try:
        np.asarray(eval(expr, ns))
        ok.append(k)
    except Exception:
        pass
print(json.dumps(ok))
"#,
    );
    s
}

/// Compares every result tessera wrote with numpy's.
fn compare_script(d: &str) -> String {
    let mut s = namespace(d);
    s.push_str(
        r#"
runs = json.load(open(f"{d}/runs.json"))
failures, compared = [], 0
for run in runs:
    for k in run["cases"]:
        expr = cases[k]
        want = np.asarray(eval(expr, ns))
        got = np.load(f"{d}/{run['tag']}/{k}.npy")
        compared += 1
        problem = None
        if got.dtype != want.dtype:
            problem = f"dtype {got.dtype}, numpy {want.dtype}"
        elif got.shape != want.shape:
            problem = f"shape {got.shape}, numpy {want.shape}"
        elif want.dtype.kind in "biu" or any(f in expr for f in ("min(", "max(", "arg")):
            if not np.array_equal(got, want, equal_nan=want.dtype.kind == "f"):
                problem = f"{got.ravel()[:6]!r} vs numpy {want.ravel()[:6]!r}"
        else:
            rtol = 2e-6 if want.dtype == np.float32 else 1e-11
            scale = np.max(np.abs(np.nan_to_num(want, nan=0, posinf=0, neginf=0)), initial=1.0)
            ok = np.isclose(got, want, rtol=rtol, atol=rtol * scale, equal_nan=True) | (got == want)
            if not ok.all():
                problem = f"{got.ravel()[:6]!r} vs numpy {want.ravel()[:6]!r}"
        if problem:
            failures.append(f"{expr} [{run['tag']}]: {problem}")
print(json.dumps({"compared": compared, "failures": failures}))
"#,
    );
    s
}
