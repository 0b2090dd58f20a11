"""Spans a translation must keep verbatim - placeholders, markup, entities, URLs, numbers and
access keys - taken out of a sentence before it is translated and put back after.

The model never sees a protected span: it translates the words around them, so it cannot
break a ``%s`` or a tag.  Each span is anchored to a source word - an opening tag to the
word after it, anything else to the word it is glued to, else the word before it - and
goes back next to the target words the attention alignment links to that source word
(``nmt.alignment``).  An element's tags enclose the target words of the source words they
enclosed; tags keep the source's order, so markup nests as it did in the source whatever
order the translation puts the words in (a reordered element may then enclose fewer
words).  An access key marker (``_File``, ``&File``, ``~File``) goes before the aligned
target word.  Neighbours the source wrote without a space stay glued.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

URL = r"(?:https?|ftp)://[^\s<>\"']*[^\s<>\"'.,;:!?)]|www\.[^\s<>\"']*[^\s<>\"'.,;:!?)]"
TAG = r"</?[A-Za-z][\w:.-]*(?:\s+[\w:.-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?)*\s*/?>"
ENTITY = r"&(?:[A-Za-z][A-Za-z0-9]*|#[0-9]+|#x[0-9A-Fa-f]+);"
# printf and Python's %-format (no space flag: "50% of"); glued to letters ("%dpx", "%sEinheit")
# only where no digit comes before ("50%ige")
PRINTF = (r"%(?:\d+\$|\([A-Za-z_]\w*\))?[-+#0']*(?:\*|\d+)?(?:\.(?:\*|\d+))?"
          r"(?:hh|h|ll|l|L|q|j|z|t|I64|I32)?[diouxXeEfFgGaAcspn]")
PLACEHOLDER = "|".join([
    r"%%",                                                            # a literal percent sign
    r"%[A-Z][A-Z0-9_]+%?",                                            # %PRODUCTNAME, Windows' %NAME%
    rf"(?<!\d){PRINTF}|{PRINTF}(?![A-Za-z])",
    r"%[aAbBcCdDeEFGhHIjklmMOprRStTuUVwWxXyYzZ](?![A-Za-z])",          # strftime
    r"%L?\d+",                                                        # Qt's %1, %L2
    r"~[aAsS%](?!\w)",                                                 # Lisp's format (~a)
    r"\{[\w.\[\]]*(?:![rsa])?(?::[^{}]*)?\}",                           # str.format, ICU names
    r"\$[A-Za-z_][\w.]*(?:\$(?!\d)|\|)",                               # $name$, Wesnoth's $unit.name|
    r"\$\{?[A-Za-z_]\w*\}?|\$\d+",                                     # shell variables, $1
])
# a number standing as a word: not "UTF-8" or "(3)", nor a German ordinal ("im 21. Jahrhundert")
NUMBER = r"(?<!\S)\d+(?:[.,:]\d+)*(?=$|\s|[,;:!?](?:\s|$)|\.$)"
SPAN = re.compile(f"(?P<url>{URL})|(?P<tag>{TAG})|(?P<entity>{ENTITY})"
                  f"|(?P<placeholder>{PLACEHOLDER})|(?P<number>{NUMBER})")
# an access key marker: "_File", "&Open", "~Save" opening a word, or LibreOffice's "Pa~ges" inside
# one (not "&amp;", not "snake_case", not "AT&T")
ACCESS_KEY = re.compile(r"^[_&~](?=[^\W\d_])|(?<=[^\W\d_])~(?=[^\W\d_])")


@dataclass
class Span:
    text: str
    kind: str            # url, tag, entity, placeholder, number or access
    word: int            # the source word it is anchored to (0-based, in the protected text)
    before: bool         # goes before that word's translation (else after it)
    end: int | None = None     # an opening tag with its closing tag: the last source word enclosed
    closer: int | None = None  # ... and the index of that closing tag's span


@dataclass
class Protected:
    text: str            # what the model translates: the source's words, one space apart
    spans: list[Span]
    # neighbours the source writes without a space between: ("word", i) or ("span", i) pairs
    glued: set[tuple[tuple[str, int], tuple[str, int]]]


def well_formed(text: str) -> bool:
    """Whether every element of ``text`` is closed, in the order the elements were opened."""
    stack = []
    for closing, name, empty in re.findall(r"<(/?)([A-Za-z][\w:.-]*)[^<>]*?(/?)>", text):
        if empty:
            continue
        if not closing:
            stack.append(name)
        elif not stack or stack.pop() != name:
            return False
    return not stack


def has_spans(line: str) -> bool:
    """Whether ``protect`` would take anything out of ``line``."""
    return bool(SPAN.search(line)) or any(ACCESS_KEY.search(word) for word in line.split())


def training_text(line: str) -> str:
    """``line`` as the model sees it with protection on: training pairs, dev sentences and
    the lines to translate all lose their protected spans the same way."""
    return protect(line).text if has_spans(line) else line


def _items(line: str) -> list[tuple[str, str, bool]]:
    """(kind, text, space before) of each word and span of ``line``; kind 'word' or a span kind."""
    items, position = [], 0
    for match in [*SPAN.finditer(line), None]:
        end = match.start() if match else len(line)
        for word in re.finditer(r"\S+", line[position:end]):
            start = position + word.start()
            items.append(("word", word.group(0), start == 0 or line[start - 1].isspace()))
        if match:
            items.append((match.lastgroup, match.group(0), match.start() == 0 or line[match.start() - 1].isspace()))
            position = match.end()
    return _joined_codes(items)


def _joined_codes(items: list[tuple[str, str, bool]]) -> list[tuple[str, str, bool]]:
    """Placeholders glued together, or with letterless bits between them ("%C24$2%O", IRC
    colour codes), are one span: a bit such as "24" means nothing to the model."""
    joined: list[tuple[str, str, bool]] = []
    for index, (kind, text, space_before) in enumerate(items):
        follows = index + 1 < len(items) and not items[index + 1][2] and items[index + 1][0] == "placeholder"
        letterless = kind == "word" and not re.search(r"[^\W\d_]", text)
        if joined and joined[-1][0] == "placeholder" and not space_before and (
                kind == "placeholder" or letterless and follows):
            joined[-1] = (joined[-1][0], joined[-1][1] + text, joined[-1][2])
        else:
            joined.append((kind, text, space_before))
    return joined


def _opening(tag: str) -> str | None:
    found = re.match(r"<([A-Za-z][\w:.-]*)", tag)
    return found.group(1).lower() if found and not tag.endswith("/>") else None


def _closing(tag: str) -> str | None:
    found = re.match(r"</([A-Za-z][\w:.-]*)", tag)
    return found.group(1).lower() if found else None


def protect(line: str) -> Protected:
    """The line's words without its protected spans, and where each span belongs."""
    items, words, spans, keys = _items(line), [], [], []
    for index, (kind, text, space_before) in enumerate(items):
        space_after = index + 1 == len(items) or items[index + 1][2]
        if kind == "word":
            marker = ACCESS_KEY.search(text) if space_before else None
            if marker:
                spans.append(Span(marker.group(0), "access", len(words), True))
                text = text[:marker.start()] + text[marker.end():]
            keys.append(("word", len(words)))
            words.append(text)
            continue
        glued_left = not space_before and index > 0
        before = kind == "tag" and _opening(text) is not None or not (glued_left or space_after) or not words
        keys.append(("span", len(spans)))
        spans.append(Span(text, kind, len(words) if before else len(words) - 1, before))
    for span in spans:  # a span after the last word goes after it
        if span.before and span.word == len(words) and words:
            span.word, span.before = len(words) - 1, False
    _pair_tags(spans)
    glued = {(keys[index - 1], keys[index]) for index in range(1, len(items)) if not items[index][2]}
    return Protected(" ".join(words), spans, glued)


def _pair_tags(spans: list[Span]) -> None:
    """An opening tag learns its closing tag and the last word their element encloses."""
    open_tags: list[Span] = []
    for index, span in enumerate(spans):
        if span.kind != "tag":
            continue
        if _opening(span.text):
            open_tags.append(span)
        elif (name := _closing(span.text)) is not None:
            for position in range(len(open_tags) - 1, -1, -1):
                if _opening(open_tags[position].text) == name:
                    opening = open_tags.pop(position)
                    last = span.word - 1 if span.before else span.word
                    if opening.before and last >= opening.word:
                        opening.end, opening.closer = last, index
                    break


def _targets(alignment: list[tuple[int, int]], source_words: int) -> list[list[int]]:
    """Target words of each source word; a word with none borrows its nearest aligned neighbour's."""
    linked: list[list[int]] = [[] for _ in range(source_words)]
    for source, target in alignment:
        if 0 <= source < source_words:
            linked[source].append(target)
    aligned = [word for word in range(source_words) if linked[word]]
    if not aligned:
        return linked
    return [linked[word] or linked[min(aligned, key=lambda other: (abs(other - word), other))]
            for word in range(source_words)]


def restore(protected: Protected, translation: str, alignment: list[tuple[int, int]]) -> str:
    """``translation`` (of ``protected.text``) with every span put back; ``alignment`` holds
    (source word, target word) pairs of the translation's whitespace-separated words."""
    if not protected.spans:
        return translation
    source_of = {target: source for source, target in alignment}
    words = [[word, ("word", source_of.get(index, -1))] for index, word in enumerate(translation.split())]
    targets = _targets(alignment, len(protected.text.split()))
    placed: list[tuple[int, int, list]] = []  # (target gap, source order, [text, key])
    closing_gaps: dict[int, int] = {}
    for order, span in enumerate(protected.spans):
        linked = targets[span.word] if span.word < len(targets) else []
        if span.end is not None:  # an element: its tags enclose what its words became
            enclosed = [t for word in range(span.word, span.end + 1) for t in targets[word]]
            gap = min(enclosed, default=len(words))
            closing_gaps[span.closer] = max(enclosed, default=len(words) - 1) + 1
        elif order in closing_gaps:
            gap = closing_gaps[order]
        elif span.before:
            gap = min(linked, default=0)
        else:
            gap = max(linked, default=len(words) - 1) + 1
        if span.kind == "access":
            _mark_access_key(words, gap, span.text)
        else:
            placed.append((gap, order, [span.text, ("span", order)]))
    placed = _tags_in_source_order(protected, placed)
    for gap, _, item in sorted(placed, reverse=True):
        words.insert(min(gap, len(words)), item)
    source_words = protected.text.split()

    def copied(item: list) -> bool:
        """A span keeps its glue to a target word unless that word stands for source
        punctuation it does not repeat (the alignment of punctuation is a guess)."""
        kind, index = item[1]
        return kind != "word" or not 0 <= index < len(source_words) or \
            re.search(r"\w", source_words[index]) is not None or item[0] == source_words[index]

    text = words[0][0] if words else ""
    for left, right in zip(words, words[1:]):
        glued = (left[1], right[1]) in protected.glued and copied(left) and copied(right)
        text += ("" if glued else " ") + right[0]
    return text


def _mark_access_key(words: list[list], gap: int, marker: str) -> None:
    """The marker before the first letter of the target word at ``gap`` (else of the nearest
    word after it, else before it, that has a letter); a translation without letters has none."""
    order = [*range(gap, len(words)), *range(min(gap, len(words)) - 1, -1, -1)]
    for index in order:
        letter = re.search(r"[^\W\d_]", words[index][0])
        if letter and words[index][1][0] == "word":
            words[index][0] = words[index][0][:letter.start()] + marker + words[index][0][letter.start():]
            return


def _tags_in_source_order(protected: Protected, placed: list[tuple[int, int, list]]) -> list[tuple[int, int, list]]:
    """Tags never move before an earlier tag of the source, so they nest as the source's do
    (a reordering translation can otherwise make two elements cross)."""
    kept, floor = [], 0
    for gap, order, item in placed:
        if protected.spans[order].kind == "tag":
            gap = floor = max(gap, floor)
        kept.append((gap, order, item))
    return kept
