//! What the Rust binding adds to a call: `Session::step` and `Session::position`
//! against the same C functions called through `moemamba_sys` on the same session, in
//! the same run (a call from Rust to C costs what a call from C does). Each figure is
//! the fastest of many short interleaved blocks, so that time spent switched out on a
//! busy machine does not count.
//! Usage: step_overhead BUNDLE
use moemamba::{sys, Model, Runtime, RuntimeOptions};
use std::hint::black_box;
use std::time::Instant;

/// Runs `f` `rounds` times (after `warm` untimed runs); the fastest time per call of a
/// block of `n`, in nanoseconds.
fn fastest(warm: usize, rounds: usize, n: usize, mut f: impl FnMut()) -> f64 {
    (0..warm + rounds)
        .map(|round| {
            let start = Instant::now();
            f();
            if round < warm { f64::MAX } else { start.elapsed().as_secs_f64() * 1e9 / n as f64 }
        })
        .fold(f64::MAX, f64::min)
}

fn main() -> Result<(), moemamba::Error> {
    let bundle = std::env::args().nth(1).expect("usage: step_overhead BUNDLE");
    let runtime = Runtime::with_options(&RuntimeOptions { n_threads: 1, ..Default::default() })?;
    let model = Model::load_file(&runtime, &bundle)?;
    let mut session = model.session()?;
    let raw = session.as_raw();
    const BLOCK: i32 = 5;
    const REPS: usize = 100_000;

    // Interleaved: one block of each per round, so that changes in load hit both.
    let (mut safe, mut bare) = (f64::MAX, f64::MAX);
    for round in 0..420 {
        let warm = usize::from(round < 20);
        safe = safe.min(fastest(warm, 1, BLOCK as usize, || {
            for i in 0..BLOCK {
                session.step(i * 31 % 256).unwrap();
            }
        }));
        bare = bare.min(fastest(warm, 1, BLOCK as usize, || {
            for i in 0..BLOCK {
                assert_eq!(unsafe { sys::mmb_session_step(raw, i * 31 % 256, std::ptr::null_mut(), 0) }, sys::MMB_OK);
            }
        }));
    }
    println!(
        "rust step (logits NULL, 1 thread): binding {:.3} us/call, bare C call {:.3} us/call, overhead {:+.3} us/call",
        safe / 1e3,
        bare / 1e3,
        (safe - bare) / 1e3
    );

    let p_safe = fastest(1, 10, REPS, || {
        for _ in 0..REPS {
            black_box(session.position().unwrap());
        }
    });
    let p_bare = fastest(1, 10, REPS, || {
        for _ in 0..REPS {
            let mut position = 0u64;
            unsafe { sys::mmb_session_get_position(raw, &mut position) };
            black_box(position);
        }
    });
    println!("rust position: binding {p_safe:.1} ns/call, bare C call {p_bare:.1} ns/call");
    Ok(())
}
