"""Vocabulary of English news style: titles, reporting verbs, name words, quote marks, page
furniture. Everything is general; nothing is specific to one article."""

from __future__ import annotations

import re

# Internal to stance.extract: the sibling modules import these helpers by name.
__all__: list[str] = []

# A quote that merely opens a sentence needs this many words to be a statement rather than a
# phrase ("'Get-Go'"); one introduced by a colon or an attribution needs MIN_ATTRIBUTED_WORDS.
MIN_DIRECT_WORDS = 4
MIN_ATTRIBUTED_WORDS = 2
# A reported-speech sentence needs at least this many words after its reporting verb ("said
# the plan would fail"), or MIN_REPORTED_WORDS + 3 before it ("..., Dr X said.").
MIN_REPORTED_WORDS = 4
# A readers' comment shorter than this is a heading, a name or a button, not a comment.
MIN_COMMENT_WORDS = 6
# How far (characters) to look before a reporting verb for its subject, and after a closing
# quote mark for its attribution. Bounding these keeps the whole pass linear.
_SUBJECT_WINDOW = 300
_ATTRIBUTION_WINDOW = 160

_TITLES = (
    "Dr", "Mr", "Mrs", "Ms", "Miss", "Mx", "Prof", "Professor", "Sir", "Dame", "Lord", "Lady",
    "Baroness", "Baron", "Cllr", "Councillor", "Rev", "Revd", "Canon", "Dean",
)  # fmt: skip
_TITLE_SET = frozenset(t.lower() for t in _TITLES)

# Reporting verbs. "went on to say" style phrases are matched as a whole.
_VERBS = (
    "said", "says", "added", "adds", "stated", "states", "argued", "argues", "suggested",
    "suggests", "pointed out", "points out", "claimed", "claims", "insisted", "insists",
    "warned", "warns", "explained", "explains", "told", "tells", "stressed", "stresses",
    "affirmed", "affirms", "admitted", "admits", "acknowledged", "acknowledges", "urged",
    "urges", "noted", "notes", "commented", "comments", "maintained", "maintains", "believes",
    "predicted", "predicts", "conceded", "concedes", "cautioned", "emphasised", "emphasized",
    "indicated", "revealed", "declared", "asserted", "contended", "remarked", "countered",
    "agreed", "continued", "concluded", "wrote", "writes", "found", "recommended",
    "recommends", "expressed", "questioned", "described", "called for", "calls for",
    "announced", "announces", "asked", "asks", "replied", "replies", "responded", "criticised", "criticized", "criticises", "welcomed", "welcomes", "praised", "attacked",
    "dismissed", "rejected", "condemned", "hit out", "hits out",
)  # fmt: skip
_VERB_RE = re.compile(
    r"\b(?:(?:went|go|goes|going)\s+on\s+to\s+(?:say|suggest|indicate|argue|add|claim|warn|"
    r"explain|stress|describe|express)|"
    + "|".join(sorted((re.escape(v).replace(r"\ ", r"\s+") for v in _VERBS), key=len, reverse=True))
    + r")\b"
)
# Verbs that only report speech when followed by "that" (otherwise "found 40 practices").
_THAT_ONLY = frozenset(
    {
        "found",
        "described",
        "continued",
        "agreed",
        "questioned",
        "wrote",
        "writes",
        "announced",
        "announces",
    }
)

_PRONOUNS = {"he": "person", "she": "person", "it": "org", "they": "any", "we": "any"}
# Nouns that, after "the"/"this", refer back to an organisation rather than a person.
_ORG_NOUNS = frozenset(
    "report review study paper analysis document survey organisation organization body college "
    "union association confederation federation department government committee council "
    "trust board fund foundation institute think-tank tank group charity network agency "
    "regulator watchdog service commission centre center partnership alliance".split()
)
# Words that mark a name as an organisation (for "it" and "the report").
_ORG_WORDS = _ORG_NOUNS | frozenset(
    "nhs england confed society league forum programme ltd plc inc university school "
    "hospital practice ccg ics lmc lmcs".split()
)
# Capitalised words that begin sentences or clauses but are never part of a speaker's name.
_NOT_NAME = frozenset(
    "a an and as at but by during following for from he her his however i if in it its "
    "last later meanwhile now on once she so some speaking speaking, that the their then "
    "there these they this those though to today under when where whereas while with writing "
    "yesterday yet also although after before earlier one our we you".split()
)
# Lower-case words allowed between capitalised words of one name (Royal College of GPs).
_NAME_LINKS = frozenset(
    {"of", "for", "and", "the", "de", "van", "von", "du", "la", "le", "on", "in"}
)
# Lower-case words that may sit between a subject and its verb ("Dr X has also said").
_AUX = frozenset(
    "also has have had is was were will would may might could should then later further "
    "previously recently today yesterday once again too now already always himself herself "
    "itself themselves repeatedly long strongly publicly privately separately".split()
)
_ABBREVIATIONS = frozenset(
    "dr mr mrs ms prof st no vs etc e.g i.e jr sr co ltd inc rev cllr gen col capt sgt fig "
    "approx dept est govt mt ft".split()
)

_OPEN, _CLOSE, _AMBIG, _APOS = 1, 2, 3, 0
_DOUBLE_MARKS = '"“”„«»‟'
_SINGLE_MARKS = "'‘’‚‹›‛"
_QUOTE_CHARS = _DOUBLE_MARKS + _SINGLE_MARKS
_MARK_RE = re.compile("[" + re.escape(_QUOTE_CHARS) + "]")
_SENT_END = ".!?…"
# Characters that may stand between a word and a quote mark without making it an apostrophe.
_OPEN_BEFORE = "([{—–-/:"
_CLOSE_AFTER = ".,;:!?)]}—–-…/"

# Readers' comments section markers (a short line). Phrases only a comment section uses may
# start the line ("have your say 2 Leave a comment on our forum"); words a news sentence also
# starts with ("Discussion of the plan will continue...", "What do you think of it, Dr Lee?")
# count only as the whole line.
_COMMENT_MARKER_RE = re.compile(
    r"^\W*(?:(?:readers[’']?\s+comments?|reader\s+comments?|comments?\s*\(\d+\)"
    r"|post\s+a\s+comment|have\s+your\s+say|leave\s+a\s+(?:comment|reply)"
    r"|add\s+(?:a|your)\s+comment|join\s+the\s+(?:discussion|conversation)"
    r"|show\s+comments|view\s+comments)(?!\w)"
    r"|(?:\d+\s+comments?|what\s+do\s+you\s+think|your\s+comments?|comments?|discussion)\W*$)",
    re.IGNORECASE,
)
# A heading that starts page furniture after the article (the tail of a page).
_TAIL_HEADING_RE = re.compile(
    r"^\W*(?:gossip|latest(?:\s+new)?\s+jobs|jobs|related\s+(?:articles|stories|content|news)"
    r"|most\s+(?:read|popular|commented|viewed)|more\s+from|you\s+may\s+also\s+like|recommended"
    r"|trending|advertisement|sponsored(?:\s+content)?|share\s+this(?:\s+article)?|tags?:|topics?:)\W*$",
    re.IGNORECASE,
)
# Lines that are page furniture whatever their length: phrases no news paragraph uses.
_FURNITURE_RE = re.compile(
    r"\bhave\s+you\s+registered\b|\bregister\s+(?:now|free|for\s+free)\b"
    r"|^\W*(?:photo|image|picture|pic|credit|illustration)s?\s*:|^\W*follow\s+us\b"
    r"|\be-?mail\s+(?:bulletins?|alerts?|address(?:es)?)\b|\S@\S+\.[a-z]|\bcookies?\b(?!-)"
    r"|\breport\s+this\s+comment\b|\bunsuitable\s+or\s+offensive\b"
    r"|\bintended\s+for\s+health(?:care)?\s+professionals\b|\bjobs?\s+(?:pages?|board)\b"
    r"|\bfind\s+the\s+job\b|\bprivacy\s+policy\b|\bskip\s+to\s+(?:main\s+)?content\b"
    r"|\bclick\s+here\b|^\W*(?:tweet|print|email|share)\W*$"
    r"|^\W*(?:book|click|register|subscribe|sign\s+up|find\s+out\s+more|details)\b.*\bhere\b",
    re.IGNORECASE,
)
# Words that mark furniture only on a short line ("Sign in", "Subscribe to our newsletter"):
# news paragraphs use them too ("practices must sign up to the network contract", "told Pulse
# in confidence", "the terms and conditions of the contract", "registered patients"). Cookie
# notices and e-mail address requests run long, so those stay in the pattern above (all but
# "a cookie-cutter model").
_SHORT_FURNITURE_RE = re.compile(
    r"\b(?:sign|log)\s?(?:in|up|out)\b|^\W*(?:already\s+)?register(?:ed)?\b"
    r"|\bsubscribe\b|\bnewsletters?\b|\be-?mail\s+(?:me|us|this)\b"
    r"|\badvertis(?:e|ing|ement)\b|https?://|www\.|\bin\s+confidence\b"
    r"|\bterms\s+(?:and|&)\s+conditions\b|\bread\s+more\b|\bshare\s+(?:on|via)\b",
    re.IGNORECASE,
)
_SEPARATOR_RE = re.compile(r"^\W*[-_=*~#]{4,}\W*$")
_BULLET_RE = re.compile(r"^[\s•·*\-–—▪◦>]+")
_WORD_RE = re.compile(r"[^\W_](?:[\w’'\-]*\w)?")

# "a spokesperson for NHS England" -> NHS England
_SPOKES_RE = re.compile(
    r"^(?:a|an|the)?\s*(?:\w+\s+)?(?:spokes(?:person|man|woman)|representative|source)\s+(?:for|from|at|of|close\s+to)\s+(.+)$",
    re.IGNORECASE,
)
# "the Fuller report", "the Darzi review": a named document
_NAMED_DOC_RE = re.compile(
    r"^(?:[Tt]he\s+)?((?!The\b)(?:[A-Z][\w\-’']*\s+){1,4}"
    r"(?i:report|review|stocktake|study|paper|plan|survey|inquiry|audit|analysis))$"
)
# Subjects that introduce an unnamed speaker ("One of the top officials", "a senior GP", "new research").
_INDEFINITE = frozenset(
    "a an one some several many another new two three four senior leading experts research "
    "researchers sources officials critics campaigners analysts insiders".split()
)
_CONJUNCTIONS = frozenset("and but yet so also while however meanwhile".split())
_SUBORDINATORS = frozenset(
    "while whilst although though as when if because since after before unless whereas despite "
    "once until following".split()
)


_PERSON_NOUNS = (
    "GPs?|doctors?|nurses?|consultants?|managers?|officials?|sources?|insiders?|spokes(?:person|man|woman)"
    "|partners?|chiefs?|executives?|leaders?|directors?|ministers?|practitioners?|pharmacists?"
    "|patients?|commissioners?|surgeons?|physicians?|clinicians?|chair(?:man|woman)?|experts?"
    "|academics?|campaigners?|colleagues?|man|woman"
)
_PERSON_NOUN_RE = re.compile(_PERSON_NOUNS, re.IGNORECASE)
# Letters of a name after its capital, combining accents included: a decomposed "Zoë" (e and
# U+0308) is one name, as the precomposed one is.
_NAME_CHARS = r"[\w\u0300-\u036f’'\-]"
# A titled name ("Dr Nikki Kanani", "Prof. Martin Marshall"): a person, whatever the sentence.
_TITLED_RE = re.compile(
    r"\b(?:"
    + "|".join(_TITLES)
    + r")\.?\s+[A-Z]"
    + _NAME_CHARS
    + r"*(?:\s+[A-Z]"
    + _NAME_CHARS
    + r"*){0,3}"
)
_ANON_RE = re.compile(
    r"\b(?:a|an)\s+(?:[\w\-]+\s+){0,3}?(?:" + _PERSON_NOUNS + r")\b", re.IGNORECASE
)


_MENTION_RE = re.compile(
    r"(?:\b(?:"
    + "|".join(_TITLES)
    + r")\.?\s+)?[A-Z]"
    + _NAME_CHARS
    + r"*(?:\s+(?:(?:of|for|and|the|de|van|von)\s+)?[A-Z]"
    + _NAME_CHARS
    + r"*)*"
)
