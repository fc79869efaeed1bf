"""Generate a deterministic synthetic WhatsApp-like media corpus (the benchmark's input).

Same generator, profiles and seed as the peers harness the figures in bench/README.md were
first measured with (generator version 1), so the trees are byte-identical and figures compare.

Layout: OUT/<participant name>/<file>, WhatsApp Android file names with a correct magic header
(JPEG/Ogg-Opus/MP4/PDF) then random (incompressible) bytes; deterministic mtimes. A manifest
OUT.manifest.jsonl (parameters, then path/size/sha256/mtime/kind per file) lets a second run skip
generation. Profiles: tiny (120 files, 12 MB), small (20 folders, 2,000 files, 200 MB), many
(50 folders, 20,000 files of 1-20 KB), large (5 x 200 MB .mp4).

Sizes: a log-normal (sigma 1) around each kind's typical size, truncated to its WhatsApp range;
with a target total, one common factor on the typical sizes (bisection), after turning videos
(then documents, then images) into voice notes if the minimum sizes alone use over half of it.

    python3 bench/corpus.py OUT --profile small
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
from datetime import UTC, datetime
from statistics import NormalDist

KB = 1000
MB = 1000 * 1000
CHUNK = 1 << 20
GENERATOR_VERSION = 1

# kind: (ext, filename prefix, lo bytes, hi bytes, weight in a WhatsApp mix)
KINDS = {
    "image": ("jpg", "IMG", 50 * KB, 3 * MB, 0.55),
    "voice": ("ogg", "PTT", 5 * KB, 300 * KB, 0.25),
    "video": ("mp4", "VID", 2 * MB, 16 * MB, 0.08),
    "document": ("pdf", "DOC", 20 * KB, 5 * MB, 0.12),
}
# typical (median) sizes before any rescaling to a total: a WhatsApp-compressed
# photo, a ~15 s Opus voice note, a ~1 min 480p clip, a few-page PDF
MEDIANS = {"image": 150 * KB, "voice": 30 * KB, "video": 5 * MB, "document": 250 * KB}
SIGMA = 1.0  # log-space spread of each kind's size distribution
SQRT2 = math.sqrt(2.0)
_N = NormalDist()

PROFILES = {
    "tiny": {"participants": 6, "files": 120, "total_mb": 12.0},  # smoke tests
    "small": {"participants": 20, "files": 2000, "total_mb": 200.0},
    "many": {
        "participants": 50,
        "files": 20000,
        "total_mb": None,
        "size_range_kb": (1, 20),
        "kinds": ("image", "voice", "document"),
    },
    "large": {
        "participants": 5,
        "files": 5,
        "total_mb": None,
        "fixed_mb": 200.0,
        "kinds": ("video",),
    },
}

# Names that file-sync code tends to get wrong (spaces, accents, scripts, emoji, apostrophes,
# '&', '#', '%', '+'), all NFC; none that POSIX, Windows or rclone 1.60's WebDAV client refuse.
BASE_NAMES = (
    "José Álvarez|Zoë O'Brien|Mom ❤️|Renée D’Souza|Family Group 👨‍👩‍👧‍👦"
    "|Ólafur Þórsson|Müller, Jürgen|李小龍|Дмитрий Иванов|محمد علي|Søren Kierkegård"
    "|Ana-María Núñez|Chloé & Zoé|+1 (555) 010-2030|Team 🚀 Launch"
    "|Nguyễn Thị Minh Khai|Ελένη Παπαδοπούλου|Work – Q3 ‘Plans’|Book club #3 📚"
    "|100% Gym 💪|Ação Coletiva|Dr. Øystein Ødegård|Łukasz Wróbel|山田 太郎|Bà Ngoại 👵"
    "|O'Neil's Pub 🍺|Çağla Yıldız|François-Xavier L'Hôpital"
).split("|")
FIRST = (
    "Ana|Björn|Chloé|Dário|Eçe|Fátima|Gösta|Hélène|Ingrid|Jürgen|Kåre|Léa|Mateo|Niamh"
    "|Óscar|Pia|Renée|Siân|Tomás|Zoë"
).split("|")
LAST = (
    "O'Connor|Álvarez|Øberg|D'Angelo|Šimůnek|Nuñez|Ångström|Müller|Łopez|Ó Briain|Dvořák|Ğündoğan"
).split("|")
EMOJI = ["", "", "", " 😀", " 🎉", " ⚽", " 🌴", " ❤️", " 🐶", " 👍🏽"]

DOC_TITLES = [
    "Invoice {y}-{m:02d}",
    "Boarding pass",
    "Contrato de alquiler (firmado)",
    "Menu 🍕",
    "Scan {y}-{m:02d}-{d:02d} {H:02d}.{M:02d}.{S:02d}",
    "CV – {who}",
    "Recibo nº {n}",
    "Tickets & info",
    "Présentation finale",
    "Rapport d'activité {y}",
    "Notes #{n}",
    "100% final v{n}",
    "Договор {n}",
    "報告書 {n}",
]

MAGIC = {
    # JPEG/JFIF SOI + APP0 ... EOI
    "jpg": (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00", b"\xff\xd9"),
    # Ogg page (BOS) carrying an OpusHead packet, like WhatsApp voice notes
    "ogg": (
        b"OggS\x00\x02"
        + b"\x00" * 8
        + b"\x57\x41\x42\x30"
        + b"\x00" * 8
        + b"\x01\x13"
        + b"OpusHead\x01\x01\x38\x01\x80\xbb\x00\x00\x00\x00\x00",
        b"",
    ),
    # MP4 ftyp box (32 bytes); the body follows as an mdat box (size patched)
    "mp4": (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41", b""),
    "pdf": (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", b"\n%%EOF\n"),
}
MIN_SIZE = 256  # bytes; room for every header/trailer


def nfc(s: str) -> str:
    import unicodedata

    return unicodedata.normalize("NFC", s)


def participant_names(n: int, rng: random.Random) -> list[str]:
    names: list[str] = []
    seen = set()
    for name in BASE_NAMES:
        if len(names) >= n:
            break
        names.append(nfc(name))
        seen.add(names[-1])
    while len(names) < n:
        name = nfc(f"{rng.choice(FIRST)} {rng.choice(LAST)}{rng.choice(EMOJI)}")
        k = 2
        base = name
        while name in seen:
            name = f"{base} ({k})"
            k += 1
        seen.add(name)
        names.append(name)
    return names


def spread(total: int, n: int, rng: random.Random) -> list[int]:
    """Split `total` files over n participants, Zipf-ish, each >= 1 if possible."""
    if n <= 0:
        return []
    weights = [1.0 / (i + 1) ** 0.8 for i in range(n)]
    rng.shuffle(weights)
    s = sum(weights)
    counts = [int(total * w / s) for w in weights]
    if total >= n:
        counts = [max(1, c) for c in counts]
    diff = total - sum(counts)
    i = 0
    order = sorted(range(n), key=lambda j: -weights[j])
    while diff != 0:
        j = order[i % n]
        if diff > 0:
            counts[j] += 1
            diff -= 1
        elif counts[j] > (1 if total >= n else 0):
            counts[j] -= 1
            diff += 1
        i += 1
    return counts


def _trunc_lognormal(lo: float, hi: float, mu: float, sigma: float, u: float) -> float:
    """Inverse CDF of a log-normal(mu, sigma) truncated to [lo, hi], at quantile u."""
    a = (math.log(lo) - mu) / sigma
    b = (math.log(hi) - mu) / sigma
    if a > 0:  # whole window in the upper tail: work with survival functions
        qa, qb = 0.5 * math.erfc(a / SQRT2), 0.5 * math.erfc(b / SQRT2)
        q = qa - u * (qa - qb)
        z = -_N.inv_cdf(min(max(q, 1e-300), 1 - 1e-16))
    else:
        pa, pb = 0.5 * math.erfc(-a / SQRT2), 0.5 * math.erfc(-b / SQRT2)
        p = pa + u * (pb - pa)
        z = _N.inv_cdf(min(max(p, 1e-300), 1 - 1e-16))
    return min(hi, max(lo, math.exp(mu + sigma * z)))


def plan_sizes(
    kinds: list[str], ranges: dict, medians: dict, target: int | None, rng: random.Random
) -> tuple[list[str], list[int], float]:
    """Return (kinds, sizes, scale).  kinds may be rewritten to meet `target`.

    Each size is drawn from a log-normal (median medians[kind], sigma SIGMA)
    truncated to the kind's range.  With a target total, all medians are
    multiplied by one common `scale` (found by bisection) so the sizes add up
    to the target.
    """
    kinds = list(kinds)
    us = [rng.random() for _ in kinds]

    def lo(k):
        return ranges[k][0]

    if target is not None and "voice" in ranges:
        # Make room: demote big kinds to voice notes until sum(lo) <= target/2.
        for big in ("video", "document", "image"):
            if sum(lo(k) for k in kinds) <= target / 2:
                break
            idx = [i for i, k in enumerate(kinds) if k == big]
            rng.shuffle(idx)
            for i in idx:
                if sum(lo(k) for k in kinds) <= target / 2:
                    break
                kinds[i] = "voice"

    def sizes_for(log_scale):
        return [
            int(
                _trunc_lognormal(
                    ranges[k][0], ranges[k][1], math.log(medians[k]) + log_scale, SIGMA, u
                )
            )
            for k, u in zip(kinds, us, strict=False)
        ]

    log_scale = 0.0
    if target is not None:
        a, b = -20.0, 20.0
        tot_min, tot_max = sum(sizes_for(a)), sum(sizes_for(b))
        if target >= tot_max:
            log_scale = b
            print(
                f"corpus: warning: target {target / MB:.0f} MB unreachable, "
                f"max is {tot_max / MB:.0f} MB",
                file=sys.stderr,
            )
        elif target <= tot_min:
            log_scale = a
            print(
                f"corpus: warning: target {target / MB:.0f} MB unreachable, "
                f"min is {tot_min / MB:.0f} MB",
                file=sys.stderr,
            )
        else:
            for _ in range(60):
                m = (a + b) / 2
                if sum(sizes_for(m)) > target:
                    b = m
                else:
                    a = m
            log_scale = (a + b) / 2
    return kinds, [max(MIN_SIZE, s) for s in sizes_for(log_scale)], math.exp(log_scale)


def write_file(path: str, size: int, ext: str, seed_key: str) -> str:
    head, tail = MAGIC[ext]
    body = size - len(head) - len(tail)
    if ext == "mp4":
        # mdat box header (size, 'mdat') right after ftyp
        body -= 8
        head = head + (min(body + 8, 0xFFFFFFFF)).to_bytes(4, "big") + b"mdat"
    rng = random.Random(seed_key)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        f.write(head)
        h.update(head)
        left = body
        while left > 0:
            n = min(CHUNK, left)
            b = rng.randbytes(n)
            f.write(b)
            h.update(b)
            left -= n
        f.write(tail)
        h.update(tail)
    return h.hexdigest()


def build_plan(profile: str, seed: int) -> tuple[dict, list[dict]]:
    prof = PROFILES[profile]
    participants, files = prof["participants"], prof["files"]
    total_mb, fixed_mb = prof.get("total_mb"), prof.get("fixed_mb")
    size_range_kb = prof.get("size_range_kb")
    kind_names = prof.get("kinds", tuple(KINDS))

    params = {
        "generator": GENERATOR_VERSION,
        "profile": profile,
        "seed": seed,
        "participants": participants,
        "files": files,
        "total_mb": total_mb,
        "fixed_mb": fixed_mb,
        "size_range_kb": list(size_range_kb) if size_range_kb else None,
        "kinds": list(kind_names),
        "hostile_names": False,  # kept: manifests compare
    }

    rng = random.Random(f"corpus/{seed}")
    names = participant_names(participants, rng)
    counts = spread(files, participants, rng)

    ranges = {k: (KINDS[k][2], KINDS[k][3]) for k in kind_names}
    medians = {k: MEDIANS[k] for k in kind_names}
    if size_range_kb:
        lo, hi = int(size_range_kb[0] * KB), int(size_range_kb[1] * KB)
        ranges = {k: (max(MIN_SIZE, lo), max(MIN_SIZE, hi)) for k in kind_names}
        medians = {k: math.sqrt(ranges[k][0] * ranges[k][1]) for k in kind_names}
    weights = [KINDS[k][4] for k in kind_names]
    kinds = rng.choices(list(kind_names), weights=weights, k=files)
    if fixed_mb is not None:
        sizes = [int(fixed_mb * MB)] * files
        scale = None
    else:
        target = int(total_mb * MB) if total_mb else None
        # sizes need every kind's range even if demotion introduces voice notes
        kinds, sizes, scale = plan_sizes(kinds, ranges, medians, target, rng)
    params["median_scale"] = None if scale is None else round(scale, 6)

    t_lo = datetime(2019, 1, 1, tzinfo=UTC).timestamp()
    t_hi = datetime(2024, 12, 31, tzinfo=UTC).timestamp()
    entries = []
    i = 0
    for pname, cnt in zip(names, counts, strict=False):
        used = set()
        wa_counter: dict[str, int] = {}
        stamps = sorted(rng.uniform(t_lo, t_hi) for _ in range(cnt))
        for ts in stamps:
            kind, size = kinds[i], sizes[i]
            i += 1
            ext, prefix = KINDS[kind][0], KINDS[kind][1]
            dt = datetime.fromtimestamp(int(ts), tz=UTC)
            day = dt.strftime("%Y%m%d")
            if kind == "document" and rng.random() < 0.7:
                title = rng.choice(DOC_TITLES).format(
                    y=dt.year,
                    m=dt.month,
                    d=dt.day,
                    H=dt.hour,
                    M=dt.minute,
                    S=dt.second,
                    n=rng.randint(1, 999),
                    who=pname.split(" ")[0],
                )
                fname = nfc(f"{title}.{ext}")
            else:
                wa_counter[day] = wa_counter.get(day, 0) + 1
                fname = f"{prefix}-{day}-WA{wa_counter[day] - 1:04d}.{ext}"
            base, _dot, e = fname.rpartition(".")
            k = 2
            while fname in used:
                fname = f"{base} ({k}).{e}"
                k += 1
            used.add(fname)
            entries.append(
                {"path": f"{pname}/{fname}", "size": size, "mtime": int(ts), "kind": kind}
            )
    return params, entries


def tree_matches(out: str, entries: list[dict]) -> bool:
    want = {e["path"]: (e["size"], e["mtime"]) for e in entries}
    got = {}
    for root, _dirs, fs in os.walk(out):
        for f in fs:
            p = os.path.join(root, f)
            st = os.stat(p)
            got[os.path.relpath(p, out)] = (st.st_size, int(st.st_mtime))
    return got == want


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__[__doc__.index("Profiles") :],
    )
    ap.add_argument("out", help="output folder (created; must be empty or a previous corpus)")
    ap.add_argument("--profile", choices=sorted(PROFILES), required=True)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--force", action="store_true", help="regenerate even if up to date")
    args = ap.parse_args(argv)

    out = os.path.abspath(args.out.rstrip("/"))
    manifest = out + ".manifest.jsonl"
    params, entries = build_plan(args.profile, args.seed)
    total = sum(e["size"] for e in entries)
    by_kind: dict[str, list[int]] = {}
    for e in entries:
        by_kind.setdefault(e["kind"], []).append(e["size"])
    summary = ", ".join(f"{k} {len(v)} ({sum(v) / MB:.1f} MB)" for k, v in sorted(by_kind.items()))
    print(
        f"corpus: {len(entries)} files, {total / MB:.1f} MB, "
        f"{params['participants']} participants; {summary}",
        file=sys.stderr,
    )
    if not args.force and os.path.exists(manifest) and os.path.isdir(out):
        try:
            with open(manifest, encoding="utf-8") as f:
                old = json.loads(f.readline())
            if old.get("params") == params and tree_matches(out, entries):
                print(f"corpus: {out} is up to date (manifest {manifest})", file=sys.stderr)
                return 0
        except (OSError, ValueError):
            pass

    if os.path.exists(out):
        if os.listdir(out) and not (args.force or os.path.exists(manifest)):
            raise SystemExit(
                f"corpus: {out} exists, is not empty and has no manifest; "
                "refusing to delete it (use --force)"
            )
        shutil.rmtree(out)
    os.makedirs(out)
    t0 = time.time()
    tmp_manifest = manifest + ".tmp"
    with open(tmp_manifest, "w", encoding="utf-8") as mf:
        mf.write(
            json.dumps(
                {"params": params, "files": len(entries), "bytes": total}, ensure_ascii=False
            )
            + "\n"
        )
        for e in entries:
            p = os.path.join(out, e["path"])
            os.makedirs(os.path.dirname(p), exist_ok=True)
            ext = e["path"].rsplit(".", 1)[1]
            e["sha256"] = write_file(p, e["size"], ext, f"{args.seed}/{e['path']}")
            os.utime(p, (e["mtime"], e["mtime"]))
            mf.write(
                json.dumps(
                    {
                        "path": e["path"],
                        "size": e["size"],
                        "sha256": e["sha256"],
                        "mtime": e["mtime"],
                        "kind": e["kind"],
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    # directories get a fixed mtime too, so the whole tree is reproducible
    for d in sorted({os.path.dirname(e["path"]) for e in entries}):
        os.utime(os.path.join(out, d), (1704067200, 1704067200))
    os.replace(tmp_manifest, manifest)
    print(f"corpus: wrote {out} in {time.time() - t0:.1f}s (manifest {manifest})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
