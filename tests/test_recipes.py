"""Corpus recipes: cleaning, leak-free document splits, every recipe offline, bad input."""

from __future__ import annotations

import json
import lzma
import tarfile
from pathlib import Path

import pytest
from corpus_fixtures import fake_debian_cache, manythings_zip, sentence_pairs, tatoeba_files, write_mo
from helpers import SHIPPED, run_cli

from data_prep import bible, debian, ding, gettext_catalogs, internet, parallel_docs, recipes, shipped
from data_prep.clean import Cleaner, comparison_key, normalize_text, strip_access_keys, strip_markup
from data_prep.split import Pair, overlap, split_by_document
from nmt.config import DataConfig
from nmt.errors import NmtError


def read_split(directory: Path, split: str, langs=("de", "en")) -> list[tuple[str, str]]:
    first, second = ((directory / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()
                     for lang in langs)
    assert len(first) == len(second)
    return list(zip(first, second))


def assert_leak_free(directory: Path, langs=("de", "en")) -> None:
    train = read_split(directory, "train", langs)
    dev, test = read_split(directory, "dev", langs), read_split(directory, "test", langs)
    assert overlap(train, dev) == 0 and overlap(train, test) == 0 and overlap(test, dev) == 0
    by_kind = [read_split(directory, path.name.removesuffix(f".{langs[0]}"), langs)
               for path in directory.glob(f"test-*.{langs[0]}")]
    assert sum(len(part) for part in by_kind) == (len(test) if by_kind else 0)  # the kinds make up test


# ---- cleaning ---------------------------------------------------------------------------------

def test_normalize_text_folds_unicode_quotes_invisible_and_control_characters():
    assert normalize_text("  Ein\u00a0„Test“\u200b mit\tTab\x07 und ﬁ  ") == 'Ein "Test" mit Tab und fi'


def test_markup_and_access_keys_are_stripped():
    assert " ".join(strip_markup("<b>Fett</b> &amp; <span color='red'>rot</span>").split()) == "Fett & rot"
    assert strip_access_keys("Save _As, Cha_nnel, &File, Pa~ges") == "Save As, Channel, File, Pages"
    assert strip_access_keys("snake__case & more") == "snake__case & more"


@pytest.mark.parametrize("src, tgt, reason", [
    ("Datei %s wird jetzt geöffnet", "Opening the file now", "spans differ"),
    ("Öffne {name} jetzt sofort", "Open {nom} right now", "spans differ"),
    ("Klicke <b>hier</b> jetzt sofort", "Click here right now", "spans differ"),
    ("Hallo $user", "Hello $user", "too short"),  # judged without its placeholder
    ("Zwei Wörter", "Two words", "too short"),
    ("Das ist kurz.", "This is a sentence that goes on and on for far too many words.", "length ratio"),
    ("Open the file now.", "Open the file now.", "untranslated"),
    ("Die Datei ist jetzt im Ordner.", "Die Datei ist jetzt im Ordner gespeichert.", "wrong language"),
    ("Привет мир как дела сегодня", "Hello world how are you", "wrong script"),
    ("Tel.: 0371-531-12 / Fax: 0371-531-13", "Phone: 0371-531-12 / fax: 0371-531-13", "mostly not letters"),
    ("Tel. 0371 531 123 45", "Phone 0371 531 123 45", "too short"),  # judged without its numbers
])
def test_cleaner_rejects_with_reason(src, tgt, reason):
    cleaner = Cleaner("de", "en")
    assert cleaner.clean(src, tgt) is None
    assert cleaner.rejected == {reason: 1}


def test_cleaner_keeps_a_real_translation_and_strips_ui_markup():
    cleaner = Cleaner("de", "en")
    assert cleaner.clean("<b>Ö&ffnet</b> ein Untermenü mit Befehlen:", "<b>&Opens</b> a submenu with commands:",
                         markup=True, access_keys=True) == (
        "Öffnet ein Untermenü mit Befehlen:", "Opens a submenu with commands:")
    assert not cleaner.rejected


def test_cleaner_keeps_pairs_whose_sides_hold_the_same_placeholders_tags_and_urls():
    cleaner = Cleaner("de", "en")
    kept = [("%1$d von %2$d Dateien wurden kopiert", "Copied %1$d of %2$d files"),
            ("Klicken Sie <emph>hier</emph>, um fortzufahren.", "Click <emph>here</emph> to continue."),
            ("Siehe https://www.debian.org/ für 3 Beispiele", "See https://www.debian.org/ for three examples")]
    assert [cleaner.clean(src, tgt) for src, tgt in kept] == kept
    assert not cleaner.rejected


def test_comparison_key_ignores_case_digits_and_punctuation():
    assert comparison_key("Step 3: Open the file.") == comparison_key("step 4 - open the FILE")


# ---- splitting --------------------------------------------------------------------------------

def test_split_holds_out_whole_documents_without_leaks():
    pairs = [Pair(de, en, "s" + str(i % 2), f"doc{i // 6}") for i, (de, en) in enumerate(sentence_pairs(600))]
    pairs.append(Pair(pairs[0].src, "A different translation entirely here.", "s0", "doc-extra"))
    pairs.append(Pair(pairs[1].src.upper(), pairs[1].tgt, "s1", pairs[1].document))  # near-duplicate
    splits = split_by_document(pairs, {"text": (50, 80)}, seed=1)
    assert len(splits.dev) >= 50 and len(splits.test) >= 80
    documents = {name: {p.document for p in part} for name, part in splits.items()}
    assert not documents["train"] & documents["dev"] and not documents["train"] & documents["test"]
    assert not documents["dev"] & documents["test"]
    as_tuples = {name: [(p.src, p.tgt) for p in part] for name, part in splits.items()}
    assert overlap(as_tuples["train"], as_tuples["test"]) == 0
    assert overlap(as_tuples["train"], as_tuples["dev"]) == 0
    assert sum(splits.removed.values()) >= 1
    assert {p.source for p in splits.test} == {"s0", "s1"}  # every source is represented


def test_split_sizes_held_out_sets_per_kind_and_keeps_other_kinds_for_training():
    kinds = ("help", "dialogue", "lexicon")
    pairs = [Pair(de, en, kinds[i % 3], f"{kinds[i % 3]}{i // 9}", kinds[i % 3])
             for i, (de, en) in enumerate(sentence_pairs(900))]
    splits = split_by_document(pairs, {"help": (20, 60), "dialogue": (10, 30)}, seed=1)
    for kind, (dev, test) in (("help", (20, 60)), ("dialogue", (10, 30))):
        assert sum(p.kind == kind for p in splits.dev) >= dev and sum(p.kind == kind for p in splits.test) >= test
    assert not any(p.kind == "lexicon" for p in splits.dev + splits.test)
    assert sum(p.kind == "lexicon" for p in splits.train) == 300


def test_a_document_added_in_a_rebuild_moves_no_other_document_between_train_and_held_out():
    pairs = [Pair(de, en, "s0", f"doc{i // 5}") for i, (de, en) in enumerate(sentence_pairs(600))]
    before = split_by_document(pairs, {"text": (30, 60)}, seed=1)
    extra = [Pair(f"Ein neuer Satz Nummer {word} steht hier.", f"A new sentence number {word} is here.", "s0",
                  "doc-new") for word in ("eins", "zwei", "drei")]
    after = split_by_document(pairs + extra, {"text": (30, 60)}, seed=1)
    held = [{p.document for p in split.dev + split.test} - {"doc-new"} for split in (before, after)]
    assert len(held[0] ^ held[1]) <= 2  # at most the last document of a quota changes


# ---- sources ----------------------------------------------------------------------------------

def test_ding_keeps_aligned_sentences_and_drops_patterns():
    line = ("Abfall verstreuen; etw. verschmutzen {vt} | Schmutzige Wäsche lag über den Boden "
            "verstreut. | Bitte halten Sie den Rasen sauber! :: to litter | Dirty clothes littered "
            "the floor. | Please keep the lawn clean!\n")
    assert ding.sentence_pairs(line) == [
        ("Schmutzige Wäsche lag über den Boden verstreut.", "Dirty clothes littered the floor."),
        ("Bitte halten Sie den Rasen sauber!", "Please keep the lawn clean!")]
    assert ding.sentence_pairs("Er hat etw. getan und ging. :: He did sth. and left.\n") == []
    assert ding.sentence_pairs("# Version :: devel\n") == []


def test_ding_phrases_are_the_short_sub_entries_without_notes_or_patterns():
    line = ("Abholung {f}; Abholen {n} (von jdm./etw.) | zur Abholung bereit | Die Ware ist zur Abholung "
            "bereit. | etw. abholen :: collection; pick-up (of sb./sth.) | ready for collection | The goods are "
            "ready for collection. | to collect sth.\n")
    assert ding.lexicon_pairs(line) == [("Abholung", "collection"), ("zur Abholung bereit", "ready for collection")]
    assert ding.sentence_pairs(line) == [("Die Ware ist zur Abholung bereit.", "The goods are ready for collection.")]


def test_phrases_of_a_held_out_dictionary_entry_stay_out_of_training(tmp_path):
    fake_debian_cache(tmp_path / "cache", sentence_pairs(1500))
    ding_file = tmp_path / "cache/debian/trans-de-en/usr/share/trans/de-en"
    lines = ding_file.read_text(encoding="utf-8").splitlines(keepends=True)
    ding_file.write_text(lines[0] + "".join(line.replace(" :: ", " | schwarze Katze :: ", 1).rstrip("\n")
                                            + " | black cat\n" for line in lines[1:]), encoding="utf-8")
    out = tmp_path / "debian-de-en-phrases"
    stats = recipes.build(small(recipes.find_recipe(out.name, DataConfig())), out, tmp_path / "cache")
    assert stats["train"]["by_source"]["ding-phrases"] == 1  # the repeats are duplicates
    assert stats["removed_by_split"]["lexicon pair of a held-out document"] >= 50
    assert "ding-phrases" not in stats["test"]["by_source"]


def test_manual_pages_align_on_their_block_tags_and_split_into_sentences(tmp_path):
    (tmp_path / "de.html").write_text(
        "<h1>Ebenen</h1><pre>gimp --help</pre><ul><li><p>Eine Ebene ist wie Folie. Sie ist durchsichtig.</p></li></ul>"
        "<p>Wählen Sie <b>Datei</b> &amp; Öffnen.</p>", encoding="utf-8")
    (tmp_path / "en.html").write_text(
        "<h1>Layers</h1><h3>Only in English</h3><ul><li><p>A layer is like a sheet. It is transparent.</p></li></ul>"
        "<p>Choose <b>File</b> &amp; Open.</p>", encoding="utf-8")
    pairs = list(parallel_docs.read_pairs({"x": tmp_path / "de.html"}, {"x": tmp_path / "en.html"}, "manual"))
    assert [(p.src, p.tgt) for p in pairs] == [
        ("Ebenen", "Layers"), ("Eine Ebene ist wie Folie.", "A layer is like a sheet."),
        ("Sie ist durchsichtig.", "It is transparent."), ("Wählen Sie Datei & Öffnen.", "Choose File & Open.")]
    assert {p.document for p in pairs} == {"manual:x"}
    assert parallel_docs.sentence_pairs("Eins. Zwei.", "One, two.") == [("Eins. Zwei.", "One, two.")]


def test_gettext_catalog_pairs_drop_context_and_keep_recipe_order(tmp_path):
    write_mo(tmp_path / "usr/share/locale/de/LC_MESSAGES/app.mo",
             {"menu\x04Open the file": "Datei öffnen", "Untranslated": ""})
    pairs = list(gettext_catalogs.read_pairs(tmp_path, "de", False, "ui", "pkg"))
    assert pairs == [Pair("Datei öffnen", "Open the file", "ui", "pkg:app")]


def test_bible_verse_text_drops_notes_and_strongs_markup():
    raw = ('<w lemma="strong:H0430">In</w> <w>the</w> beginning, <w>God</w><note placement="foot">'
           '<reference>1:1 </reference>The Hebrew word.</note><w>created</w> the earth. ')
    assert bible.verse_text(raw) == "In the beginning, God created the earth."


# ---- every recipe, built offline, is leak-free --------------------------------------------------

def small(recipe: recipes.Recipe, dev: int = 20, test: int = 30) -> recipes.Recipe:
    for part in filter(None, (recipe, recipe.pool)):
        part.held_out = {kind: (dev, test) for kind in part.held_out}
    return recipe


DE_SOURCES = {"ding", "libreoffice-help", "gimp-help", "gnome-help", "debian-reference", "wesnoth", "ui-catalogs"}


def test_debian_recipe_builds_idempotently_without_leaks(tmp_path):
    fake_debian_cache(tmp_path / "cache", sentence_pairs(800))
    out = tmp_path / "debian-de-en"
    recipe = small(recipes.find_recipe("debian-de-en", DataConfig()))
    stats = recipes.build(recipe, out, tmp_path / "cache")
    assert_leak_free(out)
    assert stats["train"]["pairs"] == len(read_split(out, "train")) > 300
    assert stats["dev"]["pairs"] >= 4 * 20 and stats["test"]["pairs"] >= 4 * 30
    assert set(stats["sources"]) == DE_SOURCES
    for kind, sources in (("everyday", {"ding"}), ("dialogue", {"wesnoth"}), ("ui", {"ui-catalogs"}),
                          ("help", {"libreoffice-help", "gimp-help", "gnome-help", "debian-reference"})):
        assert stats[f"test-{kind}"]["pairs"] >= 30 and set(stats[f"test-{kind}"]["by_source"]) <= sources
    assert all(stats["sources"][name]["kept"] > 30 for name in DE_SOURCES)
    assert stats["sources"]["ui-catalogs"]["kept"] > 100  # access keys stripped, pairs kept
    assert "too short" in stats["sources"]["libreoffice-help"]["rejected"]  # the one-word heading
    assert "GPL-2.0-or-later" in (out / "NOTICE.md").read_text()
    assert not any("&" in line or "_" in line for line in (out / "train.de").read_text().splitlines())
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    recipes.build(recipe, out, tmp_path / "cache")
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


@pytest.mark.parametrize("lang", ["fr", "es"])
def test_debian_recipes_of_other_languages_read_their_own_catalogs(tmp_path, lang, monkeypatch):
    fake_debian_cache(tmp_path / "cache", sentence_pairs(1000), lang)
    fake_bible(tmp_path / "cache", sentence_pairs(400, offset=1000), monkeypatch)  # in the es-en pool
    out = tmp_path / f"debian-{lang}-en"
    stats = recipes.build(small(recipes.find_recipe(f"debian-{lang}-en", DataConfig())), out, tmp_path / "cache")
    assert_leak_free(out, (lang, "en"))
    assert set(stats["sources"]) == DE_SOURCES - {"ding"}  # Ding is German only; the Bible is bible-en-es
    assert all(stats["sources"][name]["kept"] > 30 for name in stats["sources"])
    assert stats["train"]["pairs"] == len((out / f"train.{lang}").read_text(encoding="utf-8").splitlines()) > 300
    assert sorted(p.name for p in out.glob("*.en")) == [
        "dev.en", "test-dialogue.en", "test-help.en", "test-ui.en", "test.en", "train.en"]


def test_ding_recipe_and_shipped_corpus_are_leak_free(tmp_path):
    assert_leak_free(SHIPPED)
    stats = json.loads((SHIPPED / "stats.json").read_text())
    assert stats["recipe"] == "ding-de-en" and stats["train"]["pairs"] == len(read_split(SHIPPED, "train"))
    assert stats["pool"] == "de-en"
    assert "GPL-2.0-or-later" in (SHIPPED / "NOTICE.md").read_text()
    fake_debian_cache(tmp_path / "cache", sentence_pairs(800))
    recipes.build(small(recipes.find_recipe("ding-de-en", DataConfig())), tmp_path / "ding", tmp_path / "cache")
    assert_leak_free(tmp_path / "ding")


def held_out_overlaps(corpora: list[Path]) -> dict[tuple[str, str], int]:
    """(training corpus, held-out corpus) -> pairs of the latter's dev and test sharing a side with
    the former's train, for every ordered pair of corpora."""
    return {(a.name, b.name): overlap(read_split(a, "train"), read_split(b, "dev") + read_split(b, "test"))
            for a in corpora for b in corpora}


def test_a_pair_held_out_in_one_corpus_is_held_out_in_every_corpus_of_the_language_pair(tmp_path):
    fake_debian_cache(tmp_path / "cache", sentence_pairs(2000))
    corpora = [tmp_path / name for name in ("debian-de-en", "ding-de-en")]
    for out in corpora:
        recipe = small(recipes.find_recipe(out.name, DataConfig()))
        if out.name == "ding-de-en":
            recipe.held_out = {"everyday": (25, 35)}  # a corpus's own sizes do not matter: its pool's do
        recipes.build(recipe, out, tmp_path / "cache")
    assert set(held_out_overlaps(corpora).values()) == {0}
    assert read_split(corpora[1], "test") == read_split(corpora[0], "test-everyday")  # the same test set
    # the rule is what makes this hold: Ding split on its own, with its own held-out sizes (as
    # ding-de-en was), holds out pairs that debian-de-en trains on
    alone = recipes.Recipe("ding-alone", ("de", "en"), [recipes.find_recipe("ding-de-en", DataConfig()).sources[0]],
                           {"everyday": (25, 35)})
    recipes.build(alone, tmp_path / "ding-alone", tmp_path / "cache")
    leaks = held_out_overlaps([corpora[0], tmp_path / "ding-alone"])
    assert leaks[("debian-de-en", "ding-alone")] > 0


class FakeBible:
    """The two pysword calls the recipe makes, over a fixed text."""

    class Book:
        def __init__(self, name, chapters):
            self.osis_name, self.chapter_lengths = name, chapters

    def __init__(self, verses):
        self.verses = verses

    def get_structure(self):
        books = [self.Book(f"Book{b}", [10, 10]) for b in range(len(self.verses) // 20)]
        return type("Structure", (), {"get_books": lambda _: {"ot": books}})()

    def get_iter(self, books, chapters, verses, clean):
        book = int(books[0][4:])
        start = book * 20 + (chapters[0] - 1) * 10
        return iter(self.verses[start:start + len(verses)])


def fake_bible(cache: Path, pairs: list[tuple[str, str]], monkeypatch) -> None:
    """Both Bible packages 'unpacked', their verses ``pairs`` (the first side stands for Spanish)."""
    texts = {"engWEB2015eb": [f"<w>{en}</w>" for _, en in pairs], "spaRV1909eb": [es for es, _ in pairs]}
    monkeypatch.setattr(bible, "_bible", lambda root, module: FakeBible(texts[module]))
    for package in ("sword-text-web", "sword-text-sparv"):
        (cache / "debian" / package).mkdir(parents=True, exist_ok=True)
        (cache / "debian" / package / ".unpacked").write_text(package + "_1_all.deb")


def test_bible_recipe_aligns_by_reference_without_leaks(tmp_path, monkeypatch):
    fake_debian_cache(tmp_path / "cache", sentence_pairs(1000), "es")  # the rest of the es-en pool
    fake_bible(tmp_path / "cache", sentence_pairs(400, offset=1000), monkeypatch)
    stats = recipes.build(small(recipes.find_recipe("bible-en-es", DataConfig())), tmp_path / "bible",
                          tmp_path / "cache")
    assert_leak_free(tmp_path / "bible", ("en", "es"))
    assert set(stats["sources"]) == {"bible"} and stats["pool"] == "es-en"
    assert stats["train"]["pairs"] > 200
    assert read_split(tmp_path / "bible", "train", ("en", "es"))[0][0].startswith("The ")


def test_user_recipe_from_two_files_and_from_tsv(tmp_path):
    pairs = sentence_pairs(400)
    (tmp_path / "my.de").write_text("".join(de + "\n" for de, _ in pairs), encoding="utf-8")
    (tmp_path / "my.en").write_text("".join(en + "\n" for _, en in pairs), encoding="utf-8")
    (tmp_path / "my.tsv").write_text("".join(f"{de}\t{en}\n" for de, en in pairs), encoding="utf-8")
    for sources in ([str(tmp_path / "my.de"), str(tmp_path / "my.en")], [str(tmp_path / "my.tsv")]):
        out = tmp_path / f"user{len(sources)}"
        recipe = small(recipes.find_recipe("user", DataConfig(sources=sources)))
        recipes.build(recipe, out, tmp_path / "cache")
        assert_leak_free(out)
        assert len(read_split(out, "train")) + len(read_split(out, "dev")) + len(read_split(out, "test")) == 400
    (tmp_path / "my.tsv").write_text("Eine ganz neue Zeile hier.\tA whole new line here.\n" * 3, encoding="utf-8")
    assert not recipes.is_built(recipe, tmp_path / "user1")  # the input changed: rebuild


def test_internet_recipes_read_the_real_formats_from_local_files(tmp_path, monkeypatch):
    pairs = sentence_pairs(400)
    manythings_zip(tmp_path / "deu-eng.zip", pairs)
    tatoeba_files(tmp_path, pairs)
    monkeypatch.setattr(internet, "MANYTHINGS_URL", "file://" + str(tmp_path / "{code}-eng.zip"))
    monkeypatch.setattr(internet, "TATOEBA_SENTENCES_URL", "file://" + str(tmp_path / "{code}_sentences.tsv.bz2"))
    monkeypatch.setattr(internet, "TATOEBA_LINKS_URL", (tmp_path / "links.tar.bz2").as_uri())
    for name, langs in (("manythings-de-en", ("en", "de")), ("tatoeba-de-en", ("de", "en"))):
        stats = recipes.build(small(recipes.find_recipe(name, DataConfig())), tmp_path / name, tmp_path / "cache")
        assert_leak_free(tmp_path / name, langs)
        assert stats["train"]["pairs"] > 200, name
    assert (tmp_path / "cache/downloads/links.tar.bz2").exists()


def test_sacrebleu_recipe_writes_a_test_set(tmp_path, monkeypatch):
    import sacrebleu.dataset.base as base
    from sacrebleu.dataset import DATASETS
    from sacrebleu.dataset.plain_text import PlainTextDataset
    monkeypatch.setattr(base, "SACREBLEU_DIR", str(tmp_path / "sacrebleu"))
    pairs = sentence_pairs(30)
    (tmp_path / "src.de").write_text("".join(de + "\n" for de, _ in pairs), encoding="utf-8")
    (tmp_path / "ref.en").write_text("".join(en + "\n" for _, en in pairs), encoding="utf-8")
    with tarfile.open(tmp_path / "fixture.tgz", "w:gz") as bundle:
        bundle.add(tmp_path / "src.de", "fixture/src.de")
        bundle.add(tmp_path / "ref.en", "fixture/ref.en")
    monkeypatch.setitem(DATASETS, "fixture", PlainTextDataset(
        "fixture", data=[(tmp_path / "fixture.tgz").as_uri()],
        langpairs={"de-en": ["fixture/src.de", "fixture/ref.en"]}))
    stats = recipes.build(recipes.find_recipe("sacrebleu-fixture-de-en", DataConfig()),
                          tmp_path / "out", tmp_path / "cache")
    assert stats["test"]["pairs"] == 30 and read_split(tmp_path / "out", "test") == pairs
    with pytest.raises(NmtError, match="has no en-fr"):
        list(internet.sacrebleu_test_set("fixture", ("en", "fr")))


# ---- bad input: one line naming file and line ---------------------------------------------------

def fake_apt(tmp_path: Path, script: str) -> str:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("apt-get", "dpkg-deb"):
        (bin_dir / tool).write_text("#!/bin/sh\n" + script)
        (bin_dir / tool).chmod(0o755)
    return str(bin_dir)


# ---- shipped corpora -----------------------------------------------------------------------------

def shipped_corpus(folder: Path) -> Path:
    folder.mkdir()
    for split, count in (("train", 40), ("dev", 5)):
        pairs = sentence_pairs(count, offset=0 if split == "train" else 100)
        for lang, side in (("de", 0), ("en", 1)):
            (folder / f"{split}.{lang}").write_text("".join(p[side] + "\n" for p in pairs), encoding="utf-8")
    shipped.ship(folder, ["train.de", "train.en", "dev.de", "dev.en"])
    return folder


def test_a_shipped_corpus_unpacks_checked_files_without_packages(tmp_path, monkeypatch):
    folder = shipped_corpus(tmp_path / "c")
    original = (folder / "train.en").read_text(encoding="utf-8")
    for path in folder.glob("*.de"):
        path.unlink()
    (folder / "train.en").unlink()
    monkeypatch.setattr(debian, "unpacked", lambda *a: pytest.fail("a shipped corpus must not need apt"))
    shipped.unpack(folder)
    assert (folder / "train.en").read_text(encoding="utf-8") == original
    assert len((folder / "dev.de").read_text(encoding="utf-8").splitlines()) == 5
    assert shipped.differences(folder) == {"dev": {"same": 5, "only_shipped": 0, "only_rebuilt": 0},
                                           "train": {"same": 40, "only_shipped": 0, "only_rebuilt": 0}}


def test_a_rebuild_is_compared_with_the_shipped_files(tmp_path):
    folder = shipped_corpus(tmp_path / "c")
    for lang, text in (("de", "Ein neuer Satz steht hier.\n"), ("en", "A new sentence stands here.\n")):
        lines = (folder / f"train.{lang}").read_text(encoding="utf-8").splitlines(keepends=True)
        (folder / f"train.{lang}").write_text("".join(lines[2:]) + text, encoding="utf-8")
    assert shipped.differences(folder)["train"] == {"same": 38, "only_shipped": 2, "only_rebuilt": 1}


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "dev.en.xz").write_bytes(b"not xz"), r"dev.en.xz: not a valid xz file \(.*\); restore it"),
    (lambda f: (f / "dev.en.xz").write_bytes(lzma.compress(b"other text\n")),
     r"dev.en.xz: its text does not match the checksum in .*SHA256SUMS; restore it with git checkout$"),
    (lambda f: (f / "SHA256SUMS").write_text("abc dev.en\n"), r"SHA256SUMS:1: expected '<sha256>  <file>'"),
])
def test_a_damaged_shipped_corpus_is_a_one_line_error(tmp_path, damage, message):
    folder = shipped_corpus(tmp_path / "c")
    (folder / "dev.en").unlink()
    damage(folder)
    with pytest.raises(NmtError, match=message):
        shipped.unpack(folder)
    assert not (folder / "dev.en").exists()


def test_the_shipped_default_corpus_matches_its_manifest_and_notice():
    folder = SHIPPED.parent / "debian-de-en"
    manifest = dict(reversed(line.split()) for line in (folder / "SHA256SUMS").read_text().splitlines())
    stats = json.loads((folder / "stats.json").read_text())
    assert set(manifest) == {f"{split}.{lang}" for split in ("train", "dev", "test", "test-everyday", "test-help",
                                                             "test-ui", "test-dialogue") for lang in ("de", "en")}
    assert stats["recipe"] == "debian-de-en" and stats["train"]["pairs"] > 100_000
    notice = (folder / "NOTICE.md").read_text()
    assert all(stats["sources"][name]["license"] in notice for name in DE_SOURCES)


def test_missing_package_is_a_one_line_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", fake_apt(tmp_path, "echo 'E: Unable to locate package nosuch' >&2; exit 100\n"))
    with pytest.raises(NmtError) as error:
        debian.unpacked("nosuch", tmp_path / "cache")
    assert str(error.value).startswith("apt-get download nosuch failed: E: Unable to locate package nosuch")
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(NmtError, match=r"^nosuch: `apt-get` not found"):
        debian.unpacked("nosuch", tmp_path / "cache")


def test_download_failure_is_a_one_line_error(tmp_path):
    with pytest.raises(NmtError, match=r"download failed .*needs internet access"):
        internet.download((tmp_path / "absent.zip").as_uri(), tmp_path / "cache")
    assert not list((tmp_path / "cache/downloads").iterdir())  # no partial file left behind


@pytest.mark.slow
@pytest.mark.parametrize("files, message", [
    ({"a.de": b"Eins zwei drei vier.\nZwei drei vier.\n", "a.en": b"One two three four.\n"},
     "{d}/a.en:2: file ends here but {d}/a.de goes on; parallel files must have the same number of lines"),
    ({"a.tsv": b"Eins zwei drei vier.\tOne two three four.\nkein Tab hier\n"},
     "{d}/a.tsv:2: expected tab-separated columns (source<TAB>target), found no tab"),
    ({"a.de": b"Eins zwei drei.\n\x89PNG\x00\x1a\n", "a.en": b"One two three.\nTwo.\n"},
     "{d}/a.de:2: binary data (NUL byte), expected UTF-8 text"),
    ({"a.de": b"Eins zwei drei.\nGr\xfc\xdfe\n", "a.en": b"One two three.\nHello.\n"},
     "{d}/a.de:2: not valid UTF-8 (byte 3 of the line)"),
    ({"a.de": b"", "a.en": b"One two three.\n"},
     "{d}/a.de: empty file, expected one sentence per line"),
])
def test_bad_user_corpus_gives_one_line_error(tmp_path, files, message):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    sources = [str(tmp_path / name) for name in files]
    out = tmp_path / "user"  # the corpus would be built here, never in the repository's data/
    result = run_cli("prepare", "data.corpus=user", f"data.sources={json.dumps(sources)}",
                     f"data.train={out}/train", f"data.dev={out}/dev", f"data.test=[{out}/test]",
                     f"data.cache={tmp_path / 'cache'}")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == "error: " + message.format(d=tmp_path)
    assert "Traceback" not in result.stderr
    assert not (out / "stats.json").exists()


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(NmtError, match=r"^data.corpus: no recipe called 'nope' \(recipes: ding-de-en, debian-de-en"):
        recipes.find_recipe("nope", DataConfig())


def test_recipe_with_too_few_pairs_says_so(tmp_path):
    (tmp_path / "a.tsv").write_text("Der Hund sieht die Katze.\tThe dog sees the cat.\n", encoding="utf-8")
    recipe = recipes.find_recipe("user", DataConfig(sources=[str(tmp_path / "a.tsv")]))
    with pytest.raises(NmtError, match=r"^corpus user: only 1 clean pairs, too few to hold out 1000 dev"):
        recipes.build(recipe, tmp_path / "out", tmp_path / "cache")
    assert not (tmp_path / "out" / "stats.json").exists()

