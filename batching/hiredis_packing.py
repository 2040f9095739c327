"""Redis commands packed into RESP by hiredis (C) instead of redis-py's Python packer.

redis-py's synchronous client packs with hiredis when it is installed; its asyncio client always
packs in Python, which cost the API about a tenth of its CPU per job (each submit packs a job
record, a lane entry and a script call: ~94 us in Python, ~31 us in hiredis). The connection
classes here are redis-py's, with its own hiredis serializer (redis.connection.
HiredisRespSerializer: the same bytes, the same DataError for a value Redis cannot take); pools
take them through redis-py's `connection_class` option.
"""

import functools

from redis.connection import HiredisRespSerializer
from redis.utils import HIREDIS_AVAILABLE

_SERIALIZER = HiredisRespSerializer()


class HiredisPacking:
    def pack_command(self, *args) -> list[bytes]:
        return _SERIALIZER.pack(*args)

    def pack_commands(self, commands) -> list[bytes]:
        return [b"".join(chunk for command in commands for chunk in _SERIALIZER.pack(*command))]


@functools.cache
def packed_by_hiredis(connection_class: type) -> type:
    """`connection_class` packing with hiredis (itself when hiredis is missing)."""
    if not HIREDIS_AVAILABLE:
        return connection_class
    return type(connection_class.__name__, (HiredisPacking, connection_class), {"__module__": __name__})
