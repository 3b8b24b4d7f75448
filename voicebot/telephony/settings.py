"""Settings of the SIP/RTP entry.

Mounted by ``voicebot.config`` as the ``sip`` section: env vars ``VOICEBOT_SIP__<KEY>``.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class SipSettings(BaseModel):
    """The SIP entry: addresses, ports, who may call, limits, digest users, agent queues, timers."""

    enabled: bool = Field(False, description="Start the SIP endpoint with `voicebot serve`.")
    host: str = Field("127.0.0.1", description="Address the SIP endpoint listens on (UDP).")
    port: int = Field(5060, ge=0, le=65535, description="UDP port of the SIP endpoint (0: any free port).")
    public_host: str = Field("", description="Address written in Contact, Via and SDP (default: host; "
                                             "required when host is 0.0.0.0 or ::).")
    rtp_host: str = Field("", description="Address RTP sockets bind to (default: host); SDP shows public_host.")
    rtp_port_min: int = Field(40000, ge=1024, le=65535, description="Lowest RTP port (even ports are used).")
    rtp_port_max: int = Field(40999, ge=1024, le=65535, description="Highest RTP port.")
    allowed_cidrs: list[str] = Field(default_factory=lambda: ["127.0.0.0/8", "::1/128"],
                                     description="Source networks allowed to send SIP (trunk, PBX, load balancer).")
    max_calls: int = Field(20, ge=0, description="Concurrent calls; beyond this INVITE gets 503 (0: no limit).")
    retry_after_s: int = Field(30, ge=1, description="Retry-After of the 503 sent when full.")
    rate_limit_per_s: float = Field(100.0, ge=0, description="SIP messages per second per source (0: no limit); "
                                    "behind a load balancer every call comes from one source: size it for the LB.")
    rate_limit_burst: float = Field(200.0, ge=1, description="Burst allowance of the per-source rate limit.")
    max_message_bytes: int = Field(8192, ge=1024, le=65535, description="Larger SIP datagrams are dropped.")
    digest_realm: str = Field("voicebot", description="Realm of the digest challenge.")
    digest_users: dict[str, str] = Field(default_factory=dict,
                                         description="user -> password; non-empty enables the INVITE digest challenge.")
    digest_algorithms: list[str] = Field(default_factory=lambda: ["SHA-256", "MD5"],
                                         description="Digest algorithms offered (RFC 7616), strongest first.")
    agent_queues: dict[str, str] = Field(
        default_factory=lambda: {"funding": "sip:funding@127.0.0.1:5090",
                                 "transport": "sip:transport@127.0.0.1:5090",
                                 "high_schools": "sip:high_schools@127.0.0.1:5090"},
        description="Agent queue -> SIP URI the caller is transferred to (REFER).")
    answer_delay_s: float = Field(0.0, ge=0, le=30, description="Ringing time before answering (180 sent).")
    rtp_inactivity_timeout_s: float = Field(30.0, ge=0, description="No RTP for this long ends the call (0: never).")
    transfer_timeout_s: float = Field(30.0, ge=1, description="Time for the transfer target to answer (NOTIFY 2xx).")
    jitter_buffer_packets: int = Field(3, ge=0, le=50, description="Reorder buffer depth in 20 ms packets.")
    rtp_latch_cidrs: list[str] = Field(default_factory=list,
                                       description="Networks RTP may come from besides the SDP c= address "
                                       "(callers behind NAT); RTP from anywhere else is ignored.")
    ack_timeout_s: float = Field(8.0, gt=0, description="A 200 OK without ACK ends the call after this "
                                 "(capped at 64*T1, RFC 3261 timer H), freeing its slot.")
    log_interval_s: float = Field(10.0, gt=0, description="Per-source warnings (oversized, refused, rate-limited "
                                  "datagrams) are logged at most once per interval, with a count.")
    t1_s: float = Field(0.5, gt=0, description="SIP timer T1 (RTT estimate).")
    t2_s: float = Field(4.0, gt=0, description="SIP timer T2 (max retransmission interval).")
    user_agent: str = Field("voicebot", description="User-Agent / Server header value.")
