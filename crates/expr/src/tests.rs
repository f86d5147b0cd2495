use proptest::prelude::*;

use crate::{EvalOptions, MAX_NESTING, Value, evaluate};
use tessera_graph::MAX_GRAPH_DEPTH;

fn array(src: &str) -> crate::Array {
    match evaluate(src, &EvalOptions::default()) {
        Ok(Value::Array(a)) => a,
        other => panic!("{src:?} gave {other:?}"),
    }
}

fn error(src: &str) -> String {
    match evaluate(src, &EvalOptions::default()) {
        Err(e) => e.to_string(),
        Ok(v) => panic!("{src:?} should fail but gave {v}"),
    }
}

#[test]
fn the_seed_expression() {
    let a = array("x = ones((20000, 20000), chunks=(2000, 2000))\n(x * x[::-1, ::-1]).sum()");
    assert_eq!(a.shape(), &[] as &[usize]);
    assert_eq!(a.dtype().name(), "float64");
    let b = array("x = da.random((100, 50), seed=3, chunks=10); x.T.mean(axis=0)");
    assert_eq!(b.shape(), &[100]);
}

#[test]
fn precedence_follows_python() {
    let v = evaluate("-2 ** 2", &EvalOptions::default()).expect("valid");
    assert_eq!(v.to_string(), "-4");
    let v = evaluate("2 ** 3 ** 2; 1 + 2 * 3", &EvalOptions::default()).expect("valid");
    assert_eq!(v.to_string(), "7");
    let v = evaluate("7 / 2", &EvalOptions::default()).expect("valid");
    assert_eq!(v.to_string(), "3.5");
}

#[test]
fn bitwise_and_floor_operators_bind_as_in_python() {
    // `|` below `^` below `&` below `+`; comparisons below all of them.
    let v = evaluate("1 | 2 ^ 3 & 6 + 1", &EvalOptions::default()).expect("valid");
    assert_eq!(v.to_string(), "1", "1 | (2 ^ (3 & 7)) evaluated on 0-d arrays");
    let a = array("x = ones((4, 6), dtype=int64); (x * 7) // 2 % 3 == 0");
    assert_eq!(a.dtype().name(), "bool");
    let b = array("x = random((4, 6)) > 0.5; ~x & (x | ~x)");
    assert_eq!((b.shape(), b.dtype().name()), (&[4usize, 6][..], "bool"));
    assert!(error("x = random((4, 6)); x & x").contains("bitwise_and"), "floats have no bitwise and");
    assert!(error("x = random((4, 6)) > 0.5; x - x").contains("boolean subtract"));
}

#[test]
fn an_ellipsis_stands_for_the_axes_the_rest_leaves() {
    let a = array("w = ones((4, 5, 6)); w[..., 1]");
    assert_eq!(a.shape(), &[4, 5]);
    let b = array("w = ones((4, 5, 6)); w[1, ..., ::2]");
    assert_eq!(b.shape(), &[5, 3]);
    assert_eq!(array("w = ones((4, 5, 6)); w[...]").shape(), &[4, 5, 6]);
    assert!(error("w = ones((4, 5, 6)); w[..., 0, ...]").contains("single ellipsis"));
}

#[test]
fn keepdims_and_ddof_follow_numpy() {
    assert_eq!(array("ones((4, 5, 6)).sum(axis=(0, 2), keepdims=True)").shape(), &[1, 5, 1]);
    assert_eq!(array("ones((4, 5)).var(ddof=1, keepdims=True)").shape(), &[1, 1]);
    assert!(error("ones((4, 5)).sum(ddof=1)").contains("takes no ddof"));
}

#[test]
fn chunks_override_replaces_every_constructor() {
    let options =
        EvalOptions { chunks: Some(tessera_chunks::ChunkSpec::parse("10").expect("valid")), ..EvalOptions::default() };
    let Ok(Value::Array(a)) = evaluate("ones((30, 30), chunks=5) + zeros(30)", &options) else { panic!() };
    assert_eq!(a.chunks().chunksize(), vec![10, 10]);
}

#[test]
fn errors_say_where_and_what() {
    assert_eq!(error("ones((3, 3)"), "line 1, column 12: expected ')' but found end of input");
    assert_eq!(error("x = 1\ny = foo + 1"), "line 2, column 5: unknown name 'foo'");
    assert!(error("ones((3, 4)) + ones((5,))").contains("could not be broadcast together with shapes [3, 4] and [5]"));
    assert!(error("ones((3, 4)) @ ones((3, 4))").contains("matmul: shapes [3, 4] and [3, 4]"));
    assert!(error("ones(10, chunks=0)").contains("chunk size 0 is invalid"));
    assert!(error("ones(10, chunks=-2)").contains("chunk size -2 is invalid"));
    assert!(error("ones(10, chunks=\"12XB\")").contains("invalid chunks"));
    assert!(error("ones((3, 3)).sum(axis=2)").contains("axis 2 is out of bounds"));
    assert!(error("ones(3.5)").contains("expected a shape"));
    assert!(error("ones(3, colour=1)").contains("unexpected keyword argument 'colour'"));
    assert!(error("ones(3)[::0]").contains("slice step cannot be zero"));
    assert!(error("ones(3) $ 2").contains("unexpected character '$'"));
    assert!(error("").contains("empty"));
    assert!(error("random(5, dtype=int64)").contains("random produces floats"));
}

proptest! {
    /// Arbitrary text never panics: it parses or gives a positioned error.
    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,60}") {
        let _ = evaluate(&src, &EvalOptions::default());
    }

    /// Text made of the language's own tokens, more likely to reach deep into the parser.
    #[test]
    fn token_soup_never_panics(parts in proptest::collection::vec(prop_oneof![
        Just("ones((4, 6), chunks=2)"), Just("x"), Just("x = "), Just("random(7)"), Just("("), Just(")"),
        Just("["), Just("]"), Just(":"), Just("::-1"), Just(","), Just("+"), Just("-"), Just("*"), Just("**"),
        Just("@"), Just(".T"), Just(".sum("), Just("axis="), Just("-1"), Just("0"), Just("2.5"), Just(";"),
        Just("\n"), Just("\"auto\""), Just("where("), Just(".rechunk("), Just("arange(5)"),
    ], 0..14)) {
        let src: String = parts.concat();
        let _ = evaluate(&src, &EvalOptions::default());
    }
}

/// Programs of the language's tokens, each repeated up to thousands of times: deep
/// nesting, long chains and long statement lists.
fn deep_programs() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("("),
        Just(")"),
        Just("-"),
        Just("+"),
        Just("1+"),
        Just(".T"),
        Just("x = x + 1\n"),
        Just("x"),
        Just("ones((3, 4), chunks=2)"),
        Just("[None]"),
        Just("[:, None]"),
        Just("sqrt("),
        Just("["),
        Just("]"),
        Just(","),
        Just("**"),
        Just(".sum()"),
        Just("x = ones(5)\n"),
        Just("1"),
        Just("\n"),
        Just("@"),
    ];
    proptest::collection::vec((piece, 1..3000usize), 0..6)
        .prop_map(|parts| parts.into_iter().map(|(p, n)| p.repeat(n)).collect())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// However deep or long, a program is evaluated or refused with a positioned
    /// error; it never panics or overflows the stack (these run on 2 MiB test threads).
    #[test]
    fn deep_and_long_programs_never_panic(src in deep_programs()) {
        let _ = evaluate(&src, &EvalOptions::default());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, ..ProptestConfig::default() })]

    /// The same with many more cases: `cargo test -- --ignored fuzz` (run by CI).
    #[test]
    #[ignore = "long: run with --ignored fuzz"]
    fn fuzz_parser_and_evaluator(src in deep_programs(), text in "\\PC{0,200}") {
        let _ = evaluate(&src, &EvalOptions::default());
        let _ = evaluate(&text, &EvalOptions::default());
    }
}

#[test]
fn nesting_limits_are_errors_at_the_place_they_are_passed() {
    let at_limit = format!("{}1{}", "(".repeat(MAX_NESTING - 1), ")".repeat(MAX_NESTING - 1));
    assert!(evaluate(&at_limit, &EvalOptions::default()).is_ok());
    let e = error(&format!("{}1{}", "(".repeat(MAX_NESTING + 1), ")".repeat(MAX_NESTING + 1)));
    assert!(e.contains("nests deeper than the limit of 256"), "{e}");
    assert!(error(&format!("{}1", "-".repeat(10_000))).contains("nests deeper"));
    let e = error(&format!("x = ones(3)\n{}x", "x = x * 2\n".repeat(MAX_GRAPH_DEPTH + 5)));
    assert!(e.contains("more than the limit of 2000"), "{e}");
    // Refused at the statement that passes the limit, not later.
    assert!(e.starts_with(&format!("line {MAX_GRAPH_DEPTH}, ")), "{e}");
}
