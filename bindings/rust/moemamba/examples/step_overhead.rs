//! Per-call overhead of the safe binding: times `Session::step` (no logits) against the
//! raw `moemamba_sys::mmb_session_step` on the same session, in the same run.
//! Usage: cargo run --release --example step_overhead -- BUNDLE [CALLS]
use moemamba::{sys, Model, Runtime};
use std::time::Instant;

fn main() -> Result<(), moemamba::Error> {
    let mut args = std::env::args().skip(1);
    let bundle = args.next().expect("usage: step_overhead BUNDLE [CALLS]");
    let calls: usize = args.next().map(|n| n.parse().expect("CALLS is a number")).unwrap_or(2000);
    let runtime = Runtime::new()?;
    let model = Model::load_file(&runtime, &bundle)?;
    let mut session = model.session()?;
    let tokens: Vec<i32> = (0..calls).map(|i| (i * 31 % 256) as i32).collect();

    // Warm up caches and the thread pool before either timing.
    for &t in tokens.iter().take(200) {
        session.step(t)?;
    }
    let mut best_safe = f64::MAX;
    let mut best_raw = f64::MAX;
    for _ in 0..3 {
        session.reset()?;
        let start = Instant::now();
        for &t in &tokens {
            session.step(t)?;
        }
        best_safe = best_safe.min(start.elapsed().as_secs_f64());

        session.reset()?;
        let raw = session.as_raw();
        let start = Instant::now();
        for &t in &tokens {
            let status = unsafe { sys::mmb_session_step(raw, t, std::ptr::null_mut(), 0) };
            assert_eq!(status, sys::MMB_OK);
        }
        best_raw = best_raw.min(start.elapsed().as_secs_f64());
    }
    let per_call = |s: f64| s * 1e6 / calls as f64;
    println!(
        "rust step (logits NULL), best of 3 x {calls} calls: safe {:.3} us/call, raw C {:.3} us/call, overhead {:+.3} us/call",
        per_call(best_safe),
        per_call(best_raw),
        per_call(best_safe) - per_call(best_raw)
    );
    Ok(())
}
