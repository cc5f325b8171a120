#!/usr/bin/env python3
"""Builds lexicon.txt (shipped zipped as lexicon.zip) for src/metrics.

Inputs are Debian's `scowl` (SCOWL word lists by size) and `wordnet-base` (WordNet 3.0)
packages, unpacked without installing:

    apt-get download scowl wordnet-base
    for f in scowl_*.deb wordnet-base_*.deb; do dpkg-deb -x "$f" pkgs; done
    python3 build_lexicon.py pkgs lexicon.zip

The zip (one member, lexicon.txt, deflated, fixed timestamp) is byte-for-byte reproducible
from the same package versions; `unzip -p lexicon.zip | less` shows it.

Output: one line per word form, lowercase, sorted, `word` or `word<TAB>flags`:
  n<d>  WordNet noun lemma; d = min(9, floor(log2(1 + SemCor tag count)))
  v<d>  WordNet verb lemma; d as above
  a<d>  WordNet adjective lemma (adjectives and satellites), d as above
  P     irregular plural noun form (WordNet noun.exc)
  D     irregular past-tense or past-participle verb form (WordNet verb.exc, minus -ing,
        third-person and present forms of be/have/do)
  C     the word appears in SCOWL only capitalized (names, nationalities: "American")
"""
import collections, glob, math, os, sys, zipfile

root = sys.argv[1]
scowl = os.path.join(root, "usr/share/dict/scowl")
wn = os.path.join(root, "usr/share/wordnet")
# SCOWL size levels: 50 is a medium dictionary (Debian's wamerican); 60 adds words common in
# chatbot answers (iconic, sustainability). Abbreviation lists are left out: they hold "de",
# "et", "est", "il", which would make French look English; EXTRA adds the few that matter.
MAX_SIZE = {"words": 60, "contractions": 60, "upper": 50, "proper-names": 50}
SPELLINGS = ["english", "american", "british"]
EXTRA = """ai app apps tv ok usa uk eu nasa dna ceo faq diy vs etc e.g i.e u.s u.k a.m p.m
mr mrs ms dr st jr sr prof""".split()

words = set()
lowercase_forms = set()  # words SCOWL lists in lowercase somewhere
for path in glob.glob(os.path.join(scowl, "*")):
    name, size = os.path.basename(path).rsplit(".", 1)
    spelling, kind = name.split("-", 1)
    if spelling not in SPELLINGS or kind not in MAX_SIZE or int(size) > MAX_SIZE[kind]:
        continue
    with open(path, encoding="utf-8", errors="strict") as f:
        for line in f:
            original = line.strip()
            w = original.lower()
            if not w:
                continue
            if original == w:
                lowercase_forms.add(w.removesuffix("'s"))
            if w.endswith("'s"):
                w = w[:-2]  # possessives: the metric strips them before looking up
            if w and not w.startswith("'"):
                words.add(w)
words.update(EXTRA)
lowercase_forms.update(EXTRA)

def buckets(pos_digits):
    counts = collections.Counter()
    with open(os.path.join(wn, "cntlist.rev")) as f:
        for line in f:
            key, _sense, cnt = line.split()
            lemma, rest = key.split("%", 1)
            if rest[0] in pos_digits:
                counts[lemma] += int(cnt)
    return counts

def lemmas(index):
    out = set()
    with open(os.path.join(wn, index)) as f:
        for line in f:
            if line.startswith(" "):
                continue
            lemma = line.split(" ", 1)[0]
            if "_" not in lemma:
                out.add(lemma)
    return out

def bucket(c):
    return min(9, int(math.log2(1 + c)))

nouns, verbs, adjs = lemmas("index.noun"), lemmas("index.verb"), lemmas("index.adj")
ncount, vcount, acount = buckets("1"), buckets("2"), buckets("35")

def exc(name):
    with open(os.path.join(wn, name)) as f:
        for line in f:
            parts = line.split()
            yield parts[0], parts[1:]

irregular_plural = {form for form, bases in exc("noun.exc") if form not in bases}
SKIP_VERB_FORMS = {"am", "are", "is", "has", "does", "be"}
irregular_past = set()
for form, bases in exc("verb.exc"):
    if form in SKIP_VERB_FORMS or form.endswith("ing") or "_" in form:
        continue
    if any(form in (b + "s", b + "es") or (b.endswith("y") and form == b[:-1] + "ies") for b in bases):
        continue
    if form in bases:
        continue
    irregular_past.add(form)

lines = []
for w in sorted(words):
    flags = []
    if w in nouns:
        flags.append("n%d" % bucket(ncount[w]))
    if w in verbs:
        flags.append("v%d" % bucket(vcount[w]))
    if w in adjs:
        flags.append("a%d" % bucket(acount[w]))
    if w in irregular_plural:
        flags.append("P")
    if w in irregular_past:
        flags.append("D")
    if w not in lowercase_forms:
        flags.append("C")
    lines.append(w + ("\t" + "".join(flags) if flags else ""))

info = zipfile.ZipInfo("lexicon.txt", date_time=(1980, 1, 1, 0, 0, 0))
info.compress_type = zipfile.ZIP_DEFLATED
info.external_attr = 0o644 << 16
with zipfile.ZipFile(sys.argv[2], "w") as z:
    z.writestr(info, "\n".join(lines) + "\n", compresslevel=9)
print(f"{len(lines)} words written to {sys.argv[2]}", file=sys.stderr)
