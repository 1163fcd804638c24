"""Keyed email hashes: the key, its file, and a reader that holds it or not.
(The shared vectors keyed-emails*.json cover the decisions themselves.)"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support import KubeletDir, document, user_ban  # noqa: E402

from interdict_blocklist import Blocklist, EmailKey, Query, decide, hash_email, load_dir  # noqa: E402

KEY = b"interdict-test-email-key-0001"
# Computed apart from the package: hmac.new(KEY, b"sha256:7a64...", hashlib.sha256).
ALICE_KEYED = "hmac-sha256:91813912:64fdda11a7cbd99d8d076cbcbd65d7e1d637f5cfb98e5417b2d0a0ea260705e0"
OTHER = b"another-key-fedcba9876543210"
AT = "2027-01-15T09:00:00Z"


class EmailKeyTests(unittest.TestCase):
    def test_keyed_hash_is_hmac_of_the_unkeyed_hash(self):
        key = EmailKey(KEY)
        self.assertEqual(key.id, "91813912")
        self.assertEqual(key.hash_email(" Alice+x@Example.ORG"), ALICE_KEYED)
        self.assertEqual(key.keyed(hash_email("alice@example.org")), ALICE_KEYED)
        self.assertEqual(EmailKey(KEY.decode()).id, key.id, "text is its UTF-8 bytes")

    def test_key_files_lose_surrounding_blanks_only(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "key")
            with open(path, "wb") as f:
                f.write(b"\n " + KEY + b"\r\n")
            self.assertEqual(EmailKey.from_file(path).id, "91813912")
        self.assertNotEqual(EmailKey.from_file_contents(b"interdict test email key 0001").id, "91813912")
        with self.assertRaisesRegex(ValueError, "5 bytes; at least 16"):
            EmailKey.from_file_contents(b"  short \n")

    def test_the_key_never_prints(self):
        self.assertEqual(repr(EmailKey(KEY)), "EmailKey(id='91813912')")

    def test_a_path_is_not_a_key(self):
        with tempfile.TemporaryDirectory() as tmp:
            with self.assertRaisesRegex(TypeError, "EmailKey.from_file"):
                load_dir(tmp, email_key="/etc/interdict-key/key")  # type: ignore[arg-type]


class KeyedReaderTests(unittest.TestCase):
    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        other = hmac.new(OTHER, hash_email("bob@example.org").encode(), hashlib.sha256).hexdigest()
        self.other_id = hashlib.sha256(OTHER).hexdigest()[:8]
        KubeletDir(self.dir).publish({"blocklist.json": document([
            user_ban("UserBan/alice", {"email": ALICE_KEYED}),
            user_ban("UserBan/bob", {"email": f"hmac-sha256:{self.other_id}:{other}"}),
        ])})

    def tearDown(self):
        self._tmp.cleanup()

    def test_the_key_travels_with_loaded_contents(self):
        contents = load_dir(self.dir, email_key=EmailKey(KEY))
        self.assertFalse(decide(contents, Query(feature="x", email="alice@example.org"), AT).allowed)
        unkeyed = load_dir(self.dir)
        self.assertTrue(decide(unkeyed, Query(feature="x", email="alice@example.org"), AT).allowed)
        # An explicit key wins over the one the contents came with.
        self.assertFalse(
            decide(unkeyed, Query(feature="x", email="alice@example.org"), AT, email_key=KEY).allowed
        )

    def test_entries_under_another_key_are_warned_about_once_per_copy_and_counted(self):
        logger = logging.getLogger("test-keyed")
        with self.assertLogs(logger, "WARNING") as logs:
            blocklist = Blocklist(self.dir, background=False, email_key=EmailKey(KEY), logger=logger)
            blocklist.reload()  # unchanged: not read again, not warned again
        warnings = [r.getMessage() for r in logs.records if self.other_id in r.getMessage()]
        self.assertEqual(len(warnings), 1, logs.output)
        self.assertIn("this reader has key 91813912", warnings[0])
        self.assertEqual(blocklist.stats()["emailKeyMismatches"], 1)
        self.assertEqual(blocklist.foreign_email_keys, {self.other_id: 1})
        self.assertFalse(blocklist.decide(Query(feature="x", email="Alice@Example.org"), AT).allowed)
        self.assertTrue(blocklist.decide(Query(feature="x", email="bob@example.org"), AT).allowed)

        keyless = Blocklist(self.dir, background=False)
        self.assertEqual(keyless.foreign_email_keys, {"91813912": 1, self.other_id: 1})
        self.assertEqual(keyless.stats()["emailKeyMismatches"], 2)


if __name__ == "__main__":
    unittest.main()
