use proptest::prelude::*;

use crate::{EvalOptions, Value, evaluate};

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
