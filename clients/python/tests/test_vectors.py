"""Every shared vector of tests/vectors/ (the Rust suite runs the same files)."""

from __future__ import annotations

import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support import VECTORS_DIR, lay_out, load_vectors  # noqa: E402

from interdict_blocklist import (  # noqa: E402
    Blocklist,
    BlocklistError,
    EmailKey,
    Index,
    Query,
    canonical_email,
    blocks_of,
    decide,
    hash_email,
    load_dir,
    parse_time,
    silence_of,
)

VECTORS = load_vectors()


class VectorTests(unittest.TestCase):
    def test_vectors_exist(self):
        self.assertTrue(os.path.isdir(VECTORS_DIR), VECTORS_DIR)
        kinds = {("emails" in v, "expectError" in v, "cases" in v) for v in VECTORS.values()}
        self.assertGreaterEqual(len(VECTORS), 10)
        self.assertTrue(kinds <= {(True, False, False), (False, True, False), (False, False, True)}, kinds)

    def run_vector(self, filename: str, vector: dict) -> None:
        if "emails" in vector:
            for item in vector["emails"]:
                with self.subTest(input=item["input"]):
                    self.assertEqual(canonical_email(item["input"]), item["canonical"])
                    self.assertEqual(hash_email(item["input"]), item["hash"])
            return
        with tempfile.TemporaryDirectory() as tmp:
            lay_out(tmp, vector["files"], vector.get("layout", "plain"))
            if vector.get("expectError"):
                with self.assertRaises(BlocklistError) as caught:
                    load_dir(tmp)
                if vector.get("errorFile"):
                    self.assertIn(vector["errorFile"], str(caught.exception))
                # A watcher refuses it too: nothing loaded, or an error when required.
                watched = Blocklist(tmp, background=False)
                self.assertFalse(watched.loaded)
                self.assertEqual(watched.entries, ())
                with self.assertRaises(BlocklistError):
                    Blocklist(tmp, background=False, require_initial=True)
                return
            # `emailKey`: the reader holds the operator's key (the text's UTF-8 bytes).
            key = EmailKey(vector["emailKey"]) if "emailKey" in vector else None
            contents = load_dir(tmp, email_key=key)
            # Items left out: by file (under the given directory), list, position and id.
            skipped = [
                {
                    "file": os.path.relpath(s.file, tmp),
                    "list": s.item.list,
                    "index": s.item.index,
                    "id": s.item.id,
                }
                for s in contents.skipped
            ]
            self.assertEqual(skipped, vector.get("expectSkipped", []), filename)
            self.assertTrue(all(s.item.reason for s in contents.skipped))
            entries, exemptions = list(contents.entries), list(contents.exemptions)
            revocations = list(contents.revocations)
            watched = Blocklist(tmp, background=False, email_key=key)
            foreign = vector.get("expectForeignEmailKeys", {})
            self.assertEqual(watched.foreign_email_keys, foreign, filename)
            self.assertEqual(watched.stats()["emailKeyMismatches"], sum(foreign.values()))
            self.assertEqual(watched.contents, contents)
            self.assertEqual(watched.skipped, contents.skipped)
            self.assertEqual(watched.stats()["skipped"], len(skipped))
            self.assertEqual(list(watched.entries), entries)
            self.assertEqual(list(watched.exemptions), exemptions)
            self.assertEqual(list(watched.revocations), revocations)
            index = Index(contents)
            self.assertEqual(index.foreign_email_keys(), foreign, filename)
            reversed_index = Index(
                reversed(entries), reversed(exemptions), reversed(revocations), email_key=key
            )
            for case in vector["cases"]:
                with self.subTest(case=case["name"]):
                    if case.get("expectQueryError"):
                        # Refused before any decision: the query names nobody.
                        self.assertNotIn("expect", case, f"{filename}: {case['name']}")
                        with self.assertRaises(ValueError):
                            Query.from_json(case["query"])
                        continue
                    query = Query.from_json(case["query"])
                    at = parse_time(case["at"])
                    # The linear reference...
                    got = decide(contents, query, at).to_json()
                    self.assertEqual(got, case["expect"], f"{filename}: {case['name']}")
                    self.assertEqual(
                        decide(
                            entries,
                            query,
                            at,
                            exemptions=exemptions,
                            revocations=revocations,
                            email_key=key,
                        ).to_json(),
                        got,
                    )
                    # Entry order never matters.
                    rev = decide(
                        list(reversed(entries)),
                        query,
                        at,
                        exemptions=list(reversed(exemptions)),
                        revocations=list(reversed(revocations)),
                        email_key=key,
                    )
                    self.assertEqual(rev.to_json(), got)
                    # ...and the indexed paths, on their own and through the watcher.
                    self.assertEqual(index.decide(query, at).to_json(), got)
                    self.assertEqual(reversed_index.decide(query, at).to_json(), got)
                    self.assertEqual(watched.decide(query, case["at"]).to_json(), got)
                    loaded = watched.contents
                    silence = watched.silence_for(query, at)
                    self.assertIs(silence, silence_of(loaded, query, at))
                    self.assertEqual(silence is not None, got.get("contentHidden", False))
                    self.assertEqual(
                        [id(e) for e in watched.blocks_for(query, now=at)],
                        [id(e) for e in blocks_of(loaded, query, at)],
                    )


def _make(filename: str, vector: dict):
    def test(self):
        self.run_vector(filename, vector)

    test.__doc__ = f"{filename}: {vector.get('name', '')}"
    return test


for _filename, _vector in VECTORS.items():
    _name = "test_" + _filename[: -len(".json")].replace("-", "_")
    setattr(VectorTests, _name, _make(_filename, _vector))


if __name__ == "__main__":
    unittest.main()
