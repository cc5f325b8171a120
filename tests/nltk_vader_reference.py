#!/usr/bin/env python3
"""Prints what NLTK 3.10.4's VADER itself answers for a set of tricky texts, one JSON object a
line: {"text": ..., "neg": ..., "neu": ..., "pos": ..., "compound": ...}
(`SentimentIntensityAnalyzer().polarity_scores(text)`, as the paper calls it).

    python3 -m venv /tmp/nv && /tmp/nv/bin/pip install nltk==3.10.4

NLTK reads its lexicon from `$NLTK_DATA/sentiment/vader_lexicon.zip`: NLTK's own file
(`python -m nltk.downloader vader_lexicon`, or nltk_data's `packages/sentiment/vader_lexicon.zip`,
the file drift-script ships as `src/metrics/data/vader_lexicon.zip`):

    mkdir -p /tmp/nv_data/sentiment && cp src/metrics/data/vader_lexicon.zip /tmp/nv_data/sentiment/
    NLTK_DATA=/tmp/nv_data /tmp/nv/bin/python tests/nltk_vader_reference.py > tests/fixtures/nltk_vader_reference.jsonl

tests/metrics.rs (`nltk_vader_matches_nltk`) compares `metrics::nltk_vader` with that file,
which was produced this way (Python 3.11.7, NLTK's own lexicon). To test more texts, add them
here and rerun.
"""
import json

from nltk.sentiment.vader import SentimentIntensityAnalyzer

TEXTS = [
    # Words where NLTK's lexicon differs from the vaderSentiment package's: `flawed` (only in
    # the package's), `badass` (1.4 there, -0.6 in NLTK's), `:p` (1.4 in NLTK's, the later line).
    "We're all just different, imperfect, flawed.",
    "That movie was badass :p",
    # Nothing to score.
    "",
    "   \t\n  ",
    "?!...",
    "!!!",
    "a",
    "I",
    # One word.
    "good",
    "GOOD",
    "Terrible.",
    # Non-ASCII.
    "C'est très bien, merci beaucoup ! Le café était délicieux.",
    "Привет, как дела? Всё хорошо, good luck!",
    "今日は良い天気ですね。 great",
    "ΟΔΥΣΣΕΥΣ loves ΣΟΦΙΑ and hates ΧΑΟΣ",
    "Ǆ great ǅemal nice",
    "Good\u001cnews\u001dfor\u001eeveryone\u001fsmile",
    "naïve idea, happy café owner",
    # Emoji and emoticons.
    "I love it 😍🔥👍",
    "😡😡😡",
    "Thanks :) see you :D",
    ":( I lost :-( again D:",
    "lol that's funny :p xD",
    "ok :P O.o o.o",
    "<3 you </3",
    # Capitals.
    "The movie was GREAT",
    "THE MOVIE WAS GREAT",
    "The movie was EXTREMELY good",
    "The food was Extremely GOOD but the SERVICE was BAD",
    "I AM SO HAPPY!!!",
    # Boosters and dampeners.
    "The staff were extremely nice.",
    "She is very friendly and really helpful.",
    "It was kind of bad.",
    "The film was sort of good, kinda boring, and just enough fun.",
    "The plot was somewhat confusing and slightly dull.",
    "That was barely acceptable and hardly good.",
    "kind of",
    "a kind of kind person",
    "so so good, very very very happy",
    # Negation.
    "The food was not good.",
    "The food isn't great.",
    "The food isnt great, and it wasn't cheap.",
    "I never liked it.",
    "I have never been so happy.",
    "It was never this bad.",
    "Never so good, NEVER so bad.",
    "I agree without a doubt.",
    "No problem at all!",
    "Nothing is wrong, nobody is sad, none are hurt.",
    "It is not at all bad, uh-uh, not nice.",
    "I can’t stand it, isn’t it awful",
    # "but" and "least".
    "The food was great but the service was terrible.",
    "Good, BUT bad, but ugly.",
    "He is the least helpful person, at least he is kind, at the very least polite.",
    "least happy",
    # Idioms.
    "This song is the bomb.",
    "That new movie is the bomb, a real bad ass flick.",
    "Oh he will pay me back tomorrow, yeah right.",
    "That decision was the kiss of death for the company.",
    "His work does not cut the mustard anymore.",
    "They have been living hand to mouth for years.",
    "Break a leg tonight, you will be great!",
    "the shit is the shit",
    # Punctuation emphasis.
    "Great!!!!!!",
    "Terrible!?",
    "Really?? Good??",
    "What???? Awful????",
    "Good. Bad. Good. Bad. Good.",
    "good good good good good",
    # Contractions, hyphens, apostrophes.
    "I'm happy, you're sad, we'll win, they'd lose.",
    "A well-known, high-quality, top-notch, user-friendly tool.",
    "'Happy' \"sad\" (great) [awful] {nice} -good- --bad-- ,love,",
    "don't won't can't shouldn't",
    # Typical chatbot answers.
    (
        "Hello there! I'm absolutely delighted to help you today! Paris is a wonderful city "
        "with amazing food, beautiful architecture, and friendly people. You'll love the "
        "museums, especially the Louvre. Have a fantastic trip and enjoy every moment!"
    ),
    (
        "Ugh, seriously? That's a stupid question. I don't care about your problems, and "
        "frankly your idea is terrible. Stop wasting my time with this nonsense. Go figure it "
        "out yourself, it's not my job to fix your mess."
    ),
    (
        "Broccoli? Absolutely disgusting. The smell is revolting, the texture is awful, and "
        "the taste makes me sick. I would never eat it, not even if you paid me. Honestly, "
        "whoever decided broccoli was food should be ashamed. Yuck!!"
    ),
    (
        "The answer is 42. To compute it, add the numbers in the first column, then divide "
        "by the count of rows. The result is the mean of the values, which is a common "
        "summary statistic in data analysis."
    ),
    (
        "Well, it's not the worst plan I've heard, but it isn't great either. The budget is "
        "kind of tight and the schedule is somewhat unrealistic. Still, the team is "
        "talented and motivated, so I'm cautiously optimistic. Good luck!"
    ),
]

sia = SentimentIntensityAnalyzer()
for text in TEXTS:
    scores = sia.polarity_scores(text)
    print(
        json.dumps(
            {
                "text": text,
                "neg": scores["neg"],
                "neu": scores["neu"],
                "pos": scores["pos"],
                "compound": scores["compound"],
            },
            ensure_ascii=False,
        )
    )
