#!/usr/bin/env python3
"""One episode of the paper's self-chat protocol (Li et al. 2024, arXiv 2402.10962) run "the
paper's way": Hugging Face transformers' text-generation pipeline on CPU in fp32, re-encoding the
whole history on every call, on the same GGUF file our engine uses (transformers dequantizes it).

    PYTHON bench/transformers_selfchat.py --spec episode.json \
        --gguf ~/.cache/drift-script/models/SmolLM2-135M-Instruct.Q4_1.gguf --threads 2 \
        [--out result.json]

PYTHON is the interpreter printed by bench/setup_transformers_venv.sh. episode.json:

    {"agent": {"system": "...", "probe": "..."}, "user": {"system": "..."}, "topic": "...",
     "turns": 8, "runs": 2, "max_tokens": 400, "temperature": 1.0, "top_p": 0.9, "seed": 1}

Optional: "top_k" (an integer, 0 turns it off). Without it transformers' own default applies
(50 for sampling), as it did for the paper's code.

Protocol (the same as scripts/selfchat.rhai): the user bot opens with the topic (turn 1); the agent
speaks on even turns, seeing [agent system] + history as user/assistant/user/…; the user bot speaks
on odd turns, seeing [user system, user: "Last round you asked me: h0 and I answered: h1"] +
history[2:] as assistant/user/…, so it always answers as the assistant of its own view. After each
agent turn t the agent's view of history[:t] plus the probe as a user message is sampled `runs`
times in one call (num_return_sequences).

Prints progress to stderr and one JSON object as the last line of stdout (also to --out):
wall_s (the protocol, model loading excluded), load_s, generated_tokens (tokens of every generated
text, re-encoded without special tokens), tokens_per_s, turns (turns[0] is the topic, turns[i] is
turn i+1), probes [{turn, answers}], versions, plus prompt_tokens, calls (per pipeline call:
kind, turn, seconds, prompt and generated tokens) and the settings used.
"""

import argparse
import contextlib
import json
import os
import platform
import sys
import time

# Everything is local: never let the hub client try the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def log(msg):
    print(f"transformers_selfchat: {msg}", file=sys.stderr, flush=True)


def fail(msg):
    log(msg)
    sys.exit(2)


def read_spec(path):
    try:
        with open(path, encoding="utf-8") as f:
            spec = json.load(f)
    except (OSError, ValueError) as e:
        fail(f"cannot read {path}: {e}")

    def need(obj, key, kind, where):
        if not isinstance(obj, dict) or key not in obj:
            fail(f"{path}: missing {where}{key}")
        value = obj[key]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool):
            fail(f"{path}: {where}{key} must be {kind.__name__}")
        return value

    out = {
        "agent_system": need(spec.get("agent"), "system", str, "agent."),
        "probe": need(spec.get("agent"), "probe", str, "agent."),
        "user_system": need(spec.get("user"), "system", str, "user."),
        "topic": need(spec, "topic", str, ""),
        "turns": need(spec, "turns", int, ""),
        "runs": need(spec, "runs", int, ""),
        "max_tokens": need(spec, "max_tokens", int, ""),
        "temperature": need(spec, "temperature", float, ""),
        "top_p": need(spec, "top_p", float, ""),
        "seed": need(spec, "seed", int, ""),
        "top_k": need(spec, "top_k", int, "") if "top_k" in spec else None,
    }
    if out["turns"] < 1 or out["runs"] < 1 or out["max_tokens"] < 1:
        fail(f"{path}: turns, runs and max_tokens must be at least 1")
    return out


def agent_view(system, history):
    """The agent's messages: its system prompt, then history as user/assistant/user/…"""
    msgs = [{"role": "system", "content": system}]
    for i, text in enumerate(history):
        msgs.append({"role": "user" if i % 2 == 0 else "assistant", "content": text})
    return msgs


def user_view(system, history):
    """The user bot's messages: roles swapped, the first exchange folded into one user message."""
    msgs = [
        {"role": "system", "content": system},
        {
            "role": "user",
            "content": f"Last round you asked me: {history[0]} and I answered: {history[1]}",
        },
    ]
    for i, text in enumerate(history[2:]):
        msgs.append({"role": "assistant" if i % 2 == 0 else "user", "content": text})
    return msgs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--spec", required=True, help="episode JSON")
    ap.add_argument("--gguf", required=True, help="GGUF model file")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", help="also write the result JSON here")
    args = ap.parse_args()
    spec = read_spec(args.spec)
    gguf_path = os.path.abspath(os.path.expanduser(args.gguf))
    if not os.path.isfile(gguf_path):
        fail(f"no such GGUF file: {gguf_path}")

    # Libraries sometimes print to stdout; keep it for the result line alone.
    real_stdout = sys.stdout
    with contextlib.redirect_stdout(sys.stderr):
        result = run(spec, gguf_path, args.threads)

    line = json.dumps(result, ensure_ascii=False)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(line + "\n")
    real_stdout.write(line + "\n")
    real_stdout.flush()


def run(spec, gguf_path, threads):
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    torch.set_num_threads(threads)
    log(f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{torch.get_num_threads()} threads")

    t0 = time.perf_counter()
    folder, name = os.path.split(gguf_path)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    generator = pipeline("text-generation", model=model, tokenizer=tokenizer)
    load_s = time.perf_counter() - t0
    if not tokenizer.chat_template:
        fail(f"{gguf_path} carries no chat template (tokenizer.chat_template)")
    log(f"loaded {name} in {load_s:.1f} s ({sum(p.numel() for p in model.parameters())} "
        f"parameters, {model.dtype})")

    sampling = {"max_new_tokens": spec["max_tokens"], "return_full_text": False}
    if spec["temperature"] > 0:
        sampling.update(do_sample=True, temperature=spec["temperature"], top_p=spec["top_p"])
        if spec["top_k"] is not None:
            sampling["top_k"] = spec["top_k"]
    else:
        sampling["do_sample"] = False

    torch.manual_seed(spec["seed"])
    calls = []  # (kind, turn, messages, texts, seconds)

    def generate(kind, turn, messages, n):
        start = time.perf_counter()
        with torch.inference_mode():
            out = generator(messages, num_return_sequences=n, **sampling)
        seconds = time.perf_counter() - start
        texts = []
        for item in out:
            text = item["generated_text"]
            if isinstance(text, list):  # a chat list, should return_full_text be ignored
                text = text[-1]["content"]
            texts.append(text)
        calls.append((kind, turn, messages, texts, seconds))
        log(f"turn {turn}/{spec['turns']} {kind}: {n} × {len(texts[0])} chars in {seconds:.1f} s")
        return texts

    history = [spec["topic"]]
    wall_start = time.perf_counter()
    for t in range(2, spec["turns"] + 1):
        if t % 2 == 0:
            reply = generate("agent", t, agent_view(spec["agent_system"], history), 1)[0]
            history.append(reply)
            probe = agent_view(spec["agent_system"], history[:t])
            probe.append({"role": "user", "content": spec["probe"]})
            generate("probe", t, probe, spec["runs"])
        else:
            reply = generate("user", t, user_view(spec["user_system"], history), 1)[0]
            history.append(reply)
    wall_s = time.perf_counter() - wall_start

    # Counted after the clock stops, so counting costs nothing in wall_s.
    def count(text):
        return len(tokenizer.encode(text, add_special_tokens=False))

    call_rows = []
    generated = prompt_total = 0
    for kind, turn, messages, texts, seconds in calls:
        prompt = tokenizer.apply_chat_template(messages, tokenize=False,
                                               add_generation_prompt=True)
        prompt_tokens = count(prompt)
        new_tokens = [count(x) for x in texts]
        generated += sum(new_tokens)
        prompt_total += prompt_tokens
        call_rows.append({"kind": kind, "turn": turn, "s": round(seconds, 3),
                          "prompt_tokens": prompt_tokens, "generated_tokens": new_tokens})

    import gguf
    import accelerate
    log(f"episode: {wall_s:.1f} s, {generated} generated tokens, "
        f"{generated / max(wall_s, 1e-9):.2f} tokens/s")
    return {
        "wall_s": round(wall_s, 3),
        "load_s": round(load_s, 3),
        "generated_tokens": generated,
        "tokens_per_s": round(generated / wall_s, 3) if wall_s > 0 else None,
        "turns": history,
        "probes": [{"turn": turn, "answers": texts}
                   for kind, turn, _, texts, _ in calls if kind == "probe"],
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "gguf": getattr(gguf, "__version__", None) or _dist_version("gguf"),
            "accelerate": accelerate.__version__,
            "python": platform.python_version(),
        },
        "prompt_tokens": prompt_total,
        "calls": call_rows,
        "settings": {"threads": torch.get_num_threads(), "dtype": "float32",
                     "model": os.path.basename(gguf_path),
                     **{k: v for k, v in sampling.items() if k != "return_full_text"}},
    }


def _dist_version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # noqa: BLE001 - a version is informative only
        return None


if __name__ == "__main__":
    main()
