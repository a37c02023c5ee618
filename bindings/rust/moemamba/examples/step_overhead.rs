//! Per-call overhead of the safe binding: times `Session::step` (no logits) against the
//! raw `moemamba_sys::mmb_session_step` on the same session, in the same run, and
//! `Session::position` against `mmb_session_get_position` (the bare call cost).
//! Usage: cargo run --release --example step_overhead -- BUNDLE [CALLS]
use moemamba::{sys, Model, Runtime, RuntimeOptions};
use std::time::Instant;

fn main() -> Result<(), moemamba::Error> {
    let mut args = std::env::args().skip(1);
    let bundle = args.next().expect("usage: step_overhead BUNDLE [CALLS]");
    let calls: usize = args.next().map(|n| n.parse().expect("CALLS is a number")).unwrap_or(2000);
    // One compute thread: the step's own cost stays small and steady, so the
    // difference between the two loops is the binding's.
    let runtime = Runtime::with_options(&RuntimeOptions { n_threads: 1, ..Default::default() })?;
    let model = Model::load_file(&runtime, &bundle)?;
    let mut session = model.session()?;
    let tokens: Vec<i32> = (0..calls).map(|i| (i * 31 % 256) as i32).collect();

    // Warm up caches and the thread pool before either timing.
    for &t in tokens.iter().take(200) {
        session.step(t)?;
    }
    // Alternate short blocks of each kind so that drift in the machine's load hits both.
    let (mut safe, mut raw_total) = (0f64, 0f64);
    let raw = session.as_raw();
    for block in tokens.chunks(100) {
        let start = Instant::now();
        for &t in block {
            session.step(t)?;
        }
        safe += start.elapsed().as_secs_f64();
        let start = Instant::now();
        for &t in block {
            let status = unsafe { sys::mmb_session_step(raw, t, std::ptr::null_mut(), 0) };
            assert_eq!(status, sys::MMB_OK);
        }
        raw_total += start.elapsed().as_secs_f64();
    }
    let per_call = |s: f64| s * 1e6 / calls as f64;
    println!(
        "rust step (logits NULL), {calls} calls each: safe {:.3} us/call, raw C {:.3} us/call, overhead {:+.3} us/call",
        per_call(safe),
        per_call(raw_total),
        per_call(safe) - per_call(raw_total)
    );

    // A step costs far more than the binding, so the figure above sits within the
    // noise; a call that does almost nothing shows the binding's own cost.
    let reps = 1_000_000;
    let start = Instant::now();
    for _ in 0..reps {
        std::hint::black_box(session.position()?);
    }
    let safe_ns = start.elapsed().as_secs_f64() * 1e9 / reps as f64;
    let start = Instant::now();
    for _ in 0..reps {
        let mut position = 0u64;
        let status = unsafe { sys::mmb_session_get_position(raw, &mut position) };
        assert_eq!(status, sys::MMB_OK);
        std::hint::black_box(position);
    }
    let raw_ns = start.elapsed().as_secs_f64() * 1e9 / reps as f64;
    println!("rust position(), {reps} calls each: safe {safe_ns:.1} ns/call, raw C {raw_ns:.1} ns/call");
    Ok(())
}
