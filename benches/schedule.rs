//! Schedule benchmark: the cost of `Schedule::next_after` for an every-minute and a
//! yearly cron expression, and their ratio. A search that stepped minute by minute
//! would make the yearly one ~500,000 times slower; field-by-field search keeps the
//! ratio near 1. Run with `cargo bench --bench schedule`.

use std::hint::black_box;
use std::time::Instant;

use pipemon::schedule::Schedule;

fn per_call_ns(expr: &str, calls: u32) -> f64 {
    let s = Schedule::parse(expr).unwrap();
    let start_at = 1_793_491_200_000_i64; // 2026-11-01T00:00:00Z
    let t0 = Instant::now();
    let mut t = start_at;
    for _ in 0..calls {
        // Restart from the same instant each time so every call does the same search.
        t = black_box(s.next_after(black_box(start_at)).unwrap()).max(t);
    }
    black_box(t);
    t0.elapsed().as_nanos() as f64 / f64::from(calls)
}

fn main() {
    let calls = 20_000;
    let minute = per_call_ns("* * * * *", calls);
    for expr in ["0 0 1 1 *", "0 3 * * mon-fri", "*/15 * * * *", "@monthly"] {
        let ns = per_call_ns(expr, calls);
        println!(
            "next_after {expr:<16} {ns:>9.0} ns/call  ratio to `* * * * *`: {:.2}",
            ns / minute
        );
    }
    println!(
        "next_after {:<16} {minute:>9.0} ns/call  (reference)",
        "* * * * *"
    );
}
