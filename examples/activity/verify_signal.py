#!/usr/bin/env python3
"""Verify a signed signal (e.g. a heart-rate bridge's) and print its values for a policy `command` source.

The bridge writes SIGNAL (JSON: {"ok": true, "bpm": 128, "at": <epoch seconds>}) and signs it with its own SSH key
(`ssh-keygen -Y sign -f bridge_key -n policy-signal SIGNAL` writes SIGNAL.sig). This checks the signature against
the bridge's public key in SIGNERS (an allowed_signers file: `hr-bridge ssh-ed25519 AAAA...`), and that the signal
is at most MAX_AGE seconds old, then prints the JSON without `at`. Anything else exits 1 with the reason on stderr,
so the source fails and the gate closes. Only the public key lives on this machine: the agent, which can read and
write the user's files, cannot make a signal that verifies.

    verify_signal.py --signal ~/.cache/hr/signal.json --signers ~/.config/policy/hr_signers [--identity hr-bridge]
                     [--max-age 60]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

NAMESPACE = "policy-signal"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Verify a signed signal and print its values as JSON.")
    parser.add_argument("--signal", required=True, help="the signal file (JSON); its signature is SIGNAL.sig")
    parser.add_argument("--signers", required=True, help="an ssh allowed_signers file with the bridge's key")
    parser.add_argument("--identity", default="hr-bridge", help="the signer's name in SIGNERS")
    parser.add_argument("--max-age", type=float, default=60.0, help="seconds a signal stays good (default 60)")
    args = parser.parse_args(argv)
    signal = os.path.expanduser(args.signal)
    try:
        with open(signal, "rb") as handle:
            data = handle.read(1 << 16)
    except OSError as error:
        return fail(f"cannot read {signal}: {error.strerror}")
    checked = subprocess.run(
        ["ssh-keygen", "-Y", "verify", "-f", os.path.expanduser(args.signers), "-I", args.identity, "-n", NAMESPACE,
         "-s", signal + ".sig"], input=data, capture_output=True, timeout=5)
    if checked.returncode != 0:
        return fail("the signature does not verify: "
                    + (checked.stderr.decode("utf-8", "replace").strip().splitlines() or ["no reason given"])[0])
    try:
        values = json.loads(data)
        age = time.time() - float(values.pop("at"))
    except (ValueError, TypeError, KeyError, AttributeError):
        return fail("the signal is not a JSON object with `at` (epoch seconds)")
    if not -5 <= age <= args.max_age:
        return fail(f"the signal is {age:.0f}s old (at most {args.max_age:g}s)")
    print(json.dumps(values))
    return 0


def fail(reason: str) -> int:
    print(reason, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
