#!/usr/bin/env python3
"""Prints what langdetect 1.0.9 itself answers for a set of tricky texts, with DetectorFactory.seed = 0 (the seed drift-script always uses), one JSON object a line:
{"text": ..., "langs": [[lang, prob], ...]} or {"text": ..., "error": "no features"}.

    python3 -m venv /tmp/ld && /tmp/ld/bin/pip install langdetect==1.0.9
    /tmp/ld/bin/python tests/langdetect_reference.py > tests/fixtures/langdetect_reference.jsonl

tests/metrics.rs (`langdetect_matches_the_python_package`) compares our detector with that file,
which was produced this way (Python 3.11.7). To test more texts, add them here and rerun.
"""
import json

from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException

DetectorFactory.seed = 0

TEXTS = [
    "",
    "?!... --- ;;",
    "12345 67.8",
    "Bonjour",
    "The weather is lovely today.",
    "Je voudrais visiter le musée demain matin.",
    "Je suis très content (I am very happy) aujourd'hui.",
    "El perro come la comida en la cocina.",
    "Der Hund frisst das Futter in der Küche.",
    "NASA AND THE ESA LAUNCH ROCKETS",
    "Привет, как дела? Это hello world.",
    "今日は良い天気ですね。",
    "我们今天去公园散步。",
    "Tôi yêu tiếng Việt",
    "Ti\u1ebfng Vie\u0302\u0323t th\u1eadt \u0111e\u0323p",
    "Aceasta este o țară frumoasă și mare",
    "Visit https://example.com/page?x=1 or mail me@example.org for the French menu: pain, fromage, vin.",
    "ciao",
    "This is English. Ceci est une phrase en français. Das ist Deutsch.",
    "Le chat (the cat) dort sur le canapé (sleeps on the sofa).",
    "یک کتاب خوب",
    "안녕하세요 반갑습니다",
    "The quick brown fox jumps over the lazy dog. " * 300,
]

for text in TEXTS:
    try:
        langs = [[l.lang, l.prob] for l in detect_langs(text)]
        print(json.dumps({"text": text, "langs": langs}, ensure_ascii=False))
    except LangDetectException:
        print(json.dumps({"text": text, "error": "no features"}, ensure_ascii=False))
