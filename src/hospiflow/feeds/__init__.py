"""Live feeds into a site: HL7 v2 ADT over MLLP, REST pushes, and replays of past days.

| module | job |
| --- | --- |
| ``apply.py`` | ``SiteFeed``: visits and ADT changes -> a site's run, one transaction a batch |
| ``adt.py`` | one ADT frame -> a checked ``Message`` or a ``Bad``; the ACK |
| ``mllp.py`` | the asyncio MLLP listener: framing, limits, ACK after commit |
| ``replay.py`` | re-send a site's history through MLLP or REST as if it happened now |

Imports (``hospiflow.ingest.pipeline``) rebuild a run's rollups in their
transaction; feeds commit every message or batch at once and leave the
rollups to ``SiteFeed.refresh_rollups``, called every few seconds, since a
rebuild per message would cost more than the message (``feed_state.rollups_dirty``
says a refresh is due, even after a crash).
"""
