#!/usr/bin/env python3
"""Does a paper-mode run give the paper notebook's numbers? (Li et al. 2024, plot_convergence.ipynb)

Reads a run of `scripts/selfchat.rhai --set analysis=paper` (its records.jsonl), scores every
probe answer again as the notebook does, in Python with the paper's own code and NLTK, and
aggregates as the notebook does (pandas, seaborn); then compares with the run:

- per answer: the fluency factor (`is_fluent_english`, NLTK's Words corpus) and the score
  (`float(judge(answer)) * fluency`, the paper's lambda for the agent's persona on the answer as
  `process_answer` stores it) must be equal; an answer whose lambda (or fluency) raises must be
  the one the run recorded with `score: null`;
- per turn: the mean of the scores (`df.groupby("turns")["label"].mean()`) must equal
  drift-script's (examples/paper_analysis.rs: what the plot draws) to 1e-9;
- per turn: the band. Both sides bootstrap the mean with 1,000 resamples (seaborn's
  `EstimateAggregator("mean", ("ci", 68), n_boot=1000, seed=0)`, what `sns.lineplot(...,
  errorbar=("ci", 68))` computes; drift-script's ChaCha20 stream with seed 0), so their edges
  differ by Monte-Carlo noise, not by definition. Each side's edges are compared with a
  reference distribution of the bootstrap mean from 20,000 numpy resamples, in probability
  rather than in score units: an edge e meant as the q-quantile (q = 0.16, 0.84) is placed in
  the reference distribution (the share of resampled means below e, and at or below e), and its
  distance from q is compared with the Monte-Carlo standard error of the level a 1,000-resample
  quantile attains, sqrt(q (1 - q) / 1000) = 0.0116. In score units the error would mislead:
  with few answers of mostly 0 and 1 the resampled means sit on a lattice, and the 84th
  percentile of 1,000 of them jumps between neighbouring lattice points (0.59 or 0.68 for nine
  answers, by seed alone). A side passes when each edge is within 4 standard errors (|z| < 4);
  the z values are printed.
  Turns with one answer have no band on drift-script's side (seaborn draws none either).

    python3 -m venv /tmp/pa && /tmp/pa/bin/pip install nltk==3.8.1 langdetect==1.0.9 \\
        pandas seaborn==0.13.2
    /tmp/pa/bin/python bench/paper_analysis.py RUN_DIR hundred_system_prompts.py \\
        --personas paper-personas --nltk-own NLTK_DATA_DIR [--nltk-data ~/.cache/drift-script/nltk]

NLTK_DATA_DIR holds NLTK's own data (`corpora/words/`, `sentiment/vader_lexicon.zip`, and
`taggers/averaged_perceptron_tagger/` if the run was made with DRIFT_SCRIPT_NLTK_DATA set to
it); --personas is the imported library the run used (ids to the paper's indexes and its word
lists, which stand in for the two lists the paper downloads). Punkt's parameters come from
drift-script's cache, as in bench/paper_agreement.py.
"""
import argparse
import json
import math
import os
import subprocess
import sys
import types

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from paper_agreement import process_answer  # noqa: E402


def read_library(folder):
    """id -> index, and the two word lists, from an imported persona folder."""
    import tomllib
    index = {}
    for name in os.listdir(folder):
        if name.endswith(".toml") and name != "topics.toml":
            with open(os.path.join(folder, name), "rb") as f:
                for p in tomllib.load(f).get("persona", []):
                    index[p["id"]] = p["index"]
    lists = {}
    for key, name in [("frequent", "frequent-words"), ("one-syllable", "one-syllable-words")]:
        path = os.path.join(folder, "wordlists", f"{name}.txt")
        lists[key] = open(path, encoding="utf-8").read() if os.path.exists(path) else ""
    return index, lists


def paper_module(persona_file, lists, nltk_data, own_tagger):
    """The paper's persona file, imported with NLTK on NLTK_DATA, and its `is_fluent_english`."""
    class Response:
        def __init__(self, text):
            self.text = text

        def raise_for_status(self):
            pass

    requests = types.ModuleType("requests")
    requests.get = lambda url: Response(lists["frequent" if "10000" in url else "one-syllable"])
    sys.modules["requests"] = requests
    import nltk
    import nltk.tag
    import nltk.tokenize
    nltk.download = lambda *a, **k: None
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from nltk_pos_reference import load
    tagger, punkt = load(nltk_data)
    if own_tagger:
        tagger = nltk.tag.PerceptronTagger()
    treebank = nltk.tokenize._treebank_word_tokenizer

    def word_tokenize(text, language="english", preserve_line=False):
        return [t for s in punkt.tokenize(text) for t in treebank.tokenize(s)]

    nltk.word_tokenize = nltk.tokenize.word_tokenize = word_tokenize
    nltk.sent_tokenize = nltk.tokenize.sent_tokenize = punkt.tokenize
    nltk.pos_tag = nltk.tag.pos_tag = lambda tokens, tagset=None, lang="eng": tagger.tag(tokens)
    from langdetect import DetectorFactory
    DetectorFactory.seed = 0
    sys.path.insert(0, os.path.dirname(os.path.abspath(persona_file)))
    module = __import__(os.path.splitext(os.path.basename(persona_file))[0])
    lists_ = [module.pattern_system_prompts, module.multiple_choice_system_prompts,
              module.persona_system_prompts, module.memorization_system_prompts,
              module.language_system_prompts]
    personas = [l[0] for l in lists_] + [p for l in lists_ for p in l[1:]]

    # The paper's utils.py, as the notebook imports it.
    from nltk.corpus import words
    english_vocab = set(w.lower() for w in words.words())

    def is_fluent_english(text):
        tokens = word_tokenize(text)
        num_words = len(tokens)
        num_real_words = sum(token.lower() in english_vocab for token in tokens)
        if num_words == 0:
            return 0.
        return float(num_real_words / num_words > 0.5)

    return personas, is_fluent_english


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("persona_file")
    ap.add_argument("--personas", required=True, help="the imported persona folder the run used")
    ap.add_argument("--nltk-own", required=True, help="an nltk_data folder with NLTK's own data")
    ap.add_argument("--nltk-data", default=os.path.expanduser("~/.cache/drift-script/nltk"))
    args = ap.parse_args()
    own = os.path.abspath(args.nltk_own)
    os.environ["NLTK_DATA"] = own
    own_tagger = os.path.isdir(os.path.join(own, "taggers", "averaged_perceptron_tagger"))
    index, lists = read_library(args.personas)
    personas, is_fluent_english = paper_module(args.persona_file, lists, args.nltk_data,
                                               own_tagger)

    records_path = os.path.join(args.run_dir, "records.jsonl")
    probes = [r for r in map(json.loads, open(records_path, encoding="utf-8"))
              if r.get("kind") == "probe"]
    if not probes or any(r.get("analysis") != "paper" for r in probes):
        sys.exit(f"{records_path}: not a paper-mode run (probe records need analysis: \"paper\")")

    # The notebook's loop: score, or print and drop the answer where scoring raises.
    rows, problems = [], []
    fluency_equal = score_equal = dropped_equal = 0
    for r in probes:
        answer = process_answer(r["answer"])
        _system, _probe, judge = personas[index[r["agent"]]]
        try:
            fluency = float(is_fluent_english(answer))
            label = float(judge(answer)) * fluency
        except Exception as e:  # the notebook's bare `except:`
            if r["score"] is None:
                dropped_equal += 1
            else:
                problems.append(f"turn {r['turn']} {r['agent']}: paper raised {e!r}, "
                                f"run scored {r['score']}")
            continue
        rows.append({"turns": r["turn"], "label": label})
        fluency_equal += fluency == r["fluency"]
        if fluency != r["fluency"]:
            problems.append(f"{r['agent']}: fluency paper {fluency}, run {r['fluency']}")
        if r["score"] is not None and abs(label - r["score"]) <= 1e-12:
            score_equal += 1
        else:
            problems.append(f"turn {r['turn']} {r['agent']}: score paper {label}, run "
                            f"{r['score']} ({r.get('error')})")
    kept = len(rows)
    print(f"answers: {len(probes)}; scored by both {kept}, fluency equal on {fluency_equal}, "
          f"score equal on {score_equal}; dropped by both {dropped_equal} "
          f"(run: {sum(r['score'] is None for r in probes)} with score null)")

    df = pd.DataFrame(rows)
    theirs = df.groupby("turns")["label"].mean()
    ours = json.loads(subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--example", "paper_analysis", "--",
         records_path], check=True, stdout=subprocess.PIPE).stdout)

    from seaborn._statistics import EstimateAggregator
    aggregate = EstimateAggregator("mean", ("ci", 68), n_boot=1000, seed=0)
    ok = not problems
    print("turn   n  mean (notebook)       mean (drift-script)   |diff|    band edges: "
          "seaborn / drift-script / 20,000-resample reference (z: edge level error in MC SEs)")
    for turn, mean in theirs.items():
        o = ours[str(turn)]
        values = df[df["turns"] == turn]["label"].to_numpy(dtype=float)
        diff = abs(mean - o["mean"])
        ok &= diff <= 1e-9 and o["n"] == len(values)
        line = f"{turn:4d} {len(values):3d}  {mean:.17f}  {o['mean']:.17f}  {diff:.1e}"
        sb = aggregate(df[df["turns"] == turn], "label")
        if len(values) >= 2 and o["lo"] is not None:
            rng = np.random.default_rng(12345)
            boots = values[rng.integers(0, len(values), (20000, len(values)))].mean(axis=1)
            ref = np.percentile(boots, [16, 84])
            se = math.sqrt(0.16 * 0.84 / 1000)
            tol = 1e-12  # one rounding of a mean apart counts as the same lattice point

            def z_of(edge, q):
                below = np.mean(boots < edge - tol)
                at_or_below = np.mean(boots <= edge + tol)
                if below <= q <= at_or_below:
                    return 0.0
                return (below - q if below > q else at_or_below - q) / se

            zs = []
            for edges in [(sb["labelmin"], sb["labelmax"]), (o["lo"], o["hi"])]:
                z = [z_of(edges[0], 0.16), z_of(edges[1], 0.84)]
                zs.append(z)
                ok &= all(abs(v) < 4 for v in z)
            line += (f"   [{sb['labelmin']:.4f}, {sb['labelmax']:.4f}] / [{o['lo']:.4f}, "
                     f"{o['hi']:.4f}] / [{ref[0]:.4f}, {ref[1]:.4f}]  z seaborn "
                     f"{zs[0][0]:+.2f} {zs[0][1]:+.2f}, ours {zs[1][0]:+.2f} {zs[1][1]:+.2f}")
        else:
            line += "   (one answer: no band)"
        print(line)
    for p in problems[:10]:
        print("differs:", p)
    print("agreement:", "all equal (bands within bootstrap noise)" if ok else "DIFFERENCES")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
