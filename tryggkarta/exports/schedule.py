"""When an export is due: schedules like ``MON 06:00``, ``DAILY 06:00`` or ``HOURLY``.

Times are wall-clock times in the installation's time zone (``TRYGGKARTA_TIMEZONE``). The scheduler is the operating system's: a cron
line or systemd timer runs ``tryggkarta exports run --due`` every few minutes, and this
module decides which schedules are due — so a missed run (server down on Monday 06:00) is
caught up on the next call instead of waiting a week.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tryggkarta.config import local_timezone
from tryggkarta.errors import BadInput

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_PATTERN = re.compile(
    r"^(?:(?P<day>MON|TUE|WED|THU|FRI|SAT|SUN|DAILY)\s+(?P<h>\d{1,2}):(?P<m>\d{2})|(?P<hourly>HOURLY))$"
)


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: a weekday (0 = Monday) or every day, at local ``hour:minute``."""

    text: str
    weekday: int | None  # None = every day
    hour: int
    minute: int
    hourly: bool = False

    def last_slot(self, now: datetime) -> datetime:
        """The most recent moment (UTC) at or before ``now`` when this schedule fires."""
        zone = local_timezone()
        local = now.astimezone(zone)
        if self.hourly:
            slot = local.replace(minute=0, second=0, microsecond=0)
            return slot.astimezone(UTC)
        slot = local.replace(hour=self.hour, minute=self.minute, second=0, microsecond=0)
        if self.weekday is None:
            if slot > local:
                slot -= timedelta(days=1)
        else:
            slot -= timedelta(days=(slot.weekday() - self.weekday) % 7)
            if slot > local:
                slot -= timedelta(days=7)
        # re-attach the zone after date arithmetic so DST changes keep the wall-clock time
        naive = slot.replace(tzinfo=None)
        return naive.replace(tzinfo=zone).astimezone(UTC)

    def is_due(self, last_run: datetime | None, now: datetime) -> bool:
        """Due when the latest slot is after the last run (or there was none)."""
        slot = self.last_slot(now)
        return last_run is None or last_run < slot


def parse_schedule(text: str) -> Schedule:
    value = " ".join((text or "").upper().split())
    match = _PATTERN.match(value)
    if not match:
        raise BadInput(
            f"Schedule {text!r} is not understood; use e.g. 'MON 06:00', 'DAILY 06:00' or 'HOURLY'."
        )
    if match.group("hourly"):
        return Schedule(value, None, 0, 0, hourly=True)
    hour, minute = int(match.group("h")), int(match.group("m"))
    if hour > 23 or minute > 59:
        raise BadInput(f"Schedule {text!r} has no such time of day.")
    day = match.group("day")
    return Schedule(value, None if day == "DAILY" else DAYS.index(day), hour, minute)
