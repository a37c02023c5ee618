//! Streams a continuation of a prompt to stdout, one piece of text per token as the
//! tokens are chosen.
//! Usage: rust_stream BUNDLE PROMPT [TOKENS [TEMPERATURE]]   (temperature 0 = greedy)
use moemamba::{GenerateOptions, Model, Runtime, Sampler, SamplerParams};
use std::io::Write;
use std::process::ExitCode;

fn run(bundle: &str, prompt: &str, tokens: i32, temperature: f32) -> Result<(), moemamba::Error> {
    let runtime = Runtime::new()?;
    let model = Model::load_file(&runtime, bundle)?;
    let mut session = model.session()?;
    let mut sampler = Sampler::new(&SamplerParams { temperature, ..SamplerParams::default() })?;
    let options = GenerateOptions { max_tokens: tokens, ..GenerateOptions::default() };

    let mut stdout = std::io::stdout().lock();
    // Each item is one token: its text (whole UTF-8 characters, often empty when a
    // character spans tokens) is printed and flushed at once.
    for piece in session.generate(&mut sampler, prompt, &options)? {
        stdout.write_all(piece?.text.as_bytes()).ok();
        stdout.flush().ok();
    }
    writeln!(stdout).ok();
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 || args.len() > 5 {
        eprintln!("usage: {} BUNDLE PROMPT [TOKENS [TEMPERATURE]]", args[0]);
        return ExitCode::from(2);
    }
    let tokens = args.get(3).map_or(Ok(64), |s| s.parse::<i32>());
    let temperature = args.get(4).map_or(Ok(0.8), |s| s.parse::<f32>());
    let (Ok(tokens), Ok(temperature)) = (tokens, temperature) else {
        eprintln!("TOKENS must be an integer and TEMPERATURE a number");
        return ExitCode::from(2);
    };
    match run(&args[1], &args[2], tokens, temperature) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
