//! The safe binding through the real libmoemamba and a real bundle.
mod common;

use common::{argmax, assert_close, bundle, hybrid_bundle, mmb, scratch};
use moemamba::{
    step_batch, Backend, BackendInfo, Detokenizer, GenerateOptions, KvType, Model, Runtime, RuntimeOptions, Sampler,
    SamplerParams, Session, SessionOptions, Status,
};
use std::process::Command;

const PROMPT: &str = "héllo 世界";

fn load() -> (Runtime, Model) {
    let runtime = Runtime::new().expect("runtime");
    let model = Model::load_file(&runtime, bundle()).expect("loading the tiny bundle");
    (runtime, model)
}

fn logits_after(model: &Model, tokens: &[i32]) -> Vec<f32> {
    let mut session = model.session().unwrap();
    let mut logits = vec![0f32; model.vocab_size()];
    for &t in tokens {
        session.step_logits(t, &mut logits).unwrap();
    }
    logits
}

#[test]
fn thread_rules_are_those_of_the_header() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Runtime>();
    send_sync::<Model>();
    send::<Session<'static>>();
    send::<Sampler>();
    send::<Detokenizer<'static>>();
    // That Session, Sampler and Detokenizer are not Sync is checked by the
    // compile_fail examples in the crate documentation.
}

#[test]
fn loads_from_file_and_from_memory_alike() {
    let (runtime, from_file) = load();
    let bytes = std::fs::read(bundle()).unwrap();
    let from_memory = Model::load_memory(&runtime, &bytes).unwrap();
    drop(bytes); // the model copied what it needs
    let info = from_file.info();
    assert_eq!(info.vocab_size, 256);
    assert_eq!(from_file.vocab_size(), 256);
    assert!(info.n_mamba_layers > 0 && info.n_moe_layers > 0 && info.n_mlp_layers > 0, "{info:?}");
    assert_eq!(info.n_layers, info.n_mamba_layers + info.n_moe_layers + info.n_mlp_layers);
    assert!(info.params_active <= info.params_total && info.params_total > 0);
    assert!(info.state_bytes > 0 && info.fingerprint != 0);
    // No attention layers: no KV cache, no context limit.
    assert_eq!((info.n_attention_layers, info.context_length, info.kv_values_per_token), (0, 0, 0));
    assert_eq!(from_memory.info(), info);
    let tokens = from_file.tokenize("abc", false).unwrap();
    assert_eq!(logits_after(&from_file, &tokens), logits_after(&from_memory, &tokens));
}

#[test]
fn runtime_reports_its_backend() {
    let runtime = Runtime::with_options(&moemamba::RuntimeOptions { n_threads: 2, ..Default::default() }).unwrap();
    let (_, threads) = runtime.backend().unwrap();
    assert_eq!(threads, 2);
    let header = format!("{}.{}.", moemamba_sys::MMB_VERSION_MAJOR, moemamba_sys::MMB_VERSION_MINOR);
    assert!(moemamba::version().starts_with(&header), "{} vs the header's {}", moemamba::version(), header);
}

// The test machines have no NVIDIA driver: the CPU is the only backend there.
#[test]
fn a_cpu_runtime_describes_the_cpu() {
    let options = RuntimeOptions { backend: Backend::Cpu, n_threads: 3, ..Default::default() };
    let runtime = Runtime::with_options(&options).unwrap();
    let info = runtime.backend_info().unwrap();
    assert_eq!(
        info,
        BackendInfo {
            backend: Backend::Cpu,
            n_threads: 3,
            device_index: -1,
            device_name: "CPU".to_string(),
            device_memory_total: 0,
            device_memory_used: 0,
        }
    );
    // Loading a model does not put anything on a device.
    let _model = Model::load_file(&runtime, bundle()).unwrap();
    assert_eq!(runtime.backend_info().unwrap(), info);
    assert_eq!(runtime.backend().unwrap(), (Backend::Cpu, 3));
}

#[test]
fn auto_falls_back_to_the_cpu() {
    let runtime = Runtime::with_options(&RuntimeOptions { n_threads: 2, ..Default::default() }).unwrap();
    let info = runtime.backend_info().unwrap();
    assert_eq!(info.backend, Backend::Cpu, "{info:?}");
    assert_eq!((info.n_threads, info.device_index, info.device_name.as_str()), (2, -1, "CPU"));
    assert_eq!((info.device_memory_total, info.device_memory_used), (0, 0));
}

#[test]
fn cuda_without_a_driver_is_a_backend_error() {
    let e = Runtime::with_options(&RuntimeOptions { backend: Backend::Cuda, ..Default::default() }).unwrap_err();
    assert_eq!(e.status(), Status::Backend, "{e}");
    assert_eq!(e.raw_status(), moemamba_sys::MMB_ERR_BACKEND);
    assert!(e.message().contains("NVIDIA driver"), "{e}");
    assert!(e.to_string().starts_with("MMB_ERR_BACKEND: "), "{e}");
}

#[test]
fn a_negative_device_index_is_refused() {
    for backend in [Backend::Cpu, Backend::Auto, Backend::Cuda] {
        let e = Runtime::with_options(&RuntimeOptions { backend, device_index: -1, ..Default::default() }).unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument, "{backend:?}: {e}");
        assert!(e.message().contains("device_index"), "{e}");
    }
}

#[test]
fn tokenize_and_detokenize_round_trip_multibyte_text() {
    let (_rt, model) = load();
    let tokens = model.tokenize(PROMPT, false).unwrap();
    assert_eq!(tokens.len(), PROMPT.len(), "a byte vocabulary gives one token per byte");
    let bytes: Vec<u8> = tokens.iter().flat_map(|&t| model.token_bytes(t).unwrap()).collect();
    assert_eq!(bytes, PROMPT.as_bytes());

    let mut detok = model.detokenizer().unwrap();
    let mut pieces = Vec::new();
    for &t in &tokens {
        pieces.push(detok.push(t).unwrap());
    }
    assert_eq!(detok.flush().unwrap(), "");
    assert_eq!(pieces.concat(), PROMPT);
    // "é" is two bytes: nothing comes out until its second byte arrives.
    assert_eq!(pieces[1], "");
    assert_eq!(pieces[2], "é");
    // "世" is three bytes.
    assert_eq!(&pieces[7..10], ["", "", "世"]);

    // An unfinished character at the end becomes U+FFFD.
    detok.push(tokens[7]).unwrap();
    assert_eq!(detok.flush().unwrap(), "\u{FFFD}");
}

#[test]
fn greedy_generation_matches_argmax_the_c_generate_and_the_cli() {
    let (_rt, model) = load();
    let n = 24;
    let options = GenerateOptions { max_tokens: n, ..Default::default() };

    let mut session = model.session().unwrap();
    let mut sampler = Sampler::new(&SamplerParams::greedy()).unwrap();
    let pieces: Vec<_> = session.generate(&mut sampler, PROMPT, &options).unwrap().collect::<Result<_, _>>().unwrap();
    let streamed: Vec<i32> = pieces.iter().filter_map(|p| p.token).collect();
    let text: String = pieces.iter().map(|p| p.text.as_str()).collect();
    assert_eq!(streamed.len(), n as usize);
    assert_eq!(session.position().unwrap(), (PROMPT.len() + n as usize) as u64);

    // The same by hand: argmax over the logits.
    let mut by_hand = model.session().unwrap();
    let mut logits = vec![0f32; model.vocab_size()];
    by_hand.prefill_logits(&model.tokenize(PROMPT, true).unwrap(), &mut logits).unwrap();
    let mut argmaxed = Vec::new();
    for _ in 0..n {
        let t = argmax(&logits);
        argmaxed.push(t);
        by_hand.step_logits(t, &mut logits).unwrap();
    }
    assert_eq!(streamed, argmaxed);

    // The same through mmb_generate() and its callback.
    let mut c_session = model.session().unwrap();
    let mut c_sampler = Sampler::new(&SamplerParams::greedy()).unwrap();
    let mut c_tokens = Vec::new();
    let mut c_text = String::new();
    c_session
        .generate_with(&mut c_sampler, PROMPT, &options, |token, piece| {
            c_tokens.extend(token);
            c_text.push_str(piece);
            true
        })
        .unwrap();
    assert_eq!(c_tokens, streamed);
    assert_eq!(c_text, text);

    // The same through the CLI.
    let out = Command::new(mmb())
        .arg("generate")
        .arg(bundle())
        .args(["--prompt", PROMPT, "--temp", "0", "--max-tokens", &n.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), text);
}

#[test]
fn callback_can_stop_generation_early() {
    let (_rt, model) = load();
    let mut session = model.session().unwrap();
    let mut sampler = Sampler::new(&SamplerParams::greedy()).unwrap();
    let mut seen = 0;
    session
        .generate_with(&mut sampler, "abc", &GenerateOptions { max_tokens: 50, ..Default::default() }, |_, _| {
            seen += 1;
            seen < 5
        })
        .unwrap();
    assert_eq!(seen, 5);
}

#[test]
fn prefill_equals_stepping_one_token_at_a_time() {
    let (_rt, model) = load();
    let tokens = model.tokenize("The quick brown fox jumps over the lazy dog, twice.", false).unwrap();
    let stepped = logits_after(&model, &tokens);
    let mut session = model.session().unwrap();
    let mut prefilled = vec![0f32; model.vocab_size()];
    session.prefill_logits(&tokens, &mut prefilled).unwrap();
    assert_close(&prefilled, &stepped, 1e-5);
    assert_eq!(session.position().unwrap(), tokens.len() as u64);
}

#[test]
fn batch_step_equals_stepping_each_session() {
    let (_rt, model) = load();
    let vocab = model.vocab_size();
    let prompts = ["one", "two!", "three??"];
    let next = [10, 200, 65];
    let mut sessions: Vec<Session> = prompts
        .iter()
        .map(|p| {
            let mut s = model.session().unwrap();
            s.prefill(&model.tokenize(p, false).unwrap()).unwrap();
            s
        })
        .collect();
    let mut rows = vec![0f32; 3 * vocab];
    let mut refs: Vec<&mut Session> = sessions.iter_mut().collect();
    step_batch(&mut refs, &next, Some((&mut rows, vocab))).unwrap();
    for (i, p) in prompts.iter().enumerate() {
        let mut tokens = model.tokenize(p, false).unwrap();
        tokens.push(next[i]);
        assert_close(&rows[i * vocab..(i + 1) * vocab], &logits_after(&model, &tokens), 1e-5);
    }
    // Mismatched counts are an error before the library is called.
    let mut refs: Vec<&mut Session> = sessions.iter_mut().collect();
    assert_eq!(step_batch(&mut refs, &next[..2], None).unwrap_err().status(), Status::InvalidArgument);
}

#[test]
fn state_save_load_and_fork() {
    let (_rt, model) = load();
    let vocab = model.vocab_size();
    let mut session = model.session().unwrap();
    session.prefill(&model.tokenize("saved here", false).unwrap()).unwrap();
    let blob = session.save_state().unwrap();
    let mut fork = session.fork().unwrap();

    let mut expected = vec![0f32; vocab];
    session.step_logits(7, &mut expected).unwrap();
    session.step(8).unwrap();

    let mut forked = vec![0f32; vocab];
    fork.step_logits(7, &mut forked).unwrap();
    assert_eq!(forked, expected);

    session.load_state(&blob).unwrap();
    assert_eq!(session.position().unwrap(), 10);
    let mut reloaded = vec![0f32; vocab];
    session.step_logits(7, &mut reloaded).unwrap();
    assert_eq!(reloaded, expected);

    let mut fresh = model.session().unwrap();
    fresh.load_state(&blob).unwrap();
    assert_eq!(fresh.position().unwrap(), 10);

    let mut corrupt = blob.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0x5a;
    let err = fresh.load_state(&corrupt).unwrap_err();
    assert_eq!(err.status(), Status::Format, "{err}");
    assert_eq!(fresh.position().unwrap(), 10, "a failed load leaves the session unchanged");
    assert_eq!(fresh.load_state(&blob[..8]).unwrap_err().status(), Status::Format);
}

#[test]
fn errors_carry_status_and_message() {
    let runtime = Runtime::new().unwrap();
    let missing = scratch("no-such-bundle.mmb");
    let err = Model::load_file(&runtime, &missing).unwrap_err();
    assert_eq!(err.status(), Status::Io);
    assert!(err.message().contains("no-such-bundle"), "{err}");
    assert!(err.to_string().starts_with("MMB_ERR_IO: "), "{err}");

    let garbage = scratch("garbage.mmb");
    std::fs::write(&garbage, b"not a bundle at all").unwrap();
    let err = Model::load_file(&runtime, &garbage).unwrap_err();
    assert_eq!(err.status(), Status::Format, "{err}");
    assert!(!err.message().is_empty());
    std::fs::remove_file(&garbage).unwrap();
    assert_eq!(Model::load_memory(&runtime, b"\x00\x01\x02junk").unwrap_err().status(), Status::Format);

    let model = Model::load_file(&runtime, bundle()).unwrap();
    let mut session = model.session().unwrap();
    let err = session.step(256).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    assert!(err.message().contains("256"), "{err}");
    assert_eq!(session.position().unwrap(), 0, "a bad token leaves the state unchanged");
    let mut short = vec![0f32; 10];
    assert_eq!(session.step_logits(1, &mut short).unwrap_err().status(), Status::BufferTooSmall);
    assert_eq!(model.token_bytes(-1).unwrap_err().status(), Status::InvalidArgument);
    assert_eq!(model.meta("no such key").unwrap_err().status(), Status::InvalidArgument);
    let bad = SamplerParams { top_p: 2.0, ..SamplerParams::default() };
    assert_eq!(Sampler::new(&bad).unwrap_err().status(), Status::InvalidArgument);
}

#[test]
fn many_sessions_on_threads_share_one_model() {
    let (_rt, model) = load();
    let options = GenerateOptions { max_tokens: 16, ..Default::default() };
    let generate = |model: &Model, prompt: &str| -> Vec<i32> {
        let mut session = model.session().unwrap();
        let mut sampler = Sampler::new(&SamplerParams::greedy()).unwrap();
        let pieces = session.generate(&mut sampler, prompt, &options).unwrap();
        pieces.filter_map(|p| p.unwrap().token).collect()
    };
    let prompts: Vec<String> = (0..8).map(|i| format!("thread {i} says")).collect();
    let expected: Vec<Vec<i32>> = prompts.iter().map(|p| generate(&model, p)).collect();
    let got: Vec<Vec<i32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = prompts.iter().map(|p| scope.spawn(|| generate(&model, p))).collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(got, expected);

    // A session moves to another thread (Send) and comes back.
    let mut session = model.session().unwrap();
    session.step(1).unwrap();
    let session = std::thread::scope(|scope| {
        scope
            .spawn(move || {
                session.step(2).unwrap();
                session
            })
            .join()
            .unwrap()
    });
    assert_eq!(session.position().unwrap(), 2);
}

#[test]
fn sessions_and_models_drop_in_any_order() {
    let runtime = Runtime::new().unwrap();
    let model = Model::load_file(&runtime, bundle()).unwrap();
    drop(runtime); // the model keeps what it needs of the runtime
    let session = model.session().unwrap();
    let fork = session.fork().unwrap();
    drop(session);
    let mut fork = fork;
    fork.step(3).unwrap();
    let mut sampler = Sampler::new(&SamplerParams::default()).unwrap();
    sampler.accept(3).unwrap();
    sampler.reset().unwrap();
}

fn load_hybrid() -> (Runtime, Model) {
    let runtime = Runtime::new().expect("runtime");
    let model = Model::load_file(&runtime, hybrid_bundle()).expect("loading the small-hybrid bundle");
    (runtime, model)
}

#[test]
fn a_hybrid_model_describes_its_attention_layers() {
    let (_rt, model) = load_hybrid();
    let info = model.info();
    assert!(info.n_attention_layers >= 1, "{info:?}");
    assert_eq!(info.context_length, 2048, "{info:?}");
    assert!(info.kv_values_per_token > 0, "{info:?}");
    assert!(info.n_layers >= info.n_attention_layers);
}

#[test]
fn a_full_context_refuses_the_next_token_and_consumes_nothing() {
    let (_rt, model) = load_hybrid();
    let mut session = model.session_with(&SessionOptions { max_context: 8, ..Default::default() }).unwrap();
    let tokens: Vec<i32> = (1..=8).collect();
    let mut logits = vec![0f32; model.vocab_size()];
    session.prefill_logits(&tokens, &mut logits).unwrap();
    assert_eq!(session.position().unwrap(), 8);

    let err = session.step(9).unwrap_err();
    assert_eq!(err.status(), Status::ContextFull, "{err}");
    assert_eq!(err.raw_status(), moemamba_sys::MMB_ERR_CONTEXT_FULL);
    assert!(err.to_string().starts_with("MMB_ERR_CONTEXT_FULL: "), "{err}");
    assert_eq!(session.position().unwrap(), 8, "a refused step consumes nothing");
    let err = session.step_logits(9, &mut logits).unwrap_err();
    assert_eq!(err.status(), Status::ContextFull, "{err}");
    assert_eq!(session.prefill(&[9, 10]).unwrap_err().status(), Status::ContextFull);
    assert_eq!(session.position().unwrap(), 8);

    // After a reset the whole context is there again, and stepping gives what a fresh
    // session gives.
    session.reset().unwrap();
    assert_eq!(session.position().unwrap(), 0);
    let mut after_reset = vec![0f32; model.vocab_size()];
    session.step_logits(1, &mut after_reset).unwrap();
    assert_eq!(session.position().unwrap(), 1);
    let mut fresh = model.session().unwrap();
    let mut expected = vec![0f32; model.vocab_size()];
    fresh.step_logits(1, &mut expected).unwrap();
    assert_close(&after_reset, &expected, 1e-5);
    session.prefill(&tokens[1..]).unwrap();
    assert_eq!(session.step(9).unwrap_err().status(), Status::ContextFull);

    // A prefill that would cross the limit is refused whole.
    let mut short = model.session_with(&SessionOptions { max_context: 8, ..Default::default() }).unwrap();
    let nine: Vec<i32> = (1..=9).collect();
    assert_eq!(short.prefill(&nine).unwrap_err().status(), Status::ContextFull);
    assert_eq!(short.position().unwrap(), 0);
}

#[test]
fn the_default_context_is_the_models() {
    let (_rt, model) = load_hybrid();
    let mut session = model.session().unwrap();
    let tokens: Vec<i32> = (0..model.info().context_length as i32).map(|i| i % 256).collect();
    session.prefill(&tokens).unwrap();
    assert_eq!(session.step(1).unwrap_err().status(), Status::ContextFull);
    assert_eq!(session.position().unwrap(), 2048);
}

#[test]
fn an_f32_kv_cache_gives_the_logits_of_an_f16_one() {
    let (_rt, model) = load_hybrid();
    let tokens = model.tokenize("The quick brown fox jumps over the lazy dog.", false).unwrap();
    let logits_with = |kv_type: KvType| {
        let mut session = model.session_with(&SessionOptions { kv_type, ..Default::default() }).unwrap();
        let mut logits = vec![0f32; model.vocab_size()];
        session.prefill_logits(&tokens, &mut logits).unwrap();
        session.step_logits(b'!' as i32, &mut logits).unwrap();
        logits
    };
    let f16 = logits_with(KvType::F16);
    let f32 = logits_with(KvType::F32);
    assert_eq!(f16, logits_with(KvType::default()), "F16 is the default");
    assert_close(&f32, &f16, 1e-2);
    assert_eq!(argmax(&f32), argmax(&f16));
}

#[test]
fn session_options_are_checked_and_ignored_without_attention() {
    let (_rt, hybrid) = load_hybrid();
    let too_long = SessionOptions { max_context: (1 << 24) + 1, ..Default::default() };
    let err = hybrid.session_with(&too_long).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument, "{err}");
    assert!(err.message().contains("max_context"), "{err}");

    // A pure-Mamba model has no context limit: the options change nothing.
    let (_rt, tiny) = load();
    let options = SessionOptions { max_context: 8, kv_type: KvType::F32 };
    let mut limited = tiny.session_with(&options).unwrap();
    let tokens: Vec<i32> = (1..=12).collect();
    let mut logits = vec![0f32; tiny.vocab_size()];
    limited.prefill_logits(&tokens, &mut logits).unwrap();
    assert_eq!(limited.position().unwrap(), 12);
    assert_close(&logits, &logits_after(&tiny, &tokens), 1e-5);
}
