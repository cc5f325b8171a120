#!/usr/bin/env python3
"""Prompt processing speed of Hugging Face transformers on CPU in fp32 (the seed's approach), on
the same GGUF file our engine uses (transformers dequantizes it): one forward pass over a prompt
of pseudo-random token ids, as llama-bench's `pp` test does.

    PYTHON bench/transformers_prompt.py --gguf FILE --threads 2 --tokens 512 --repetitions 3

PYTHON is the interpreter printed by bench/setup_transformers_venv.sh. Prints one JSON object:
{"prompt_tokens": N, "best_s": seconds, "tokens_per_s": N / best_s}.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--gguf", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=512)
    parser.add_argument("--repetitions", type=int, default=3)
    args = parser.parse_args()

    import torch
    from transformers import AutoModelForCausalLM

    torch.set_num_threads(args.threads)
    folder, name = os.path.split(os.path.abspath(args.gguf))
    model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    model.eval()
    vocab = model.config.vocab_size
    ids = torch.tensor([[((i + 1) * 2654435761) % vocab for i in range(args.tokens)]])
    best = float("inf")
    with torch.inference_mode():
        model(ids)  # warm-up
        for _ in range(args.repetitions):
            started = time.perf_counter()
            model(ids)
            best = min(best, time.perf_counter() - started)
    print(json.dumps({"prompt_tokens": args.tokens, "best_s": best,
                      "tokens_per_s": args.tokens / best}))


if __name__ == "__main__":
    sys.exit(main())
