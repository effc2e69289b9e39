"""The fast email path against email-validator on a large generated sample.

Counts the addresses where `normalise_address`'s fast path (decision 0020) would answer
differently from `validate_email(..., check_deliverability=False).normalized.lower()` (there
must be none), and times both over the sample.

    .venv/bin/python bench/email_fast_path.py --count 1000000
    .venv/bin/python bench/email_fast_path.py --quick
"""

import argparse
import sys
import time
from pathlib import Path

from email_validator import EmailNotValidError, validate_email

from optledger.domain.channels import _fast_email

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.unit.domain.email_samples import email_samples


def by_the_validator(raw: str) -> str | None:
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="100,000 samples")
    args = parser.parse_args()
    samples = list(email_samples(100_000 if args.quick else args.count, seed=args.seed))
    started = time.perf_counter()
    fast = [_fast_email(raw) for raw in samples]
    fast_seconds = time.perf_counter() - started
    started = time.perf_counter()
    full = [by_the_validator(raw) for raw in samples]
    full_seconds = time.perf_counter() - started
    mismatches = [
        raw for raw, f, v in zip(samples, fast, full, strict=True) if f is not None and f != v
    ]
    taken = sum(f is not None for f in fast)
    print(f"samples {len(samples):,}: fast path {taken:,}, validator only {len(samples) - taken:,}")
    print(f"mismatches: {len(mismatches)}", *mismatches[:10], sep="\n  ")
    print(f"fast path: {fast_seconds / len(samples) * 1e6:.2f} µs per sample (all samples)")
    print(f"validator: {full_seconds / len(samples) * 1e6:.2f} µs per sample")


if __name__ == "__main__":
    main()
