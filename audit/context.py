"""Who is acting, from where: set per request by the middleware, read by ``audit_log``."""

from contextvars import ContextVar

current_ip: ContextVar[str | None] = ContextVar("audit_current_ip", default=None)
