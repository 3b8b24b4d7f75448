"""Settings of the supervisors' and agents' web monitor (section `monitor`)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class MonitorSettings(BaseModel):
    """Env vars: VOICEBOT_MONITOR__<KEY>."""

    enabled: bool = Field(default=True, description="Serve the monitor pages and API on the HTTP port")
    session_ttl_s: int = Field(default=8 * 3600, description="A login session lasts this long")
    cookie_secure: bool | None = Field(
        default=None,
        description="Secure flag of the session cookie; None: set when the request came over HTTPS",
    )
    login_max_failures: int = Field(
        default=5, description="Failed logins allowed per (address, user) within login_window_s"
    )
    login_window_s: int = Field(default=900, description="Window of the login rate limit, seconds")
    login_delay_s: float = Field(
        default=0.3, description="Extra delay added to each failed login (slows brute force)"
    )
    queues: list[str] = Field(
        default_factory=lambda: ["accueil", "transport", "lycees", "aides"],
        description="Agent queues a supervisor can transfer a call to",
    )
    history_page_size: int = Field(default=50, description="Ended calls per history page")
    reap_interval_s: float = Field(
        default=5.0, description="How often dead workers' open calls are looked for"
    )
    gap_cluster_interval_s: float = Field(
        default=30.0, description="How often new unanswered questions are grouped into topics (0: only on page load)"
    )
