//! The seed's computation: `x = ones((20000, 20000), chunks=2000); (x * x[::-1, ::-1]).sum()`
//! and the same on random values, with the threaded scheduler.
//!
//! Run with `cargo run --release -p tessera --example seed`.

use tessera::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let chunks = ChunkSpec::parse("2000")?;
    for (name, x) in
        [("ones", Array::ones(&[20000, 20000], &chunks)?), ("random", Array::random(&[20000, 20000], 42, &chunks)?)]
    {
        let reversed = x.slice(&[Index::REVERSED, Index::REVERSED])?;
        let total = (&x * &reversed)?.sum(None)?;
        let result = total.compute(Scheduler::threads())?;
        println!(
            "{name:>6}: sum = {:.17e}  ({} tasks, {:.3} s)",
            result.scalar().unwrap_or(f64::NAN),
            result.tasks,
            result.wall.as_secs_f64()
        );
    }
    Ok(())
}
