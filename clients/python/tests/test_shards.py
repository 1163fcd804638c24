"""`load_dir` reads one version of a kubelet mount and only a complete shard set."""

from __future__ import annotations

import builtins
import os
import sys
import tempfile
import unittest
from typing import Any, Callable, Dict, List
from unittest import mock

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tests.support import KubeletDir, document, lay_out, user_ban  # noqa: E402

from interdict_blocklist import BlocklistError, load_dir  # noqa: E402
from interdict_blocklist import reader  # noqa: E402


def generation(tag: str, count: int) -> Dict[str, Any]:
    """A complete set of `count` shards whose entries are `UserBan/<tag><index>`."""
    files: Dict[str, Any] = {}
    for index in range(count):
        entry = user_ban(f"UserBan/{tag}{index}", {"userId": f"{tag}{index}"})
        suffix = "" if index == 0 else f"-{index}"
        files[f"blocklist{suffix}.json"] = document([entry], index=index, count=count)
        files[f"suspended-user-ids{suffix}.txt"] = ""
    return files


def ids(contents) -> List[str]:
    return sorted(e.id for e in contents.entries)


OLD = ["UserBan/old0", "UserBan/old1"]
NEW = ["UserBan/new0", "UserBan/new1", "UserBan/new2", "UserBan/new3"]


class SwapDuringReadTests(unittest.TestCase):
    """kubelet swaps `..data` between two document reads of one `load_dir`."""

    def setUp(self):
        self._tmp = tempfile.TemporaryDirectory()
        self.dir = self._tmp.name
        self.kubelet = KubeletDir(self.dir)
        self.kubelet.publish(generation("old", 2))

    def tearDown(self):
        self._tmp.cleanup()

    def load_swapping(self, swap: Callable[[int], None]) -> Any:
        """`load_dir` with `swap(n)` called right after the n-th document file is
        opened (n from 1)."""
        opened = [0]

        def opening(path, *args, **kwargs):
            handle = builtins.open(path, *args, **kwargs)
            if reader.is_document_file(os.path.basename(os.fspath(path))):
                opened[0] += 1
                swap(opened[0])
            return handle

        with mock.patch.object(reader, "open", opening, create=True):
            return load_dir(self.dir)

    def assert_one_version(self, got: List[str]) -> None:
        self.assertIn(got, (OLD, NEW), "shards of two versions merged")

    def test_swap_to_another_shard_count_never_mixes(self):
        def swap(n):
            if n == 1:
                self.kubelet.publish(generation("new", 4))

        got = ids(self.load_swapping(swap))
        self.assert_one_version(got)
        self.assertEqual(got, NEW, "a version replaced during the read is read again")

    def test_swap_keeping_the_old_version_directory(self):
        old_version = os.path.realpath(os.path.join(self.dir, "..data"))
        keep = os.path.join(self.dir, "..kept")
        os.rename(old_version, keep)
        os.symlink("..kept", os.path.join(self.dir, "..data_tmp"))
        os.rename(os.path.join(self.dir, "..data_tmp"), os.path.join(self.dir, "..data"))
        self.kubelet.current = None  # the next publish leaves ..kept in place

        def swap(n):
            if n == 1:
                self.kubelet.publish(generation("new", 4))

        got = ids(self.load_swapping(swap))
        self.assert_one_version(got)
        self.assertTrue(os.path.isdir(keep))

    def test_endless_swaps_raise_rather_than_mix(self):
        def swap(n):
            # Alternate shard counts so that any mix is visible.
            self.kubelet.publish(generation("new", 4) if n % 2 else generation("old", 2))

        try:
            got = ids(self.load_swapping(swap))
        except BlocklistError as e:
            # Never kubelet's version directory: the file as the application sees it.
            self.assertTrue(e.path and e.path.startswith(self.dir), e.path)
            self.assertNotIn(os.sep + "..20", e.path)
        else:
            self.assert_one_version(got)

    def test_reads_the_version_data_points_to(self):
        self.assertEqual(ids(load_dir(self.dir)), OLD)
        self.assertEqual(
            reader.snapshot_dir(self.dir), os.path.realpath(os.path.join(self.dir, "..data"))
        )
        self.kubelet.publish(generation("new", 4))
        self.assertEqual(ids(load_dir(self.dir)), NEW)


class ShardSetTests(unittest.TestCase):
    def load(self, files: Dict[str, Any], layout: str = "plain") -> BlocklistError:
        with tempfile.TemporaryDirectory() as tmp:
            lay_out(tmp, files, layout)
            with self.assertRaises(BlocklistError) as caught:
                load_dir(tmp)
            error = caught.exception
            self.assertEqual(error.kind, "shards", error)
            self.assertEqual(error.path, tmp)
            self.assertIn(f"inconsistent blocklist shards in {tmp}: ", str(error))
            return error

    def doc(self, index: int, count: int, tag: str = "x") -> Dict[str, Any]:
        entry = user_ban(f"UserBan/{tag}{index}", {"userId": f"{tag}{index}"})
        return document([entry], index=index, count=count)

    def test_different_counts(self):
        for layout in ("plain", "kubelet"):
            with self.subTest(layout=layout):
                error = self.load(
                    {"blocklist.json": self.doc(0, 2), "blocklist-1.json": self.doc(1, 4)}, layout
                )
                self.assertIn(
                    "disagree on the shard count (blocklist-1.json: 4, blocklist.json: 2)", str(error)
                )
                self.assertNotIn("..20", str(error))

    def test_duplicate_index(self):
        error = self.load({"blocklist.json": self.doc(0, 2), "blocklist-1.json": self.doc(0, 2, "y")})
        self.assertIn("blocklist-1.json and blocklist.json are both shard 0 of 2", str(error))

    def test_missing_index(self):
        error = self.load({"blocklist.json": self.doc(0, 4), "blocklist-2.json": self.doc(2, 4)})
        self.assertIn("missing shard 1, 3 of 4 (blocklist-1.json, blocklist-3.json)", str(error))
        error = self.load({"blocklist-1.json": self.doc(1, 2)})
        self.assertIn("missing shard 0 of 2 (blocklist.json)", str(error))

    def test_index_out_of_range(self):
        error = self.load({"blocklist.json": self.doc(0, 2), "blocklist-2.json": self.doc(2, 2)})
        self.assertIn("blocklist-2.json is shard 2, out of range for a count of 2", str(error))
        error = self.load({"blocklist.json": self.doc(0, 0)})
        self.assertIn("blocklist.json is shard 0, out of range for a count of 0", str(error))

    def test_complete_sets_load_whatever_the_file_names(self):
        with tempfile.TemporaryDirectory() as tmp:
            lay_out(tmp, {"blocklist-a.json": self.doc(1, 2), "blocklist-b.json": self.doc(0, 2)})
            self.assertEqual(ids(load_dir(tmp)), ["UserBan/x0", "UserBan/x1"])

    def test_malformed_documents_are_reported_before_the_set(self):
        with tempfile.TemporaryDirectory() as tmp:
            lay_out(tmp, {"blocklist.json": self.doc(0, 2), "blocklist-1.json": "{oops"})
            with self.assertRaises(BlocklistError) as caught:
                load_dir(tmp)
            self.assertEqual(caught.exception.kind, "document")
            self.assertEqual(caught.exception.path, os.path.join(tmp, "blocklist-1.json"))

    def test_a_dangling_data_link_names_the_mounted_directory(self):
        with tempfile.TemporaryDirectory() as tmp:
            os.symlink("..2026_gone", os.path.join(tmp, "..data"))
            with self.assertRaises(BlocklistError) as caught:
                load_dir(tmp)
            self.assertEqual((caught.exception.kind, caught.exception.path), ("dir", tmp))
            self.assertNotIn("..2026_gone", str(caught.exception))

    def test_data_that_is_not_a_symlink_is_ignored(self):
        with tempfile.TemporaryDirectory() as tmp:
            lay_out(tmp, {"blocklist.json": self.doc(0, 1), "..data": "not a link"})
            self.assertEqual(reader.snapshot_dir(tmp), tmp)
            self.assertEqual(ids(load_dir(tmp)), ["UserBan/x0"])


if __name__ == "__main__":
    unittest.main()
