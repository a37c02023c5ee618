// The sampler: chooses the next token from logits; holds its RNG and penalty window.
use crate::error::{check, Result};
use crate::options::defaults;
use moemamba_sys as sys;
use std::ptr::{self, NonNull};

/// Sampling parameters (mmb_sampler_params); `default()` gives the library's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SamplerParams {
    /// <= 0 means greedy (argmax after penalties).
    pub temperature: f32,
    pub top_k: i32,
    pub top_p: f32,
    pub min_p: f32,
    pub repetition_penalty: f32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    pub penalty_window: i32,
    pub seed: u64,
}

impl Default for SamplerParams {
    /// Panics only when the loaded library refuses this crate's mmb_sampler_params (a
    /// library older than the header the crate was built with).
    fn default() -> Self {
        let p = defaults(sys::mmb_sampler_params_init).expect("mmb_sampler_params_init");
        SamplerParams {
            temperature: p.temperature,
            top_k: p.top_k,
            top_p: p.top_p,
            min_p: p.min_p,
            repetition_penalty: p.repetition_penalty,
            presence_penalty: p.presence_penalty,
            frequency_penalty: p.frequency_penalty,
            penalty_window: p.penalty_window,
            seed: p.seed,
        }
    }
}

impl SamplerParams {
    /// Always the most likely token.
    pub fn greedy() -> SamplerParams {
        SamplerParams { temperature: 0.0, ..SamplerParams::default() }
    }
}

/// `Send` but not `Sync`: one thread at a time, as the header says.
#[derive(Debug)]
pub struct Sampler {
    raw: NonNull<sys::mmb_sampler>,
    _not_sync: std::marker::PhantomData<std::cell::Cell<()>>,
}

unsafe impl Send for Sampler {}

impl Sampler {
    pub fn new(params: &SamplerParams) -> Result<Sampler> {
        let mut p = defaults(sys::mmb_sampler_params_init)?;
        p.temperature = params.temperature;
        p.top_k = params.top_k;
        p.top_p = params.top_p;
        p.min_p = params.min_p;
        p.repetition_penalty = params.repetition_penalty;
        p.presence_penalty = params.presence_penalty;
        p.frequency_penalty = params.frequency_penalty;
        p.penalty_window = params.penalty_window;
        p.seed = params.seed;
        let mut raw = ptr::null_mut();
        check(unsafe { sys::mmb_sampler_create(&p, &mut raw) })?;
        Ok(Sampler { raw: NonNull::new(raw).expect("MMB_OK with a NULL sampler"), _not_sync: std::marker::PhantomData })
    }

    /// Chooses a token from `logits` and records it in the penalty window.
    pub fn sample(&mut self, logits: &[f32]) -> Result<i32> {
        let mut token = 0i32;
        check(unsafe { sys::mmb_sampler_sample(self.raw.as_ptr(), logits.as_ptr(), logits.len(), &mut token) })?;
        Ok(token)
    }

    /// Records a token in the penalty window without sampling (e.g. the prompt's).
    pub fn accept(&mut self, token: i32) -> Result<()> {
        check(unsafe { sys::mmb_sampler_accept(self.raw.as_ptr(), token) })
    }

    /// Clears the window and reseeds with the original seed.
    pub fn reset(&mut self) -> Result<()> {
        check(unsafe { sys::mmb_sampler_reset(self.raw.as_ptr()) })
    }

    pub fn as_raw(&self) -> *mut sys::mmb_sampler {
        self.raw.as_ptr()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        unsafe { sys::mmb_sampler_destroy(self.raw.as_ptr()) }
    }
}
