// Shared by the integration tests: the real CLI and a real bundle made with it.
#![allow(dead_code)]
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The `mmb` CLI: MOEMAMBA_MMB, else this repository's release build.
pub fn mmb() -> PathBuf {
    std::env::var_os("MOEMAMBA_MMB")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../build/release/sdk/tools/mmb"))
}

/// A tiny bundle (byte vocabulary of 256, every layer kind): MOEMAMBA_TEST_BUNDLE
/// (ctest makes it), else written once per test binary with
/// `mmb synth --shape tiny --seed 3`.
pub fn bundle() -> &'static PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        if let Some(path) = std::env::var_os("MOEMAMBA_TEST_BUNDLE") {
            return PathBuf::from(path);
        }
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("tiny-seed3.mmb");
        let out = Command::new(mmb())
            .args(["synth", "--shape", "tiny", "--seed", "3", "-o"])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} (set MOEMAMBA_MMB): {e}", mmb().display()));
        assert!(out.status.success(), "mmb synth failed: {}", String::from_utf8_lossy(&out.stderr));
        path
    })
}

/// A small hybrid bundle (attention, Mamba-2 and MoE layers; a default context of 2048
/// tokens): MOEMAMBA_TEST_HYBRID_BUNDLE (ctest makes it), else written once per test
/// binary with `mmb synth --shape small-hybrid`.
pub fn hybrid_bundle() -> &'static PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| {
        if let Some(path) = std::env::var_os("MOEMAMBA_TEST_HYBRID_BUNDLE") {
            return PathBuf::from(path);
        }
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("small-hybrid.mmb");
        let out = Command::new(mmb())
            .args(["synth", "--shape", "small-hybrid", "--quiet", "-o"])
            .arg(&path)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {} (set MOEMAMBA_MMB): {e}", mmb().display()));
        assert!(out.status.success(), "mmb synth failed: {}", String::from_utf8_lossy(&out.stderr));
        path
    })
}

/// A file in the test scratch folder.
pub fn scratch(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{}-{name}", std::process::id()))
}

pub fn argmax(logits: &[f32]) -> i32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] {
            best = i;
        }
    }
    best as i32
}

pub fn assert_close(a: &[f32], b: &[f32], rel: f32) {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!((x - y).abs() <= rel * scale, "logit {i}: {x} vs {y} (tolerance {rel} of {scale})");
    }
}

/// ChatML, as Qwen-style instruct models write it.
pub const CHATML: &str =
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}\
                          {% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
/// A second, named template of the ChatML bundle ("plain").
pub const PLAIN: &str =
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}{% if add_generation_prompt %}assistant:{% endif %}";
/// A template that refuses every conversation.
pub const REFUSING: &str = "{{ raise_exception('roles must alternate') }}";

/// The demo model: MOEMAMBA_DEMO_BUNDLE, else this repository's models/demo-moe-mamba.mmb.
pub fn demo_bundle() -> PathBuf {
    std::env::var_os("MOEMAMBA_DEMO_BUNDLE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../models/demo-moe-mamba.mmb"))
}

/// The demo bundle packed again with `template` as its chat template and the `named`
/// ones beside it: `mmb pack DEMO -o NAME.mmb --chat-template NAME.jinja
/// [--chat-template OTHER=OTHER.jinja]...`.
pub fn pack_with_template(name: &str, template: &str, named: &[(&str, &str)]) -> PathBuf {
    let jinja = scratch(&format!("{name}.jinja"));
    let path = scratch(&format!("{name}.mmb"));
    std::fs::write(&jinja, template).unwrap();
    let mut command = Command::new(mmb());
    command.arg("pack").arg(demo_bundle()).arg("-o").arg(&path).arg("--chat-template").arg(&jinja);
    for (other, text) in named {
        let file = scratch(&format!("{name}-{other}.jinja"));
        std::fs::write(&file, text).unwrap();
        command.arg("--chat-template").arg(format!("{other}={}", file.display()));
    }
    let out = command
        .arg("--quiet")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {} (set MOEMAMBA_MMB): {e}", mmb().display()));
    assert!(out.status.success(), "mmb pack --chat-template failed: {}", String::from_utf8_lossy(&out.stderr));
    path
}

/// The demo bundle with the ChatML template (and "plain"), made once per test binary.
pub fn chat_bundle() -> &'static PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| pack_with_template("chatml", CHATML, &[("plain", PLAIN)]))
}

/// The demo bundle with a template that always refuses, made once per test binary.
pub fn refusing_bundle() -> &'static PathBuf {
    static BUNDLE: OnceLock<PathBuf> = OnceLock::new();
    BUNDLE.get_or_init(|| pack_with_template("refusing", REFUSING, &[]))
}
