"""Local authorisation: the authorisation cache and the local authorisation list.

Both versions of OCPP have the same two stores (1.6 §3.5, 2.0.1 C.Authorization):
the cache remembers the CSMS's answers to Authorize / StartTransaction; the local
list is pushed by the CSMS (SendLocalList) with a version number. The local list
wins over the cache. Both dictionaries are created only when first filled, so an
idle twin pays nothing for them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from worker.twin.state import id_tag_info_from_state, id_tag_info_to_state
from worker.twin.values import IdTagInfo

UpdateType = Literal["Full", "Differential"]
UpdateStatus = Literal["Accepted", "Failed", "NotSupported", "VersionMismatch"]


@dataclass(frozen=True, slots=True)
class LocalListEntry:
    id_tag: str
    info: IdTagInfo | None
    """None in a differential update means: remove this id tag."""


class Authorizer:
    """The cache and the local list of one charge point."""

    __slots__ = ("_cache", "_list", "changed", "list_version")

    def __init__(self, changed: Callable[[], None] | None = None) -> None:
        self._cache: dict[str, IdTagInfo] | None = None
        self._list: dict[str, IdTagInfo] | None = None
        self.list_version = 0
        #: Called after every change (the twin's state store hook).
        self.changed = changed

    def _changed(self) -> None:
        if self.changed is not None:
            self.changed()

    # -- state ---------------------------------------------------------------------

    def save_state(self) -> dict[str, Any]:
        return {
            "list_version": self.list_version,
            "local_list": {tag: id_tag_info_to_state(i) for tag, i in (self._list or {}).items()},
            "cache": {tag: id_tag_info_to_state(i) for tag, i in (self._cache or {}).items()},
        }

    def restore_state(self, data: dict[str, Any]) -> None:
        self.list_version = int(data.get("list_version", 0))
        listed = {t: id_tag_info_from_state(i) for t, i in data.get("local_list", {}).items()}
        cached = {t: id_tag_info_from_state(i) for t, i in data.get("cache", {}).items()}
        self._list = listed or None
        self._cache = cached or None

    # -- cache -------------------------------------------------------------------

    def remember(self, id_tag: str, info: IdTagInfo) -> None:
        """Store a CSMS answer in the cache."""
        if self._cache is None:
            self._cache = {}
        if self._cache.get(id_tag) != info:
            self._cache[id_tag] = info
            self._changed()

    def clear_cache(self) -> None:
        if self._cache is not None:
            self._cache = None
            self._changed()

    def cached(self, id_tag: str) -> IdTagInfo | None:
        return self._cache.get(id_tag) if self._cache else None

    # -- local list --------------------------------------------------------------

    def listed(self, id_tag: str) -> IdTagInfo | None:
        return self._list.get(id_tag) if self._list else None

    def list_size(self) -> int:
        return len(self._list) if self._list else 0

    def update_list(
        self, version: int, update_type: UpdateType, entries: list[LocalListEntry]
    ) -> UpdateStatus:
        """Apply a SendLocalList. A differential update must carry a newer version."""
        if update_type == "Differential":
            if version <= self.list_version:
                return "VersionMismatch"
            current = dict(self._list or {})
            for entry in entries:
                if entry.info is None:
                    current.pop(entry.id_tag, None)
                else:
                    current[entry.id_tag] = entry.info
        else:
            current = {entry.id_tag: entry.info for entry in entries if entry.info is not None}
        self._list = current or None
        self.list_version = version
        self._changed()
        return "Accepted"

    # -- decision ----------------------------------------------------------------

    def local_answer(
        self, id_tag: str, now: datetime, *, use_list: bool, use_cache: bool
    ) -> IdTagInfo | None:
        """What the charge point knows about this id tag without asking the CSMS.

        The local list comes first; an expired entry reads as Expired. None means
        the id tag is unknown locally.
        """
        info = self.listed(id_tag) if use_list else None
        if info is None and use_cache:
            info = self.cached(id_tag)
        if info is None:
            return None
        if info.accepted and info.expiry_date is not None and info.expiry_date <= now:
            return IdTagInfo("Expired", info.expiry_date, info.parent_id_tag)
        return info
