"""Generated email-like strings, most of them near the edges of the fast path's syntax,
to compare the fast path with email-validator (the test here, 1,000,000+ in bench/)."""

import random
from collections.abc import Iterator

__all__ = ["email_samples"]

_ATEXT = "abcXYZ019_!#$%&'*+/=?^`{|}~-"
_ODD = ' "()<>[]:;,\\@\t\x00\x7féßÄﬀ\uff45\u0301\u200bкİ\u0131٣'
_LABELS = [
    "example",
    "EXAMPLE",
    "ex-ample",
    "-ex",
    "ex-",
    "xn--bcher-kva",
    "xn--zz",
    "ab--cd",
    "a",
    "1",
    "123",
    "x" * 63,
    "y" * 64,
    "bücher",
    "\uff45xample",
    "ex_ample",
]
_TLDS = ["com", "ORG", "de", "c0m", "123", "x1", "arpa", "local", "localhost", "test", "onion"]
_TLDS += ["invalid", "example", "xn--p1ai", "a-b", "com-", "i" * 63, "j" * 64, "", "bücher"]


def email_samples(count: int, *, seed: int) -> Iterator[str]:
    """`count` strings from a fixed seed: plain addresses, near-misses and oddities."""
    rng = random.Random(seed)
    for _ in range(count):
        yield _sample(rng)


def _sample(rng: random.Random) -> str:
    if rng.random() < 0.4:
        name = _atom(rng, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-")
        return f"{name}@{rng.choice(['example', 'Mail.example', 'x-y'])}.{rng.choice(_TLDS[:3])}"
    local = _local(rng)
    domain = _domain(rng)
    text = f"{local}@{domain}"
    roll = rng.random()
    if roll < 0.05:
        text = text.replace("@", rng.choice(["", "@@", " @", "@."]), 1)
    elif roll < 0.1:
        at = rng.randrange(len(text) + 1)
        text = text[:at] + rng.choice(_ODD) + text[at:]
    elif roll < 0.13:
        text = f'"{local}"@{domain}'
    elif roll < 0.15:
        text = f"Name <{text}>"
    elif roll < 0.17:
        text = f"{local}@[{rng.randrange(256)}.0.0.{rng.randrange(256)}]"
    return text


def _local(rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.5:
        atoms = [
            _atom(rng, "abcdefghijklmnopqrstuvwxyzABC0123456789") for _ in range(rng.randint(1, 3))
        ]
        return rng.choice([".", "+", "_", "-"]).join(atoms)
    if shape < 0.7:
        return ".".join(_atom(rng, _ATEXT) for _ in range(rng.randint(1, 3)))
    if shape < 0.8:
        return rng.choice(["", ".a", "a.", "a..b", "Info", "POSTMASTER", "Abuse"])
    if shape < 0.9:
        return "l" * rng.choice([63, 64, 65, 120, 200, 240, 250])
    return _atom(rng, _ATEXT + _ODD)


def _domain(rng: random.Random) -> str:
    labels = [rng.choice(_LABELS) for _ in range(rng.choice([0, 1, 1, 1, 2, 3, 4]))]
    if rng.random() < 0.05:
        labels += ["z" * 63] * rng.randint(1, 4)
    domain = ".".join([*labels, rng.choice(_TLDS)])
    roll = rng.random()
    if roll < 0.03:
        return domain + "."
    if roll < 0.05:
        return "." + domain
    if roll < 0.07:
        return domain.replace(".", "..", 1)
    return domain


def _atom(rng: random.Random, alphabet: str) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
