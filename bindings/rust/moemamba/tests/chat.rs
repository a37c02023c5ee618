//! Chat templates and conversations through the real libmoemamba: the demo model packed
//! by `mmb pack` with a small ChatML template, and with a template that always refuses;
//! and what a bundle without a template answers.
mod common;

use common::{bundle, chat_bundle, refusing_bundle};
use moemamba::{
    Chat, ChatMessage, ChatOptions, ChatReply, GenerateOptions, Model, Runtime, Sampler, SamplerParams, SessionOptions,
    Status,
};

const WANT: &str =
    "<|im_start|>system\nYou are terse.<|im_end|>\n<|im_start|>user\nhéllo 世界<|im_end|>\n<|im_start|>assistant\n";

fn load(path: &std::path::Path) -> (Runtime, Model) {
    let runtime = Runtime::new().unwrap();
    let model = Model::load_file(&runtime, path).unwrap();
    (runtime, model)
}

fn reply(chat: &mut Chat, max_tokens: i32) -> ChatReply {
    let mut sampler = Sampler::new(&SamplerParams::greedy()).unwrap();
    chat.generate(&mut sampler, &GenerateOptions { max_tokens, ..Default::default() }, |_, _| true).unwrap()
}

#[test]
fn a_bundle_without_a_template_refuses_chats() {
    let (_rt, model) = load(bundle());
    assert_eq!(model.info().n_chat_templates, 0);
    assert_eq!(model.stop_tokens().unwrap().len(), model.info().n_stop_tokens as usize);
    let err = model.chat().unwrap_err();
    assert_eq!(err.status(), Status::Unsupported, "{err}");
    assert!(err.to_string().starts_with("MMB_ERR_UNSUPPORTED: ") && !err.message().is_empty(), "{err}");
    let err = model.render(&[ChatMessage::user("hi")], true, None).unwrap_err();
    assert_eq!(err.status(), Status::Unsupported, "{err}");
}

#[test]
fn render_gives_the_templates_text_exactly() {
    let (_rt, model) = load(chat_bundle());
    assert!(model.info().n_chat_templates >= 1, "{:?}", model.info());
    assert_eq!(model.stop_tokens().unwrap().len(), model.info().n_stop_tokens as usize);
    let messages = [ChatMessage::system("You are terse."), ChatMessage::user("héllo 世界")];
    assert_eq!(model.render(&messages, true, None).unwrap(), WANT);
    assert_eq!(model.render(&messages, false, None).unwrap(), WANT.strip_suffix("<|im_start|>assistant\n").unwrap());
    assert_eq!(model.render(&messages, true, Some("default")).unwrap(), WANT);
    assert_eq!(model.render(&[], false, None).unwrap(), "");
    assert_eq!(
        model.render(&messages, true, Some("plain")).unwrap(),
        "system: You are terse.\nuser: héllo 世界\nassistant:"
    );
    let err = model.render(&messages, true, Some("no_such_template")).unwrap_err();
    assert_eq!(err.status(), Status::Unsupported, "{err}");
    let options = ChatOptions { template_name: Some("no_such_template".into()), ..Default::default() };
    assert_eq!(model.chat_with(&options).unwrap_err().status(), Status::Unsupported);
    let err = model.render(&[ChatMessage::user("nul\0inside")], true, None).unwrap_err();
    assert_eq!(err.status(), Status::InvalidArgument, "{err}");
}

#[test]
fn a_second_turn_reuses_what_the_session_holds() {
    let (_rt, model) = load(chat_bundle());
    let mut chat = model.chat().unwrap();
    chat.add("system", "You are terse.").unwrap();
    chat.add("user", "Where is the house?").unwrap();
    let mut sampler = Sampler::new(&SamplerParams::greedy()).unwrap();
    let mut streamed = String::new();
    let first = chat
        .generate(&mut sampler, &GenerateOptions { max_tokens: 12, ..Default::default() }, |_, text| {
            streamed.push_str(text);
            true
        })
        .unwrap();
    let s1 = first.stats;
    assert!(s1.generated_tokens > 0 && s1.generated_tokens <= 12, "{s1:?}");
    assert!(!s1.restarted && s1.reused_tokens == 0 && s1.prefilled_tokens == s1.prompt_tokens, "{s1:?}");
    // The prompt is the rendering, tokenized with special tokens and without BOS.
    let rendered = model
        .render(&[ChatMessage::system("You are terse."), ChatMessage::user("Where is the house?")], true, None)
        .unwrap();
    let tokens = model.tokenize_with(rendered.as_bytes(), moemamba::sys::MMB_TOKENIZE_PARSE_SPECIAL).unwrap();
    assert_eq!(s1.prompt_tokens, tokens.len() as u64, "{rendered:?}");
    assert_eq!(streamed, first.text);
    assert_eq!(chat.session().position().unwrap(), s1.prompt_tokens + s1.generated_tokens);
    assert_eq!(
        chat.messages().unwrap(),
        [
            ChatMessage::system("You are terse."),
            ChatMessage::user("Where is the house?"),
            ChatMessage::assistant(first.text.clone())
        ]
    );

    chat.add("user", "And the garden?").unwrap();
    let s2 = reply(&mut chat, 12).stats;
    assert!(!s2.restarted, "{s2:?}");
    // Everything the first turn computed, its prompt and its reply, is kept.
    assert_eq!(s2.reused_tokens, s1.prompt_tokens + s1.generated_tokens, "{s2:?} after {s1:?}");
    assert!(s2.prefilled_tokens > 0 && s2.prefilled_tokens < s2.prompt_tokens, "{s2:?}");
    assert_eq!(s2.reused_tokens + s2.prefilled_tokens, s2.prompt_tokens);
    assert_eq!(chat.message_count().unwrap(), 5);
}

#[test]
fn a_chat_on_a_named_template_renders_with_it() {
    let (_rt, model) = load(chat_bundle());
    let options = ChatOptions { template_name: Some("plain".into()), ..Default::default() };
    let mut chat = model.chat_with(&options).unwrap();
    chat.add("user", "Hi").unwrap();
    let s = reply(&mut chat, 4).stats;
    let tokens = |name| {
        let text = model.render(&[ChatMessage::user("Hi")], true, name).unwrap();
        model.tokenize_with(text.as_bytes(), moemamba::sys::MMB_TOKENIZE_PARSE_SPECIAL).unwrap().len() as u64
    };
    assert_eq!(s.prompt_tokens, tokens(Some("plain")), "{s:?}");
    assert_ne!(s.prompt_tokens, tokens(None), "the main template would give as many tokens");
}

#[test]
fn prefill_computes_only_what_is_new() {
    let (_rt, model) = load(chat_bundle());
    let mut chat = model.chat().unwrap();
    chat.add("system", "You are a guard at the castle gate.").unwrap();
    let p1 = chat.prefill().unwrap();
    assert!(p1.prompt_tokens > 0 && p1.prefilled_tokens == p1.prompt_tokens, "{p1:?}");
    assert_eq!((p1.reused_tokens, p1.generated_tokens, p1.restarted), (0, 0, false));
    let p2 = chat.prefill().unwrap();
    assert_eq!((p2.prefilled_tokens, p2.reused_tokens), (0, p1.prompt_tokens), "{p2:?}");
    chat.add("user", "Who goes there?").unwrap();
    let g = reply(&mut chat, 8).stats;
    assert_eq!(g.reused_tokens, p1.prompt_tokens, "{g:?}");
    assert_eq!(g.prefilled_tokens, g.prompt_tokens - g.reused_tokens, "{g:?}");
}

#[test]
fn a_saved_chat_continues_exactly_as_the_original() {
    let (_rt, model) = load(chat_bundle());
    let (state, history, original) = {
        let mut chat = model.chat().unwrap();
        chat.add("system", "You are terse.").unwrap();
        chat.add("user", "Tell me of the king.").unwrap();
        reply(&mut chat, 10);
        let state = chat.save_state().unwrap();
        let history = chat.messages().unwrap();
        chat.add("user", "And the queen?").unwrap();
        (state, history, reply(&mut chat, 16))
    };
    let mut loaded = model.chat().unwrap();
    loaded.add("user", "to be replaced").unwrap();
    loaded.load_state(&state).unwrap();
    assert_eq!(loaded.messages().unwrap(), history);
    loaded.add("user", "And the queen?").unwrap();
    let again = reply(&mut loaded, 16);
    assert_eq!(again, original, "the reply after a load");

    let count = loaded.message_count().unwrap();
    assert_eq!(loaded.load_state(b"not a chat state").unwrap_err().status(), Status::Format);
    assert!(loaded.load_state(&state[..state.len() / 2]).is_err());
    assert_eq!(loaded.message_count().unwrap(), count, "a refused state changes nothing");
}

#[test]
fn reset_empties_the_history_and_the_session() {
    let (_rt, model) = load(chat_bundle());
    let mut chat = model.chat().unwrap();
    chat.add("user", "Hello there.").unwrap();
    reply(&mut chat, 4);
    chat.reset().unwrap();
    assert_eq!(chat.message_count().unwrap(), 0);
    assert_eq!(chat.session().position().unwrap(), 0);
    chat.add("user", "Hello there.").unwrap();
    let s = reply(&mut chat, 4).stats;
    assert_eq!((s.reused_tokens, s.restarted), (0, false), "{s:?}");
}

#[test]
fn a_callback_that_stops_ends_the_reply_which_joins_the_history() {
    let (_rt, model) = load(chat_bundle());
    let mut chat = model.chat_with(&ChatOptions { session: SessionOptions::default(), template_name: None }).unwrap();
    chat.add("user", "Say something long.").unwrap();
    let mut sampler = Sampler::new(&SamplerParams::greedy()).unwrap();
    let mut calls = 0;
    let r = chat
        .generate(&mut sampler, &GenerateOptions { max_tokens: 32, ..Default::default() }, |_, _| {
            calls += 1;
            false
        })
        .unwrap();
    assert_eq!((calls, r.stats.generated_tokens), (1, 1), "{:?}", r.stats);
    assert_eq!(chat.message_count().unwrap(), 2);
    assert_eq!(chat.message(1).unwrap().role, "assistant");
    assert_eq!(chat.message(2).unwrap_err().status(), Status::InvalidArgument);
}

#[test]
fn a_panic_in_the_callback_comes_back_to_the_caller() {
    let (_rt, model) = load(chat_bundle());
    let mut chat = model.chat().unwrap();
    chat.add("user", "Hello.").unwrap();
    let mut sampler = Sampler::new(&SamplerParams::greedy()).unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = chat.generate(&mut sampler, &GenerateOptions::default(), |_, _| panic!("from the callback"));
    }));
    assert!(caught.is_err());
    assert_eq!(chat.message_count().unwrap(), 2, "the stopped reply joined the history");
}

#[test]
fn stepping_the_chats_session_directly_makes_the_next_turn_start_over() {
    let (_rt, model) = load(chat_bundle());
    let mut chat = model.chat().unwrap();
    chat.add("user", "Hello there.").unwrap();
    reply(&mut chat, 4);
    // Only the raw pointer steps it: the safe API lends the session read-only.
    let status = unsafe { moemamba::sys::mmb_session_step(chat.session().as_raw(), 1, std::ptr::null_mut(), 0) };
    assert_eq!(status, moemamba::sys::MMB_OK);
    chat.add("user", "Again.").unwrap();
    let s = reply(&mut chat, 4).stats;
    assert!(s.restarted && s.reused_tokens == 0 && s.prefilled_tokens == s.prompt_tokens, "{s:?}");
    // A fork of the chat's session is the caller's own.
    let fork = chat.session().fork().unwrap();
    assert_eq!(fork.position().unwrap(), chat.session().position().unwrap());
}

#[test]
fn the_templates_refusal_is_a_template_error_with_its_message() {
    let (_rt, model) = load(refusing_bundle());
    let err = model.render(&[ChatMessage::user("hi")], true, None).unwrap_err();
    assert_eq!(err.status(), Status::Template, "{err}");
    assert_eq!(err.raw_status(), moemamba::sys::MMB_ERR_TEMPLATE);
    assert_eq!(err.status_name(), "MMB_ERR_TEMPLATE");
    assert!(err.message().contains("roles must alternate"), "{err}");
    let mut chat = model.chat().unwrap();
    chat.add("user", "hi").unwrap();
    let mut sampler = Sampler::new(&SamplerParams::greedy()).unwrap();
    let err = chat.generate(&mut sampler, &GenerateOptions::default(), |_, _| true).unwrap_err();
    assert_eq!(err.status(), Status::Template, "{err}");
    assert!(err.message().contains("roles must alternate"), "{err}");
    assert_eq!(chat.prefill().unwrap_err().status(), Status::Template);
    assert_eq!(chat.message_count().unwrap(), 1, "nothing happened");
    assert_eq!(chat.session().position().unwrap(), 0);
}

#[test]
fn a_chat_is_send_and_borrows_its_model() {
    fn send<T: Send>() {}
    send::<Chat<'static>>();
}
