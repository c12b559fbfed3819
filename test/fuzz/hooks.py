"""Schemathesis hooks of the fuzz stage (test/helpers/fuzz.ts sets FUZZ_OPEN_IDS).

Valid open_ids are mostly swapped for users the Feishu sandbox knows, so accepted requests reach
the code that sends cards, reads grants and revokes instead of ending in 404s; one in four stays
unknown, for the paths where Feishu has no such user. A valid expires_in_seconds becomes a day,
so no attempt expires mid-run. Invalid values are left as generated.
"""

import hashlib
import os
import re

import schemathesis

KNOWN = [open_id for open_id in os.environ.get("FUZZ_OPEN_IDS", "").split(",") if open_id]
OPEN_ID = re.compile(r"^ou_[A-Za-z0-9_-]{1,64}$")


def _mostly_known(value):
    if not KNOWN or not isinstance(value, str) or not OPEN_ID.match(value):
        return value
    digest = int(hashlib.sha256(value.encode()).hexdigest(), 16)
    return KNOWN[digest % len(KNOWN)] if digest % 4 else value


# An attempt lives this long at most (the fuzz stack's default): one that expires mid-run changes
# its grant and workflow with no request to blame.
ATTEMPT_LIFETIME_SECONDS = 86400


def _outlives_run(body):
    expires = body.get("expires_in_seconds")
    if isinstance(expires, int) and not isinstance(expires, bool) and 30 <= expires <= ATTEMPT_LIFETIME_SECONDS:
        body["expires_in_seconds"] = ATTEMPT_LIFETIME_SECONDS


@schemathesis.hook
def map_case(context, case):
    if case.path_parameters and "openId" in case.path_parameters:
        case.path_parameters["openId"] = _mostly_known(case.path_parameters["openId"])
    if case.operation.path.startswith("/v1/authorizations:batch") and isinstance(case.body, dict):
        # A valid list (at most 1,000 well-formed open_ids) is cut to its first, mostly known, user:
        # the witness waits for each accepted batch, and a thousand unknown users would hold the
        # serial fuzzer for a minute. Invalid lists stay as generated, so they are still refused.
        open_ids = case.body.get("open_ids")
        if (
            isinstance(open_ids, list)
            and 0 < len(open_ids) <= 1000
            and all(isinstance(i, str) and OPEN_ID.match(i) for i in open_ids)
        ):
            case.body["open_ids"] = [_mostly_known(open_ids[0])]
        _outlives_run(case.body)
    if case.operation.path == "/v1/authorizations" and case.method.upper() == "POST":
        if isinstance(case.body, dict) and "open_id" in case.body:
            case.body["open_id"] = _mostly_known(case.body["open_id"])
        if isinstance(case.body, dict):
            _outlives_run(case.body)
        # A valid ?wait=N holds the serial fuzzer up to N seconds while nobody answers the card.
        wait = (case.query or {}).get("wait")
        if isinstance(wait, (int, str)) and str(wait).isdigit() and 0 < int(wait) <= 120:
            case.query["wait"] = 0
    return case
