//! From the program's text to the array it computes (shared by `run`, the fit search
//! and the UI).

use tessera::Array;
use tessera_expr::{EvalOptions, Value};

use crate::error::CliError;

/// Evaluates an expression into the array it computes (a number becomes a 0-d array).
pub fn evaluate_array(source: &str, options: &EvalOptions) -> Result<Array, CliError> {
    match tessera_expr::evaluate(source, options).map_err(|e| CliError::BadInput(e.to_string()))? {
        Value::Array(a) => Ok(a),
        Value::Number(s) => Ok(Array::scalar(s, s.natural_dtype())),
        other => {
            Err(CliError::BadInput(format!("the expression's result is {}, not an array or a number", other.kind())))
        }
    }
}
