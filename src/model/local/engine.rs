//! The local engine: loads a model, keeps its prefix cache, and turns prompts into answers.
//!
//! A call goes: render the chat template → look up the longest cached prefix → compute the
//! rest of the prompt in chunks → sample the first token of every answer from the prompt's
//! logits → decode all answers together, one batched forward pass per step, until each one
//! stops → register the sequences in the cache so that the next, longer prompt starts where
//! this one ended.
//!
//! Why one file of more than 1,000 lines: `submit`, `decode_step`, `sample_fed_rows`,
//! `retire_finished` and `wait` share `EngineState`'s locking discipline (the lock is let go
//! between decoding steps) and the `Answer`/`TicketState` bookkeeping; split apart, each part's
//! invariants would live in another file. Drafting (`drafting.rs`), hooks (`hooks.rs`) and the
//! forward pass (`transformer.rs`) are already apart.

pub use super::drafting::DraftStats;
use super::drafting::{DraftCounters, default_draft_tokens, prompt_lookup_draft};
use super::hooks::{CacheKey, HiddenReadout, HiddenRows, PreparedEdit, SequenceHook, guide_logits};
use super::kernels::{Isa, detected_isa};
use super::kv_cache::{KvPrecision, PrefixCache, SeqKv};
use super::loader::{self, GgufFile, WeightMode};
use super::pool::ThreadPool;
use super::sampler::Sampler;
use super::template::ChatTemplate;
use super::tokenizer::TextTokenizer;
use super::transformer::{BatchItem, ForwardContext, LogitRows, Scratch, Transformer};
use crate::fetch;
use crate::model::Message;
use crate::model::error::{ModelError, Result};
use crate::model::options::{
    FULL_READOUT_MAX_CONTEXT, Readout, ResidualEdit, ResidualOp, SamplingOptions,
};
use crate::model::readout::ActivationSums;
use crate::model::readout::AttentionTrace;
use crate::model::{ChatModel, FinishReason, Generation, ModelInfo};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

/// Prompt tokens computed per forward pass: bounds scratch memory for long prompts.
const PROMPT_CHUNK: usize = 512;

/// Intervention settings whose prefix caches are kept at once.
const MAX_INTERVENTION_CACHES: usize = 8;

impl EngineState {
    /// The prefix cache for sequences computed under the interventions `key` names (the main
    /// one for plain sequences).
    fn cache_for(&mut self, key: Option<&CacheKey>) -> &mut PrefixCache {
        let Some(key) = key else {
            return &mut self.cache;
        };
        let index = match self.intervention_caches.iter().position(|(k, _)| k == key) {
            Some(i) => i,
            None => {
                if self.intervention_caches.len() == MAX_INTERVENTION_CACHES {
                    self.intervention_caches.remove(0);
                }
                let cache = PrefixCache::new(
                    self.cache.shape(),
                    self.cache.precision(),
                    self.cache.budget_bytes() / 4,
                );
                self.intervention_caches.push((key.clone(), cache));
                self.intervention_caches.len() - 1
            }
        };
        &mut self.intervention_caches[index].1
    }
}

/// How to load and run a local model.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// Threads for the matrix and attention kernels (the caller's thread included).
    pub threads: usize,
    pub weights: WeightMode,
    pub kv_precision: KvPrecision,
    /// Memory the prefix cache may keep for reuse (blocks in use are not counted).
    pub cache_budget_bytes: usize,
    /// Tokens drafted per decoding step by prompt lookup (0: none); see [`prompt_lookup_draft`](super::drafting::prompt_lookup_draft).
    /// Drafting never changes an answer, only how many forward passes it takes.
    pub draft_tokens: usize,
    /// Extra variables for the chat template (`{"enable_thinking": false}` for Qwen3); see
    /// [`ChatTemplate::with_kwargs`].
    pub chat_template_kwargs: std::collections::BTreeMap<String, serde_json::Value>,
}

impl Default for LocalOptions {
    fn default() -> Self {
        LocalOptions {
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            weights: WeightMode::Native,
            kv_precision: KvPrecision::F16,
            cache_budget_bytes: 512 << 20,
            draft_tokens: default_draft_tokens(),
            chat_template_kwargs: Default::default(),
        }
    }
}

struct EngineState {
    cache: PrefixCache,
    /// Split-softmax and residual edits change every key and value they reach, so sequences
    /// computed under them are cached apart, one cache per setting
    /// ([`SequenceHook::cache_key`]; oldest setting dropped past `MAX_INTERVENTION_CACHES`).
    intervention_caches: Vec<(CacheKey, PrefixCache)>,
    scratch: Scratch,
    /// Unfinished answers of every submitted request.
    active: Vec<Answer>,
    /// Submitted requests whose answers have not been collected.
    tickets: std::collections::HashMap<u64, TicketState>,
    next_ticket: u64,
}

/// Bookkeeping of one submitted prompt.
struct TicketState {
    slots: Vec<Option<Generation>>,
    prompt_tokens: usize,
    cached_prompt_tokens: usize,
    prompt_ms: f64,
    submitted: Instant,
    /// Someone waits for these answers (or will at once: `generate_batch`). Answers nobody
    /// waits for yet ride along in the background and draft nothing (see `decode_step`).
    awaited: bool,
}

pub struct LocalModel {
    transformer: Transformer,
    tokenizer: TextTokenizer,
    template: ChatTemplate,
    pool: ThreadPool,
    isa: Isa,
    kv_precision: KvPrecision,
    end_of_turn: Vec<u32>,
    draft_tokens: usize,
    drafting: DraftCounters,
    state: Mutex<EngineState>,
    info: ModelInfo,
    file_for_hash: Option<PathBuf>,
    sha256: OnceLock<String>,
    usage: crate::model::UsageCounters,
}

/// Where a model spec points.
pub enum ModelSource {
    Gguf(PathBuf),
    HfFolder(PathBuf),
}

/// Resolves `smollm2` (the default model, fetched on first use), a GGUF file or a Hugging Face
/// folder.
pub fn resolve_spec(spec: &str, log: &mut dyn FnMut(&str)) -> Result<ModelSource> {
    if spec == fetch::DEFAULT_MODEL_NAME || spec.is_empty() {
        return Ok(ModelSource::Gguf(fetch::default_model_path(log)?));
    }
    let path = Path::new(spec);
    if path.is_dir() {
        if path.join("config.json").is_file() {
            return Ok(ModelSource::HfFolder(path.into()));
        }
        return Err(ModelError::InvalidOption(format!(
            "{spec} is a folder without config.json: a Hugging Face model folder needs \
             config.json, *.safetensors and tokenizer.json"
        )));
    }
    if path.is_file() {
        return Ok(ModelSource::Gguf(path.into()));
    }
    Err(ModelError::InvalidOption(format!(
        "model `{spec}` not found: use `{}` (the default model), a GGUF file or a Hugging Face folder",
        fetch::DEFAULT_MODEL_NAME
    )))
}

impl LocalModel {
    pub fn load(spec: &str, options: &LocalOptions, log: &mut dyn FnMut(&str)) -> Result<Self> {
        match resolve_spec(spec, log)? {
            ModelSource::Gguf(path) => Self::load_gguf(&path, options),
            ModelSource::HfFolder(dir) => Self::load_hf(&dir, options),
        }
    }

    pub fn load_gguf(path: &Path, options: &LocalOptions) -> Result<Self> {
        let mut gguf = GgufFile::open(path)?;
        let tokenizer = TextTokenizer::from_gguf(&gguf.metadata)?;
        let transformer = loader::load_gguf(&mut gguf, options.weights)?;
        let name = match gguf.metadata.get("general.name") {
            Some(candle_core::quantized::gguf_file::Value::String(s)) => s.clone(),
            _ => file_stem(path),
        };
        Self::assemble(
            transformer,
            tokenizer,
            name,
            path,
            Some(path.to_path_buf()),
            options,
        )
    }

    pub fn load_hf(dir: &Path, options: &LocalOptions) -> Result<Self> {
        let tokenizer = TextTokenizer::from_hf_folder(dir)?;
        let transformer = loader::load_safetensors(dir, options.weights)?;
        Self::assemble(transformer, tokenizer, file_stem(dir), dir, None, options)
    }

    fn assemble(
        transformer: Transformer,
        tokenizer: TextTokenizer,
        name: String,
        path: &Path,
        file_for_hash: Option<PathBuf>,
        options: &LocalOptions,
    ) -> Result<Self> {
        if tokenizer.vocab_size() > transformer.config.vocab {
            return Err(ModelError::Tokenizer(format!(
                "the tokenizer has {} tokens but the model only {} embeddings",
                tokenizer.vocab_size(),
                transformer.config.vocab
            )));
        }
        let template =
            ChatTemplate::for_tokenizer(&tokenizer)?.with_kwargs(&options.chat_template_kwargs)?;
        let cache = PrefixCache::new(
            transformer.kv_shape(),
            options.kv_precision,
            options.cache_budget_bytes,
        );
        let info = ModelInfo {
            name,
            backend: "local".into(),
            path: path.display().to_string(),
            architecture: transformer.config.architecture.to_string(),
            context_length: transformer.config.context_length,
            vocab_size: transformer.config.vocab,
            weight_bytes: transformer.weight_bytes(),
            hidden_size: transformer.config.hidden,
            layers: transformer.config.layers,
        };
        Ok(LocalModel {
            end_of_turn: tokenizer.end_of_turn_ids(),
            draft_tokens: options.draft_tokens,
            drafting: DraftCounters::default(),
            tokenizer,
            template,
            pool: ThreadPool::new(options.threads),
            isa: detected_isa(),
            kv_precision: options.kv_precision,
            state: Mutex::new(EngineState {
                cache,
                intervention_caches: Vec::new(),
                scratch: Scratch::default(),
                active: Vec::new(),
                tickets: std::collections::HashMap::new(),
                next_ticket: 0,
            }),
            info,
            transformer,
            file_for_hash,
            sha256: OnceLock::new(),
            usage: crate::model::UsageCounters::default(),
        })
    }

    /// How prompt-lookup drafting has gone since the model was loaded.
    pub fn draft_stats(&self) -> DraftStats {
        use std::sync::atomic::Ordering::Relaxed;
        DraftStats {
            steps: self.drafting.steps.load(Relaxed),
            drafted: self.drafting.drafted.load(Relaxed),
            kept: self.drafting.kept.load(Relaxed),
        }
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    pub fn template(&self) -> &ChatTemplate {
        &self.template
    }

    pub fn transformer(&self) -> &Transformer {
        &self.transformer
    }

    pub fn isa(&self) -> Isa {
        self.isa
    }

    pub fn threads(&self) -> usize {
        self.pool.threads()
    }

    /// sha256 of the model file (computed once, on first request; empty for folders).
    pub fn sha256(&self) -> Result<String> {
        if let Some(hash) = self.sha256.get() {
            return Ok(hash.clone());
        }
        let hash = match &self.file_for_hash {
            // A user's model file that cannot be read is an I/O error, not a failed fetch.
            Some(path) => fetch::sha256_file(path).map_err(|e| match e {
                fetch::FetchError::Io { path, source } => ModelError::Io { path, source },
                other => other.into(),
            })?,
            None => String::new(),
        };
        Ok(self.sha256.get_or_init(|| hash).clone())
    }

    /// Forgets every cached prefix (benchmarks use it to time prompts from scratch).
    pub fn clear_cache(&self) {
        let mut state = self.state.lock().unwrap();
        state.cache.clear();
        state.intervention_caches.clear();
    }

    /// Logits after the last prompt token; `use_cache` false computes from scratch without
    /// touching the cache (tests compare the two paths).
    pub fn prompt_logits(&self, prompt: &[u32], use_cache: bool) -> Result<Vec<f32>> {
        self.check_prompt(prompt)?;
        let mut state = self.state.lock().unwrap();
        let state = &mut *state;
        let mut seq = if use_cache {
            state.cache.lookup(prompt, 1)
        } else {
            SeqKv::default()
        };
        self.prefill(&mut seq, prompt, &mut state.scratch)?;
        if use_cache {
            state.cache.insert(&seq);
        }
        Ok(state.scratch.logits.clone())
    }

    fn check_prompt(&self, prompt: &[u32]) -> Result<()> {
        if prompt.is_empty() {
            return Err(ModelError::InvalidOption("the prompt is empty".into()));
        }
        let context = self.transformer.config.context_length;
        if prompt.len() >= context {
            return Err(ModelError::ContextOverflow {
                tokens: prompt.len(),
                context,
            });
        }
        if let Some(&bad) = prompt
            .iter()
            .find(|&&t| t as usize >= self.transformer.config.vocab)
        {
            return Err(ModelError::InvalidOption(format!(
                "token id {bad} is outside the vocabulary"
            )));
        }
        Ok(())
    }

    fn context(&self) -> ForwardContext<'_> {
        ForwardContext {
            pool: &self.pool,
            isa: self.isa,
            kv_precision: self.kv_precision,
        }
    }

    /// Computes the prompt tokens not yet in `seq`; the last token's logits end up in
    /// `scratch.logits`.
    fn prefill(&self, seq: &mut SeqKv, prompt: &[u32], scratch: &mut Scratch) -> Result<()> {
        let ctx = self.context();
        let mut start = seq.len();
        while start < prompt.len() {
            if crate::interrupt::requested() {
                return Err(ModelError::Interrupted);
            }
            crate::interrupt::crash_point(crate::interrupt::Phase::Prompt);
            let end = (start + PROMPT_CHUNK).min(prompt.len());
            let mut items = [BatchItem {
                seq: &mut *seq,
                tokens: &prompt[start..end],
                logits: if end == prompt.len() {
                    LogitRows::Last
                } else {
                    LogitRows::None
                },
                hook: None,
            }];
            self.transformer.forward(&ctx, &mut items, scratch);
            start = end;
        }
        Ok(())
    }

    /// Draws `n` answers to a tokenized prompt.
    pub fn generate(
        &self,
        prompt: &[u32],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<Generation>> {
        let request = Request {
            prompt,
            seed: opts.seed,
            system_span: None,
            unconditional: None,
        };
        Ok(self.generate_batch(&[request], n, opts)?.remove(0))
    }

    /// Draws `n` answers to each of several prompts, all decoded together. Answer `i` of a
    /// request uses stream `i` of the request's seed, so the result equals separate `generate`
    /// calls (the kernels make rows independent).
    pub fn generate_batch(
        &self,
        requests: &[Request<'_>],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<Vec<Generation>>> {
        let tickets = self.submit_awaited(requests, n, opts, true)?;
        tickets.into_iter().map(|t| self.wait(t)).collect()
    }

    /// Starts drawing `n` answers to each prompt and returns at once, one ticket per prompt.
    /// The prompts are computed now; their answers are decoded by later `wait` calls, as rows
    /// of the same decoding steps as every other unfinished answer. This is how a protocol
    /// overlaps independent work: the paper's probes ride along with the conversation.
    pub fn submit(
        &self,
        requests: &[Request<'_>],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<u64>> {
        self.submit_awaited(requests, n, opts, false)
    }

    /// [`Self::submit`]; `awaited`: the caller waits for these answers at once, so they draft
    /// from the first step (see `TicketState::awaited`).
    fn submit_awaited(
        &self,
        requests: &[Request<'_>],
        n: usize,
        opts: &SamplingOptions,
        awaited: bool,
    ) -> Result<Vec<u64>> {
        opts.validate()?;
        let config = &self.transformer.config;
        let intervention = &opts.intervention;
        intervention.validate_for(config.layers, config.hidden)?;
        for request in requests {
            self.check_prompt(request.prompt)?;
            if let Some(unconditional) = request.unconditional {
                self.check_prompt(unconditional)?;
            }
            let longest = request.prompt.len() + opts.max_tokens;
            if intervention.attention == Readout::Full && longest > FULL_READOUT_MAX_CONTEXT {
                return Err(ModelError::InvalidOption(format!(
                    "attention: \"full\" keeps every attention row, so it is limited to \
                     {FULL_READOUT_MAX_CONTEXT} tokens of prompt and answer; this call may reach \
                     {longest} ({} prompt + max_tokens {}): use attention: true for π alone",
                    request.prompt.len(),
                    opts.max_tokens
                )));
            }
        }
        let context = config.context_length;
        let vocab = config.vocab;
        let size = config.layers * config.heads;
        let split = intervention.split(config.layers);
        // An addition of zero changes nothing: leaving it out keeps such calls on the plain
        // cache and makes them bit-identical to no intervention.
        let residual: Vec<PreparedEdit> = intervention
            .steer
            .iter()
            .filter(|e| !matches!(e.op, ResidualOp::Add { coefficient, .. } if coefficient == 0.0))
            .cloned()
            .map(PreparedEdit::new)
            .collect();
        let alpha = intervention.guidance();
        let hooks: Vec<Option<Arc<SequenceHook>>> = requests
            .iter()
            .map(|r| {
                let hook = SequenceHook {
                    system: r.system_span.clone().unwrap_or(0..0),
                    split: split.clone(),
                    readout: intervention.attention,
                    residual: residual.clone(),
                    // Every fed row, so that answers may draft: the rows kept are the answer's.
                    hidden: intervention.activations.as_ref().map(|a| HiddenReadout {
                        layers: a.layers.clone(),
                        rows: HiddenRows::All,
                    }),
                };
                hook.is_active().then(|| Arc::new(hook))
            })
            .collect();
        // The same options for every request, so one cache key for all of them.
        let cache_key = hooks
            .iter()
            .flatten()
            .next()
            .and_then(|hook| hook.cache_key());
        // The unconditional branches of guided requests, computed with the prompts.
        let guided: Vec<usize> = (0..requests.len())
            .filter(|&r| alpha.is_some() && requests[r].unconditional.is_some())
            .collect();
        let mut state = self.state.lock().unwrap();
        let state = &mut *state;

        let prompt_started = Instant::now();
        let mut bases: Vec<SeqKv> = requests
            .iter()
            .map(|r| state.cache_for(cache_key.as_ref()).lookup(r.prompt, 1))
            .collect();
        let cached: Vec<usize> = bases.iter().map(SeqKv::len).collect();
        let mut prompts: Vec<&[u32]> = requests.iter().map(|r| r.prompt).collect();
        let mut prompt_hooks: Vec<Option<&SequenceHook>> =
            hooks.iter().map(|h| h.as_deref()).collect();
        for &r in &guided {
            let unconditional = requests[r].unconditional.expect("filtered above");
            bases.push(state.cache.lookup(unconditional, 1));
            prompts.push(unconditional);
            prompt_hooks.push(None);
        }
        let prefilled =
            self.prefill_many(&mut bases, &prompts, &prompt_hooks, &mut state.scratch)?;
        for (i, base) in bases.iter().enumerate() {
            let key = if i < requests.len() {
                cache_key.as_ref()
            } else {
                None
            };
            state.cache_for(key).insert(base);
        }
        let prompt_ms = prompt_started.elapsed().as_secs_f64() * 1e3;
        self.usage
            .record_prompt(prompts.iter().map(|p| p.len()).sum(), cached.iter().sum());

        let opts = Arc::new(opts.clone());
        let mut ids = Vec::with_capacity(requests.len());
        let mut logits = vec![0f32; vocab];
        for (r, request) in requests.iter().enumerate() {
            let id = state.next_ticket;
            state.next_ticket += 1;
            ids.push(id);
            state.tickets.insert(
                id,
                TicketState {
                    slots: vec![None; n],
                    prompt_tokens: request.prompt.len(),
                    cached_prompt_tokens: cached[r],
                    prompt_ms,
                    submitted: Instant::now(),
                    awaited,
                },
            );
            let seeded = SamplingOptions {
                seed: request.seed,
                ..(*opts).clone()
            };
            let guide_branch = guided
                .iter()
                .position(|&g| g == r)
                .map(|j| requests.len() + j);
            for i in 0..n {
                let trace = (intervention.attention != Readout::Off).then(|| {
                    let span = request.system_span.clone().unwrap_or(0..0);
                    AttentionTrace {
                        layers: config.layers,
                        heads: config.heads,
                        system_tokens: span.len(),
                        ..Default::default()
                    }
                });
                let mut answer = Answer {
                    ticket: id,
                    index: i,
                    sampler: Sampler::new(&seeded, i as u64),
                    opts: opts.clone(),
                    seq: bases[r].clone(),
                    tokens: Vec::new(),
                    finish: None,
                    text: String::new(),
                    hook: hooks[r].clone(),
                    cache_key: cache_key.clone(),
                    trace,
                    activations: intervention
                        .activations
                        .as_ref()
                        .map(|a| ActivationSums::new(a, config.hidden)),
                    guide: guide_branch.map(|b| Guide {
                        seq: bases[b].clone(),
                        alpha: alpha.expect("guided"),
                    }),
                };
                logits.copy_from_slice(prefilled.logits(r));
                if let (Some(b), Some(guide)) = (guide_branch, &answer.guide) {
                    guide_logits(&mut logits, prefilled.logits(b), guide.alpha);
                }
                let token = answer.sampler.sample(&logits);
                if let Some(trace) = answer.trace.as_mut() {
                    trace.context.push(request.prompt.len());
                    trace
                        .pi
                        .extend_from_slice(&prefilled.pi[r * size..(r + 1) * size]);
                    if let Some(full) = &prefilled.full[r] {
                        trace.full.push(full.clone());
                    }
                }
                let fed = answer.seq.len();
                answer.accept(token, self, context, fed);
                state.active.push(answer);
            }
        }
        self.retire_finished(state);
        Ok(ids)
    }

    /// The answers of a submitted prompt, decoding every unfinished answer (of any ticket)
    /// until this ticket's are done. Ctrl-C cancels all unfinished answers.
    ///
    /// The lock is let go between decoding steps, so other threads (`--jobs` workers, each
    /// running its own episode) can submit meanwhile: their answers join the batch at the
    /// next step instead of waiting for this call to end. Rows are independent, so this
    /// changes no answer, only how many decode together.
    pub fn wait(&self, ticket: u64) -> Result<Vec<Generation>> {
        let mut guard = self.state.lock().unwrap();
        if !guard.tickets.contains_key(&ticket) {
            return Err(ModelError::InvalidOption(format!(
                "no pending request {ticket} (already collected?)"
            )));
        }
        if let Some(t) = guard.tickets.get_mut(&ticket) {
            t.awaited = true;
        }
        loop {
            let state = &mut *guard;
            if !state.tickets.contains_key(&ticket) {
                // Another thread's wait was interrupted and cancelled everything in flight.
                return Err(ModelError::Interrupted);
            }
            let done = state.tickets[&ticket].slots.iter().all(Option::is_some);
            if done {
                let finished = state.tickets.remove(&ticket).expect("checked above");
                let answers: Vec<Generation> = finished
                    .slots
                    .into_iter()
                    .map(|g| g.expect("all done"))
                    .collect();
                if trace_enabled() {
                    let generated: usize = answers.iter().map(|a| a.tokens.len()).sum();
                    let decode_ms = answers.iter().map(|a| a.decode_ms).fold(0.0, f64::max);
                    let d = self.draft_stats();
                    crate::progress::eprintln(format_args!(
                        "[engine] prompt {} tokens ({} cached) in {:.0} ms; {} answer(s), {generated} tokens in {decode_ms:.0} ms; since loading: {} decoding steps, {} of {} drafted tokens kept",
                        finished.prompt_tokens,
                        finished.cached_prompt_tokens,
                        finished.prompt_ms,
                        answers.len(),
                        d.steps,
                        d.kept,
                        d.drafted,
                    ));
                }
                return Ok(answers);
            }
            if crate::interrupt::requested() {
                // Nobody will collect what was in flight: drop it.
                let cancelled: std::collections::HashSet<u64> =
                    state.active.drain(..).map(|a| a.ticket).collect();
                state.tickets.retain(|id, _| !cancelled.contains(id));
                return Err(ModelError::Interrupted);
            }
            crate::interrupt::crash_point(crate::interrupt::Phase::Decode);
            self.decode_step(state);
            drop(guard);
            std::thread::yield_now();
            guard = self.state.lock().unwrap();
        }
    }

    /// One decoding step for every unfinished answer (and the unconditional branch of each
    /// guided one).
    fn decode_step(&self, state: &mut EngineState) {
        let context = self.transformer.config.context_length;
        let ctx = self.context();
        // Each answer feeds its last token, plus the tokens drafted after it (answers with an
        // attention read-out or intervention, a last-position edit or guidance draft nothing:
        // they work on one row per pass; see `SequenceHook::allows_drafting`). All
        // answers' fed tokens share one buffer; `spans[a]` is answer `a`'s part.
        //
        // Only answers someone waits for draft. A drafted row saves a step only if it is kept,
        // and steps matter only to answers being waited for: answers submitted in the
        // background (the paper's probes) ride along with steps that happen anyway, where a
        // drafted row costs its arithmetic (at long context, mostly attention) and a third of
        // them are thrown away. Once waited for, they draft like any other.
        let mut fed_tokens: Vec<u32> = Vec::with_capacity(2 * state.active.len());
        let mut spans = Vec::with_capacity(state.active.len());
        for answer in &state.active {
            let awaited = state.tickets.get(&answer.ticket).is_some_and(|t| t.awaited);
            let may_draft = awaited
                && answer.hook.as_ref().is_none_or(|h| h.allows_drafting())
                && answer.guide.is_none()
                && answer.trace.is_none();
            // A drafted row is only worth computing if the token sampled before it cannot end
            // the answer by the token or context limit.
            let room = (answer
                .opts
                .max_tokens
                .saturating_sub(answer.tokens.len() + 1))
            .min(context.saturating_sub(answer.seq.len() + 2));
            let limit = if may_draft {
                self.draft_tokens.min(room)
            } else {
                0
            };
            let last = *answer
                .tokens
                .last()
                .expect("an unfinished answer has a token");
            let start = fed_tokens.len();
            fed_tokens.push(last);
            fed_tokens.extend_from_slice(prompt_lookup_draft(&answer.seq.tokens, last, limit));
            spans.push(start..fed_tokens.len());
        }
        let mut items: Vec<BatchItem<'_>> = Vec::with_capacity(state.active.len());
        // Per answer: its item, its first logits row, and its guidance item's logits row.
        let mut rows = Vec::with_capacity(state.active.len());
        let mut logit_rows = 0;
        for (answer, span) in state.active.iter_mut().zip(&spans) {
            let Answer {
                seq, hook, guide, ..
            } = answer;
            let fed = &fed_tokens[span.clone()];
            let main = items.len();
            let first_logits = logit_rows;
            items.push(BatchItem {
                tokens: fed,
                seq,
                logits: LogitRows::All,
                hook: hook.as_deref(),
            });
            logit_rows += fed.len();
            let guide_row = guide.as_mut().map(|g| {
                items.push(BatchItem {
                    tokens: &fed[..1],
                    seq: &mut g.seq,
                    logits: LogitRows::Last,
                    hook: None,
                });
                logit_rows += 1;
                logit_rows - 1
            });
            rows.push((main, first_logits, guide_row));
        }
        self.transformer
            .forward(&ctx, &mut items, &mut state.scratch);
        drop(items);
        let mut clock = super::profile::start();
        let scratch = &state.scratch;
        // Answers sample independently (each its own sampler, rows and draft), so the pool
        // takes them in parallel: on the engine thread alone, a step's sampling left the
        // other thread idle.
        let bases: Vec<usize> = state
            .active
            .iter()
            .zip(&spans)
            .map(|(answer, span)| answer.seq.len() - span.len())
            .collect();
        let answers = super::pool::TaskShared::new(state.active.as_mut_ptr());
        self.pool.run(state.active.len(), &|a| {
            // SAFETY: each task takes a different answer, and `state.active` is not touched
            // until the region ends.
            let answer = unsafe { &mut *answers.get().add(a) };
            let fed = &fed_tokens[spans[a].clone()];
            self.sample_fed_rows(answer, fed, bases[a], rows[a], scratch, context);
        });
        let drafted: u64 = spans.iter().map(|span| span.len() as u64 - 1).sum();
        // Each answer's sequence now holds the rows whose logits it sampled.
        let kept: u64 = state
            .active
            .iter()
            .zip(&bases)
            .map(|(answer, &base)| (answer.seq.len() - base) as u64 - 1)
            .sum();
        use std::sync::atomic::Ordering::Relaxed;
        self.drafting.steps.fetch_add(1, Relaxed);
        self.drafting.drafted.fetch_add(drafted, Relaxed);
        self.drafting.kept.fetch_add(kept, Relaxed);
        super::profile::lap(super::profile::Phase::Sampling, &mut clock);
        self.retire_finished(state);
    }

    /// Samples `answer`'s next token from the logits of its first fed row (`rows`: its item,
    /// first logits row and guidance row), then, while the sampled token is the drafted one
    /// that follows, from the next row's; the sequence keeps only the rows sampled from.
    /// `base` is how many tokens the sequence held before this step's `fed` tokens.
    fn sample_fed_rows(
        &self,
        answer: &mut Answer,
        fed: &[u32],
        base: usize,
        (main, first_logits, guide_row): (usize, usize, Option<usize>),
        scratch: &Scratch,
        context: usize,
    ) {
        let config = &self.transformer.config;
        let (vocab, size) = (config.vocab, config.layers * config.heads);
        let row_logits = |row: usize| &scratch.logits[row * vocab..(row + 1) * vocab];
        let mut guided = Vec::new();
        let mut used = 0;
        for i in 0..fed.len() {
            let logits = match (guide_row, &answer.guide) {
                (Some(g), Some(guide)) => {
                    guided.clear();
                    guided.extend_from_slice(row_logits(first_logits));
                    guide_logits(&mut guided, row_logits(g), guide.alpha);
                    &guided[..]
                }
                _ => row_logits(first_logits + i),
            };
            let token = answer.sampler.sample(logits);
            used = i + 1;
            if let Some(sums) = answer.activations.as_mut() {
                // Row i is the row of fed[i]: the token sampled last (i = 0), or a drafted one
                // that was kept (the loop goes on only then). Either way one of the answer's.
                let width = sums.width();
                let at = scratch.hidden_offsets[main] + i * width;
                sums.add(&scratch.hidden[at..at + width]);
            }
            if let Some(trace) = answer.trace.as_mut() {
                trace.context.push(base + used);
                trace
                    .pi
                    .extend_from_slice(&scratch.pi[main * size..(main + 1) * size]);
                if answer
                    .hook
                    .as_ref()
                    .is_some_and(|h| h.readout == Readout::Full)
                {
                    let at = scratch.full_offsets[main];
                    trace
                        .full
                        .push(scratch.full[at..at + size * (base + used)].to_vec());
                }
            }
            answer.accept(token, self, context, base + used);
            // A drafted token is kept only if it is what was sampled: then the next row's
            // logits are those plain decoding would compute next.
            if answer.finish.is_some() || fed.get(i + 1) != Some(&token) {
                break;
            }
        }
        // Plain decoding would have fed exactly the rows whose logits were sampled.
        answer.seq.truncate(base + used);
    }

    /// Moves finished answers to their tickets and their sequences into the prefix cache.
    fn retire_finished(&self, state: &mut EngineState) {
        let mut i = 0;
        while i < state.active.len() {
            if state.active[i].finish.is_none() {
                i += 1;
                continue;
            }
            let mut answer = state.active.swap_remove(i);
            state
                .cache_for(answer.cache_key.as_ref())
                .insert(&answer.seq);
            if let Some(guide) = &answer.guide {
                state.cache.insert(&guide.seq);
            }
            self.usage.record_generated(answer.tokens.len());
            if let Some(trace) = answer.trace.as_mut() {
                // The end-of-turn token that ended an answer is not part of it.
                trace.context.truncate(answer.tokens.len());
                trace
                    .pi
                    .truncate(answer.tokens.len() * trace.layers * trace.heads);
                trace.full.truncate(answer.tokens.len());
            }
            if let Some(ticket) = state.tickets.get_mut(&answer.ticket) {
                ticket.slots[answer.index] = Some(Generation {
                    text: answer.text,
                    completion_tokens: answer.tokens.len(),
                    served_model: None,
                    tokens: answer.tokens,
                    finish_reason: answer.finish.unwrap_or(FinishReason::Length),
                    prompt_tokens: ticket.prompt_tokens,
                    cached_prompt_tokens: ticket.cached_prompt_tokens,
                    prompt_ms: ticket.prompt_ms,
                    decode_ms: ticket.submitted.elapsed().as_secs_f64() * 1e3,
                    attention: answer.trace,
                    activations: answer.activations.map(ActivationSums::finish),
                });
            }
        }
        // Keep the batch in submission order: rows are independent, but a stable order makes
        // traces and profiles easier to read.
        state.active.sort_by_key(|a| (a.ticket, a.index));
    }

    /// Computes the uncached part of several prompts, packing up to `PROMPT_CHUNK` rows from
    /// any of them into each forward pass; returns what the last token of each prompt gave.
    fn prefill_many(
        &self,
        seqs: &mut [SeqKv],
        prompts: &[&[u32]],
        hooks: &[Option<&SequenceHook>],
        scratch: &mut Scratch,
    ) -> Result<Prefilled> {
        let config = &self.transformer.config;
        let (vocab, size) = (config.vocab, config.layers * config.heads);
        let ctx = self.context();
        let mut out = Prefilled {
            vocab,
            logits: vec![0f32; prompts.len() * vocab],
            pi: vec![0f32; prompts.len() * size],
            full: vec![None; prompts.len()],
        };
        loop {
            if crate::interrupt::requested() {
                return Err(ModelError::Interrupted);
            }
            crate::interrupt::crash_point(crate::interrupt::Phase::Prompt);
            let mut budget = PROMPT_CHUNK;
            let mut finishing = Vec::new();
            let mut items = Vec::new();
            for (i, (seq, prompt)) in seqs.iter_mut().zip(prompts).enumerate() {
                let start = seq.len();
                if start >= prompt.len() || budget == 0 {
                    continue;
                }
                let end = prompt.len().min(start + budget);
                budget -= end - start;
                let last = end == prompt.len();
                if last {
                    finishing.push((i, items.len()));
                }
                items.push(BatchItem {
                    seq,
                    tokens: &prompt[start..end],
                    logits: if last {
                        LogitRows::Last
                    } else {
                        LogitRows::None
                    },
                    hook: hooks[i],
                });
            }
            if items.is_empty() {
                return Ok(out);
            }
            self.transformer.forward(&ctx, &mut items, scratch);
            for (row, &(i, item)) in finishing.iter().enumerate() {
                out.logits[i * vocab..(i + 1) * vocab]
                    .copy_from_slice(&scratch.logits[row * vocab..(row + 1) * vocab]);
                let Some(hook) = hooks[i] else { continue };
                if hook.readout != Readout::Off {
                    out.pi[i * size..(i + 1) * size]
                        .copy_from_slice(&scratch.pi[item * size..(item + 1) * size]);
                }
                if hook.readout == Readout::Full {
                    let at = scratch.full_offsets[item];
                    out.full[i] = Some(scratch.full[at..at + size * prompts[i].len()].to_vec());
                }
            }
        }
    }

    /// The residual stream of an existing conversation, read without generating: the whole
    /// conversation is computed once (teacher-forced, from scratch, outside the prefix cache)
    /// and each message's content tokens are averaged after each of `layers` (in f64, in
    /// order). One entry per message, `None` where the message has no content tokens; each
    /// holds one vector per layer, in the order of `layers`. `steer` edits apply as in
    /// generation, so a transcript can be read under the intervention it was made with.
    pub fn message_activations(
        &self,
        messages: &[Message],
        layers: &[usize],
        steer: &[ResidualEdit],
    ) -> Result<Vec<Option<Vec<Vec<f32>>>>> {
        let config = &self.transformer.config;
        let hidden = config.hidden;
        let check = crate::model::Intervention {
            activations: Some(crate::model::options::ActivationReadout {
                layers: layers.to_vec(),
                ..Default::default()
            }),
            steer: steer.to_vec(),
            ..Default::default()
        };
        check.validate_for(config.layers, hidden)?;
        let (prompt, spans) = self.template.tokenize_messages(&self.tokenizer, messages)?;
        self.check_prompt(&prompt.ids)?;
        let hook = SequenceHook {
            residual: steer.iter().cloned().map(PreparedEdit::new).collect(),
            hidden: Some(HiddenReadout {
                layers: layers.to_vec(),
                rows: HiddenRows::All,
            }),
            ..Default::default()
        };
        let width = layers.len() * hidden;
        let mut sums = vec![vec![0f64; width]; messages.len()];
        let mut state = self.state.lock().unwrap();
        let scratch = &mut state.scratch;
        let ctx = self.context();
        let mut seq = SeqKv::default();
        for start in (0..prompt.ids.len()).step_by(PROMPT_CHUNK) {
            if crate::interrupt::requested() {
                return Err(ModelError::Interrupted);
            }
            let end = prompt.ids.len().min(start + PROMPT_CHUNK);
            let mut items = [BatchItem {
                seq: &mut seq,
                tokens: &prompt.ids[start..end],
                logits: LogitRows::None,
                hook: Some(&hook),
            }];
            self.transformer.forward(&ctx, &mut items, scratch);
            for (k, position) in (start..end).enumerate() {
                let row = &scratch.hidden[k * width..(k + 1) * width];
                for (m, span) in spans.iter().enumerate() {
                    if span.as_ref().is_some_and(|s| s.contains(&position)) {
                        for (s, &x) in sums[m].iter_mut().zip(row) {
                            *s += f64::from(x);
                        }
                    }
                }
            }
        }
        Ok(sums
            .into_iter()
            .zip(&spans)
            .map(|(sum, span)| {
                let n = span.as_ref()?.len() as f64;
                Some(
                    sum.chunks_exact(hidden)
                        .map(|layer| layer.iter().map(|&s| (s / n) as f32).collect())
                        .collect(),
                )
            })
            .collect())
    }

    /// Renders and tokenizes a conversation with the model's chat template.
    pub fn tokenize_chat(&self, messages: &[Message]) -> Result<super::template::ChatPrompt> {
        self.template.tokenize(&self.tokenizer, messages, true)
    }
}

/// One prompt of a batch and the seed its answers are drawn with.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub prompt: &'a [u32],
    pub seed: u64,
    /// Positions of the system prompt's content (read-out and split-softmax measure it).
    pub system_span: Option<std::ops::Range<usize>>,
    /// The prompt without the system message: the unconditional branch of guidance.
    pub unconditional: Option<&'a [u32]>,
}

/// What the last token of each prefilled prompt gave.
struct Prefilled {
    vocab: usize,
    logits: Vec<f32>,
    /// `layers × heads` per prompt (zero without a read-out).
    pi: Vec<f32>,
    full: Vec<Option<Vec<f32>>>,
}

impl Prefilled {
    fn logits(&self, prompt: usize) -> &[f32] {
        &self.logits[prompt * self.vocab..(prompt + 1) * self.vocab]
    }
}

/// The unconditional branch of a guided answer: the same tokens after a prompt without the
/// system message.
struct Guide {
    seq: SeqKv,
    alpha: f32,
}

/// One answer being drawn.
struct Answer {
    /// The submitted request it answers, and which of its answers it is.
    ticket: u64,
    index: usize,
    sampler: Sampler,
    opts: Arc<SamplingOptions>,
    seq: SeqKv,
    /// Tokens of the answer; the last one is not yet in `seq`.
    tokens: Vec<u32>,
    finish: Option<FinishReason>,
    text: String,
    hook: Option<Arc<SequenceHook>>,
    /// Which prefix cache the sequence belongs to.
    cache_key: Option<CacheKey>,
    trace: Option<AttentionTrace>,
    /// The residual-stream read-out so far.
    activations: Option<ActivationSums>,
    guide: Option<Guide>,
}

impl Answer {
    /// Takes a sampled token: ends the answer at an end-of-turn token, a stop string, the token
    /// limit or the context limit. `fed` is how many tokens the sequence holds as of this
    /// token's logits (drafted rows past it do not count).
    fn accept(&mut self, token: u32, model: &LocalModel, context: usize, fed: usize) {
        let opts = &*self.opts;
        if model.end_of_turn.contains(&token) && !opts.ignore_eos {
            self.finish = Some(FinishReason::Stop);
            self.text = model.tokenizer.decode(&self.tokens);
            return;
        }
        self.tokens.push(token);
        // The text is needed only at the end, unless stop strings must be looked for in it
        // (decoding the whole answer at every step was most of the sampling phase).
        if !opts.stop.is_empty() {
            let text = model.tokenizer.decode(&self.tokens);
            if let Some(cut) = opts.stop.iter().filter_map(|s| text.find(s.as_str())).min() {
                self.text = text[..cut].to_string();
                self.finish = Some(FinishReason::Stop);
                return;
            }
        }
        if self.tokens.len() >= opts.max_tokens || fed + 1 >= context {
            self.finish = Some(FinishReason::Length);
            self.text = model.tokenizer.decode(&self.tokens);
        }
    }
}

/// `DRIFT_SCRIPT_TRACE=1` prints one line per generation call: prompt and decode timings.
fn trace_enabled() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| crate::util::env_flag("DRIFT_SCRIPT_TRACE"))
}

fn file_stem(path: &Path) -> String {
    path.file_stem().map_or_else(
        || path.display().to_string(),
        |s| s.to_string_lossy().into_owned(),
    )
}

/// A conversation rendered for the engine: its prompt, the system prompt's span, and the
/// prompt without the system message when guidance needs it.
struct PreparedChat {
    ids: Vec<u32>,
    system_span: Option<std::ops::Range<usize>>,
    unconditional: Option<Vec<u32>>,
}

impl LocalModel {
    fn prepare(&self, messages: &[Message], opts: &SamplingOptions) -> Result<PreparedChat> {
        let prompt = self.tokenize_chat(messages)?;
        let has_system = messages.iter().any(|m| m.role == "system");
        let unconditional = if opts.intervention.guidance().is_some() && has_system {
            let rest: Vec<Message> = messages
                .iter()
                .filter(|m| m.role != "system")
                .cloned()
                .collect();
            Some(self.tokenize_chat(&rest)?.ids)
        } else {
            None
        };
        Ok(PreparedChat {
            ids: prompt.ids,
            system_span: prompt.system_span,
            unconditional,
        })
    }

    fn prepare_all(
        &self,
        conversations: &[(Vec<Message>, u64)],
        opts: &SamplingOptions,
    ) -> Result<Vec<PreparedChat>> {
        conversations
            .iter()
            .map(|(messages, _)| self.prepare(messages, opts))
            .collect()
    }
}

fn requests<'a>(
    prepared: &'a [PreparedChat],
    conversations: &[(Vec<Message>, u64)],
) -> Vec<Request<'a>> {
    prepared
        .iter()
        .zip(conversations)
        .map(|(p, (_, seed))| Request {
            prompt: &p.ids,
            seed: *seed,
            system_span: p.system_span.clone(),
            unconditional: p.unconditional.as_deref(),
        })
        .collect()
}

impl ChatModel for LocalModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn message_activations(
        &self,
        messages: &[Message],
        layers: &[usize],
        steer: &[ResidualEdit],
    ) -> Result<Vec<Option<Vec<Vec<f32>>>>> {
        LocalModel::message_activations(self, messages, layers, steer)
    }

    fn chat(
        &self,
        messages: &[Message],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<Generation>> {
        let conversation = [(messages.to_vec(), opts.seed)];
        Ok(self.chat_batch(&conversation, n, opts)?.remove(0))
    }

    fn count_tokens(&self, messages: &[Message]) -> Result<usize> {
        Ok(self.tokenize_chat(messages)?.ids.len())
    }

    fn sha256(&self) -> String {
        LocalModel::sha256(self).unwrap_or_default()
    }

    fn usage(&self) -> crate::model::Usage {
        self.usage.snapshot()
    }

    fn submit(
        &self,
        conversations: &[(Vec<Message>, u64)],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<crate::model::Ticket>> {
        let prepared = self.prepare_all(conversations, opts)?;
        Ok(
            LocalModel::submit(self, &requests(&prepared, conversations), n, opts)?
                .into_iter()
                .map(crate::model::Ticket::Pending)
                .collect(),
        )
    }

    fn wait(&self, ticket: crate::model::Ticket) -> Result<Vec<Generation>> {
        match ticket {
            crate::model::Ticket::Ready(answers) => Ok(answers),
            crate::model::Ticket::Pending(id) => LocalModel::wait(self, id),
        }
    }

    fn chat_batch(
        &self,
        conversations: &[(Vec<Message>, u64)],
        n: usize,
        opts: &SamplingOptions,
    ) -> Result<Vec<Vec<Generation>>> {
        let prepared = self.prepare_all(conversations, opts)?;
        self.generate_batch(&requests(&prepared, conversations), n, opts)
    }
}

impl LocalModel {
    /// Computes `prompt` from scratch (no cache) and then `steps` greedy tokens, feeding each
    /// back one at a time without stopping at end-of-turn tokens. With a one-token prompt this
    /// is the decode half of `llama-bench` (`tg`); tests compare it with the reference model.
    pub fn greedy_tokens(&self, prompt: &[u32], steps: usize) -> Result<Vec<u32>> {
        self.check_prompt(prompt)?;
        let mut state = self.state.lock().unwrap();
        let state = &mut *state;
        let ctx = self.context();
        let mut seq = SeqKv::default();
        self.prefill(&mut seq, prompt, &mut state.scratch)?;
        let mut out = Vec::with_capacity(steps);
        while out.len() < steps {
            let token = super::sampler::argmax(&state.scratch.logits);
            out.push(token);
            if out.len() == steps || seq.len() + 1 >= self.transformer.config.context_length {
                break;
            }
            let mut items = [BatchItem {
                seq: &mut seq,
                tokens: std::slice::from_ref(&token),
                logits: LogitRows::Last,
                hook: None,
            }];
            self.transformer
                .forward(&ctx, &mut items, &mut state.scratch);
        }
        Ok(out)
    }
}
