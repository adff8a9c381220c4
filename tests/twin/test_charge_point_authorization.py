"""The authorisation cache and the local authorisation list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from worker.twin.authorization import Authorizer, LocalListEntry
from worker.twin.protocol import IdTagInfo

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_local_list_wins_over_the_cache() -> None:
    auth = Authorizer()
    auth.remember("TAG", IdTagInfo("Blocked"))
    assert auth.local_answer("TAG", NOW, use_list=True, use_cache=True).status == "Blocked"
    auth.update_list(1, "Full", [LocalListEntry("TAG", IdTagInfo("Accepted"))])
    assert auth.local_answer("TAG", NOW, use_list=True, use_cache=True).accepted
    assert auth.local_answer("TAG", NOW, use_list=False, use_cache=True).status == "Blocked"
    assert auth.local_answer("OTHER", NOW, use_list=True, use_cache=True) is None


def test_expired_entries_read_as_expired() -> None:
    auth = Authorizer()
    auth.remember("TAG", IdTagInfo("Accepted", expiry_date=NOW - timedelta(seconds=1)))
    assert auth.local_answer("TAG", NOW, use_list=True, use_cache=True).status == "Expired"
    auth.clear_cache()
    assert auth.local_answer("TAG", NOW, use_list=True, use_cache=True) is None


def test_differential_updates_need_a_newer_version() -> None:
    auth = Authorizer()
    assert auth.update_list(2, "Full", [LocalListEntry("A", IdTagInfo("Accepted"))]) == "Accepted"
    assert auth.update_list(2, "Differential", []) == "VersionMismatch"
    status = auth.update_list(
        3, "Differential", [LocalListEntry("A", None), LocalListEntry("B", IdTagInfo("Accepted"))]
    )
    assert status == "Accepted"
    assert (auth.list_version, auth.listed("A"), auth.list_size()) == (3, None, 1)
    assert auth.update_list(1, "Full", []) == "Accepted"
    assert (auth.list_version, auth.list_size()) == (1, 0)
