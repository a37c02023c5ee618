//! Structured output through the real libmoemamba and the demo model: a JSON Schema, a
//! choice list and GBNF; generation in each form (iterator, callback, job, chat) under a
//! grammar; errors; state save/load/clone; masks against accept().
mod common;

use common::{chat_bundle, demo_bundle};
use moemamba::{
    GenerateOptions, Grammar, GrammarOptions, GrammarState, JobOptions, Model, Runtime, Sampler, SamplerParams, Status,
};
use std::collections::BTreeMap;

const SCHEMA: &str = r#"{"type":"object","properties":{"action":{"enum":["attack","flee","talk"]},"target":{"type":"string","maxLength":12}},"required":["action","target"],"additionalProperties":false}"#;
const ACTIONS: [&str; 3] = ["attack", "flee", "talk"];
const CHOICES: [&str; 4] = ["north", "south", "east", "west"];

fn load(path: &std::path::Path) -> (Runtime, Model) {
    let runtime = Runtime::new().unwrap();
    let model = Model::load_file(&runtime, path).unwrap();
    (runtime, model)
}

fn sampler(seed: u64) -> Sampler {
    Sampler::new(&SamplerParams { temperature: 1.0, seed, ..SamplerParams::default() }).unwrap()
}

fn options(max_tokens: i32) -> GenerateOptions {
    GenerateOptions { max_tokens, ..GenerateOptions::default() }
}

// --- a small JSON reader, enough to check the generated objects --------------------------

#[derive(Debug, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Number(f64),
    Str(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

struct Reader<'a> {
    s: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn parse(text: &str) -> Result<Json, String> {
        let mut r = Reader { s: text.as_bytes(), at: 0 };
        let value = r.value()?;
        r.space();
        if r.at != r.s.len() {
            return Err(format!("trailing text at {}", r.at));
        }
        Ok(value)
    }

    fn space(&mut self) {
        while self.at < self.s.len() && matches!(self.s[self.at], b' ' | b'\n' | b'\t' | b'\r') {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), String> {
        self.space();
        if self.s.get(self.at) == Some(&c) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at {}", c as char, self.at))
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.s[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(format!("bad literal at {}", self.at))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.space();
        match self.s.get(self.at) {
            Some(b'{') => {
                self.at += 1;
                let mut map = BTreeMap::new();
                self.space();
                if self.s.get(self.at) == Some(&b'}') {
                    self.at += 1;
                    return Ok(Json::Object(map));
                }
                loop {
                    self.space();
                    let key = self.string()?;
                    self.eat(b':')?;
                    let value = self.value()?;
                    if map.insert(key.clone(), value).is_some() {
                        return Err(format!("duplicate key {key:?}"));
                    }
                    self.space();
                    match self.s.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b'}') => {
                            self.at += 1;
                            return Ok(Json::Object(map));
                        }
                        _ => return Err(format!("expected , or }} at {}", self.at)),
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.space();
                if self.s.get(self.at) == Some(&b']') {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                loop {
                    items.push(self.value()?);
                    self.space();
                    match self.s.get(self.at) {
                        Some(b',') => self.at += 1,
                        Some(b']') => {
                            self.at += 1;
                            return Ok(Json::Array(items));
                        }
                        _ => return Err(format!("expected , or ] at {}", self.at)),
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(_) => {
                let start = self.at;
                while self.at < self.s.len()
                    && matches!(self.s[self.at], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.at]).unwrap();
                text.parse().map(Json::Number).map_err(|_| format!("bad number {text:?}"))
            }
            None => Err("unexpected end".into()),
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.s.get(self.at) != Some(&b'"') {
            return Err(format!("expected a string at {}", self.at));
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            let c = *self.s.get(self.at).ok_or("unterminated string")?;
            self.at += 1;
            match c {
                b'"' => return String::from_utf8(out).map_err(|e| e.to_string()),
                b'\\' => {
                    let e = *self.s.get(self.at).ok_or("unterminated escape")?;
                    self.at += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let hex = std::str::from_utf8(self.s.get(self.at..self.at + 4).ok_or("short \\u")?)
                                .map_err(|e| e.to_string())?;
                            let code = u32::from_str_radix(hex, 16).map_err(|e| e.to_string())?;
                            self.at += 4;
                            let c = char::from_u32(code).unwrap_or('\u{FFFD}');
                            out.extend_from_slice(c.to_string().as_bytes());
                        }
                        _ => return Err(format!("bad escape at {}", self.at)),
                    }
                }
                0..=0x1f => return Err(format!("control character in a string at {}", self.at)),
                _ => out.push(c),
            }
        }
    }
}

/// Checks that `text` is an object the schema accepts.
fn check_action(text: &str) {
    let value = Reader::parse(text).unwrap_or_else(|e| panic!("{text:?} is not JSON: {e}"));
    let Json::Object(map) = value else { panic!("{text:?} is not an object") };
    assert_eq!(map.keys().map(String::as_str).collect::<Vec<_>>(), ["action", "target"], "{text:?}");
    let Some(Json::Str(action)) = map.get("action") else { panic!("{text:?}: action is not a string") };
    assert!(ACTIONS.contains(&action.as_str()), "{text:?}: action {action:?}");
    let Some(Json::Str(target)) = map.get("target") else { panic!("{text:?}: target is not a string") };
    assert!(target.chars().count() <= 12, "{text:?}: target {target:?} is longer than 12");
}

#[test]
fn the_json_reader_reads_json() {
    assert_eq!(Reader::parse(r#"{"a": [1, -2.5e1, "x\"\u00e9"], "b": null}"#).unwrap(), {
        let mut m = BTreeMap::new();
        m.insert("a".to_string(), Json::Array(vec![Json::Number(1.0), Json::Number(-25.0), Json::Str("x\"é".into())]));
        m.insert("b".to_string(), Json::Null);
        Json::Object(m)
    });
    assert!(Reader::parse(r#"{"a": 1"#).is_err());
    assert!(Reader::parse(r#"{"a": 1} x"#).is_err());
}

#[test]
fn generation_under_a_json_schema_gives_objects_the_schema_accepts() {
    let (_rt, model) = load(&demo_bundle());
    let grammar = Grammar::json_schema(&model, SCHEMA, &GrammarOptions::default()).unwrap();
    for seed in [1u64, 2, 3, 4] {
        // The callback form over mmb_generate().
        let mut session = model.session().unwrap();
        let mut state = grammar.state().unwrap();
        let mut text = String::new();
        session
            .generate_with_grammar(&mut sampler(seed), "The orc", &options(200), &mut state, |_, piece| {
                text.push_str(piece);
                true
            })
            .unwrap();
        assert!(state.can_end(), "seed {seed}: unfinished {text:?}");
        check_action(&text);

        // The iterator form.
        let mut session = model.session().unwrap();
        let mut state = grammar.state().unwrap();
        let mut s = sampler(seed);
        let mut text = String::new();
        for piece in session.generate_grammar(&mut s, "The orc", &options(200), &mut state).unwrap() {
            text.push_str(&piece.unwrap().text);
        }
        assert!(state.can_end(), "seed {seed}: unfinished {text:?}");
        check_action(&text);
    }
}

#[test]
fn a_choice_grammar_gives_one_of_the_choices() {
    let (_rt, model) = load(&demo_bundle());
    let grammar = Grammar::choice(&model, &CHOICES, &GrammarOptions::default()).unwrap();
    for seed in [5u64, 6, 7] {
        let mut session = model.session().unwrap();
        let mut state = grammar.state().unwrap();
        let mut text = String::new();
        session
            .generate_with_grammar(&mut sampler(seed), "We walked", &options(50), &mut state, |_, piece| {
                text.push_str(piece);
                true
            })
            .unwrap();
        assert!(CHOICES.contains(&text.as_str()), "seed {seed}: {text:?}");
        assert!(state.can_end() && state.must_end());

        // A job takes its own copy of the state: the one given is left at the start.
        let start = grammar.state().unwrap();
        let mut session = model.session().unwrap();
        let job = session
            .submit_text(
                Some(&sampler(seed)),
                "We walked",
                JobOptions { max_tokens: 50, grammar: Some(start.try_clone().unwrap()), ..Default::default() },
            )
            .unwrap();
        job.wait().unwrap();
        let text = job.poll().unwrap();
        job.result().unwrap();
        assert!(CHOICES.contains(&text.as_str()), "job, seed {seed}: {text:?}");
        assert!(!start.can_end());
    }
    // Empty lists and empty items are refused.
    let none: [&str; 0] = [];
    assert_eq!(
        Grammar::choice(&model, &none, &GrammarOptions::default()).unwrap_err().status(),
        Status::InvalidArgument
    );
    assert_eq!(Grammar::choice(&model, &["a", ""], &GrammarOptions::default()).unwrap_err().status(), Status::Grammar);
}

#[test]
fn a_chat_reply_under_a_grammar_is_one_of_the_choices() {
    let (_rt, model) = load(chat_bundle());
    let grammar = Grammar::choice(&model, &CHOICES, &GrammarOptions::default()).unwrap();
    let mut chat = model.chat().unwrap();
    chat.add("user", "Which way?").unwrap();
    let mut state = grammar.state().unwrap();
    let reply = chat.generate_grammar(&mut sampler(9), &options(50), &mut state, |_, _| true).unwrap();
    assert!(CHOICES.contains(&reply.text.as_str()), "{:?}", reply.text);
    assert!(state.can_end());
}

#[test]
fn gbnf_compiles_and_errors_name_the_line() {
    let (_rt, model) = load(&demo_bundle());
    let gbnf = "root ::= \"yes\" | \"no\"\n";
    let grammar = Grammar::gbnf(&model, gbnf, &GrammarOptions::default()).unwrap();
    let mut session = model.session().unwrap();
    let mut state = grammar.state().unwrap();
    let mut text = String::new();
    session
        .generate_with_grammar(&mut sampler(1), "Is it", &options(20), &mut state, |_, piece| {
            text.push_str(piece);
            true
        })
        .unwrap();
    assert!(text == "yes" || text == "no", "{text:?}");

    let named = GrammarOptions { root: Some("answer".into()), ..GrammarOptions::default() };
    Grammar::gbnf(&model, "answer ::= [0-9]+\n", &named).unwrap();

    let err = Grammar::gbnf(&model, "root ::= (\"a\"", &GrammarOptions::default()).unwrap_err();
    assert_eq!(err.status(), Status::Grammar, "{err}");
    assert!(err.message().contains("line 1"), "{err}");
    assert!(err.to_string().starts_with("MMB_ERR_GRAMMAR: "), "{err}");
    let err = Grammar::json_schema(&model, "{\"type\": ", &GrammarOptions::default()).unwrap_err();
    assert_eq!(err.status(), Status::Grammar, "{err}");
    let err =
        Grammar::json_schema(&model, r#"{"type":"string","pattern":"^a"}"#, &GrammarOptions::default()).unwrap_err();
    assert_eq!(err.status(), Status::Grammar, "{err}");
}

/// The tokens of `text` (no BOS), accepted one by one.
fn accept_text(model: &Model, state: &mut GrammarState, text: &str) {
    for t in model.tokenize(text, false).unwrap() {
        state.accept(t).unwrap_or_else(|e| panic!("token {t} of {text:?}: {e}"));
    }
}

#[test]
fn states_save_load_and_clone() {
    let (_rt, model) = load(&demo_bundle());
    let options = GrammarOptions { json_whitespace: 0, ..GrammarOptions::default() };
    let grammar = Grammar::json_schema(&model, SCHEMA, &options).unwrap();
    let mut state = grammar.state().unwrap();
    accept_text(&model, &mut state, r#"{"action":"fl"#);
    assert!(!state.can_end());
    let blob = state.save().unwrap();
    let mut copy = state.try_clone().unwrap();
    let mut loaded = grammar.state().unwrap();
    loaded.load(&blob).unwrap();
    let mask = state.mask().unwrap();
    assert_eq!(copy.mask().unwrap(), mask);
    assert_eq!(loaded.mask().unwrap(), mask);
    assert_eq!(loaded.save().unwrap(), blob);

    // Each goes on independently.
    accept_text(&model, &mut copy, r#"ee","target":"wolf"}"#);
    assert!(copy.can_end() && copy.must_end());
    assert!(!state.can_end());
    accept_text(&model, &mut loaded, r#"ee","target":"bear"}"#);
    assert!(loaded.can_end());

    // A wrong token changes nothing.
    let bad = model.tokenize("}", false).unwrap()[0];
    let err = state.accept(bad).unwrap_err();
    assert_eq!(err.status(), Status::Grammar, "{err}");
    assert_eq!(state.save().unwrap(), blob);

    // Reset goes back to the start; another grammar's state is refused, damage too.
    state.reset().unwrap();
    let (after_reset, at_start) = (state.mask().unwrap(), grammar.state().unwrap().mask().unwrap());
    let differ: Vec<usize> = (0..after_reset.len()).filter(|&t| after_reset[t] != at_start[t]).collect();
    let shown: Vec<_> = differ
        .iter()
        .map(|&t| (t, String::from_utf8_lossy(&model.token_bytes(t as i32).unwrap()).into_owned(), after_reset[t]))
        .collect();
    assert!(
        differ.is_empty(),
        "after reset, tokens (id, text, allowed after reset) {shown:?} differ from a new state's"
    );
    let other = Grammar::choice(&model, &CHOICES, &GrammarOptions::default()).unwrap();
    let err = other.state().unwrap().load(&blob).unwrap_err();
    assert_eq!(err.status(), Status::StateMismatch, "{err}");
    let mut damaged = blob.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x5a;
    let err = state.load(&damaged).unwrap_err();
    assert!(matches!(err.status(), Status::Format | Status::StateMismatch), "{err}");
}

#[test]
fn the_mask_agrees_with_accept_apply_and_sampling() {
    let (_rt, model) = load(&demo_bundle());
    let grammar = Grammar::json_schema(&model, SCHEMA, &GrammarOptions::default()).unwrap();
    let mut state = grammar.state().unwrap();
    accept_text(&model, &mut state, "{");
    let mask = state.mask().unwrap();
    let words = state.mask_words().unwrap();
    assert_eq!(mask.len(), model.vocab_size());
    assert_eq!(words.len(), model.vocab_size().div_ceil(32));
    let allowed: Vec<i32> = (0..mask.len() as i32).filter(|&t| mask[t as usize]).collect();
    let refused: Vec<i32> = (0..mask.len() as i32).filter(|&t| !mask[t as usize]).collect();
    assert!(!allowed.is_empty() && !refused.is_empty());
    let picks = allowed.iter().take(6).chain(refused.iter().step_by(refused.len() / 6 + 1).take(6));
    for &t in picks {
        let mut probe = state.try_clone().unwrap();
        let accepted = probe.accept(t);
        assert_eq!(accepted.is_ok(), mask[t as usize], "token {t}: {accepted:?}");
        if let Err(e) = accepted {
            assert_eq!(e.status(), Status::Grammar);
        }
    }

    let mut logits = vec![0.5f32; model.vocab_size()];
    state.apply(&mut logits).unwrap();
    for (t, &v) in logits.iter().enumerate() {
        assert_eq!(v == f32::NEG_INFINITY, !mask[t], "token {t}");
    }
    assert_eq!(state.apply(&mut logits[1..]).unwrap_err().status(), Status::InvalidArgument);

    let mut s = sampler(3);
    let flat = vec![0f32; model.vocab_size()];
    for _ in 0..4 {
        let mut probe = state.try_clone().unwrap();
        let before = probe.mask().unwrap();
        let t = s.sample_grammar(&mut probe, &flat).unwrap();
        assert!(before[t as usize], "sampled refused token {t}");
    }
}
