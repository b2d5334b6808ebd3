"""A Redis cache that degrades to "always miss" while Redis is unreachable.

Django's RedisCache raises on a lost connection, which would turn every page that reads the
cache (and every throttled API call) into a 500 during a Redis outage. Here a failed call is
logged, answers as a miss, and Redis is not tried again for a few seconds so requests do not
each wait for a connection timeout.
"""

import logging
import time

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)
RETRY_AFTER_SECONDS = 5.0


class ReusingRedisCacheClient(RedisCacheClient):
    """Django's client builds a ``redis.Redis`` object (some 170 dictionary writes) for every cache
    call, four times per throttled API request; one per connection pool serves them all (they are
    thread-safe and share the pool's connections)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        if index not in self._clients:
            self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return self._clients[index]


class ResilientRedisCache(RedisCache):
    _down_until = 0.0

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusingRedisCacheClient

    def _guard(self, method, default, *args, **kwargs):
        if self._down_until and time.monotonic() < self._down_until:
            return default
        try:
            result = getattr(super(), method)(*args, **kwargs)
        except _UNAVAILABLE as exc:
            if not self._down_until:
                logger.warning("Redis cache unavailable (%s); serving without cache", exc.__class__.__name__)
            self._down_until = time.monotonic() + RETRY_AFTER_SECONDS
            return default
        if self._down_until:
            logger.warning("Redis cache available again")
            self._down_until = 0.0
        return result

    def get(self, key, default=None, version=None):
        return self._guard("get", default, key, default, version)

    def set(self, key, value, timeout=None, version=None):
        self._guard("set", None, key, value, timeout, version)

    def add(self, key, value, timeout=None, version=None):
        return self._guard("add", False, key, value, timeout, version)

    def touch(self, key, timeout=None, version=None):
        return self._guard("touch", False, key, timeout, version)

    def delete(self, key, version=None):
        return self._guard("delete", False, key, version)

    def get_many(self, keys, version=None):
        return self._guard("get_many", {}, keys, version)

    def set_many(self, data, timeout=None, version=None):
        return self._guard("set_many", list(data), data, timeout, version)

    def delete_many(self, keys, version=None):
        self._guard("delete_many", None, keys, version)

    def has_key(self, key, version=None):
        return self._guard("has_key", False, key, version)

    def incr(self, key, delta=1, version=None):
        result = self._guard("incr", None, key, delta, version)
        if result is None:
            raise ValueError(f"Key '{key}' not found (cache unavailable)")
        return result

    def get_or_set(self, key, default, timeout=None, version=None):
        value = self.get(key, version=version)
        if value is None:
            value = default() if callable(default) else default
            if value is not None:
                self.add(key, value, timeout=timeout, version=version)
        return value

    def clear(self):
        return self._guard("clear", False)
