#!/usr/bin/env python3
"""How far the stand-in tagger weights drift-script uses are from NLTK's own, measured on
sentences whose `nltk.pos_tag` output (NLTK 3.1+, the averaged perceptron) has been published.

NLTK's own weights cannot be downloaded here, so this compares with tags people printed:
give a JSON file of `[{"tokens": [...], "tags": [...]}, ...]` (NLTK's output, copied). Each token
list is tagged by NLTK's PerceptronTagger code on the stand-in weights (see
tests/nltk_pos_reference.py), and the script prints the share of equal tags and, for the two
paper helpers' shares (plural nouns over tokens; past-tense verbs over verbs, 1 without verbs),
the mean absolute difference and how many sentences differ by more than 0.05.

    /tmp/nltk/bin/python bench/tagger_standin.py PUBLISHED.json [~/.cache/drift-script/nltk]

On 89 sentences gathered from NLTK's docs and issues, tutorials and executed notebooks (not
shipped: they belong to their authors), 2026-11-29: 96.1% of 2,045 tags equal; plural-noun
share 0.003 mean difference (2 sentences over 0.05); past-tense share 0.038 (6 over 0.05).
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from nltk_pos_reference import load  # noqa: E402


def shares(tags):
    plural = sum(t in ("NNS", "NNPS") for t in tags) / len(tags) if tags else 0.0
    verbs = [t for t in tags if "VB" in t]
    past = sum(t in ("VBD", "VBN") for t in verbs) / len(verbs) if verbs else 1.0
    return plural, past


def main():
    published = json.load(open(sys.argv[1], encoding="utf-8"))
    data_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.expanduser(
        "~/.cache/drift-script/nltk")
    tagger, _punkt = load(data_dir)
    equal = total = 0
    diffs = ([], [])
    for example in published:
        ours = [t for _, t in tagger.tag(example["tokens"])]
        theirs = example["tags"]
        equal += sum(a == b for a, b in zip(ours, theirs))
        total += len(theirs)
        for k, (a, b) in enumerate(zip(shares(ours), shares(theirs))):
            diffs[k].append(abs(a - b))
    print(f"{len(published)} sentences: {equal}/{total} tags equal ({equal / total:.1%})")
    for name, d in zip(("plural-noun share", "past-tense share"), diffs):
        print(f"{name}: mean difference {sum(d) / len(d):.3f}, "
              f"{sum(x > 0.05 for x in d)} sentences over 0.05")


if __name__ == "__main__":
    main()
