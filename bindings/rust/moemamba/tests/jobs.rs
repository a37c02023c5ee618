//! Jobs, frames, events and session paging through the real libmoemamba and a real
//! bundle. Every job's output is compared with the blocking `generate_with()` of the
//! same seed on a fresh session: a job must produce exactly what mmb_generate() does.
mod common;

use common::{argmax, bundle, hybrid_bundle};
use moemamba::{
    GenerateOptions, Job, JobEvent, JobMode, JobOptions, JobState, Model, Runtime, RuntimeOptions, Sampler,
    SamplerParams, Session, SessionOptions, Status,
};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const PROMPT: &str = "The innkeeper leans over the counter and says: ";

fn long_prompt() -> String {
    PROMPT.repeat(12)
}

// Full-distribution sampling, so that any drift in state or RNG shows in the text.
fn sampler(seed: u64) -> Sampler {
    Sampler::new(&SamplerParams { seed, temperature: 1.0, top_k: 0, top_p: 1.0, min_p: 0.0, ..Default::default() })
        .unwrap()
}

fn runtime(job_mode: JobMode, session_memory_budget: u64) -> Runtime {
    Runtime::with_options(&RuntimeOptions { n_threads: 2, job_mode, session_memory_budget, ..Default::default() })
        .unwrap()
}

fn options(max_tokens: i32) -> JobOptions {
    JobOptions { max_tokens, stop_at_eos: false, ..Default::default() }
}

struct Blocking {
    tokens: Vec<i32>,
    text: String,
    state: Vec<u8>,
}

/// generate_with() on `session`: what a job must reproduce.
fn blocking_on(session: &mut Session<'_>, seed: u64, prompt: &str, max_tokens: i32) -> Blocking {
    let (mut tokens, mut text) = (Vec::new(), String::new());
    let options = GenerateOptions { max_tokens, stop_at_eos: false, ..Default::default() };
    session
        .generate_with(&mut sampler(seed), prompt, &options, |token, piece| {
            tokens.extend(token);
            text.push_str(piece);
            true
        })
        .unwrap();
    Blocking { tokens, text, state: session.save_state().unwrap() }
}

fn blocking(seed: u64, prompt: &str, max_tokens: i32) -> Blocking {
    let runtime = Runtime::new().unwrap();
    let model = Model::load_file(&runtime, bundle()).unwrap();
    let mut session = model.session().unwrap();
    blocking_on(&mut session, seed, prompt, max_tokens)
}

/// Polls until the job finishes, calling `runtime.frame()` first when given.
fn drain(job: &Job<'_>, runtime: Option<&Runtime>) -> (String, Vec<i32>) {
    let mut text = String::new();
    while !job.is_finished() {
        match runtime {
            Some(rt) => {
                rt.frame(Duration::from_micros(500)).unwrap();
            }
            None => std::thread::sleep(Duration::from_millis(1)),
        }
        text += &job.poll().unwrap();
    }
    (text, job.read_tokens().unwrap())
}

#[test]
fn jobs_are_send_and_sync() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Job<'static>>();
    send::<moemamba::Task>();
}

#[test]
fn a_job_produces_the_text_of_blocking_generation_in_every_mode() {
    let expected = blocking(42, PROMPT, 40);
    assert_eq!(expected.tokens.len(), 40);
    let pool = {
        // A host job system: one thread running what it is handed.
        let (tx, rx) = mpsc::channel::<moemamba::Task>();
        std::thread::spawn(move || {
            for task in rx {
                task.run();
            }
        });
        Mutex::new(tx)
    };
    let host = Runtime::with_task_runner(&RuntimeOptions { n_threads: 2, ..Default::default() }, move |task| {
        pool.lock().unwrap().send(task).unwrap();
    })
    .unwrap();
    let runtimes = [("worker", runtime(JobMode::Worker, 0)), ("frame", runtime(JobMode::Frame, 0)), ("host", host)];
    for (name, rt) in &runtimes {
        let model = Model::load_file(rt, bundle()).unwrap();
        let mut session = model.session().unwrap();
        {
            let s = sampler(42);
            let job = session.submit_text(Some(&s), PROMPT, options(40)).unwrap();
            drop(s); // the job samples with its own copy
            let (text, tokens) = drain(&job, (*name == "frame").then_some(rt));
            assert_eq!(job.result(), Ok(()), "{name}");
            assert_eq!(text, expected.text, "{name}");
            assert_eq!(tokens, expected.tokens, "{name}");
        }
        // The session continues where generate_with()'s does.
        assert_eq!(session.save_state().unwrap(), expected.state, "{name}");
    }
}

#[test]
fn wait_then_poll_and_prefill_jobs() {
    let expected = blocking(7, PROMPT, 24);
    let rt = runtime(JobMode::Frame, 0);
    let model = Model::load_file(&rt, bundle()).unwrap();
    let mut session = model.session().unwrap();
    let job = session.submit_text(Some(&sampler(7)), PROMPT, options(24)).unwrap();
    assert!(!job.wait_timeout(Duration::ZERO).unwrap(), "frame mode: nothing advanced it yet");
    job.wait().unwrap(); // the wait does the work itself
    assert_eq!(job.state(), JobState::Queued, "state is what the last poll saw");
    assert_eq!(job.poll().unwrap(), expected.text);
    assert!(job.is_finished());
    assert_eq!(job.read_tokens().unwrap(), expected.tokens);
    assert_eq!(job.poll().unwrap(), "");
    drop(job);

    // A prefill job (no sampler) leaves the state of a blocking prefill.
    let tokens = model.tokenize(&long_prompt(), false).unwrap();
    let mut jobbed = model.session().unwrap();
    let mut plain = model.session().unwrap();
    plain.prefill(&tokens).unwrap();
    let job = jobbed.submit_tokens(None, &tokens, JobOptions::default()).unwrap();
    let mut frames = 0;
    while !job.is_finished() {
        rt.frame(Duration::from_micros(1)).unwrap(); // one slice of a prompt chunk per frame
        job.poll().unwrap();
        frames += 1;
    }
    assert!(frames > tokens.len().div_ceil(16));
    assert_eq!(job.read_tokens().unwrap(), Vec::<i32>::new());
    drop(job);
    assert_eq!(jobbed.save_state().unwrap(), plain.save_state().unwrap());
}

#[test]
fn frames_advance_jobs_with_stats_that_add_up() {
    const JOBS: usize = 4;
    const TOKENS: i32 = 20;
    let rt = runtime(JobMode::Frame, 0);
    let model = Model::load_file(&rt, bundle()).unwrap();
    let prompts: Vec<String> = (0..JOBS).map(|i| format!("{PROMPT}{i}")).collect();
    let mut sessions: Vec<Session<'_>> = (0..JOBS).map(|_| model.session().unwrap()).collect();
    let polling_thread = std::thread::current().id();
    let events: Vec<Arc<Mutex<Vec<JobEvent>>>> = (0..JOBS).map(|_| Arc::default()).collect();
    let wrong_thread = Arc::new(Mutex::new(0));
    let jobs: Vec<Job<'_>> = sessions
        .iter_mut()
        .enumerate()
        .map(|(i, session)| {
            let (log, wrong) = (events[i].clone(), wrong_thread.clone());
            let on_event = move |e: JobEvent| {
                if std::thread::current().id() != polling_thread {
                    *wrong.lock().unwrap() += 1;
                }
                log.lock().unwrap().push(e);
            };
            let options = JobOptions { on_event: Some(Box::new(on_event)), ..options(TOKENS) };
            session.submit_text(Some(&sampler(100 + i as u64)), &prompts[i], options).unwrap()
        })
        .collect();
    let mut frames = Vec::new();
    loop {
        let stats = rt.frame(Duration::from_micros(100)).unwrap();
        frames.push(stats);
        if stats.jobs_active == 0 {
            break;
        }
        assert!(frames.len() < 100_000);
    }
    assert!(frames.len() > 2, "the work spreads over several frames");
    let sum = |f: fn(&moemamba::FrameStats) -> u64| frames.iter().map(f).sum::<u64>();
    assert_eq!(sum(|f| f.tokens_generated), JOBS as u64 * TOKENS as u64);
    let prompt_tokens: usize = prompts.iter().map(|p| model.tokenize(p, true).unwrap().len()).sum();
    assert_eq!(sum(|f| f.prompt_tokens), prompt_tokens as u64);
    assert_eq!(sum(|f| f.jobs_finished as u64), JOBS as u64);
    let delivered: usize = events.iter().map(|e| e.lock().unwrap().len()).sum();
    assert_eq!(sum(|f| f.events as u64), delivered as u64);
    assert!(sum(|f| f.steps as u64) < JOBS as u64 * TOKENS as u64, "generating jobs share batched steps");
    assert_eq!(*wrong_thread.lock().unwrap(), 0);
    for (i, job) in jobs.iter().enumerate() {
        let text = job.poll().unwrap();
        assert!(job.is_finished());
        let log = events[i].lock().unwrap();
        assert_eq!(log.last(), Some(&JobEvent::Finished { cancelled: false }));
        let mut event_text = String::new();
        let mut event_tokens: Vec<i32> = Vec::new();
        for e in log.iter() {
            if let JobEvent::Token { token, text } = e {
                event_text += text;
                event_tokens.extend(*token);
            }
        }
        let expected = blocking(100 + i as u64, &prompts[i], TOKENS);
        assert_eq!(event_text, text);
        assert_eq!(text, expected.text);
        assert_eq!(event_tokens, expected.tokens);
    }
}

#[test]
fn cancel_midway_leaves_the_session_usable() {
    let rt = runtime(JobMode::Frame, 0);
    let model = Model::load_file(&rt, bundle()).unwrap();
    let mut session = model.session().unwrap();
    let mut tokens = Vec::new();
    {
        let job = session.submit_text(Some(&sampler(3)), PROMPT, options(200)).unwrap();
        while tokens.len() < 5 {
            rt.frame(Duration::from_micros(200)).unwrap();
            job.poll().unwrap();
            tokens.extend(job.read_tokens().unwrap());
        }
        job.cancel().unwrap();
        job.cancel().unwrap(); // twice: nothing more happens
        job.poll().unwrap();
        tokens.extend(job.read_tokens().unwrap());
        assert!(job.is_finished(), "with no thread advancing it, a cancelled job ends at once");
        assert_eq!(job.result().unwrap_err().status(), Status::Cancelled);
        job.cancel().unwrap(); // after the end: nothing happens
    }
    // Every emitted token entered the state: the session continues from there exactly
    // as a fresh session given the same state.
    assert!(tokens.len() < 200);
    let prompt_len = model.tokenize(PROMPT, true).unwrap().len();
    assert_eq!(session.position().unwrap(), (prompt_len + tokens.len()) as u64);
    let mut fresh = model.session().unwrap();
    fresh.load_state(&session.save_state().unwrap()).unwrap();
    let a = blocking_on(&mut session, 9, "more", 8);
    let b = blocking_on(&mut fresh, 9, "more", 8);
    assert_eq!((a.tokens, a.text), (b.tokens, b.text));

    // With the background worker the cancel races the work: either way it ends and the
    // session is free again; another thread may cancel while this one waits.
    let rt = runtime(JobMode::Worker, 0);
    let model = Model::load_file(&rt, bundle()).unwrap();
    let mut session = model.session().unwrap();
    {
        let job = session.submit_text(Some(&sampler(4)), &long_prompt(), options(64)).unwrap();
        std::thread::scope(|scope| {
            scope.spawn(|| job.cancel().unwrap());
            job.wait().unwrap();
        });
        job.poll().unwrap();
        if let Err(e) = job.result() {
            assert_eq!(e.status(), Status::Cancelled);
        }
    }
    session.step(1).unwrap();
}

#[test]
fn paging_under_a_one_session_budget_is_transparent() {
    let per_session = {
        let rt = Runtime::new().unwrap();
        let model = Model::load_file(&rt, bundle()).unwrap();
        let _one = model.session().unwrap();
        rt.session_memory().unwrap().resident_bytes
    };
    assert!(per_session > 0);
    let prompts = ["first speaker: ", "second speaker, longer: "];
    let expected: Vec<Blocking> = prompts.iter().enumerate().map(|(i, p)| blocking(20 + i as u64, p, 16)).collect();
    for mode in [JobMode::Worker, JobMode::Frame] {
        let rt = runtime(mode, per_session);
        let model = Model::load_file(&rt, bundle()).unwrap();
        let (mut a, mut b) = (model.session().unwrap(), model.session().unwrap());
        {
            let jobs = [
                a.submit_text(Some(&sampler(20)), prompts[0], options(16)).unwrap(),
                b.submit_text(Some(&sampler(21)), prompts[1], options(16)).unwrap(),
            ];
            let mut texts = [String::new(), String::new()];
            while !jobs.iter().all(|j| j.is_finished()) {
                if mode == JobMode::Frame {
                    rt.frame(Duration::from_millis(1)).unwrap();
                } else {
                    std::thread::sleep(Duration::from_millis(1));
                }
                for (text, job) in texts.iter_mut().zip(&jobs) {
                    *text += &job.poll().unwrap();
                }
            }
            for i in 0..2 {
                assert_eq!(texts[i], expected[i].text, "{mode:?}");
                assert_eq!(jobs[i].read_tokens().unwrap(), expected[i].tokens, "{mode:?}");
            }
        }
        let memory = rt.session_memory().unwrap();
        assert_eq!(memory.sessions, 2);
        assert_eq!(memory.budget_bytes, per_session);
        assert!(memory.resident_bytes <= per_session, "{memory:?}");
        assert!(memory.page_outs > 0, "{memory:?}");
        assert_eq!(a.save_state().unwrap(), expected[0].state);
        assert_eq!(b.save_state().unwrap(), expected[1].state);
        // Both states were read with room for one session: one came back in (not
        // earlier: the first job may end before the second starts).
        let memory = rt.session_memory().unwrap();
        assert!(memory.page_ins > 0, "{memory:?}");
        a.page_out().unwrap();
        a.page_out().unwrap(); // already out: nothing to do
        let memory = rt.session_memory().unwrap();
        assert!(memory.paged_sessions >= 1 && memory.paged_bytes > 0, "{memory:?}");
    }
    let rt = runtime(JobMode::Worker, 64);
    let model = Model::load_file(&rt, bundle()).unwrap();
    assert_eq!(model.session().unwrap_err().status(), Status::Budget);
}

#[test]
fn handler_panics_resume_in_the_polling_call_and_bad_options_are_errors() {
    let rt = runtime(JobMode::Worker, 0);
    let model = Model::load_file(&rt, bundle()).unwrap();
    let mut session = model.session().unwrap();
    let s = sampler(1);
    {
        let on_event: moemamba::EventHandler = Box::new(|_| panic!("from the handler"));
        let job = session.submit_text(Some(&s), "abc", JobOptions { on_event: Some(on_event), ..options(4) }).unwrap();
        job.wait().unwrap();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job.poll()));
        let payload = caught.unwrap_err();
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"from the handler"));
    }
    session.step(1).unwrap(); // dropping the job freed the session
    let err = session.submit_tokens(Some(&s), &[999], options(4)).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    let err = session.submit_text(Some(&s), "x", options(-1)).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument);
    // A stop text ends the job once the generated text contains it.
    let free = blocking(1, "abc", 64).text;
    let stop: String = free.chars().skip(3).take(2).collect();
    let mut fresh = model.session().unwrap();
    let job = fresh.submit_text(Some(&s), "abc", JobOptions { stop_text: Some(stop.clone()), ..options(64) }).unwrap();
    job.wait().unwrap();
    let text = job.poll().unwrap();
    assert!(text.ends_with(&stop) && text.len() < free.len(), "{text:?} should stop at {stop:?} within {free:?}");
}

#[test]
fn a_prompt_past_the_context_is_refused_at_submit() {
    let rt = runtime(JobMode::Frame, 0);
    let model = Model::load_file(&rt, hybrid_bundle()).unwrap();
    let mut session = model.session_with(&SessionOptions { max_context: 8, ..Default::default() }).unwrap();
    let tokens: Vec<i32> = (1..=9).collect();
    let err = session
        .submit_tokens(None, &tokens, JobOptions { on_event: Some(Box::new(|_| {})), ..options(0) })
        .err()
        .expect("a prompt of 9 tokens does not fit a context of 8");
    assert_eq!(err.status(), Status::ContextFull, "{err}");
    assert!(err.message().contains("context"), "{err}");
    assert_eq!(session.position().unwrap(), 0, "nothing was submitted");
    session.step(1).unwrap(); // not busy: no job holds the session
    assert_eq!(session.position().unwrap(), 1);
}

#[test]
fn a_job_past_the_context_fails_with_context_full() {
    let rt = runtime(JobMode::Frame, 0);
    let model = Model::load_file(&rt, hybrid_bundle()).unwrap();
    let mut session = model.session_with(&SessionOptions { max_context: 8, ..Default::default() }).unwrap();
    let prompt = [1, 2, 3, 4];
    let greedy = Sampler::new(&SamplerParams::greedy()).unwrap();
    let job = session
        .submit_tokens(Some(&greedy), &prompt, JobOptions { on_event: Some(Box::new(|_| {})), ..options(16) })
        .unwrap();
    job.wait().unwrap();
    job.poll().unwrap();
    assert!(job.is_finished());
    let err = job.result().unwrap_err();
    assert_eq!(err.status(), Status::ContextFull, "{err}");
    assert!(err.message().contains("context"), "{err}");
    let tokens = job.read_tokens().unwrap();
    drop(job);
    assert_eq!(tokens.len(), 4, "4 prompt tokens and 4 more fill the context: {tokens:?}");
    assert_eq!(session.position().unwrap(), 8);

    // Every emitted token entered the state: the prompt and then each token, stepped into
    // a fresh session as the job does, give the same state, and each token is the greedy
    // choice after the ones before it.
    let mut fresh = model.session_with(&SessionOptions { max_context: 8, ..Default::default() }).unwrap();
    let mut logits = vec![0.0f32; model.vocab_size()];
    fresh.prefill_logits(&prompt, &mut logits).unwrap();
    for &token in &tokens {
        assert_eq!(token, argmax(&logits), "{tokens:?}");
        fresh.step_logits(token, &mut logits).unwrap();
    }
    assert_eq!(fresh.position().unwrap(), 8);
    assert!(session.save_state().unwrap() == fresh.save_state().unwrap(), "the job's state differs");
}
